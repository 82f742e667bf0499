"""From raw bytes (HTML, agency text, PDF, Markdown, JSON/JSONL, feeds) to clean `Document`s.

Everything here is pure and blocking; callers run it in a thread. Nothing here touches the
network: trafilatura only gets bytes we already hold, feedparser only gets a byte stream.
"""

from __future__ import annotations

import codecs
import email.utils
import gzip
import hashlib
import html as html_lib
import io
import json
import logging
import re
import zlib
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any
from urllib.parse import urljoin, urlsplit

from index.errors import ExtractError
from index.settings import ExtractSettings
from index.types import Document, Feed, FeedEntry

log = logging.getLogger(__name__)

LIMITS = ExtractSettings()  # the defaults, for callers that do not configure limits
TITLE_MAX_WORDS = 40  # a longer first line is a paragraph, not a title
RECURRING_MAX_WORDS = 40
TEASER_MIN_WORDS = 6  # "Here's the thing …" is prose, not a teaser

_SNIFF_BYTES = 1024

# --- dates -------------------------------------------------------------------------------

_MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_MONTH = (
    r"(?P<mon>january|february|march|april|may|june|july|august|september|october|november"
    r"|december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\.?"
)
_ISO_DATE = re.compile(r"(?<!\d)(?P<y>\d{4})[-/](?P<m>\d{1,2})[-/](?P<d>\d{1,2})(?!\d)")
_MDY_DATE = re.compile(
    rf"\b{_MONTH}\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}})(?!\d)", re.IGNORECASE
)
_DMY_DATE = re.compile(
    rf"(?<!\d)(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+{_MONTH}\b,?\s+(?P<y>\d{{4}})(?!\d)",
    re.IGNORECASE,
)


def _date_from_match(m: re.Match[str]) -> date | None:
    try:
        year, day = int(m["y"]), int(m["d"])
        month = int(m["m"]) if "m" in m.groupdict() else _MONTHS[m["mon"][:3].lower()]
        return date(year, month, day)
    except (ValueError, KeyError):
        return None


def _find_date(s: str) -> tuple[int, date] | None:
    """The earliest valid date written anywhere in `s`, with its position."""
    found: list[tuple[int, date]] = []
    for pattern in (_ISO_DATE, _MDY_DATE, _DMY_DATE):
        for m in pattern.finditer(s):
            d = _date_from_match(m)
            if d is not None:
                found.append((m.start(), d))
                break
    return min(found, key=lambda f: f[0]) if found else None


def parse_date(s: str) -> date | None:
    """Parses the dates news sources write: ISO 8601, RFC 2822, "December 21, 2025", "21 Dec 2025".

    Dates are taken as written (no conversion to UTC): a citation shows the source's own date.
    """
    s = s.strip()
    if not s:
        return None
    m = _ISO_DATE.match(s)
    if m and (d := _date_from_match(m)):
        return d
    try:
        return email.utils.parsedate_to_datetime(s).date()
    except (TypeError, ValueError, IndexError, OverflowError):
        pass
    found = _find_date(s)
    return found[1] if found else None


# --- line cleaning (shared by text, HTML and PDF) ----------------------------------------

# Phrases that mark a line as page furniture wherever they start it.
_BOILERPLATE_START = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^disclaimer\s*:",
        r"^\(?this (story|article|post|report|copy) (has|was) (not )?(been )?"
        r"(auto[- ]?)?(published|generated|edited)",
        r"^(please )?(sign up|subscribe|register) (for|to) (our|the) .{0,40}newsletter",
        r"^click here\b",
        r"^(read more|also read|read also|see also|related( stories| articles)?)\s*[:|»>-]",
        r"^follow us (on|at)\b",
        r"^(©|\(c\)\s|copyright\s*(©|\(c\)|\d{4}))",
    )
]
# Phrases that mark a line as furniture only when the line is short.
_BOILERPLATE_SHORT = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^open in (the )?app$",
        r"^share(\s*:|\s+(this|on|via|the|article|story|post|to)\b.*)?$",
        r"^(subscribe|subscribe now|sign up|sign in|log in|login)\W*$",
        r"^subscribe to\b",
        r"^follow (us|@\w+)\b",
        r"^read more\b",
        r"^(continue reading|story continues below|scroll (down )?to continue)\b",
        r"^(advertisement|advertisment|sponsored( content)?|ad)\W*$",
        r"^(download|get) (the|our) .{0,30}\bapp\b",
        r"^listen to (this|the) (article|story)\b",
        r"\ball rights reserved\b",
        r"^(whatsapp|facebook|twitter|linkedin|telegram|email|print|tweet)\W*$",
    )
]
_SHORT_LINE_WORDS = 12

_BYLINE = re.compile(r"^(?:By|BY)\s+(?P<who>.+)$")
_BYLINE_CUT = re.compile(r"\s*(?:\||\b(?:updated|published|posted|last updated)\b).*$", re.I)
_DATE_LINE = re.compile(r"^(?:last )?(?:updated|published|posted)\s*(?::|on\b)", re.I)
_DATE_LINE_WORDS = 8
# What may surround the date on a line that is only a date: times, zones, weekdays, punctuation.
_DATE_RESIDUE = re.compile(
    r"(?:[\W\d_]|[A-Z]|[AaPp]\.?[Mm]\.?|(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*)*"
)
_ELLIPSIS = re.compile(r"(?:\.\.\.|…)\s*$")


def _norm(s: str) -> str:
    return " ".join(s.casefold().split())


def _is_boilerplate(line: str) -> bool:
    if any(p.search(line) for p in _BOILERPLATE_START):
        return True
    return len(line.split()) <= _SHORT_LINE_WORDS and any(
        p.search(line) for p in _BOILERPLATE_SHORT
    )


@dataclass(slots=True)
class _Meta:
    """What bylines and date lines told us about the article."""

    publisher: str | None = None
    author: str | None = None
    published: date | None = None


def _read_byline(line: str, meta: _Meta) -> bool:
    """True if `line` is a byline or date line; what it says goes into `meta`."""
    words = len(line.split())
    if words > 30:
        return False
    m = _BYLINE.match(line)
    if m:
        has_marker = re.search(r"\b(updated|published|posted)\s*(:|on\b)", line, re.I)
        found = _find_date(line)
        if not (has_marker or found):
            return False
        who = _BYLINE_CUT.sub("", m["who"])
        who_date = _find_date(who)
        if who_date:
            who = who[: who_date[0]]
        parts = [p.strip(" ,;-–—|") for p in who.split(",")]
        parts = [p for p in parts if p]
        if not parts or len(" ".join(parts).split()) > 8:
            return False
        if not all(p[:1].isupper() for p in parts):  # names, not "By Monday, the talks ..."
            return False
        if meta.publisher is None:
            meta.publisher = parts[-1]
        if len(parts) > 1 and meta.author is None:
            meta.author = ", ".join(parts[:-1])
        if found and meta.published is None:
            meta.published = found[1]
        return True
    if words <= _SHORT_LINE_WORDS:
        found = _find_date(line)
        if found and (_DATE_LINE.match(line) or _is_date_only(line)):
            if meta.published is None:
                meta.published = found[1]
            return True
    return False


def _is_date_only(line: str) -> bool:
    """ "Tue., Nov. 19, 2019 11:28 AMT" yes; "March 3, 2022: talks begin" no."""
    if len(line.split()) > _DATE_LINE_WORDS:
        return False
    rest = line
    for pattern in (_ISO_DATE, _MDY_DATE, _DMY_DATE):
        rest = pattern.sub(" ", rest)
    return rest != line and _DATE_RESIDUE.fullmatch(rest) is not None


def _keep_line(line: str, meta: _Meta) -> bool:
    return not (_is_boilerplate(line) or _read_byline(line, meta))


def _title_parts(line: str) -> list[str]:
    return [p for p in (_norm(x) for x in line.split("|")) if p]


def _repeats_title(paragraph: str, title: str | None) -> bool:
    """`Title` or `Title | Title`, ignoring case and spacing."""
    if not title:
        return False
    t = _norm(title)
    parts = _title_parts(paragraph)
    return bool(parts) and all(p == t for p in parts)


def _drop_repeats_and_teasers(paragraphs: list[str], title: str | None) -> list[str]:
    """Drops title repeats and `...` teasers whose full text follows later."""
    kept = [p for p in paragraphs if not _repeats_title(p, title)]
    normed = [_norm(p) for p in kept]
    out: list[str] = []
    for i, p in enumerate(kept):
        if _ELLIPSIS.search(p):
            stem = _norm(_ELLIPSIS.sub("", p))
            if len(stem.split()) >= TEASER_MIN_WORDS and any(
                len(later) > len(stem) and later.startswith(stem) for later in normed[i + 1 :]
            ):
                continue
        out.append(p)
    return out


def _pick_title(lines: list[str], meta: _Meta) -> tuple[str | None, int]:
    """The first real line as title, and the index of the line after it."""
    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line or not _keep_line(line, meta):
            continue
        if len(line.split()) > TITLE_MAX_WORDS:
            return None, i
        parts = [p.strip() for p in line.split("|") if p.strip()]
        if len(parts) > 1 and len({_norm(p) for p in parts}) == 1:
            line = parts[0]
        return line, i + 1
    return None, len(lines)


def _blocks(lines: list[str]) -> list[list[str]]:
    """Blank-line separated blocks; with no blank lines, each line is its own block."""
    stripped = [ln.strip() for ln in lines]
    content = [i for i, ln in enumerate(stripped) if ln]
    if not content:
        return []
    first, last = content[0], content[-1]
    inner = stripped[first : last + 1]
    if "" not in inner:
        return [[ln] for ln in inner]
    blocks: list[list[str]] = [[]]
    for ln in inner:
        if ln:
            blocks[-1].append(ln)
        elif blocks[-1]:
            blocks.append([])
    return [b for b in blocks if b]


def _paragraphs_from_text(text: str) -> list[str]:
    """Blank lines separate paragraphs (inner lines joined); without any, each line is one."""
    return [" ".join(b) for b in _blocks(text.splitlines())]


def _document(
    *,
    ref: str,
    url: str | None,
    title: str | None,
    paragraphs: list[str],
    meta: _Meta,
    publisher: str | None = None,
    author: str | None = None,
    published: date | None = None,
    kind: str | None = None,
) -> Document:
    if not paragraphs and title:
        paragraphs = [title]  # a one-line note is still searchable
    if not paragraphs:
        raise ExtractError(f"{ref}: no article text found")
    return Document(
        ref=ref,
        title=title,
        paragraphs=tuple(paragraphs),
        url=url,
        publisher=publisher or meta.publisher,
        author=author or meta.author,
        published=published or meta.published,
        kind=kind or ("url" if url else "file"),
    )


# --- plain text and Markdown --------------------------------------------------------------

_MD_FENCE = re.compile(r"^\s*(```|~~~)")
_MD_H1 = re.compile(r"^\s{0,3}#\s+(?P<text>.+?)\s*#*\s*$")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(?P<text>.+?)\s*#*\s*$")
_MD_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_MD_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_MD_BULLET = re.compile(r"^\s*[-*+]\s+")
_MD_NUMBERED = re.compile(r"^\s*\d{1,3}[.)]\s+")
_MD_QUOTE = re.compile(r"^\s{0,3}>\s?")
_MD_REFDEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s+\S+")
_MD_INLINE = [
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), ""),  # images
    (re.compile(r"!\[[^\]]*\]\[[^\]]*\]"), ""),
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),
    (re.compile(r"<(https?://[^>\s]+)>"), r"\1"),
    (re.compile(r"`([^`]+)`"), r"\1"),
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)"), r"\1"),
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), r"\1"),
]


def _strip_inline_markdown(line: str) -> str:
    for pattern, repl in _MD_INLINE:
        line = pattern.sub(repl, line)
    return line


def _markdown_to_text(md: str) -> tuple[str | None, str]:
    """Markdown to plain lines, and the leading `# Heading` if there is one."""
    out: list[str] = []
    title: str | None = None
    in_fence = False
    for line in md.splitlines():
        if _MD_FENCE.match(line):
            in_fence = not in_fence
            out.append("")
            continue
        if in_fence:
            out.append(line)  # code is kept as text, untouched
            continue
        if _MD_SETEXT.match(line) and out and out[-1].strip():
            heading = out.pop()
            if title is None and not any(x.strip() for x in out):
                title = heading.strip()
            else:
                out += ["", heading, ""]
            continue
        if _MD_REFDEF.match(line) or _MD_RULE.match(line):
            out.append("")
            continue
        h1 = _MD_H1.match(line)
        if h1 and title is None and not any(x.strip() for x in out):
            title = _strip_inline_markdown(h1["text"])
            continue
        heading = _MD_HEADING.match(line)
        if heading:
            out += ["", _strip_inline_markdown(heading["text"]), ""]
            continue
        line = _MD_QUOTE.sub("", line)
        if _MD_BULLET.match(line) or _MD_NUMBERED.match(line):
            out.append("")  # each list item stays its own paragraph
            line = _MD_BULLET.sub("", line)
        out.append(_strip_inline_markdown(line))
    return title, "\n".join(out)


def extract_text(
    text: str, *, ref: str, url: str | None = None, markdown: bool = False
) -> Document:
    """Agency copy or Markdown: title line, byline metadata, paragraphs without furniture."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    meta = _Meta()
    title: str | None = None
    if markdown:
        title, text = _markdown_to_text(text)
    lines = text.split("\n")
    start = 0
    if title is None:
        title, start = _pick_title(lines, meta)
    paragraphs: list[str] = []
    for block in _blocks(lines[start:]):
        kept = [ln for ln in block if _keep_line(ln, meta)]
        if kept:
            paragraphs.append(" ".join(kept))
    paragraphs = _drop_repeats_and_teasers(paragraphs, title)
    return _document(ref=ref, url=url, title=title, paragraphs=paragraphs, meta=meta)


# --- HTML ---------------------------------------------------------------------------------

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)


def _charset_of(content_type: str | None) -> str | None:
    if not content_type:
        return None
    m = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", content_type, re.IGNORECASE)
    return m.group(1) if m else None


# Single-byte charsets decode any bytes, so declaring one proves nothing: pages that say
# latin-1 and hold UTF-8 are common, and decoding them as declared is mojibake.
_SINGLE_BYTE = re.compile(r"^(iso8859-\d+|latin-?\d|cp125\d|ascii)$")  # codecs.lookup names
_DETECT_BYTES = 64 * 1024  # what the detector reads: enough to tell, cheap on big pages


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip()).name
    except (LookupError, ValueError):
        return None


# What the detector may name instead of cp1252: scripts whose bytes cp1252 would turn into
# mojibake. A Latin guess (cp1250, cp437, mac_roman, …) on undeclared text is usually
# wrong about cp1252 pages, the commonest undeclared encoding, so those are ignored.
_DISTINCT = re.compile(
    r"^(shift_jis|cp932|euc_j|iso2022|gb|big5|cp949|euc_kr|johab|hz|"
    r"cp1251|koi8|iso8859-5|mac_cyrillic|cp866|cp855|"
    r"cp1253|iso8859-7|cp1255|iso8859-8|cp1256|iso8859-6|cp874|tis_620|cp1258)"
)


def _detected(body: bytes) -> str | None:
    """A non-Latin encoding the bytes are clearly in, or None (then cp1252 is assumed)."""
    from charset_normalizer import from_bytes

    first = re.search(rb"[\x80-\xff]", body)
    if first is None:
        return None
    start = max(0, first.start() - 1024)  # the sample holds the bytes that tell
    best = from_bytes(body[start : start + _DETECT_BYTES]).best()
    guess = _codec(best.encoding) if best is not None else None
    return guess if guess and _DISTINCT.match(guess) else None


def _decode(body: bytes, charset: str | None = None) -> str:
    """Text of `body`, trusting the bytes over the declared charset (never fails).

    BOM first; then UTF-8 when the bytes are valid UTF-8 and the declaration is a
    single-byte charset or missing; then the declared charset if the bytes decode under
    it; then a non-Latin charset the bytes are clearly in (charset-normalizer); then
    cp1252, the commonest undeclared one, with replacements.
    """
    for bom, enc in (
        (b"\xef\xbb\xbf", "utf-8"),
        (b"\xff\xfe\x00\x00", "utf-32-le"),
        (b"\x00\x00\xfe\xff", "utf-32-be"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\xfe\xff", "utf-16-be"),
    ):
        if body.startswith(bom):
            return body[len(bom) :].decode(enc, errors="replace")
    declared = _codec(charset)
    if declared is None or _SINGLE_BYTE.match(declared) or declared == "utf-8":
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            pass
    if declared is not None and declared != "utf-8":
        try:
            return body.decode(declared)
        except UnicodeDecodeError:
            pass
    guess = _detected(body)
    if guess is not None:
        try:
            return body.decode(guess)
        except UnicodeDecodeError:
            pass
    return body.decode(guess or "cp1252", errors="replace")


def _sized_html(body: bytes, ref: str, limits: ExtractSettings, charset: str | None) -> str:
    if len(body) > limits.max_html_bytes:
        raise _too_big(ref, "HTML page", len(body), limits.max_html_bytes, "max_html_bytes")
    return _decode_html(body, charset)


def _decode_html(body: bytes, charset: str | None = None) -> str:
    if charset is None:
        m = _META_CHARSET.search(body[:4096])
        charset = m.group(1).decode("ascii", "replace") if m else None
    return _decode(body, charset)


def _field(result: Any, name: str) -> Any:
    if isinstance(result, dict):
        return result.get(name)
    return getattr(result, name, None)


def _absolute_http(candidate: str | None, base: str | None) -> str | None:
    if not candidate:
        return None
    resolved = urljoin(base, candidate) if base else candidate
    parts = urlsplit(resolved)
    return resolved if parts.scheme in ("http", "https") and parts.netloc else None


def _too_big(ref: str, what: str, size: int, limit: int, key: str) -> ExtractError:
    return ExtractError(
        f"{ref}: {what} is {size:,} bytes, more than the {limit:,} allowed ([extract] {key})"
    )


def extract_html(
    html: bytes | str, *, ref: str, url: str | None = None, limits: ExtractSettings = LIMITS
) -> Document:
    """Main text and metadata of an article page, via trafilatura (never its downloader)."""
    size = len(html) if isinstance(html, bytes) else len(html.encode("utf-8", "replace"))
    if size > limits.max_html_bytes:
        raise _too_big(ref, "HTML page", size, limits.max_html_bytes, "max_html_bytes")
    text_html = _decode_html(html) if isinstance(html, bytes) else html
    from trafilatura import bare_extraction  # slow import; only pages need it

    try:
        result = bare_extraction(
            text_html,
            url=url,
            with_metadata=True,
            include_comments=False,
            include_tables=False,
        )
    except RecursionError as exc:
        raise ExtractError(f"{ref}: could not parse HTML (nested too deeply)") from exc
    except Exception as exc:  # trafilatura/lxml raise many kinds on odd markup
        raise ExtractError(f"{ref}: could not parse HTML ({_one_line(exc)})") from exc
    if result is None:
        raise ExtractError(f"{ref}: no article text found")
    body = _field(result, "text") or ""
    title = (_field(result, "title") or "").strip() or None
    meta = _Meta()
    lines = [ln.strip() for ln in body.split("\n")]
    paragraphs = [ln for ln in lines if ln and _keep_line(ln, meta)]
    paragraphs = _drop_repeats_and_teasers(paragraphs, title)
    if not paragraphs:
        raise ExtractError(f"{ref}: no article text found")
    publisher = (_field(result, "sitename") or "").strip() or None
    if title and publisher:  # "Headline | Site" when the page does not say better
        title = re.sub(rf"\s+[|–—-]\s+{re.escape(publisher)}$", "", title, flags=re.I) or title
    date_text = _field(result, "date")
    return _document(
        ref=ref,
        url=_absolute_http(_field(result, "url"), url) or url,
        title=title,
        paragraphs=paragraphs,
        meta=meta,
        publisher=publisher,
        author=(_field(result, "author") or "").strip() or None,
        published=parse_date(date_text) if isinstance(date_text, str) else None,
        kind="url" if url else "file",
    )


# --- PDF ----------------------------------------------------------------------------------

_PAGE_NUMBER = re.compile(r"^(page\s+)?\d{1,4}(\s*(/|of)\s*\d{1,4})?$", re.IGNORECASE)
_JUNK_TITLE = re.compile(
    r"^(untitled|microsoft (word|powerpoint) - .*|.*\.(docx?|pdf|indd|odt|rtf|pptx?))$",
    re.IGNORECASE,
)


def _join_lines(prev: str, nxt: str) -> str:
    if re.search(r"[^\W\d_]-$", prev) and nxt[:1].islower():
        return prev[:-1] + nxt  # nego-\ntiation
    return f"{prev} {nxt}"


def _reflow(lines: list[str], blank_separated: bool) -> list[str]:
    """Re-joins hard-wrapped lines; without blank lines, short lines end paragraphs."""
    if blank_separated:
        out: list[str] = []
        for block in _blocks(lines):
            para = block[0]
            for ln in block[1:]:
                para = _join_lines(para, ln)
            out.append(para)
        return out
    lines = [ln.strip() for ln in lines if ln.strip()]
    if not lines:
        return []
    lengths = sorted(len(ln) for ln in lines)
    width = lengths[int(0.9 * (len(lengths) - 1))]
    paragraphs = [lines[0]]
    last = lines[0]
    for ln in lines[1:]:
        # a full-width line was wrapped; a short one ended its paragraph
        if ln[:1].islower() or len(last) >= 0.75 * width:
            paragraphs[-1] = _join_lines(paragraphs[-1], ln)
        else:
            paragraphs.append(ln)
        last = ln
    return paragraphs


def extract_pdf(
    data: bytes, *, ref: str, url: str | None = None, limits: ExtractSettings = LIMITS
) -> Document:
    """Text of a PDF, paragraphs re-joined from hard-wrapped lines."""
    from pypdf import apply_configuration

    if len(data) > limits.max_pdf_bytes:
        raise _too_big(ref, "PDF", len(data), limits.max_pdf_bytes, "max_pdf_bytes")
    # pypdf's own limits, tightened: a stream inflates to at most max_decompressed_bytes.
    cap = limits.max_decompressed_bytes
    with apply_configuration(
        maximum_declared_stream_length=cap,
        array_based_stream_maximum_output_length=cap,
        jbig2_maximum_output_length=cap,
        lzw_maximum_output_length=cap,
        run_length_maximum_output_length=cap,
        zlib_maximum_output_length=cap,
        brotli_maximum_output_length=cap,
        image_maximum_buffer_size=cap,
        stream_decoding_work_maximum_length=4 * cap,
        # pypdf reads ~250k content-stream tokens a second; a text page has ~50k.
        stream_parsing_work_maximum_count=500_000,
        page_tree_maximum_entries=10 * limits.max_pdf_pages,
        jbig2dec_binary=None,  # never run an external program on an upload
    ):
        return _extract_pdf(data, ref=ref, url=url, limits=limits)


def _extract_pdf(data: bytes, *, ref: str, url: str | None, limits: ExtractSettings) -> Document:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractError(f"{ref}: PDF is encrypted")
        pages = reader.pages
        count = len(pages)
    except ExtractError:
        raise
    except RecursionError as exc:
        raise ExtractError(f"{ref}: unreadable PDF (objects nested too deeply)") from exc
    except Exception as exc:  # pypdf raises many kinds on broken files
        raise ExtractError(f"{ref}: unreadable PDF ({_one_line(exc)})") from exc
    if count > limits.max_pdf_pages:
        raise ExtractError(
            f"{ref}: PDF has {count:,} pages, more than the {limits.max_pdf_pages:,} allowed "
            "([extract] max_pdf_pages)"
        )
    texts: list[str] = []
    total = 0
    unreadable: list[str] = []  # why pages were skipped
    for i in range(count):
        try:
            page_text = pages[i].extract_text() or ""
        except MemoryError:
            raise
        except RecursionError:
            unreadable.append(f"page {i + 1}: nested too deeply")
            continue
        except Exception as exc:  # includes pypdf's LimitReachedError: that page is skipped
            log.warning("%s: skipping page %d: %s", ref, i + 1, _one_line(exc))
            unreadable.append(f"page {i + 1}: {_one_line(exc)}")
            continue
        texts.append(page_text)
        total += len(page_text)
        if total >= limits.max_text_chars:
            log.info("%s: stopping at page %d, text cap reached", ref, i + 1)
            break
    text = "\n".join(texts)[: limits.max_text_chars]
    lines = [
        ln
        for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if not _PAGE_NUMBER.match(ln.strip())
    ]
    meta = _Meta()
    title: str | None = None
    try:
        raw_title = reader.metadata.title if reader.metadata else None
    except Exception:
        raw_title = None
    if isinstance(raw_title, str) and raw_title.strip() and not _JUNK_TITLE.match(raw_title):
        title = " ".join(raw_title.split())
    else:
        title, start = _pick_title(lines, meta)
        lines = lines[start:]
    blank_separated = bool(re.search(r"\S[ \t]*\n[ \t]*\n[ \t]*\S", "\n".join(lines)))
    paragraphs = [p for p in _reflow(lines, blank_separated) if _keep_line(p, meta)]
    paragraphs = _drop_repeats_and_teasers(paragraphs, title)
    if not paragraphs and unreadable:
        more = f" and {len(unreadable) - 1} more" if len(unreadable) > 1 else ""
        raise ExtractError(f"{ref}: no text found in PDF; {unreadable[0]}{more}")
    if not paragraphs:
        raise ExtractError(f"{ref}: no text found in PDF (scanned images?)")
    return _document(ref=ref, url=url, title=title, paragraphs=paragraphs, meta=meta)


# --- JSON / JSONL records -----------------------------------------------------------------


def _first_str(obj: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = obj.get(key)
        if isinstance(value, dict):
            value = value.get("name") or value.get("title")
        if isinstance(value, list) and all(isinstance(v, str) for v in value) and value:
            value = "; ".join(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _record(obj: Any, *, ref: str, where: str, fallback_ref: str) -> Document:
    if not isinstance(obj, dict):
        raise ExtractError(f"{ref}: {where}: not a JSON object")
    raw_text = next((obj[k] for k in ("text", "content", "body") if k in obj), None)
    if isinstance(raw_text, list) and all(isinstance(p, str) for p in raw_text):
        paragraphs = [" ".join(p.split()) for p in raw_text if p.strip()]
    elif isinstance(raw_text, str):
        paragraphs = _paragraphs_from_text(raw_text)
    elif raw_text is None:
        raise ExtractError(f"{ref}: {where}: no text/content/body field")
    else:
        raise ExtractError(f"{ref}: {where}: text is not a string")
    if not paragraphs:
        raise ExtractError(f"{ref}: {where}: empty text")
    title = _first_str(obj, "title")
    if "_id" in obj and "text" in obj:  # BEIR corpus line
        return Document(ref=str(obj["_id"]), title=title, paragraphs=tuple(paragraphs), kind="beir")
    link = _first_str(obj, "url", "link")
    published_text = _first_str(obj, "published", "date")
    return Document(
        ref=_first_str(obj, "_id", "id") or link or fallback_ref,
        title=title,
        paragraphs=tuple(paragraphs),
        url=link,
        publisher=_first_str(obj, "publisher", "source", "site_name"),
        author=_first_str(obj, "author"),
        published=parse_date(published_text) if published_text else None,
        kind="file",
    )


def iter_records(data: bytes, *, ref: str) -> Iterator[Document | ExtractError]:
    """Documents of a .json/.jsonl file; a bad record is yielded as an error, not raised."""
    text = _decode(data)
    stripped = text.strip()
    if not stripped:
        yield ExtractError(f"{ref}: no records found")
        return
    whole: Any = None
    parsed = False
    if stripped[0] in "[{":
        try:
            whole = json.loads(stripped)
            parsed = True
        except RecursionError:
            yield ExtractError(f"{ref}: invalid JSON (nested too deeply)")
            return
        except json.JSONDecodeError as exc:
            if stripped[0] == "[":
                yield ExtractError(f"{ref}: invalid JSON ({exc})")
                return
    if parsed:
        items = whole if isinstance(whole, list) else [whole]
        for n, obj in enumerate(items, start=1):
            try:
                yield _record(obj, ref=ref, where=f"record {n}", fallback_ref=f"{ref}#{n}")
            except ExtractError as exc:
                yield exc
        return
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except RecursionError:
            yield ExtractError(f"{ref}: line {n}: invalid JSON (nested too deeply)")
            continue
        except json.JSONDecodeError as exc:
            yield ExtractError(f"{ref}: line {n}: invalid JSON ({exc.msg})")
            continue
        try:
            yield _record(obj, ref=ref, where=f"line {n}", fallback_ref=f"{ref}#{n}")
        except ExtractError as exc:
            yield exc


def read_records(data: bytes, *, ref: str) -> list[Document]:
    """All documents of a .json/.jsonl file; raises on the first bad record."""
    docs: list[Document] = []
    for item in iter_records(data, ref=ref):
        if isinstance(item, ExtractError):
            raise item
        docs.append(item)
    return docs


# --- feeds --------------------------------------------------------------------------------

_PROLOG = re.compile(r"\s*(<\?[^>]*\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(\[[^\]]*\])?\s*>)", re.S | re.I)
_FEED_ROOT = re.compile(r"<(rss|rdf:RDF)\b|<(\w+:)?feed\b[^>]*>", re.S)
_ATOM_NS = re.compile(r"http://www\.w3\.org/2005/Atom|http://purl\.org/atom/ns#")
_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml")


def _xml_head(body: bytes) -> str:
    """The first few KB as text with BOM, XML declaration, comments and doctype skipped."""
    head = _decode(body[:4096])
    pos = 0
    while m := _PROLOG.match(head, pos):
        pos = m.end()
    return head[pos:].lstrip()


def is_feed(body: bytes, content_type: str | None = None) -> bool:
    """RSS, Atom or RDF by root element; a feed content type counts only for XML bodies."""
    head = _xml_head(body)
    m = _FEED_ROOT.match(head)
    if m and (m.group(1) or _ATOM_NS.search(m.group(0))):
        return True
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime in _FEED_TYPES and head.startswith("<"):
        return not re.match(r"<(html|head|body)\b", head, re.I)
    return False


_ENTRY_END = re.compile(rb"</(?:\w+:)?(?:item|entry)\s*>", re.IGNORECASE)
_CLOSERS = {"rss": b"</channel></rss>", "rdf:RDF": b"</rdf:RDF>"}


def _first_entries(body: bytes, limit: int, url: str) -> bytes:
    """The feed cut after its `limit`-th entry and closed again.

    feedparser builds every entry before we could skip any, and a feed of 100k tiny
    entries takes it ~10 s; the cut keeps that to the entries we use.
    """
    ends = _ENTRY_END.finditer(body)
    last = None
    for count, m in enumerate(ends, start=1):
        if count == limit:
            last = m
        elif count > limit:
            break
    else:
        return body
    assert last is not None
    log.warning(
        "%s: feed has more than %d entries; reading the first %d ([extract] max_feed_entries)",
        url,
        limit,
        limit,
    )
    root = _FEED_ROOT.match(_xml_head(body))
    closer = _CLOSERS.get(root.group(1) or "", b"</feed>") if root else b""
    return body[: last.end()] + closer


def _html_to_plain(fragment: str) -> str:
    without_tags = re.sub(r"<[^>]*>", " ", fragment)
    return " ".join(html_lib.unescape(without_tags).split())


def _struct_date(value: Any) -> date | None:
    try:
        return date(value.tm_year, value.tm_mon, value.tm_mday)
    except (AttributeError, TypeError, ValueError):
        return None


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__


def parse_feed(body: bytes, *, url: str, limits: ExtractSettings = LIMITS) -> Feed:
    """Entries of an RSS/Atom feed with absolute links; never lets feedparser fetch.

    Only the first `max_feed_entries` entries are kept: feeds list the newest first.
    """
    import feedparser

    if len(body) > limits.max_feed_bytes:
        raise _too_big(url, "feed", len(body), limits.max_feed_bytes, "max_feed_bytes")
    body = _first_entries(body, limits.max_feed_entries, url)

    # content-location is the base for relative links; the type stops a "no Content-type" bozo
    headers = {"content-location": url, "content-type": "application/xml"}
    try:
        parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    except (ValueError, LookupError, TypeError) as exc:  # e.g. a mangled encoding name
        raise ExtractError(f"{url}: not a valid RSS/Atom feed ({_one_line(exc)})") from exc
    except RecursionError as exc:
        raise ExtractError(f"{url}: not a valid RSS/Atom feed (nested too deeply)") from exc
    entries: list[FeedEntry] = []
    seen: set[str] = set()
    for entry in parsed.entries[: limits.max_feed_entries]:
        link = entry.get("link")
        if not link:
            links = [x.get("href") for x in entry.get("links", []) if x.get("href")]
            link = links[0] if links else None
        link = _absolute_http(link, url)
        if not link or link in seen:
            continue
        seen.add(link)
        title = _html_to_plain(entry.get("title") or "") or None
        summary = _html_to_plain(entry.get("summary") or "") or None
        published = _struct_date(entry.get("published_parsed")) or _struct_date(
            entry.get("updated_parsed")
        )
        entries.append(FeedEntry(link=link, title=title, published=published, summary=summary))
    if parsed.bozo and not entries:
        reason = parsed.get("bozo_exception")
        why = _one_line(reason) if isinstance(reason, BaseException) else "no entries"
        raise ExtractError(f"{url}: not a valid RSS/Atom feed ({why})")
    if not parsed.get("version") and not entries:
        raise ExtractError(f"{url}: not a valid RSS/Atom feed (no feed element)")
    if parsed.bozo:
        log.warning(
            "%s: feed is malformed (%s); using its entries", url, _one_line(parsed.bozo_exception)
        )
    feed_title = _html_to_plain(parsed.feed.get("title") or "") or None
    return Feed(url=url, title=feed_title, entries=tuple(entries))


# --- dispatch -----------------------------------------------------------------------------

_HTML_STRONG = re.compile(rb"<!doctype\s+html|<html[\s>]", re.IGNORECASE)
_HTML_TAG = re.compile(
    rb"<(head|body|meta|title|p|div|article|section|h[1-6]|script|style|link|br|span|table)"
    rb"[\s/>]",
    re.IGNORECASE,
)


def _looks_like_html(body: bytes) -> bool:
    head = body[:_SNIFF_BYTES]
    if _HTML_STRONG.search(head):
        return True
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return start.startswith(b"<") and bool(_HTML_TAG.search(start[:256]))


def _gunzip(body: bytes, ref: str, limit: int) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(body)) as fh:
            out = fh.read(limit + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise ExtractError(f"{ref}: broken gzip data ({_one_line(exc)})") from exc
    if len(out) > limit:
        raise ExtractError(
            f"{ref}: gzip data expands to more than the {limit:,} bytes allowed "
            "([extract] max_decompressed_bytes)"
        )
    return out


def extract_bytes(
    body: bytes,
    *,
    ref: str,
    url: str | None = None,
    content_type: str | None = None,
    filename: str | None = None,
    limits: ExtractSettings = LIMITS,
) -> Document:
    """One article from raw bytes: the content decides the type, then the name and MIME type.

    Each type's size limit is checked before its parser sees the bytes.
    """
    name = (filename or (urlsplit(url).path if url else "")).lower()
    mime = (content_type or "").split(";")[0].strip().lower()
    if body[:2] == b"\x1f\x8b":
        body = _gunzip(body, ref, limits.max_decompressed_bytes)
        name = name.removesuffix(".gz")
    if body.lstrip()[:5] == b"%PDF-":
        return extract_pdf(body, ref=ref, url=url, limits=limits)
    if is_feed(body, content_type):
        raise ExtractError(f"{ref}: is an RSS/Atom feed, not an article")
    charset = _charset_of(content_type)
    html_named = name.endswith((".html", ".htm", ".xhtml")) or mime in (
        "text/html",
        "application/xhtml+xml",
    )
    pdf_named = name.endswith(".pdf") or mime == "application/pdf"
    if _looks_like_html(body) or (html_named and not pdf_named):
        html = _sized_html(body, ref, limits, charset)
        return extract_html(html, ref=ref, url=url, limits=limits)
    if pdf_named:
        return extract_pdf(body, ref=ref, url=url, limits=limits)
    if len(body) > limits.max_text_bytes:
        raise _too_big(ref, "text", len(body), limits.max_text_bytes, "max_text_bytes")
    if name.endswith((".json", ".jsonl", ".ndjson")) or mime in (
        "application/json",
        "application/x-ndjson",
        "application/jsonl",
    ):
        docs = read_records(body, ref=ref)
        if len(docs) != 1:
            raise ExtractError(f"{ref}: holds {len(docs)} records, expected one article")
        return docs[0]
    has_bom = body[:2] in (b"\xff\xfe", b"\xfe\xff")
    if b"\x00" in body[:8192] and not has_bom:
        raise ExtractError(f"{ref}: binary content, not a text document")
    text = _decode(body, charset)
    markdown = name.endswith((".md", ".markdown")) or mime in ("text/markdown", "text/x-markdown")
    return extract_text(text, ref=ref, url=url, markdown=markdown)


# --- boilerplate across documents ---------------------------------------------------------


def paragraph_key(paragraph: str) -> str:
    """Stable key of a paragraph for counting it across documents (sha1 of its normal form)."""
    normal = " ".join(paragraph.lower().split())
    return hashlib.sha1(normal.encode("utf-8")).hexdigest()


def remove_recurring(
    docs: list[Document],
    seen: Mapping[tuple[str, str], int] | None = None,
    *,
    min_sources: int = 3,
) -> list[Document]:
    """Drops short paragraphs a publisher repeats in many articles (newsletter pitches etc.).

    `seen` counts documents stored earlier (not in `docs`), keyed by (publisher, paragraph_key).
    """
    seen = seen or {}
    refs: dict[tuple[str, str], set[str]] = defaultdict(set)
    keys: list[list[str | None]] = []
    for doc in docs:
        doc_keys: list[str | None] = []
        for par in doc.paragraphs:
            if doc.publisher and len(par.split()) < RECURRING_MAX_WORDS:
                key = paragraph_key(par)
                refs[(doc.publisher, key)].add(doc.ref)
                doc_keys.append(key)
            else:
                doc_keys.append(None)
        keys.append(doc_keys)
    out: list[Document] = []
    for doc, doc_keys in zip(docs, keys, strict=True):
        if not doc.publisher:
            out.append(doc)
            continue
        publisher = doc.publisher
        kept = tuple(
            par
            for par, key in zip(doc.paragraphs, doc_keys, strict=True)
            if key is None
            or len(refs[(publisher, key)]) + seen.get((publisher, key), 0) < min_sources
        )
        if kept and len(kept) != len(doc.paragraphs):
            log.debug(
                "%s: dropped %d recurring paragraphs", doc.ref, len(doc.paragraphs) - len(kept)
            )
            out.append(replace(doc, paragraphs=kept))
        else:
            out.append(doc)
    return out
