"""Sentence spans and paragraph-based passage windows."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from index.extract import extract_bytes
from index.passages import MAX_WORDS, MIN_WORDS, split_passages, split_sentences

SAMPLE = (
    Path(__file__).resolve().parents[2] / "examples" / "corpus" / "ani-2025-12-21-miami-talks.txt"
)


def sentence(tag: str, words: int) -> str:
    """A unique sentence of exactly `words` words."""
    return " ".join([f"Item{tag}", *(f"w{tag}x{k}" for k in range(1, words))]) + "."


def paragraph(tag: str, *sizes: int) -> str:
    return " ".join(sentence(f"{tag}s{i}", n) for i, n in enumerate(sizes))


def words(text: str) -> int:
    return len(text.split())


def sentences_of(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


# --- sentences ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Talks ended. A deal was signed.", ["Talks ended.", "A deal was signed."]),
        (
            "Was it over? Nobody knew! Then 3 envoys left.",
            ["Was it over?", "Nobody knew!", "Then 3 envoys left."],
        ),
        ("Mr. Smith met Mrs. Jones and Dr. Lee.", ["Mr. Smith met Mrs. Jones and Dr. Lee."]),
        (
            "Gen. Milley and Sen. Graham spoke. Gov. Newsom did not.",
            ["Gen. Milley and Sen. Graham spoke.", "Gov. Newsom did not."],
        ),
        (
            "Lt. Col. Vindman testified. Rep. Schiff asked.",
            ["Lt. Col. Vindman testified.", "Rep. Schiff asked."],
        ),
        (
            "The U.S. and the U.K. agreed. Talks end.",
            ["The U.S. and the U.K. agreed.", "Talks end."],
        ),
        ("Donald J. Trump spoke. He left.", ["Donald J. Trump spoke.", "He left."]),
        ("Growth was 3.5 percent. It slowed.", ["Growth was 3.5 percent.", "It slowed."]),
        (
            '"We are close," he said. "Not yet," she said.',
            ['"We are close," he said.', '"Not yet," she said.'],
        ),
        (
            'He said "no." "The role is ours," she said.',
            ['He said "no."', '"The role is ours," she said.'],
        ),
        ('"Stop!" Trump said. It ended.', ['"Stop!" Trump said.', "It ended."]),
        (
            "Fruit, e.g. apples, etc. are sold. Prices rose.",
            ["Fruit, e.g. apples, etc. are sold.", "Prices rose."],
        ),
        ("Use e.g. Germany as a model. Fine.", ["Use e.g. Germany as a model.", "Fine."]),
        (
            "It was signed on Dec. 21, 2025. No. 10 agreed.",
            ["It was signed on Dec. 21, 2025.", "No. 10 agreed."],
        ),
        (
            "Trump vs. Biden was close. St. Petersburg voted.",
            ["Trump vs. Biden was close.", "St. Petersburg voted."],
        ),
        (
            "He was born in Jan. 1950 in Ohio. He died.",
            ["He was born in Jan. 1950 in Ohio.", "He died."],
        ),
        ("Talks stalled (again.) Then resumed.", ["Talks stalled (again.)", "Then resumed."]),
        (
            "It may work... That may not be possible.",
            ["It may work...", "That may not be possible."],
        ),
        ("Heading without stop\n\nBody sentence.", ["Heading without stop", "Body sentence."]),
        ("one lowercase. start here.", ["one lowercase. start here."]),
        ("", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    """Splits at sentence ends, not at abbreviations, initials, decimals or inside quotes."""
    assert sentences_of(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "  Leading space. Trailing space.  ",
        "One.\n\nTwo!\n  Three?  Four",
        'A "quoted." B (bracket.) C',
    ],
)
def test_sentence_spans_cover_all_text(text: str) -> None:
    """Spans are ordered, disjoint, trimmed and cover every non-space character."""
    spans = split_sentences(text)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    assert all(text[s:e] == text[s:e].strip() and e > s for s, e in spans)
    assert "".join(text[s:e] for s, e in spans).replace(" ", "").replace("\n", "") == (
        text.replace(" ", "").replace("\n", "")
    )


# --- passages -----------------------------------------------------------------------------


def test_constants() -> None:
    """Default window bounds are 40 and 150 words."""
    assert (MIN_WORDS, MAX_WORDS) == (40, 150)


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        ([10, 10, 30], [50]),  # joined until the window reaches min_words
        ([45, 45], [45, 45]),  # a full window is not extended
        ([50, 10], [60]),  # a short tail joins the window before it
        ([140, 20], [140, 20]),  # ... unless that would pass max_words
        ([30, 130], [30, 130]),  # never joined past max_words
        ([20, 100, 10], [130]),
        ([20, 140, 10], [20, 150]),  # a squeezed short window is left alone if it must be
        ([5], [5]),  # a short document is one short passage
        ([], []),
    ],
)
def test_window_sizes(sizes: list[int], expected: list[int]) -> None:
    """Paragraph windows grow to min_words, never pass max_words, and absorb short tails."""
    paragraphs = [sentence(f"p{i}", n) for i, n in enumerate(sizes)]
    assert [words(p) for p in split_passages(paragraphs)] == expected


def test_paragraphs_joined_with_blank_line() -> None:
    """Paragraphs in one passage are separated by a blank line."""
    assert split_passages(["One short para.", "Another short para."]) == [
        "One short para.\n\nAnother short para."
    ]


def test_long_paragraph_split_evenly() -> None:
    """A 400-word paragraph of 20-word sentences becomes 3 balanced chunks, not 150/150/100."""
    passages = split_passages([paragraph("a", *[20] * 20)])
    assert [words(p) for p in passages] == [140, 140, 120]


def test_long_paragraph_prefers_even_halves() -> None:
    """160 words split as 80 + 80 rather than 140 + 20."""
    passages = split_passages([paragraph("a", *[20] * 8)])
    assert [words(p) for p in passages] == [80, 80]


def test_overlong_sentence_stands_alone() -> None:
    """A sentence over max_words is a passage of its own, never cut."""
    long_one = sentence("big", 200)
    passages = split_passages([paragraph("a", 30, 20), long_one + " " + sentence("t", 30)])
    assert long_one in passages
    assert all(words(p) <= MAX_WORDS for p in passages if p != long_one)


def test_custom_bounds() -> None:
    """min_words and max_words are honoured."""
    paragraphs = [sentence(f"p{i}", 6) for i in range(10)]
    passages = split_passages(paragraphs, min_words=10, max_words=20)
    assert [words(p) for p in passages] == [12] * 5


MIXED = [
    paragraph("a", 12, 18),
    paragraph("b", 25, 40, 30, 22, 35, 19, 28, 33),
    paragraph("c", 8),
    paragraph("d", 160),
    paragraph("e", 15, 15, 15),
    paragraph("f", 60, 70, 10),
    paragraph("g", 9),
]


def test_every_sentence_whole_in_exactly_one_passage() -> None:
    """No sentence is cut or repeated: each appears whole in exactly one passage."""
    passages = split_passages(MIXED)
    for par in MIXED:
        for s in sentences_of(par):
            assert sum(s in p for p in passages) == 1, s


def test_passages_keep_all_words_in_order() -> None:
    """Passages are a partition of the input: same words, same order."""
    passages = split_passages(MIXED)
    assert " ".join(passages).split() == " ".join(MIXED).split()


def test_mixed_passages_within_bounds() -> None:
    """Every passage is within bounds unless a single sentence is too long."""
    for p in split_passages(MIXED):
        assert MIN_WORDS <= words(p) <= MAX_WORDS or len(sentences_of(p)) == 1


def test_deterministic() -> None:
    """The same input gives the same passages."""
    assert split_passages(MIXED) == split_passages(list(MIXED))


def test_sample_article_passages_within_bounds() -> None:
    """The agency sample's passages each hold 40-150 words and cover all its paragraphs."""
    doc = extract_bytes(SAMPLE.read_bytes(), ref="sample", filename=SAMPLE.name)
    passages = split_passages(doc.paragraphs)
    assert all(MIN_WORDS <= words(p) <= MAX_WORDS for p in passages)
    assert "\n\n".join(passages).split() == doc.text.split()
