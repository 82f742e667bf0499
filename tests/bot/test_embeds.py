"""Embeds, escaping and limits: pure functions, no Discord client."""

from __future__ import annotations

import random
import re
from datetime import UTC, date, datetime
from pathlib import Path

import discord
import pytest

from bot import embeds
from bot.embeds import Limits
from index import Library, Settings
from index.types import Answer, Correction, FeedInfo, Hit, IngestReport, SourceInfo

CORPUS = Path(__file__).resolve().parents[2] / "examples" / "corpus"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def source(i: int = 1, **kw: object) -> SourceInfo:
    values: dict[str, object] = {
        "id": f"{i:012x}",
        "ref": f"https://news.example/{i}",
        "title": f"Talks in Miami, part {i}",
        "url": f"https://news.example/{i}",
        "publisher": "ANI",
        "published": date(2025, 12, 21),
        "guild": None,
        "passages": 9,
        "added_at": NOW,
    }
    values.update(kw)
    return SourceInfo(**values)  # type: ignore[arg-type]


def hit(
    rank: int,
    text: str,
    src: SourceInfo | None = None,
    span: tuple[int, int] | None = None,
    *,
    words: tuple[str, ...] = (),
    also: tuple[SourceInfo, ...] = (),
) -> Hit:
    """A hit whose `words` (exact, case-sensitive) are highlighted wherever they occur."""
    highlights = tuple(
        sorted(
            m.span()
            for w in words
            for m in re.finditer(rf"(?<![^\W_]){re.escape(w)}(?![^\W_])", text)
        )
    )
    return Hit(rank, 1.0 / rank, str(rank), text, src or source(), span, (), highlights, also)


def markers(text: str) -> list[str]:
    """The live `**` and `__` markers in Discord markdown, escaped characters removed."""
    live = re.sub(r"\\.", "", text)
    assert "*" not in live.replace("**", "") and "_" not in live.replace("__", ""), text
    return re.findall(r"\*\*|__", live)


def balanced(text: str) -> bool:
    """Every marker closes, innermost first (`**a __b__**`, never `**a __b**__`)."""
    stack: list[str] = []
    for marker in markers(text):
        if stack and stack[-1] == marker:
            stack.pop()
        else:
            stack.append(marker)
    return not stack


def within_limits(embed: discord.Embed) -> None:
    data = embed.to_dict()
    assert len(data.get("title", "")) <= Limits.TITLE
    assert len(data.get("description", "")) <= Limits.DESCRIPTION
    assert len(data.get("fields", [])) <= Limits.FIELDS
    for f in data.get("fields", []):
        assert 0 < len(f["name"]) <= Limits.FIELD_NAME
        assert 0 < len(f["value"]) <= Limits.FIELD_VALUE
    assert len(data.get("footer", {}).get("text", "")) <= Limits.FOOTER
    assert embeds.embed_length(embed) <= Limits.TOTAL


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("one two three four", 12, "one two…"),
        ("abcdefghij", 5, "abcd…"),
        ("anything", 1, "…"),
        ("anything", 0, ""),
    ],
)
def test_cut_stops_at_a_word_with_an_ellipsis(text: str, limit: int, expected: str) -> None:
    """Cut text ends at a word boundary (when one is near) and says it was cut."""
    assert embeds.cut(text, limit) == expected


def test_cut_never_leaves_a_dangling_escape() -> None:
    """A backslash at the cut would escape the ellipsis and show a stray character."""
    out = embeds.cut("abc\\*defghijkl", 5)
    assert not out.rstrip("…").endswith("\\")
    assert len(out) <= 5


@pytest.mark.parametrize(
    ("raw", "forbidden"),
    [
        ("[click me](https://evil.example)", "[click me]("),
        ("**bold** and __under__", "**bold**"),
        ("hello @everyone and @here", "@everyone"),
        ("ping <@123> and <@&456> and <#789>", "<@123>"),
        ("ping <@&456>", "<@&456>"),
        ("`code`", "`code`"),
        ("||spoiler||", "||spoiler||"),
    ],
)
def test_escape_makes_markup_and_mentions_inert(raw: str, forbidden: str) -> None:
    """Web text cannot spoof links, ping anyone or pass for our own formatting."""
    assert forbidden not in embeds.escape(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("# Heading", "\\# Heading"),
        ("- item", "\\- item"),
        ("a\n  1. first", "a\n  1\\. first"),
        ("> quote", "\\> quote"),
        ("3 - 2", "3 - 2"),
    ],
)
def test_escape_line_markup(raw: str, expected: str) -> None:
    """Headings, lists and quotes at a line start are escaped; mid-line text is not."""
    assert embeds.escape(raw) == expected


def test_link_only_for_http_urls() -> None:
    """A javascript: or bare URL is shown as text; http(s) links are percent-safe."""
    assert embeds.link("T", "javascript:alert(1)") == "T"
    assert embeds.link("T", None) == "T"
    assert embeds.link("A [b]", "https://x.example/a b)c") == (
        "[A \\[b\\]](https://x.example/a%20b%29c)"
    )


async def test_miami_answer_embed_cites_the_right_passage(tmp_path: Path) -> None:
    """The sample corpus' answer renders with the names in bold and an exact citation."""
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'e.db'}")
    async with await Library.open(settings) as library:
        await library.ingest([str(CORPUS)])
        answer = await library.ask("who attended the Miami talks?", k=6)
    embed = embeds.answer_embed(answer, 0, 3)
    within_limits(embed)
    first = embed.description.split("\n\n**2.** ")[0]
    assert first.startswith("**1.** ")
    assert "**The __meeting__ __included__ Dmitriev" in first
    assert "Kushner, as reported by TASS.**" in first
    assert "[1] **ANI** — " in first
    assert "(2025-12-21)" not in first and "· 2025-12-21" in first
    assert embed.title == "who attended the Miami talks?"
    assert embed.footer.text.startswith(f"Searched {answer.searched:,} passages in ")
    assert "page 1/2" in embed.footer.text


def test_answer_embed_fits_huge_passages_and_titles() -> None:
    """Ten 5,000-character passages with 1,000-character titles still fit every limit."""
    rng = random.Random(7)
    words = ["talks", "*envoy*", "[Miami](x)", "@everyone", "<@1>", "Witkoff", "_a_", "\\"]
    hits = []
    for i in range(1, 11):
        text = " ".join(rng.choice(words) for _ in range(900))
        src = source(i, title="T" * 1000, publisher="P" * 500, url="https://x.example/" + "a" * 900)
        hits.append(hit(i, text, src, (100, 3000), words=("talks", "Witkoff", "a")))
    answer = Answer("q" * 400, tuple(hits), 123456, 0.0123)
    for per_page in (1, 3, 10):
        for page in range(embeds.pages(answer, per_page)):
            embed = embeds.answer_embed(answer, page, per_page)
            within_limits(embed)
            assert "@everyone" not in embed.description
            assert balanced(embed.description)


def test_passage_excerpt_keeps_the_best_sentence() -> None:
    """When a long passage is cut, the excerpt starts at the best sentence, in bold."""
    text = (
        "Filler words here. " * 200 + "The meeting included Dmitriev and Witkoff." + " More." * 50
    )
    start = text.index("The meeting")
    out = embeds.marked_passage(hit(1, text, span=(start, start + 42)), 300)
    assert out.startswith("… **The meeting included Dmitriev and Witkoff.**")
    assert len(out) <= 300 and out.endswith("…")


def test_citation_numbers_are_stable_across_pages() -> None:
    """One article keeps its number on every page of an answer."""
    a, b = source(1), source(2)
    hits = tuple(hit(i, f"passage {i}", src) for i, src in enumerate([a, b, a, b, a], start=1))
    answer = Answer("q", hits, 5, 0.0)
    page2 = embeds.answer_embed(answer, 1, 2).description
    assert "[2] " in page2 and "[1] " in page2
    assert embeds.citation_numbers(hits) == {a.id: 1, b.id: 2}


def test_sources_embed_lists_each_cited_article_once() -> None:
    """The Sources button shows every cited article with its number and id."""
    srcs = [source(i) for i in range(1, 60)]
    answer = Answer("q", tuple(hit(i, "x", s) for i, s in enumerate(srcs + srcs, 1)), 1, 0.0)
    embed = embeds.sources_embed(answer)
    within_limits(embed)
    assert embed.description.count(f"`{srcs[0].id}`") == 1
    assert embed.footer.text == "59 articles"


def test_fit_cuts_any_embed_to_the_limits() -> None:
    """The last-resort guard: 30 over-long fields and a long everything fit."""
    embed = discord.Embed(title="t" * 300, description="d " * 3000)
    for i in range(30):
        embed.add_field(name="n" * 300, value=f"{i} " + "v" * 2000)
    embed.set_footer(text="f" * 3000)
    within_limits(embeds.fit(embed))


def test_source_list_pages_and_marks_scope() -> None:
    """/source list shows ids, titles, passage counts, who added and when; 10 per page."""
    srcs = [source(i, guild="42" if i % 2 else None, added_by="777") for i in range(1, 24)]
    feed = FeedInfo(
        "feed00000001",
        "https://f.example/rss",
        "Wire",
        "42",
        NOW,
        last_error="HTTP 500",
        last_success=NOW,
        failures=3,
    )
    embed, total = embeds.source_list_embed(srcs, [feed], 0)
    within_limits(embed)
    assert total == 3
    lines = embed.description.split("\n")
    assert (
        lines[0].startswith("`feed00000001` feed **Wire**")
        and "3 failed, last error: HTTP 500" in lines[0]
        and "updated <t:" in lines[0]
    )
    assert f"`{srcs[0].id}` **Talks in Miami, part 1** — 9 passages · this server" in lines[1]
    assert "added by <@777> <t:" in lines[1]
    last, _ = embeds.source_list_embed(srcs, [feed], 99)
    assert "page 3/3" in last.footer.text


def test_ingest_text_names_duplicates_and_failures() -> None:
    """The end of /source add says what happened in words an admin can act on."""
    dup = IngestReport(unchanged=["abc"])
    assert "already indexed" in embeds.ingest_text(dup, [], "https://x.example/a")
    failed = IngestReport(failed=[("https://x.example/a", "HTTP 404 Not Found")])
    assert "Could not add https://x.example/a: HTTP 404 Not Found" in embeds.ingest_text(
        failed, [], "https://x.example/a"
    )
    added = embeds.ingest_text(IngestReport(added=["1"]), [source(1)], "u")
    assert added.startswith("Added **ANI** — [Talks in Miami, part 1](https://news.example/1)")


def test_no_match_text_suggests_other_words() -> None:
    """Nothing found is a friendly hint, not an empty embed."""
    assert "Try other words" in embeds.no_match_text(Answer("zzz", (), 10, 0.0))
    assert "/source add" in embeds.no_match_text(Answer("zzz", (), 0, 0.0))


def test_query_words_are_underlined_in_and_around_the_bold_sentence() -> None:
    """Query words get `__…__`, inside the bold best sentence too; markers hug the words."""
    text = "Talks went on. The meeting included Witkoff in Miami. Witkoff left."
    start = text.index("The meeting")
    h = hit(1, text, span=(start, text.index(" Witkoff left")), words=("Talks", "Witkoff"))
    assert embeds.marked_passage(h, 500) == (
        "__Talks__ went on. **The meeting included __Witkoff__ in Miami.** __Witkoff__ left."
    )


def test_touching_highlights_are_joined() -> None:
    """Adjacent spans become one underline: `__a____b__` would not render as two."""
    h = Hit(1, 1.0, "1", "US-Russia talks", source(), None, (), ((0, 2), (2, 3), (3, 9)))
    assert embeds.marked_passage(h, 100) == "__US-Russia__ talks"


@pytest.mark.parametrize(
    ("raw", "inert"),
    [
        ("snake_case_word Witkoff", "snake\\_case\\_word"),
        ("*stars* Witkoff", "\\*stars\\*"),
        ("__under__ Witkoff", "\\_\\_under\\_\\_"),
        ("**bold** Witkoff", "\\*\\*bold\\*\\*"),
        ("Witkoff_said", "__Witkoff__\\_said"),
        ("_Witkoff_", "\\___Witkoff__\\_"),
        ("@everyone Witkoff", "@\u200beveryone"),
    ],
)
def test_passage_markup_stays_inert_next_to_our_markers(raw: str, inert: str) -> None:
    """Escaped `_` and `*` from the web stay literal beside the underline markers."""
    out = embeds.marked_passage(hit(1, raw, words=("Witkoff",)), 500)
    assert inert in out
    assert markers(out) == ["__", "__"]


def test_a_highlighted_mass_mention_cannot_form() -> None:
    """`@` + `__everyone__` must not rebuild a mention the escape had broken."""
    out = embeds.marked_passage(hit(1, "hello @everyone now", words=("everyone",)), 500)
    assert "@__everyone" not in out and "@\u200b__everyone__" in out


LONG = (
    "Opening_words *of* the report. " * 6
    + "The meeting included Witkoff, Dmitriev and **Kushner** in Miami. "
    + "Later_on Witkoff said talks on the plan [would](x) go on. " * 8
)


@pytest.mark.parametrize("limit", [1, 2, 5, 10, 20, 33, 50, 80, 120, 200, 333, 600, 2000])
def test_cut_passages_keep_markers_balanced(limit: int) -> None:
    """At any limit the excerpt fits and never leaves `**` or `__` open."""
    start = LONG.index("The meeting")
    end = LONG.index(" Later_on")
    h = hit(1, LONG, span=(start, end), words=("Witkoff", "talks", "Miami", "report"))
    out = embeds.marked_passage(h, limit)
    assert len(out) <= limit
    assert balanced(out)


def test_also_sources_get_their_own_numbered_citations() -> None:
    """Wire copy: each outlet gets a `[n]` line, numbered in order and stable on every page."""
    a, b, c, d = (source(i, publisher=p) for i, p in enumerate(["ANI", "TASS", "RIA", "AP"], 1))
    hits = (
        hit(1, "one", a, also=(b, c)),
        hit(2, "two", b),
        hit(3, "three", d, also=(a,)),
    )
    answer = Answer("q", hits, 3, 0.0)
    assert embeds.citation_numbers(hits) == {a.id: 1, b.id: 2, c.id: 3, d.id: 4}
    page1 = embeds.answer_embed(answer, 0, 2).description
    first = page1.split("\n\n**2.** ")[0]
    assert [line.split(" — ")[0] for line in first.split("\n")[1:]] == [
        "[1] **ANI**",
        "[2] **TASS**",
        "[3] **RIA**",
    ]
    page2 = embeds.answer_embed(answer, 1, 2).description
    assert "\n[4] **AP** — " in page2 and "\n[1] **ANI** — " in page2


def test_sources_embed_lists_also_sources() -> None:
    """The Sources list holds every outlet of a folded wire story, each once."""
    a, b, c = source(1), source(2, publisher="TASS"), source(3, publisher="RIA")
    answer = Answer("q", (hit(1, "x", a, also=(b, c)), hit(2, "y", c)), 2, 0.0)
    embed = embeds.sources_embed(answer)
    lines = embed.description.split("\n")
    assert [line.split(" ")[0] for line in lines] == ["[1]", "[2]", "[3]"]
    assert f"`{c.id}`" in lines[2] and embed.footer.text == "3 articles"


@pytest.mark.parametrize("per_page", [1, 3, 10])
def test_many_long_also_citations_still_fit(per_page: int, monkeypatch) -> None:
    """Forty outlets with huge titles per passage: shortened lines, the rest counted."""
    original_fit = embeds.fit
    cut_by_fit: list[int] = []

    def recording_fit(embed):  # the budget must do the work: fit would cut through markers
        before = embeds.embed_length(embed)
        fitted = original_fit(embed)
        cut_by_fit.append(before - embeds.embed_length(fitted))
        return fitted

    monkeypatch.setattr(embeds, "fit", recording_fit)
    others = tuple(
        source(100 + i, title="T" * 900, publisher="P" * 300, url="https://x.example/" + "a" * 900)
        for i in range(40)
    )
    hits = tuple(
        hit(
            i,
            "Witkoff said talks go on. " * 200,
            source(i),
            (0, 25),
            words=("Witkoff",),
            also=others,
        )
        for i in range(1, 11)
    )
    answer = Answer("q", hits, 10, 0.0, (Correction("Witkof", "Witkoff"),) * 30)
    for page in range(embeds.pages(answer, per_page)):
        embed = embeds.answer_embed(answer, page, per_page)
        within_limits(embed)
        assert cut_by_fit and cut_by_fit[-1] == 0  # answer_embed budgeted; fit cut nothing
        assert balanced(embed.description)
        assert "more outlets (see Sources)" in embed.description
        assert "__Witkoff__" in embed.description


def test_corrections_note_says_what_was_searched() -> None:
    """A corrected typo is named at the top of the answer, escaped."""
    answer = Answer(
        "Witkof talks", (hit(1, "Witkoff talks"),), 1, 0.0, (Correction("Witkof", "Witkoff"),)
    )
    description = embeds.answer_embed(answer).description
    assert description.startswith("Searched for Witkoff (you typed Witkof)\n\n**1.** ")
    hostile = Answer("q", (hit(1, "x"),), 1, 0.0, (Correction("a_b*[x](y)", "@everyone"),))
    note = embeds.corrections_note(hostile)
    assert "a\\_b\\*\\[x\\](y)" in note and "@everyone" not in note
    assert embeds.corrections_note(Answer("q", (), 1, 0.0)) == ""


def test_many_corrections_are_shortened() -> None:
    """Fifty corrections make a note of at most 300 characters, ending in an ellipsis."""
    fixes = tuple(Correction(f"wrd{i}", f"word{i}" * 20) for i in range(50))
    note = embeds.corrections_note(Answer("q", (), 1, 0.0, fixes))
    assert len(note) <= embeds.NOTE_LIMIT and note.endswith(", …")
    assert balanced(note)


@pytest.mark.parametrize(
    ("suggestion", "expected"),
    [
        ("Witkoff talks", "Did you mean “Witkoff talks”?"),
        ("*loud* [x](y)", "Did you mean “\\*loud\\* \\[x\\](y)”?"),
        ("word " * 200, "…”?"),
    ],
)
def test_no_match_suggests_what_the_index_holds(suggestion: str, expected: str) -> None:
    """With a suggestion, the hint asks "did you mean", escaped and cut."""
    text = embeds.no_match_text(Answer("Witkof tlaks", (), 10, 0.0, suggestion=suggestion))
    assert expected in text and "Try other words" in text
    assert len(text) <= Limits.CONTENT


@pytest.mark.parametrize("searched", [0, 40])
def test_no_match_within_filters_suggests_widening_them(searched: int) -> None:
    """A filtered search that finds nothing says so and names the filters to widen."""
    text = embeds.no_match_text(Answer("Witkoff", (), searched, 0.0, filtered=True))
    assert "filters" in text and "`since`" in text and "`source`" in text
    assert "Widen" in text
    assert "no sources to search here yet" not in text


def test_filtered_answer_footer_says_so() -> None:
    """The footer counts only the passages the filters left, and says so."""
    answer = Answer("q", (hit(1, "x"),), 7, 0.0, filtered=True)
    assert embeds.answer_embed(answer).footer.text.startswith(
        "Searched 7 passages within your filters"
    )


def test_help_mentions_filters_phrases_and_typos() -> None:
    """/help explains since/until, publishers, quoted phrases and typo tolerance."""
    text = " ".join(value for _, value in embeds.HELP)
    for needle in ("`since`", "`until`", "publisher", '"peace plan"', "typos"):
        assert needle in text


def test_help_and_about_fit() -> None:
    """The static embeds stay within limits too."""
    within_limits(embeds.help_embed())
    about = embeds.about_embed("0.1.0", 3, 27, 1, NOW)
    within_limits(about)
    assert [f.value for f in about.fields][:4] == ["0.1.0", "3", "27", "1"]
