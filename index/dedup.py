"""Is this the story we already hold? Canonical URLs and text fingerprints.

Feeds re-post: the same article under a tracking URL, a new path, a new date, with a
corrected typo. Exact copies are caught by the content hash (library.content_hash); these
catch the rest: the URL the page itself calls canonical, and a simhash of its text whose
Hamming distance stays small under small edits (Charikar 2002), used to find candidates,
then the shingle overlap of the texts themselves decides.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

SIMHASH_BITS = 64
# Simhash only narrows the search: on a short text one edited word moves it several bits.
# A candidate within CANDIDATE bits is then compared word by word: a re-post shares at
# least SAME_STORY of its word 3-shingles (Jaccard) with the story it repeats.
CANDIDATE = 16
SAME_STORY = 0.8
SAME_TEXT = 0.95
# Under one canonical URL a page may be rewritten (an update), but not replaced by another
# article: at least this overlap, or the same headline.
SAME_PAGE = 0.5
_TRACKING = re.compile(r"^(utm_|fbclid$|gclid$|mc_|ocid$|cmpid$|ref$|rss$|s_cid$|xtor$)")
_WORD = re.compile(r"\w+")


def canonical_url(url: str | None) -> str | None:
    """The URL with what does not name the article removed: scheme and host case, the
    fragment, tracking parameters, default ports, a trailing slash. None if not http(s)."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower().removeprefix("www.")
    port = parts.port
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    query = urlencode(
        sorted(
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not _TRACKING.match(k.lower())
        )
    )
    path = parts.path.rstrip("/") or "/"
    # http and https name one article: both map to https.
    return urlunsplit(("https", netloc, path, query, ""))


def page_canonical(declared: str | None, fetched: str) -> str | None:
    """The canonical URL a page declares, if it can be believed: on the fetched page's own
    site and naming an article (not the home page, which many sites declare everywhere)."""
    canonical = canonical_url(declared)
    own = canonical_url(fetched)
    if canonical is None or own is None:
        return None
    if urlsplit(canonical).netloc != urlsplit(own).netloc or urlsplit(canonical).path == "/":
        return None
    return canonical


def overlap(a: str, b: str) -> float:
    """Jaccard of the two texts' word 3-shingles."""
    x, y = shingles(a), shingles(b)
    return len(x & y) / len(x | y) if x or y else 0.0


def simhash(text: str) -> int:
    """64-bit simhash of the text's word 3-shingles, as a signed int (a BIGINT column)."""
    parts = sorted(shingles(text))
    hashes = np.array(
        [hashlib.blake2b(s.encode(), digest_size=8).digest() for s in parts], dtype="S8"
    )
    bits = np.unpackbits(hashes.view(np.uint8).reshape(-1, 8), axis=1)  # (shingles, 64)
    votes = bits.sum(axis=0, dtype=np.int64) * 2 - len(parts)
    value = int.from_bytes(np.packbits(votes > 0).tobytes(), "big")
    return value - (1 << SIMHASH_BITS) if value >= 1 << (SIMHASH_BITS - 1) else value


def distance(a: int, b: int) -> int:
    """Differing bits between two simhashes."""
    return ((a ^ b) & ((1 << SIMHASH_BITS) - 1)).bit_count()


def shingles(text: str) -> set[str]:
    words = _WORD.findall(text.lower())
    return {" ".join(words[i : i + 3]) for i in range(max(1, len(words) - 2))}


def same_story(a: str, b: str, *, same_title: bool) -> bool:
    """Whether two texts are one story re-posted: their word 3-shingles overlap (Jaccard) at
    least SAME_STORY under one headline, or at least SAME_TEXT under different ones (a
    new headline on the same text). Templated stories of one feed that differ in a
    name or a figure have different headlines, and stay apart."""
    return overlap(a, b) >= (SAME_STORY if same_title else SAME_TEXT)


def title_key(title: str | None) -> str:
    return " ".join(_WORD.findall((title or "").lower()))
