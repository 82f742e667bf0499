"""From a question to ranked passages: query plan, light re-ranking, best sentence.

BM25 (bm25.py) finds candidates; the features here only reorder the top few dozen, so
they stay cheap and the BM25 score stays the backbone of every answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from index.passages import split_sentences
from index.settings import SearchSettings
from index.tokenize import phrases, query_terms, question_type, tokenize, words


@dataclass(frozen=True, slots=True)
class Query:
    """A question turned into weighted index terms and the kind of answer it wants."""

    question: str
    terms: tuple[tuple[str, float], ...]
    kind: str | None  # "who" | "when" | "where" | None
    phrases: tuple[tuple[str, float], ...] = ()  # adjacent term pairs, scored on articles


@dataclass(frozen=True, slots=True)
class Candidate:
    """A passage BM25 found, with the text the features look at."""

    passage_id: int
    score: float
    text: str


@dataclass(frozen=True, slots=True)
class Ranked:
    """A re-ranked passage: final score and the span of its best-matching sentence."""

    passage_id: int
    score: float
    best_sentence: tuple[int, int] | None


def plan(question: str, settings: SearchSettings) -> Query:
    pairs = phrases(tokenize(question)) if settings.phrase_weight > 0 else []
    return Query(
        question=question,
        terms=tuple(query_terms(question, settings.expansion_weight)),
        kind=question_type(question),
        phrases=tuple((pair, settings.phrase_weight) for pair in pairs),
    )


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


def rerank(
    query: Query, candidates: Sequence[Candidate], settings: SearchSettings, k: int
) -> list[Ranked]:
    """Top k by BM25 × (1 + weight × feature of the best sentence); ties by passage id.

    Best sentences cost a tokenisation each, so without a question type only the k
    finalists get one.
    """
    weight = settings.question_type_weight if query.kind else 0.0
    asked = set(words(query.question))
    scored: list[tuple[float, Candidate, tuple[int, int] | None]] = []
    for c in candidates:
        span, score = None, c.score
        if weight:
            span = best_sentence(c.text, query.terms)
            if span is not None:
                feature = answer_feature(query.kind, c.text[span[0] : span[1]], asked)
                score += abs(score) * weight * feature  # abs: tiny corpora give negative BM25
        scored.append((score, c, span))
    scored.sort(key=lambda item: (-item[0], item[1].passage_id))
    return [
        Ranked(c.passage_id, score, span if weight else best_sentence(c.text, query.terms))
        for score, c, span in scored[:k]
    ]


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
