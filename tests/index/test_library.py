"""The library end to end on a real database: ingest, ask, dedup, guilds, atomicity."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from rank_bm25 import BM25Okapi
from sqlalchemy import text

from index.errors import SourceNotFound
from index.library import Library
from index.settings import Settings
from index.tokenize import tokenize

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "examples" / "corpus"
MIAMI = "who attended the Miami talks?"


def article(title: str, *paragraphs: str, byline: str = "") -> str:
    parts = [title, byline, *paragraphs] if byline else [title, *paragraphs]
    return "\n\n".join(parts) + "\n"


FILLER = (
    "Officials from both delegations spent the afternoon reviewing draft language on "
    "prisoner exchanges, energy infrastructure and the timetable for any ceasefire, "
    "according to people familiar with the sessions who asked not to be named."
)


@pytest.fixture
async def library(db_url: str):
    lib = await Library.open(Settings(database_url=db_url))
    yield lib
    await lib.close()


async def test_miami_answer_ranks_first(library: Library):
    """The passage naming Dmitriev, Witkoff and Kushner answers "who attended" at rank 1."""
    report = await library.ingest([str(CORPUS)])
    assert len(report.added) == 1 and not report.failed
    answer = await library.ask(MIAMI)
    top = answer.hits[0]
    assert all(name in top.text for name in ("Dmitriev", "Witkoff", "Kushner"))
    assert top.source.publisher == "ANI"
    assert top.source.published.isoformat() == "2025-12-21"


async def test_answers_carry_no_boilerplate(library: Library):
    """No passage holds the disclaimer, "Open in app", the teaser or a repeated title line."""
    await library.ingest([str(CORPUS)])
    answer = await library.ask("Miami talks Dmitriev", k=50)
    title = "Ukraine peace talks in Miami 'constructive', says Russian envoy Dmitriev"
    assert answer.hits
    for hit in answer.hits:
        assert "Disclaimer" not in hit.text
        assert "Open in app" not in hit.text
        assert "Russian Direct Investment Fund, ..." not in hit.text
        assert all(line.strip() != title for line in hit.text.splitlines())
        assert title not in hit.text


async def test_same_content_twice_is_one_source(library: Library, tmp_path: Path):
    """Ingesting the same article again, even from another path, adds nothing."""
    first = await library.ingest([str(CORPUS)])
    again = await library.ingest([str(CORPUS)])
    copy = tmp_path / "elsewhere.txt"
    shutil.copy(next(CORPUS.iterdir()), copy)
    moved = await library.ingest([str(copy)])
    assert len(first.added) == 1
    assert again.added == [] and again.unchanged == first.added
    assert moved.added == [] and moved.unchanged == first.added
    assert len(await library.sources()) == 1


async def test_changed_article_replaces_its_passages(library: Library, tmp_path: Path):
    """A changed file replaces its old passages; old text is no longer found."""
    path = tmp_path / "story.txt"
    path.write_text(article("Geneva round", "Negotiators met in Geneva about grain. " + FILLER))
    await library.ingest([str(path)])
    assert (await library.ask("grain Geneva")).hits
    path.write_text(
        article("Geneva round", "Negotiators met in Geneva about fertiliser. " + FILLER)
    )
    report = await library.ingest([str(path)])
    assert len(report.added) == 1
    hits = (await library.ask("grain")).hits
    assert hits == ()
    assert "fertiliser" in (await library.ask("fertiliser")).hits[0].text
    sources = await library.sources()
    assert len(sources) == 1 and sources[0].passages == 1


async def test_guild_sees_global_and_own_sources_only(library: Library, tmp_path: Path):
    """Guild 1 sees global and guild-1 sources; never guild 2's; no guild sees global only."""
    for name, guild in (("global", None), ("one", "1"), ("two", "2")):
        path = tmp_path / f"{name}.txt"
        path.write_text(
            article(
                f"Ceasefire talks {name}", f"The {name} envoy discussed the ceasefire. " + FILLER
            )
        )
        await library.ingest([str(path)], guild=guild)

    def titles(answer):  # a folded near-duplicate still cites its other sources
        return {s.title for hit in answer.hits for s in (hit.source, *hit.also)}

    assert titles(await library.ask("ceasefire envoy", guild="1", k=10)) == {
        "Ceasefire talks global",
        "Ceasefire talks one",
    }
    assert titles(await library.ask("ceasefire envoy", guild="2", k=10)) == {
        "Ceasefire talks global",
        "Ceasefire talks two",
    }
    assert titles(await library.ask("ceasefire envoy", k=10)) == {"Ceasefire talks global"}


async def test_scores_are_bm25okapi_over_visible_passages(library: Library, tmp_path: Path):
    """With no expansion or re-ranking, scores equal rank-bm25 over what the guild sees."""
    lib = Library(
        Settings(
            database_url=library.settings.database_url,
            search=library.settings.search.__class__(
                expansion_weight=0,
                question_type_weight=0,
                article_weight=0,
                phrase_weight=0,
                title_weight=0,
                recency_weight=0,
                duplicate_threshold=1.0,  # the texts differ in one sentence: keep them apart
            ),
        ),
        library.sessions,
        library.fetcher,
    )
    docs = {
        None: [
            "Talks in Miami on the peace plan. " + FILLER,
            "Sanctions relief was raised. " + FILLER,
        ],
        "7": ["The Miami delegation included envoys. " + FILLER],
        "8": ["Secret plan for Miami. " + FILLER],
    }
    for guild, texts in docs.items():
        for i, body in enumerate(texts):
            path = tmp_path / f"{guild}-{i}.txt"
            path.write_text(article(f"Report {guild} {i}", body))
            await lib.ingest([str(path)], guild=guild)
    async with lib.sessions() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT p.tokens, s.guild FROM passages p JOIN sources s ON s.id = p.source_id "
                    "ORDER BY p.id"
                )
            )
        ).all()
    visible = [r.tokens.split() for r in rows if r.guild in (None, "7")]
    oracle = BM25Okapi(visible)
    question = "Miami peace plan delegation"
    expected = sorted((s for s in oracle.get_scores(tokenize(question)) if s != 0), reverse=True)
    got = [hit.score for hit in (await lib.ask(question, guild="7", k=10)).hits]
    assert len(got) == len(expected) == 3
    assert got == pytest.approx(expected, abs=1e-6)


async def test_second_process_sees_new_sources(library: Library, db_url: str, tmp_path: Path):
    """Another Library on the same database answers from sources added after it loaded."""
    other = await Library.open(Settings(database_url=db_url))
    try:
        assert (await other.ask("Witkoff")).hits == ()
        await library.ingest([str(CORPUS)])
        assert (await other.ask("Witkoff")).hits
        sid = (await library.sources())[0].id
        await library.remove(sid)
        assert (await other.ask("Witkoff")).hits == ()
    finally:
        await other.close()


async def test_remove_source_and_unknown_id(library: Library):
    """Removing a source drops its passages; an unknown id is a clear error."""
    report = await library.ingest([str(CORPUS)])
    await library.ask(MIAMI)  # index loaded
    assert await library.remove(report.added[0]) == "source"
    assert (await library.ask(MIAMI)).hits == ()
    with pytest.raises(SourceNotFound, match="nosuchid"):
        await library.remove("nosuchid")


async def test_bad_input_fails_alone(library: Library, tmp_path: Path):
    """A missing file and an empty file fail with their names; the good source is stored."""
    empty = tmp_path / "empty.txt"
    empty.write_text("   \n")
    report = await library.ingest([str(tmp_path / "missing.txt"), str(empty), str(CORPUS)])
    failed = dict(report.failed)
    assert set(failed) == {str(tmp_path / "missing.txt"), str(empty)}
    assert "no such file" in failed[str(tmp_path / "missing.txt")]
    assert len(report.added) == 1


async def test_database_failure_leaves_nothing_half_written(library: Library, tmp_path: Path):
    """A source whose passages the database rejects is not stored at all; others are."""
    good = tmp_path / "good.txt"
    good.write_text(article("Good report", "Envoys met in Istanbul. " + FILLER))
    bad = tmp_path / "bad.txt"
    bad.write_text(
        article("Bad report", "Envoys met in Doha. " + FILLER, "POISON paragraph. " + FILLER)
    )
    async with library.sessions() as session, session.begin():
        if library.settings.database_url.startswith("sqlite"):
            await session.execute(
                text(
                    "CREATE TRIGGER poison BEFORE INSERT ON passages WHEN NEW.text LIKE '%POISON%' "
                    "BEGIN SELECT RAISE(ABORT, 'poisoned passage'); END"
                )
            )
        else:
            await session.execute(
                text(
                    "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN "
                    "IF NEW.text LIKE '%POISON%' THEN RAISE EXCEPTION 'poisoned passage'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            await session.execute(
                text(
                    "CREATE TRIGGER poison BEFORE INSERT ON passages "
                    "FOR EACH ROW EXECUTE FUNCTION poison()"
                )
            )
    report = await library.ingest([str(bad), str(good)])
    assert [ref for ref, _ in report.failed] == [str(bad)]
    assert "poisoned passage" in report.failed[0][1]
    titles = [s.title for s in await library.sources()]
    assert titles == ["Good report"]
    async with library.sessions() as session:
        orphans = await session.scalar(
            text("SELECT count(*) FROM passages WHERE source_id NOT IN (SELECT id FROM sources)")
        )
        changes = await session.scalar(text("SELECT count(*) FROM changes"))
    assert orphans == 0 and changes == 1
    assert [h.source.title for h in (await library.ask("envoys", k=10)).hits] == ["Good report"]


async def test_recurring_publisher_lines_are_dropped(library: Library, tmp_path: Path):
    """A line carried by three articles of one publisher is boilerplate and not indexed."""
    promo = "Follow Example Wire on every platform for breaking updates."
    for i, city in enumerate(("Riyadh", "Ankara", "Vienna")):
        (tmp_path / f"{i}.txt").write_text(
            article(
                f"Talks in {city}",
                f"Delegations gathered in {city} on Monday. " + FILLER,
                promo,
                byline="By Example Wire | Updated: March 3, 2026",
            )
        )
    report = await library.ingest([str(tmp_path)])
    assert len(report.added) == 3
    answer = await library.ask("breaking updates platform", k=10)
    assert all(promo not in hit.text for hit in answer.hits)


async def test_empty_question_is_an_error(library: Library):
    """An empty question is refused with a clear message."""
    with pytest.raises(Exception, match="empty"):
        await library.ask("   ")


def test_source_ids_are_stable():
    """The same ref in the same guild always gets the same 12-hex id."""
    from index.library import source_id

    assert source_id(None, "a") == source_id(None, "a") != source_id("1", "a")
    assert re.fullmatch(r"[0-9a-f]{12}", source_id(None, "a"))


async def _three_guild_sources(library: Library, tmp_path: Path) -> None:
    for name, guild in (("global", None), ("one", "1"), ("two", "2")):
        path = tmp_path / f"{name}.txt"
        path.write_text(
            article(f"Talks 100% {name}_x", f"The {name} envoy discussed the ceasefire. " + FILLER)
        )
        await library.ingest([str(path)], guild=guild, added_by=f"user-{name}")


async def test_find_respects_guilds_and_wildcards(library: Library, tmp_path: Path):
    """Pickers find by title words or id prefix, only what the guild sees; % and _ are literal."""
    await _three_guild_sources(library, tmp_path)
    found, _ = await library.find("talks", guild="1")
    assert {s.title for s in found} == {"Talks 100% global_x", "Talks 100% one_x"}
    own, _ = await library.find("", guild="1", own_only=True)
    assert [s.title for s in own] == ["Talks 100% one_x"]
    assert [s.title for s in (await library.find("one_x", guild="1"))[0]] == ["Talks 100% one_x"]
    assert (await library.find("on%x", guild="1"))[0] == []
    assert (await library.find("e_", guild="2"))[0] == []
    by_id, _ = await library.find(own[0].id[:6], guild="1")
    assert [s.id for s in by_id] == [own[0].id]
    assert own[0].added_by == "user-one"


async def test_counts_are_per_guild(library: Library, tmp_path: Path):
    """/about counts what the guild sees: global plus its own."""
    await _three_guild_sources(library, tmp_path)
    sources, passages, feeds = await library.counts("1")
    assert (sources, feeds) == (2, 0) and passages >= 2
    assert (await library.counts(None))[0] == 1


async def test_refresh_with_a_guild_touches_only_its_sources(library: Library, tmp_path: Path):
    """A guild admin's refresh cannot reach another guild's (or a global) source."""
    await _three_guild_sources(library, tmp_path)
    (two,) = [s for s in await library.sources("2") if s.guild == "2"]
    with pytest.raises(SourceNotFound):
        await library.refresh(two.id, guild="1")
    report = await library.refresh(guild="1")
    assert len(report.unchanged) == 1 and not report.added


async def test_upload_refs_keep_same_named_uploads_apart(library: Library):
    """Two different uploads called article.txt are two sources; the name is not the id."""
    first = article("First upload", "The envoy met the delegation in Miami. " + FILLER)
    second = article("Second upload", "The minister met the envoy in Geneva. " + FILLER)
    a = await library.ingest_bytes(first.encode(), name="article.txt", ref="upload:1/article.txt")
    b = await library.ingest_bytes(second.encode(), name="article.txt", ref="upload:2/article.txt")
    assert len(a.added) == 1 and len(b.added) == 1 and a.added != b.added
    again = await library.ingest_bytes(first.encode(), name="a.txt", ref="upload:3/a.txt")
    assert again.added == [] and again.unchanged == a.added
