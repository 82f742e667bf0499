"""Sentences and passages: the units we rank and cite.

Passages follow paragraphs, because a paragraph is what a reader recognises in a citation;
they are only cut inside a paragraph at sentence boundaries, never inside a sentence.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

MIN_WORDS = 40
MAX_WORDS = 150

# Always followed by a name or number, so never the end of a sentence.
_TITLES = frozenset(
    {
        *("mr", "mrs", "ms", "messrs", "dr", "prof", "st", "jr", "sr", "rev", "hon", "fr"),
        *("gen", "sen", "rep", "gov", "pres", "lt", "col", "capt", "cmdr", "adm", "maj", "sgt"),
        *("cpl", "pvt", "brig", "supt", "insp", "det", "mt", "ft", "dept", "univ"),
        *("vs", "v", "e.g", "i.e", "cf", "al", "approx"),
    }
)
# Only an abbreviation when a number follows: "No. 10", "Dec. 21".
_BEFORE_NUMBER = frozenset(
    {
        *("no", "nos", "nr", "vol", "pp", "p", "art", "fig"),
        *("jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"),
    }
)
_INITIALISM = re.compile(r"^(?:[A-Za-z]\.)+[A-Za-z]$")  # U.S, U.K, e.g (before the last dot)
_CANDIDATE = re.compile(r"(?:[.!?]+|…)[\"'”’)\]]*(?=\s)")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_OPENERS = "\"'“‘([«"
_SPEECH_TAG = re.compile(
    r"(?:[A-Z][\w.'’-]*\s+){1,4}(?:said|says|told|added|asked|wrote|replied|stated|noted)\b"
)


def _token_before(text: str, end: int) -> str:
    start = end
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    return text[start:end].lstrip(_OPENERS)


def _is_boundary(text: str, m: re.Match[str], nxt: int) -> bool:
    """Whether the punctuation in `m`, with the next word at `nxt`, ends a sentence."""
    follower = text[nxt]
    if not (follower.isupper() or follower.isdigit() or follower in _OPENERS):
        return False
    punct = m.group()
    if punct == ".":
        word = _token_before(text, m.start())
        lower = word.lower()
        if lower in _TITLES or _INITIALISM.match(word):
            return False
        if len(word) == 1 and word.isupper():  # an initial: "Donald J. Trump"
            return False
        if lower in _BEFORE_NUMBER and follower.isdigit():
            return False
    # '"Stop!" Trump said.' is one sentence.
    quoted = punct[-1] in "\"'”’"
    return not (quoted and _SPEECH_TAG.match(text, nxt))


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences in `text`, together covering all its non-space text."""
    cuts = {0, len(text)}
    for m in _CANDIDATE.finditer(text):
        nxt = m.end()
        while nxt < len(text) and text[nxt].isspace():
            nxt += 1
        if nxt < len(text) and _is_boundary(text, m, nxt):
            cuts.add(nxt)
    cuts.update(m.end() for m in _PARAGRAPH_BREAK.finditer(text))
    spans: list[tuple[int, int]] = []
    ordered = sorted(cuts)
    for start, end in itertools.pairwise(ordered):
        chunk = text[start:end]
        stripped = chunk.strip()
        if stripped:
            lead = len(chunk) - len(chunk.lstrip())
            spans.append((start + lead, start + lead + len(stripped)))
    return spans


def _words(text: str) -> int:
    return len(text.split())


@dataclass(frozen=True, slots=True)
class _Unit:
    """A whole paragraph, or a sentence-aligned chunk of a long one."""

    text: str
    words: int
    continues: bool  # same paragraph as the unit before it


def _chunk_paragraph(paragraph: str, max_words: int) -> list[str]:
    """Sentence-aligned chunks of <= max_words, as few and as even as possible."""
    spans = split_sentences(paragraph)
    sizes = [_words(paragraph[s:e]) for s, e in spans]
    n = len(spans)
    # best[i]: (chunks, sum of squared sizes) for the first i sentences; squares favour evenness
    best: list[tuple[int, int]] = [(0, 0)] + [(n + 1, 0)] * n
    back = [0] * (n + 1)
    for i in range(1, n + 1):
        size = 0
        for j in range(i - 1, -1, -1):
            size += sizes[j]
            if size > max_words and j < i - 1:
                break
            cand = (best[j][0] + 1, best[j][1] + size * size)
            if cand < best[i]:
                best[i], back[i] = cand, j
    bounds: list[tuple[int, int]] = []
    i = n
    while i > 0:
        bounds.append((back[i], i))
        i = back[i]
    return [paragraph[spans[a][0] : spans[b - 1][1]] for a, b in reversed(bounds)]


def _units(paragraphs: Sequence[str], max_words: int) -> list[_Unit]:
    units: list[_Unit] = []
    for raw in paragraphs:
        paragraph = raw.strip()
        words = _words(paragraph)
        if not words:
            continue
        if words <= max_words:
            units.append(_Unit(paragraph, words, False))
            continue
        for k, chunk in enumerate(_chunk_paragraph(paragraph, max_words)):
            units.append(_Unit(chunk, _words(chunk), k > 0))
    return units


def _join(units: list[_Unit]) -> str:
    parts = [units[0].text]
    for unit in units[1:]:
        parts.append((" " if unit.continues else "\n\n") + unit.text)
    return "".join(parts)


def split_passages(
    paragraphs: Sequence[str], *, min_words: int = MIN_WORDS, max_words: int = MAX_WORDS
) -> list[str]:
    """Paragraph windows of min_words..max_words words; only over-long sentences exceed max."""
    windows: list[list[_Unit]] = []
    size = 0
    for unit in _units(paragraphs, max_words):
        if windows and windows[-1] and (size >= min_words or size + unit.words > max_words):
            windows.append([])
            size = 0
        if not windows:
            windows.append([])
        windows[-1].append(unit)
        size += unit.words
    # A window left short (a tail, or squeezed by a long neighbour) joins a neighbour if it fits.
    sizes = [sum(u.words for u in w) for w in windows]
    i = 0
    while i < len(windows):
        if sizes[i] < min_words and len(windows) > 1:
            if i > 0 and sizes[i - 1] + sizes[i] <= max_words:
                windows[i - 1] += windows.pop(i)
                sizes[i - 1] += sizes.pop(i)
                i -= 1  # the merged window may still be short
                continue
            if i + 1 < len(windows) and sizes[i] + sizes[i + 1] <= max_words:
                windows[i] += windows.pop(i + 1)
                sizes[i] += sizes.pop(i + 1)
                continue
        i += 1
    return [_join(w) for w in windows if w]
