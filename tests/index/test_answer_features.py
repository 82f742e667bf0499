"""Answer features on a real database: typos, did-you-mean, quoted phrases, filters,
name variants, wire-copy folding, recency and highlights."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from rank_bm25 import BM25Okapi

from index.dates import parse_day
from index.errors import BriefbotError
from index.library import Library
from index.settings import SearchSettings, Settings
from index.tokenize import tokenize

FILLER = (
    "Officials from both delegations spent the afternoon reviewing draft language on "
    "prisoner exchanges, energy infrastructure and the timetable for any ceasefire, "
    "according to people familiar with the sessions who asked not to be named."
)
WIRE = (
    "The meeting included Kirill Dmitriev, special envoy Steve Witkoff and Jared Kushner, "
    "who discussed the twenty point peace plan for several hours behind closed doors. " + FILLER
)


def record(
    ref: str, title: str, text: str | list[str], publisher: str, published: str | None
) -> dict:
    """A JSONL article as `ingest` takes it (text: one string, or its paragraphs)."""
    return {
        "id": ref,
        "url": f"https://news.example/{ref}",
        "title": title,
        "publisher": publisher,
        "published": published,
        "text": text,
    }


def write_jsonl(path: Path, records: list[dict]) -> str:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return str(path)


RECORDS = [
    record("wire-a", "Envoys meet in Miami", WIRE, "Agency One", "2025-12-21"),
    # The same wire story, re-published by another outlet with a new first word.
    record("wire-b", "Miami meeting of envoys", "Reportedly, " + WIRE, "Outlet Two", "2025-12-22"),
    record(
        "kyiv",
        "Kyiv reacts",
        "Officials in Kyiv said President Zelenskyy would study the peace plan carefully. "
        + FILLER,
        "Kyiv Daily",
        "2025-11-02",
    ),
    record(
        "grain",
        "Grain corridor",
        "Negotiators in Istanbul agreed a grain corridor and a plan for peace in the Black "
        "Sea shipping lanes. " + FILLER,
        "Sea News",
        "2023-07-01",
    ),
]


@pytest.fixture
async def library(db_url: str, tmp_path: Path):
    lib = await Library.open(Settings(database_url=db_url))
    report = await lib.ingest([write_jsonl(tmp_path / "news.jsonl", RECORDS)])
    assert not report.failed and len(report.added) == len(RECORDS)
    yield lib
    await lib.close()


async def test_misspelt_name_is_corrected(library: Library):
    """ "Witkof" finds the Witkoff passage and says it searched for Witkoff."""
    answer = await library.ask("who met Witkof")
    assert answer.hits and "Witkoff" in answer.hits[0].text
    assert [(c.typed, c.used) for c in answer.corrections] == [("Witkof", "Witkoff")]


async def test_correction_onto_an_expansion_keeps_full_weight(library: Library):
    """ "meetng" → meet, which "attended" also pulls in at 0.35: meet counts once, at 1.0."""
    answer = await library.ask("who attended the meetng")
    assert [(c.typed, c.used) for c in answer.corrections] == [("meetng", "meeting")]
    from index.search import correct, plan

    query = plan("who attended the meetng", library.settings.search)
    fixed = correct(
        query, library.index.vocabulary(), lambda t: library.index.document_frequency(t, None)
    )
    assert [w for t, w in fixed.terms if t == "meet"] == [1.0]


async def test_correction_shown_as_the_title_writes_it(db_url: str, tmp_path: Path):
    """A word only a title holds is shown as written there, never as a stem."""
    only_title = record("t", "Peace talks resume", "Envoys met again. " + FILLER, "X", None)
    async with await Library.open(Settings(database_url=db_url)) as lib:
        await lib.ingest([write_jsonl(tmp_path / "t.jsonl", [only_title])])
        answer = await lib.ask("talks resmue")
        assert [(c.typed, c.used) for c in answer.corrections] == [("resmue", "resume")]
        settings = Settings(database_url=db_url, search=SearchSettings(typo_tolerance=False))
        async with await Library.open(settings) as strict:
            assert (await strict.ask("the resmue")).suggestion == "the resume"


async def test_english_words_are_not_corrected(library: Library):
    """A real word the sources lack ("plain") is not searched as a word they hold ("plan")."""
    answer = await library.ask("plain speech")
    assert answer.corrections == ()
    assert answer.hits == ()


async def test_did_you_mean_when_nothing_matches(library: Library):
    """No hit: the question comes back with the index's spelling of the unknown word."""
    answer = await library.ask("the plain")
    assert answer.hits == ()
    assert answer.suggestion == "the plan"


async def test_suggestions_never_come_from_another_guild(library: Library, tmp_path: Path):
    """A word only guild 2's sources hold is never suggested to, or corrected for, guild 1."""
    secret = record("secret", "Closed talks", "Zygmuntowicz attended. " + FILLER, "Private", None)
    await library.ingest([write_jsonl(tmp_path / "secret.jsonl", [secret])], guild="2")
    own = await library.ask("Zygmuntowcz", guild="2")
    assert own.hits and own.corrections
    other = await library.ask("Zygmuntowcz", guild="1")
    assert other.hits == () and other.corrections == () and other.suggestion is None


async def test_quoted_phrase_must_appear(library: Library):
    """ "peace plan" in quotes keeps only passages with that phrase, not "plan for peace"."""
    loose = await library.ask("peace plan", k=10)
    assert any("plan for peace" in h.text for h in loose.hits)
    strict = await library.ask('"peace plan"', k=10)
    assert strict.hits
    assert all("peace plan" in h.text for h in strict.hits)


async def test_quoted_phrase_never_spans_title_and_text(library: Library):
    """Title "Kyiv reacts" + text "Officials in Kyiv…": "reacts officials" is no phrase."""
    assert (await library.ask("reacts officials")).hits
    assert (await library.ask('"reacts officials"')).hits == ()


async def test_quoted_phrase_nowhere_gives_nothing(library: Library):
    """A quoted phrase no passage holds gives no answer, even if its words occur apart."""
    answer = await library.ask('"plan peace corridor"')
    assert answer.hits == ()


async def test_name_variants_meet(library: Library):
    """Kiev finds Kyiv and Zelensky finds Zelenskyy: one name, several spellings."""
    for question in ("what does Kiev say", "what does Zelensky say"):
        answer = await library.ask(question, k=1)
        assert answer.hits and answer.hits[0].source.ref == "kyiv"


async def test_wire_copies_fold_into_one_result(library: Library):
    """The same story from two outlets is one result citing both."""
    answer = await library.ask("who attended the Miami meeting", k=5)
    refs = [h.source.ref for h in answer.hits]
    assert len([r for r in refs if r.startswith("wire")]) == 1
    top = answer.hits[0]
    assert {top.source.ref, *(s.ref for s in top.also)} == {"wire-a", "wire-b"}


async def test_copy_ranked_past_k_is_still_cited(library: Library):
    """With k=1 the second outlet's copy is not shown but is still cited."""
    top = (await library.ask("who attended the Miami meeting", k=1)).hits[0]
    assert {top.source.ref, *(s.ref for s in top.also)} == {"wire-a", "wire-b"}


async def test_folding_can_be_turned_off(db_url: str, tmp_path: Path):
    """duplicate_threshold 1 shows each outlet's copy as its own result."""
    settings = Settings(database_url=db_url, search=SearchSettings(duplicate_threshold=1.0))
    async with await Library.open(settings) as lib:
        await lib.ingest([write_jsonl(tmp_path / "n.jsonl", RECORDS)])
        answer = await lib.ask("who attended the Miami meeting", k=5)
    refs = {h.source.ref for h in answer.hits}
    assert {"wire-a", "wire-b"} <= refs
    assert all(h.also == () for h in answer.hits)


async def test_newer_copy_wins_a_tie(db_url: str, tmp_path: Path):
    """Two equal passages: the newer source ranks first (recency breaks the tie)."""
    text = "Envoys agreed a prisoner swap in Abu Dhabi. " + FILLER
    older = record("old", "Swap", text, "A", "2024-01-01")
    newer = record("new", "Swap", text + " It was.", "B", "2025-06-01")  # same terms
    settings = Settings(database_url=db_url, search=SearchSettings(duplicate_threshold=1.0))
    async with await Library.open(settings) as lib:
        await lib.ingest([write_jsonl(tmp_path / "n.jsonl", [older, newer])])
        answer = await lib.ask("prisoner swap", k=2)
    assert [h.source.ref for h in answer.hits] == ["new", "old"]


async def test_filters_by_date(library: Library):
    """since/until keep sources published in the range, and `searched` counts only those."""
    everything = await library.ask("peace plan", k=10)
    recent = await library.ask("peace plan", k=10, since=date(2025, 12, 1))
    assert {h.source.ref for h in recent.hits} <= {"wire-a", "wire-b"}
    assert recent.filtered and recent.searched < everything.searched
    old = await library.ask("peace plan", k=10, until=date(2024, 1, 1))
    assert {h.source.ref for h in old.hits} == {"grain"}
    none = await library.ask("peace plan", since=date(2030, 1, 1))
    assert none.hits == () and none.filtered and none.suggestion is None


async def test_filters_keep_scores(library: Library):
    """A filter narrows the results; the passages left keep the scores they had."""
    settings = SearchSettings(recency_weight=0)
    lib = Library(
        Settings(database_url=library.settings.database_url, search=settings),
        library.sessions,
        library.fetcher,
    )
    everything = {h.passage_id: h.score for h in (await lib.ask("grain corridor", k=10)).hits}
    narrowed = await lib.ask("grain corridor", k=10, source="Sea News")
    assert narrowed.hits
    for hit in narrowed.hits:
        assert hit.score == pytest.approx(everything[hit.passage_id])


@pytest.mark.parametrize("name", ["Kyiv Daily", "kyiv daily", "  KYIV   DAILY "])
async def test_filter_by_publisher(library: Library, name: str):
    """`source` takes a publisher name, in any case and spacing."""
    answer = await library.ask("peace plan", k=10, source=name)
    assert answer.hits and {h.source.ref for h in answer.hits} == {"kyiv"}


async def test_filter_by_source_id(library: Library):
    """`source` takes a source id too."""
    grain = next(s for s in await library.sources() if s.ref == "grain")
    answer = await library.ask("peace plan", k=10, source=grain.id)
    assert {h.source.ref for h in answer.hits} == {"grain"}


async def test_unknown_publisher_is_an_error(library: Library):
    """A source filter that names nothing says so instead of answering from everything."""
    with pytest.raises(BriefbotError, match="no source or publisher 'Nobody'"):
        await library.ask("peace plan", source="Nobody")


async def test_other_guilds_publisher_is_unknown(library: Library, tmp_path: Path):
    """Guild 1 cannot filter by a publisher that only guild 2's sources have."""
    secret = record("s2", "Closed", "Peace plan notes. " + FILLER, "Guild Two Wire", None)
    await library.ingest([write_jsonl(tmp_path / "s.jsonl", [secret])], guild="2")
    assert (await library.ask("peace plan", guild="2", source="Guild Two Wire")).hits
    with pytest.raises(BriefbotError, match="no source or publisher"):
        await library.ask("peace plan", guild="1", source="Guild Two Wire")


async def test_since_after_until_is_an_error(library: Library):
    with pytest.raises(BriefbotError, match="after until"):
        await library.ask("peace plan", since=date(2025, 1, 2), until=date(2025, 1, 1))


async def test_publishers_merge_spellings(library: Library, tmp_path: Path):
    """Library.publishers: one entry per name as `source=` matches it, most sources first."""
    extra = [
        record("k2", "More", "Peace plan notes. " + FILLER, "KYIV  DAILY", None),
        record("k3", "Again", "Peace plan memo. " + FILLER, "Kyiv Daily", None),
    ]
    await library.ingest([write_jsonl(tmp_path / "k.jsonl", extra)])
    names = dict(await library.publishers())
    assert names["Kyiv Daily"] == 3 and "KYIV  DAILY" not in names
    assert next(iter(names)) == "Kyiv Daily"


async def test_highlights_mark_query_words(library: Library):
    """Highlight spans cover the words matching the question, inflections included."""
    answer = await library.ask("grain corridors", k=1)
    hit = answer.hits[0]
    marked = {hit.text[s:e] for s, e in hit.highlights}
    assert {"grain", "corridor"} <= marked
    assert all(hit.text[s:e].isalpha() for s, e in hit.highlights)


TODAY = date(2026, 12, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-12-21", date(2025, 12, 21)),
        ("7d", TODAY - timedelta(days=7)),
        ("2w", TODAY - timedelta(days=14)),
        ("3m", TODAY - timedelta(days=90)),
        ("1y", TODAY - timedelta(days=365)),
        (" 7D ", TODAY - timedelta(days=7)),
        ("today", TODAY),
        ("yesterday", TODAY - timedelta(days=1)),
    ],
)
def test_parse_day(text: str, expected: date):
    assert parse_day(text, TODAY) == expected


@pytest.mark.parametrize("text", ["7x", "", "2025-13-01", "last week", "-3d", "9999y", "2100y"])
def test_parse_day_rejects(text: str):
    """A bad date names the option and the forms it takes."""
    with pytest.raises(BriefbotError, match=r"^since: .* is not a date \(YYYY-MM-DD\)"):
        parse_day(text, TODAY, what="since")


async def test_title_field_adds_weighted_title_bm25(db_url: str, tmp_path: Path):
    """title_weight adds exactly weight × BM25Okapi of the title over the visible titles."""
    titles = ["Sanctions relief talks", "Grain corridor deal", "Prisoner swap", "Energy truce"]
    records = [
        record(f"r{i}", t, f"Story {i} about the region and its people. " + FILLER, "P", None)
        for i, t in enumerate(titles)
    ]
    path = write_jsonl(tmp_path / "t.jsonl", records)
    question = "sanctions relief region"
    plain = SearchSettings(
        article_weight=0,
        expansion_weight=0,
        question_type_weight=0,
        recency_weight=0,
        duplicate_threshold=1.0,  # the texts share their filler: keep them apart
    )
    scores = {}
    for weight in (0.0, 0.5):
        search = dataclasses.replace(plain, title_weight=weight)
        async with await Library.open(Settings(database_url=db_url, search=search)) as lib:
            await lib.ingest([path])
            scores[weight] = {h.source.ref: h.score for h in (await lib.ask(question, k=10)).hits}
    oracle = BM25Okapi([tokenize(t) for t in titles]).get_scores(tokenize(question))
    assert set(scores[0.0]) == set(scores[0.5]) == {f"r{i}" for i in range(len(titles))}
    for i, title_score in enumerate(oracle):
        gain = scores[0.5][f"r{i}"] - scores[0.0][f"r{i}"]
        assert gain == pytest.approx(0.5 * max(float(title_score), 0.0), abs=1e-9)
    assert scores[0.5]["r0"] > scores[0.0]["r0"]
