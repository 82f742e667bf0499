"""Typo tolerance: a question term no visible passage holds → the nearest term that one does.

Names are where people misspell ("Witkof", "Dmitriev"/"Dmitriyev", "Zelenksy"), and a name
that misses finds nothing at all, so an unknown term is swapped for its nearest index term
(Damerau distance, a swap of two letters being one edit; Elasticsearch's AUTO fuzziness).
Only the vocabulary the asker's guild can see is offered, so a suggestion never reveals
another guild's sources.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from rapidfuzz import process
from rapidfuzz.distance import OSA
from spellchecker import SpellChecker

MIN_LENGTH = 4  # shorter terms have too many neighbours to guess from
# An English word the sources lack ("stuff") is no typo: "correcting" it to a word they
# hold ("staff") would search for something else. Counts are pyspellchecker's (its
# English list counts words in subtitles and Wikipedia); rarer entries are often junk.
ENGLISH_MIN_COUNT = 50


@functools.cache
def _english() -> SpellChecker:
    """pyspellchecker's English word list, loaded on first use (about 0.3 s)."""
    return SpellChecker(language="en", distance=1)


def is_english(word: str) -> bool:
    """Whether a folded word is a common enough English word to be meant as typed."""
    return _english().word_frequency[word] >= ENGLISH_MIN_COUNT


def max_edits(term: str) -> int:
    """Edits allowed for a term of this length: 1 up to five letters, 2 beyond."""
    return 1 if len(term) <= 5 else 2


def correctable(term: str) -> bool:
    """Only words: numbers, years and amounts are never "corrected" into other numbers."""
    return len(term) >= MIN_LENGTH and term.isalpha()


def nearest(term: str, vocabulary: Sequence[str], frequency: Callable[[str], int]) -> str | None:
    """The visible term closest to `term`: fewest edits, then most passages, then a-z.

    `frequency` gives how many passages the asker sees holding a term (0 = invisible).
    """
    if not correctable(term) or not vocabulary:
        return None
    limit = max_edits(term)
    # Every term within reach (limit=None): a shortlist would be cut in vocabulary order,
    # so other guilds' words could crowd out the visible one and answers depend on order.
    near = process.extract(term, vocabulary, scorer=OSA.distance, score_cutoff=limit, limit=None)
    best: tuple[int, int, str] | None = None
    for candidate, distance, _ in near:
        if candidate == term or not candidate.isalpha():
            continue
        df = frequency(candidate)
        if df <= 0:
            continue
        key = (int(distance), -df, candidate)
        if best is None or key < best:
            best = key
    return best[2] if best else None
