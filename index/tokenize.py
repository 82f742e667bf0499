"""Text → index terms: Unicode-aware, accent-folded, stopword-free, Snowball-stemmed.

Documents and questions go through the same function so their terms meet; the
question side adds weighted expansions from a small negotiation lexicon.
"""

from __future__ import annotations

import itertools
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence

import Stemmer

# Short on purpose: BM25's idf already discounts common words, and long lists drop
# words that matter in this domain ("against", "between", "over").
STOPWORDS: frozenset[str] = frozenset(
    """
    a an and are as at be been but by for from had has
    have he her his i if in into is it its it's me my
    of on or our she so than that the their them then there these
    they this those to was we were will with you your do does did
    can could would should shall may might s t d ll re ve m
    o y not no
    """.split()
)

# Words that say what kind of answer is wanted but never occur in the answer itself.
QUESTION_WORDS: frozenset[str] = frozenset(
    """
    who whom whose what which when where why how whats whos
    """.split()
)

# Negotiation lexicon: each group holds words that answer for one another. A question
# term pulls in the other members of its groups at a lower weight.
LEXICON: tuple[tuple[str, ...], ...] = (
    (
        "attend",
        "attended",
        "attendee",
        "meet",
        "meeting",
        "met",
        "include",
        "included",
        "participate",
        "participant",
        "join",
        "delegation",
        "present",
    ),
    ("talks", "talk", "negotiation", "negotiate", "discussion", "discuss"),
    ("deal", "agreement", "accord", "pact", "treaty", "settlement"),
    ("ceasefire", "truce", "armistice"),
    ("plan", "proposal", "framework", "roadmap"),
    ("envoy", "emissary", "representative", "negotiator", "delegate"),
    ("sanction", "restriction", "embargo"),
    ("guarantee", "assurance", "commitment"),
    ("territory", "territorial", "land", "border"),
    ("propose", "proposed", "offer", "suggest"),
    ("reject", "refuse", "oppose", "dismiss"),
    ("say", "said", "state", "stated", "tell", "told", "add", "added"),
    ("progress", "breakthrough", "advance"),
    ("held", "hold", "host", "venue", "took"),
)

WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_local = threading.local()


def _stemmer() -> Stemmer.Stemmer:
    """PyStemmer objects are not thread-safe; extraction and search run in threads."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return stemmer


def fold(text: str) -> str:
    """Lowercase and strip accents so "Zelenskyy"/"ZELENSKYY" and "café"/"cafe" meet."""
    if text.isascii():  # most news text: nothing to decompose
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def name_key(name: str) -> str:
    """A name compared without case, accents or extra spaces ("  KYIV  Daily" = "kyiv daily")."""
    return " ".join(fold(name).split())


def words(text: str) -> list[str]:
    """Folded surface words; hyphenated names split into parts, possessives dropped."""
    out: list[str] = []
    for word in WORD.findall(fold(text)):
        if "'" not in word and "’" not in word:  # the common case, kept cheap
            out.append(word)
            continue
        word = word.replace("’", "'")
        if word.endswith("'s"):
            word = word[:-2]
        out.extend(part for part in word.split("'") if part)
    return out


def stem_words(items: Iterable[str], *, keep_stopwords: bool = False) -> list[str]:
    """Stems words, dropping stopwords and question words unless told to keep every word."""
    if keep_stopwords:
        kept = list(items)
    else:
        kept = [w for w in items if w not in STOPWORDS and w not in QUESTION_WORDS]
    return _stemmer().stemWords(kept) if kept else []


def tokenize(text: str) -> list[str]:
    """Index terms of a text, in order, repeats kept (BM25 needs term frequencies)."""
    return stem_words(words(text))


def phrases(terms: Sequence[str]) -> list[str]:
    """Adjacent term pairs ("a_b"): a cheap proximity signal ("vitamin d", "peace plan").

    `WORD` never yields "_", so a pair cannot collide with a single term.
    """
    return [f"{a}_{b}" for a, b in itertools.pairwise(terms)]


def article_terms(token_lists: Iterable[Sequence[str]]) -> list[str]:
    """Index terms of a whole article: its passages' terms plus their adjacent pairs.

    Pairs are taken within a passage only: the join of two passages is no phrase.
    """
    out: list[str] = []
    for tokens in token_lists:
        out.extend(tokens)
        out.extend(phrases(tokens))
    return out


def _peers(groups: Iterable[Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """Stem → the other stems of every group it is in (lexicon or spelling groups)."""
    table: dict[str, set[str]] = {}
    for group in groups:
        stems = set(stem_words(group))
        for stem in stems:
            table.setdefault(stem, set()).update(stems - {stem})
    return {stem: tuple(sorted(others)) for stem, others in table.items()}


EXPANSIONS: dict[str, tuple[str, ...]] = _peers(LEXICON)


def query_terms(
    question: str, expansion_weight: float, variant_weight: float = 1.0
) -> list[tuple[str, float]]:
    """Weighted terms of a question: its own terms at 1.0, lexicon expansions below.

    Quoted text and repeated words keep rank-bm25's semantics: each occurrence counts.
    An expansion term is added once, and never when the user already typed it.
    """
    own = tokenize(question)
    terms: list[tuple[str, float]] = [(t, 1.0) for t in own]
    seen = set(own)
    if variant_weight > 0:
        for word in words(question):
            for variant in spelling_variants(word):
                if variant not in seen:
                    seen.add(variant)
                    terms.append((variant, variant_weight))
    if expansion_weight <= 0:
        return terms
    for term in own:
        for extra in EXPANSIONS.get(term, ()):
            if extra not in seen:
                seen.add(extra)
                terms.append((extra, expansion_weight))
    return terms


# Transliterated names with several spellings in the press; each group's members are one
# name to a reader, so each pulls in the others at full weight.
VARIANTS: tuple[tuple[str, ...], ...] = (
    ("kyiv", "kiev"),
    ("kharkiv", "kharkov"),
    ("odesa", "odessa"),
    ("luhansk", "lugansk"),
    ("dnipro", "dnepr", "dnipropetrovsk"),
    ("gaddafi", "qaddafi", "kadhafi", "gadhafi"),
    ("qaeda", "qaida"),
    ("hezbollah", "hizbollah", "hizballah"),
    ("tehran", "teheran"),
    ("beijing", "peking"),
    ("mumbai", "bombay"),
    ("myanmar", "burma"),
)
# Slavic surnames: Zelensky, Zelenskyy, Zelenskiy, Zelenskyi, Zelenski are one man.
_SLAVIC = re.compile(r"^(\w{3,}?)(?:skyy|skyi|skiy|skii|sky|ski)$")
_SLAVIC_ENDINGS = ("sky", "skyy", "skiy", "skyi", "ski")


_VARIANT_STEMS: dict[str, tuple[str, ...]] = _peers(VARIANTS)


def spelling_variants(word: str) -> list[str]:
    """Index terms of the other spellings of a folded word ("zelensky" → zelenskyy …)."""
    found: set[str] = set()
    m = _SLAVIC.match(word)
    if m:
        found.update(stem_words(m.group(1) + ending for ending in _SLAVIC_ENDINGS))
    own = stem_words([word])
    for stem in own:
        found.update(_VARIANT_STEMS.get(stem, ()))
    return sorted(found - set(own))


_QUOTED = re.compile(r'"([^"]+)"|“([^”]+)”|«([^»]+)»|„([^“”]+)[“”]')


def quoted(question: str) -> list[str]:
    """Phrases the user put in double quotes: they must appear in every answer."""
    return [next(g for g in m.groups() if g) for m in _QUOTED.finditer(question)]


def question_type(question: str) -> str | None:
    """The kind of answer asked for: "who", "when", "where", or None."""
    for word in words(question)[:4]:
        if word in ("who", "whom", "whose", "whos"):
            return "who"
        if word == "when":
            return "when"
        if word == "where":
            return "where"
    return None
