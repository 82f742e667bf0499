"""Terminal rendering of answers (pure functions): marks, highlights, citations."""

from __future__ import annotations

from datetime import UTC, date, datetime

from bot import render
from index.types import Answer, Correction, Hit, SourceInfo

TEXT = "Envoys met in Miami. The meeting included Witkoff and Kushner."


def source(sid: str, publisher: str) -> SourceInfo:
    return SourceInfo(
        id=sid,
        ref=f"https://news.example/{sid}",
        title=f"Story {sid}",
        url=f"https://news.example/{sid}",
        publisher=publisher,
        published=date(2025, 12, 21),
        guild=None,
        passages=1,
        added_at=datetime(2025, 12, 21, tzinfo=UTC),
    )


def hit(**kwargs) -> Hit:
    start = TEXT.index("The meeting")
    fields = {
        "rank": 1,
        "score": 1.0,
        "passage_id": "1",
        "text": TEXT,
        "source": source("a", "Agency"),
        "best_sentence": (start, len(TEXT)),
        "highlights": (
            (TEXT.index("Miami"), TEXT.index("Miami") + 5),
            (TEXT.index("meeting"), TEXT.index("meeting") + 7),
        ),
    }
    return Hit(**{**fields, **kwargs})


def test_terminal_marks_sentence_bold_and_words_underlined():
    """ANSI: the best sentence bold, each matching word underlined, text otherwise intact."""
    out = render.marked(hit(), ansi=True)
    assert f"{render.UNDERLINE}Miami{render.NO_UNDERLINE}" in out
    assert f"{render.BOLD}The {render.UNDERLINE}meeting{render.NO_UNDERLINE}" in out
    assert out.endswith(f"Kushner.{render.RESET}")
    plain = out
    for code in (render.BOLD, render.RESET, render.UNDERLINE, render.NO_UNDERLINE):
        plain = plain.replace(code, "")
    assert plain == TEXT


def test_pipe_output_marks_only_the_sentence():
    """Without a terminal: `**…**` around the best sentence, no word marks."""
    out = render.marked(hit(), ansi=False)
    assert out == TEXT.replace("The meeting", "**The meeting") + "**"


def test_folded_wire_copy_cites_every_outlet():
    """A hit with `also` lists one numbered citation per outlet; numbering continues."""
    answer = Answer(
        "q",
        (
            hit(also=(source("b", "Outlet Two"),)),
            hit(rank=2, passage_id="2", source=source("c", "Third")),
        ),
        searched=3,
    )
    lines = render.answer_text(answer, ansi=False).splitlines()
    cites = [line.strip() for line in lines if line.strip().startswith("[")]
    assert [c.split("]")[0] for c in cites] == ["[1", "[2", "[3"]
    assert "Agency" in cites[0] and "Outlet Two" in cites[1] and "Third" in cites[2]


def test_corrections_are_stated_first():
    answer = Answer("who met Witkof", (hit(),), 1, corrections=(Correction("Witkof", "Witkoff"),))
    first = render.answer_text(answer, ansi=False).splitlines()[0]
    assert first == "Searched for Witkoff (for Witkof): no passage holds the word as typed."


def test_no_match_mentions_filters_and_suggestion():
    answer = Answer("the plain", (), 9, suggestion="the plan", filtered=True)
    text = render.answer_text(answer, ansi=False)
    assert text == (
        "No passage matches 'the plain' among 9 passages within the filters; try other words. "
        "Did you mean 'the plan'?"
    )


def test_json_shape_stays_the_contract():
    """Folded copies and corrections never add keys to the `ask --json` contract."""
    answer = Answer("q", (hit(also=(source("b", "Two"),)),), 1, corrections=(Correction("a", "b"),))
    out = render.answer_json(answer)
    assert set(out) == {"question", "results"}
    assert set(out["results"][0]) == {"rank", "score", "passage_id", "text", "source"}
