"""From a question to ranked passages: query plan, light re-ranking, best sentence.

BM25 (bm25.py) finds candidates; the features here only reorder the top few dozen, so
they stay cheap and the BM25 score stays the backbone of every answer.
"""

from __future__ import annotations

import heapq
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date

from index.passages import split_sentences
from index.settings import SearchSettings
from index.spelling import is_english, nearest
from index.tokenize import (
    STOPWORDS,
    WORD,
    phrases,
    query_terms,
    question_type,
    quoted,
    spelling_variants,
    stem_words,
    tokenize,
    words,
)


@dataclass(frozen=True, slots=True)
class Query:
    """A question turned into weighted index terms and the kind of answer it wants."""

    question: str
    terms: tuple[tuple[str, float], ...]
    kind: str | None  # "who" | "when" | "where" | None
    phrases: tuple[tuple[str, float], ...] = ()  # adjacent term pairs, scored on articles
    required: tuple[tuple[str, ...], ...] = ()  # quoted phrases as term sequences: must appear
    corrections: tuple[tuple[str, str], ...] = ()  # (typed term, index term used instead)

    def required_terms(self) -> set[str]:
        """Terms and adjacent pairs an article must hold to contain every quoted phrase."""
        out: set[str] = set()
        for seq in self.required:
            out.update(seq)
            out.update(phrases(seq))
        return out


@dataclass(frozen=True, slots=True)
class Candidate:
    """A passage BM25 found, with the text the features look at."""

    passage_id: int
    score: float
    text: str
    day: date | None = None  # published date of its source: recency
    feedback: float = 0.0  # in (-1, 1): the guild's votes on it for like questions


@dataclass(frozen=True, slots=True)
class Ranked:
    """A re-ranked passage: final score, best sentence, near-duplicates folded into it."""

    passage_id: int
    score: float
    best_sentence: tuple[int, int] | None
    duplicates: tuple[int, ...] = ()  # passage ids of the same text from other sources


def plan(question: str, settings: SearchSettings) -> Query:
    pairs = phrases(tokenize(question)) if settings.phrase_weight > 0 else []
    required = tuple(seq for seq in (tuple(tokenize(q)) for q in quoted(question)) if seq)
    return Query(
        question=question,
        terms=tuple(query_terms(question, settings.expansion_weight, settings.variant_weight)),
        kind=question_type(question),
        phrases=tuple((pair, settings.phrase_weight) for pair in pairs),
        required=required,
    )


def correct(query: Query, vocabulary: Sequence[str], frequency: Callable[[str], int]) -> Query:
    """Swaps each typed word that no visible passage holds for its nearest index term.

    Left alone: words some visible passage holds in another spelling (a variant),
    English words (the sources just lack them) and the lexicon's expansions. A corrected
    term keeps its weight; pairs and quoted phrases follow the correction. CPU-bound on
    a big vocabulary, so callers run it off the event loop.
    """
    fixes: dict[str, str] = {}
    asked = {t for t, _ in query.terms}
    for word in words(query.question):
        stems = stem_words([word])
        if not stems or stems[0] in fixes or frequency(stems[0]) > 0:
            continue
        variants = [v for v in spelling_variants(word) if v in asked]
        if any(frequency(v) > 0 for v in variants) or is_english(word):
            continue
        better = nearest(stems[0], vocabulary, frequency)
        if better is not None:
            fixes[stems[0]] = better
    if not fixes:
        return query

    def fix_pair(pair: str) -> str:
        return "_".join(fixes.get(part, part) for part in pair.split("_"))

    # A correction may land on a term the query already has (say an expansion at 0.35):
    # that term then carries the typed word's weight, once.
    targets = set(fixes.values())
    weight_of: dict[str, float] = {}
    for term, weight in query.terms:
        fixed = fixes.get(term, term)
        if fixed in targets:
            weight_of[fixed] = max(weight_of.get(fixed, 0.0), weight)
    terms: list[tuple[str, float]] = []
    for term, weight in query.terms:
        fixed = fixes.get(term, term)
        if fixed not in targets:
            terms.append((fixed, weight))
        elif fixed in weight_of:
            terms.append((fixed, weight_of.pop(fixed)))
    return replace(
        query,
        terms=tuple(terms),
        phrases=tuple((fix_pair(p), w) for p, w in query.phrases),
        required=tuple(tuple(fixes.get(t, t) for t in seq) for seq in query.required),
        corrections=tuple(fixes.items()),
    )


def suggestions(
    question: str, vocabulary: Sequence[str], frequency: Callable[[str], int]
) -> dict[str, str]:
    """For "did you mean": each typed word no visible passage holds → nearest index term.

    Unlike `correct`, English words are included: when nothing matches at all, "stuff"
    → "staff" is worth offering, though not worth searching for unasked.
    """
    out: dict[str, str] = {}
    for m in WORD.finditer(question):
        stems = stem_words(words(m.group()))
        if len(stems) != 1 or frequency(stems[0]) > 0:
            continue
        better = nearest(stems[0], vocabulary, frequency)
        if better is not None:
            out[m.group()] = better
    return out


def needs_correction(query: Query, frequency: Callable[[str], int]) -> bool:
    """Cheap check (no vocabulary scan): does some typed term match nothing visible?"""
    return any(frequency(t) == 0 for t in tokenize(query.question))


def holds_phrases(text: str, query: Query) -> bool:
    """Whether a passage's own text holds every quoted phrase, in order and adjacent.

    The text, not the stored terms: those start with the article's title, and a phrase
    must not be found across the seam between title and passage.
    """
    padded = f" {' '.join(tokenize(text))} "
    return all(f" {' '.join(seq)} " in padded for seq in query.required)


# A capitalised word inside a sentence (not its first word, not after an opening quote).
_CAPITAL = re.compile(r"(?<![\"“‘'(\[]) (?:[A-Z][a-z]+(?:[-'’][A-Z]?[a-z]+)*)")
_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_DATE = re.compile(
    rf"\b(?:{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?|\d{{1,2}}\s+{_MONTH}|"
    r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day|(?:19|20)\d\d|yesterday|today|tomorrow)\b"
)
_PLACE = re.compile(r"\b(?:in|at|near|outside|inside)\s+(?:the\s+)?([A-Z][a-z]+)")
_NOT_NAMES = frozenset(
    [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "The",
        "A",
        "An",
        "In",
        "On",
        "At",
        "But",
        "And",
        "Or",
        "He",
        "She",
        "They",
        "It",
        "We",
        "This",
        "That",
        "I",
    ]
)


def _name_words(sentence: str, asked: set[str]) -> int:
    """Capitalised words that may name someone and are not already in the question."""
    found = {
        m.group().strip()
        for m in _CAPITAL.finditer(sentence)
        if m.group().strip() not in _NOT_NAMES
    }
    return sum(1 for word in found if word.lower() not in asked)


def answer_feature(kind: str | None, sentence: str, asked: set[str]) -> float:
    """How much a sentence holds the kind of answer wanted, in [0, 1].

    A "who" answer names people the question did not (the question's own words, such
    as "Miami", are not answers); "when" wants dates; "where" wants places.
    """
    if kind == "who":
        return min(_name_words(sentence, asked), 4) / 4
    if kind == "when":
        return min(len(_DATE.findall(sentence)), 2) / 2
    if kind == "where":
        places = {p for p in _PLACE.findall(sentence) if p.lower() not in asked}
        return min(len(places), 2) / 2
    return 0.0


def recency(day: date | None, today: date, half_life: float) -> float:
    """1 for today's news, halving every `half_life` days; 0 when the date is unknown."""
    if day is None or half_life <= 0:
        return 0.0
    age = max((today - day).days, 0)
    return float(0.5 ** (age / half_life))


def rerank(
    query: Query,
    candidates: Sequence[Candidate],
    settings: SearchSettings,
    k: int,
    *,
    today: date | None = None,
) -> list[Ranked]:
    """Top k by BM25 × (1 + features); near-duplicate texts fold into their best copy.

    Features: the question type of the best sentence, a gentle recency bonus (news:
    of two equal answers, the newer one first) and the guild's votes on the passage for
    like questions (`index.feedback`). Ties go to the newer source, then the
    lower passage id. Best sentences cost a tokenisation each, so without a question type
    only the finalists get one.
    """
    weight = settings.question_type_weight if query.kind else 0.0
    fresh = settings.recency_weight if today is not None else 0.0
    asked = set(words(query.question))
    scored: list[tuple[float, int, Candidate, tuple[int, int] | None]] = []
    for c in candidates:
        span, score = None, c.score
        bonus = 0.0
        if weight:
            span = best_sentence(c.text, query.terms)
            if span is not None:
                bonus += weight * answer_feature(query.kind, c.text[span[0] : span[1]], asked)
        if fresh and today is not None:
            bonus += fresh * recency(c.day, today, settings.recency_half_life)
        bonus += settings.feedback_weight * c.feedback
        score += abs(score) * bonus  # abs: tiny corpora give negative BM25
        scored.append((score, -(c.day.toordinal() if c.day else 0), c, span))
    scored.sort(key=lambda item: (-item[0], item[1], item[2].passage_id))
    kept: list[tuple[float, Candidate, tuple[int, int] | None, list[int]]] = []
    folding = Folding(settings.duplicate_threshold)
    for score, _, c, span in scored:
        full = len(kept) == k
        if full and folding.threshold >= 1:
            break
        # Past the k-th result, candidates are still read: a copy ranked lower is cited.
        twin = folding.twin(c.text, keep=not full)
        if twin is not None:
            kept[twin][3].append(c.passage_id)
        elif not full:
            kept.append((score, c, span, []))
    return [
        Ranked(
            c.passage_id,
            score,
            span if weight else best_sentence(c.text, query.terms),
            tuple(dups),
        )
        for score, c, span, dups in kept
    ]


def _shingles(text: str, size: int = 3) -> frozenset[int]:
    """Hashed word 3-grams of a passage's opening: wire copy shares nearly all of them.

    Words are split on whitespace, not tokenised, and only the first SHINGLE_WORDS are read:
    this runs for every candidate of every question, and copies differ in their openings
    too if at all. crc32, not hash(): str hashes change between processes, answers must not.
    """
    tokens = text.lower().split()[:SHINGLE_WORDS]
    if len(tokens) < size:
        return frozenset([zlib.crc32(" ".join(tokens).encode())]) if tokens else frozenset()
    # map/zip keep the loops in C.
    grams = map(" ".join, zip(*(tokens[i:] for i in range(size)), strict=False))
    return frozenset(map(zlib.crc32, map(str.encode, grams)))


SHINGLE_WORDS = 100
SKETCH = 8  # smallest shingle hashes per text: two texts with Jaccard 0.7 share one
# of them with probability ≈ 1 − 0.3⁸ (a bottom-k sketch), and a miss only shows a copy twice


class Folding:
    """Finds a kept text that a new one near-duplicates: sketches pick, exact Jaccard decides.

    Comparing every pair is quadratic in the results asked for (evaluations ask hundreds);
    looking up a few sketch hashes finds the few kept texts worth an exact comparison.
    """

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.kept: list[frozenset[int]] = []
        self.owners: dict[int, list[int]] = {}

    def twin(self, text: str, *, keep: bool = True) -> int | None:
        """The first kept text with Jaccard ≥ threshold; else None (and `text` is kept)."""
        if self.threshold >= 1:
            if keep:
                self.kept.append(frozenset())
            return None
        mine = _shingles(text)
        sketch = heapq.nsmallest(SKETCH, mine)
        near = sorted({i for h in sketch for i in self.owners.get(h, ())})
        for i in near:
            theirs = self.kept[i]
            small, large = sorted((len(mine), len(theirs)))
            if small < self.threshold * large:  # even a subset could not reach it
                continue
            common = len(mine & theirs)
            if common >= self.threshold * (len(mine) + len(theirs) - common):
                return i
        if not keep:
            return None
        index = len(self.kept)
        self.kept.append(mine)
        for h in sketch:
            self.owners.setdefault(h, []).append(index)
        return None


def term_spans(text: str, terms: Sequence[tuple[str, float]]) -> tuple[tuple[int, int], ...]:
    """Character spans of the words in `text` that match a query term (for highlighting)."""
    wanted = {t for t, _ in terms}
    if not wanted:
        return ()
    # Most words are plain ASCII: lowercasing is their whole fold, no call per word.
    matches = [
        (m.span(), [w.lower()] if (w := m.group()).isascii() and w.isalnum() else words(w))
        for m in WORD.finditer(text)
    ]
    unique = sorted({w for _, parts in matches for w in parts})
    stems = dict(zip(unique, stem_words(unique, keep_stopwords=True), strict=True))
    return tuple(
        span
        for span, parts in matches
        if any(p not in STOPWORDS and stems[p] in wanted for p in parts)
    )


def surface(text: str, term: str) -> str | None:
    """The first word of `text` whose index term is `term`, as written ("witkoff" → Witkoff)."""
    for m in WORD.finditer(text):
        if term in stem_words(words(m.group())):
            return m.group()
    return None


def best_sentence(text: str, terms: Sequence[tuple[str, float]]) -> tuple[int, int] | None:
    """The sentence carrying the most query weight (distinct terms), earliest on ties."""
    weights: dict[str, float] = {}
    for term, weight in terms:
        weights[term] = max(weights.get(term, 0.0), weight)
    best: tuple[float, int, int] | None = None
    for start, end in split_sentences(text):
        score = sum(weights.get(t, 0.0) for t in set(tokenize(text[start:end])))
        if score > 0 and (best is None or score > best[0]):
            best = (score, start, end)
    return (best[1], best[2]) if best else None
