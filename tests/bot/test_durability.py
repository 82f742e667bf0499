"""A source is stored completely or not at all, on SQLite and on PostgreSQL.

`briefbot ingest` runs in its own process on a JSONL of news-like articles and is
killed at seeded random moments; after each kill every stored source must have all its
passages and be in the change log, no passage may be left without its source (SQLite:
integrity_check ok too), the index must answer, and the next ingest must complete the job.

While a writer ingests, 8 reader processes search for 30 s through the library, as the
bot does. A read is inconsistent when, at that moment, anything it can see holds part of
a source:
- the database (one statement, one snapshot): a source whose passage_count differs from
  the passages stored for it, a passage without its source, a source not in the change log;
- the answer: a cited source (or a wire copy it folds) that the database lacks, whose
  passages are not all there, whose passage count in the answer differs, or a cited
  passage stored under another source;
- the reader's own index: a source it holds some but not all passages of.
Nothing is removed or replaced meanwhile, so a source's passages never change once it is
visible; any of these is a torn write, never a race in the check. A read that fails with
"database is locked" (or anything else) is counted, and the test wants zero of each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import BigInteger, String, bindparam, text

from index.library import Library
from index.settings import IndexSettings, Settings
from tests.dbfixtures import POSTGRES_URL

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
ARTICLES = ROOT / "tests" / "fixtures" / "qa" / "articles.jsonl"
KILLS = 10
READERS = 8
READ_SECONDS = 30.0
WRITER_CHUNK = 1000  # articles per writer run; runs follow each other until readers stop
QUESTIONS = (
    "who attended the talks",
    "ceasefire timetable",
    "tariffs on Chinese goods",
    "Hong Kong protests",
    "helicopter crash in Afghanistan",
    "Alibaba listing in Hong Kong",
)
# In these, a source with partial passages, a passage without its source and a source
# missing from the change log are all counted in one statement: one snapshot everywhere.
SNAPSHOT = text(
    "SELECT (SELECT COUNT(*) FROM sources),"
    " (SELECT COUNT(*) FROM sources s WHERE s.passage_count = 0 OR s.passage_count !="
    "   (SELECT COUNT(*) FROM passages p WHERE p.source_id = s.id)),"
    " (SELECT COUNT(*) FROM passages p WHERE NOT EXISTS"
    "   (SELECT 1 FROM sources s WHERE s.id = p.source_id)),"
    " (SELECT COUNT(*) FROM sources WHERE id NOT IN (SELECT source_id FROM changes))"
)
CITED = text(
    "SELECT s.id, s.passage_count, COUNT(p.id) FROM sources s"
    " LEFT JOIN passages p ON p.source_id = s.id WHERE s.id IN :ids"
    " GROUP BY s.id, s.passage_count"
).bindparams(bindparam("ids", expanding=True, type_=String))
OWNERS = text("SELECT id, source_id FROM passages WHERE id IN :ids").bindparams(
    bindparam("ids", expanding=True, type_=BigInteger)
)


def corpus(path: Path, n: int, prefix: str = "k", seed: int = 5) -> None:
    """n distinct articles from the dev-set articles' paragraphs, shuffled (seeded)."""
    rng = random.Random(seed)
    paragraphs = [
        p
        for line in ARTICLES.read_text(encoding="utf-8").splitlines()
        for p in json.loads(line)["text"].split("\n\n")
        if len(p.split()) > 12
    ]
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            text = "\n\n".join(rng.sample(paragraphs, 6))
            record = {"id": f"{prefix}{i}", "title": f"Talks round {prefix}{i}", "text": text}
            fh.write(json.dumps(record) + "\n")


# --- the databases --------------------------------------------------------------------


class SqliteDatabase:
    """A SQLite file in tmp_path, read with the sqlite3 module."""

    name = "sqlite"
    missing = sqlite3.OperationalError  # raised before the migrations created the tables

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite+aiosqlite:///{path}"

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        con = sqlite3.connect(self.path, timeout=5)
        try:
            rows = con.execute(sql).fetchall()
            con.commit()
            return rows
        finally:
            con.close()

    def close(self) -> None:
        pass


class PostgresDatabase:
    """A PostgreSQL database of its own, read over one asyncpg connection."""

    name = "postgresql"

    def __init__(self, url: str) -> None:
        import asyncpg
        from sqlalchemy.engine import make_url

        self.url = url
        self.missing = asyncpg.UndefinedTableError
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._loop = asyncio.new_event_loop()
        self._conn: Any = None

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        import asyncpg

        if self._conn is None:
            self._conn = self._loop.run_until_complete(asyncpg.connect(self._dsn))
        return [tuple(r) for r in self._loop.run_until_complete(self._conn.fetch(sql))]

    def close(self) -> None:
        if self._conn is not None:
            self._loop.run_until_complete(self._conn.close())
        self._loop.close()


Database = SqliteDatabase | PostgresDatabase


@contextlib.contextmanager
def fresh_postgres(url: str) -> Iterator[str]:
    """A new, empty database on the server of `url`, dropped afterwards: tests elsewhere
    (or another run) using the server's test database are not disturbed."""
    import asyncpg
    from sqlalchemy.engine import make_url

    admin = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"briefbot_durability_{uuid.uuid4().hex[:10]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty database: a SQLite file, and a fresh PostgreSQL database when
    BRIEFBOT_TEST_POSTGRES_URL is set."""
    if request.param == "sqlite":
        yield SqliteDatabase(tmp_path / "briefbot.db")
        return
    if not POSTGRES_URL:
        pytest.skip("BRIEFBOT_TEST_POSTGRES_URL is not set")
    with fresh_postgres(POSTGRES_URL) as url:
        db = PostgresDatabase(url)
        try:
            yield db
        finally:
            db.close()


def briefbot(db: Database, *args: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIEFBOT_")}
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=ROOT,
        env=env | {"BRIEFBOT_DATABASE_URL": db.url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def check(db: Database) -> int:
    """The database's guarantees after a crash; returns how many sources it holds."""
    if isinstance(db, SqliteDatabase):
        assert db.rows("PRAGMA integrity_check") == [("ok",)]
        assert db.rows("PRAGMA foreign_key_check") == []
    partial = db.rows(
        "SELECT s.id, s.passage_count, COUNT(p.id) FROM sources s "
        "LEFT JOIN passages p ON p.source_id = s.id GROUP BY s.id, s.passage_count "
        "HAVING s.passage_count != COUNT(p.id) OR COUNT(p.id) = 0"
    )
    assert partial == [], f"sources with missing passages: {partial[:5]}"
    orphans = db.rows(
        "SELECT COUNT(*) FROM passages p LEFT JOIN sources s ON s.id = p.source_id "
        "WHERE s.id IS NULL"
    )
    assert orphans == [(0,)], "passages without their source"
    logged = {r[0] for r in db.rows("SELECT DISTINCT source_id FROM changes")}
    stored = {r[0] for r in db.rows("SELECT id FROM sources")}
    assert stored <= logged  # every stored source is in the change log others follow
    return len(stored)


def stored(db: Database) -> int:
    try:
        return db.rows("SELECT COUNT(*) FROM sources")[0][0]
    except db.missing:  # not created or not migrated yet
        return 0


# --- kill -9 --------------------------------------------------------------------------


def test_kill_9_mid_ingest_leaves_no_partial_source(database: Database, tmp_path: Path):
    """Ten SIGKILLs mid-ingest leave only whole sources; a rerun completes the ingest."""
    data = tmp_path / "big.jsonl"
    corpus(data, 4000)
    rng = random.Random(11)
    # Each run is killed once it has stored a seeded number of sources more than it began
    # with (one commit is 256), plus a few ms, whatever this machine's speed: so every
    # kill lands while that run is writing, and each run resumes where the last one died.
    counts = []
    mid_ingest = 0
    for _ in range(KILLS):
        start = stored(database)
        threshold = start + rng.randint(1, 300)
        proc = briefbot(database, "ingest", str(data))
        deadline = time.monotonic() + 120
        while proc.poll() is None and stored(database) < threshold and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        counts.append(check(database))
        mid_ingest += proc.returncode == -signal.SIGKILL and start < counts[-1] < 4000
    log.info(
        "%s: %d kills (%d mid-ingest), whole sources after each: %s",
        database.name,
        KILLS,
        mid_ingest,
        counts,
    )
    assert mid_ingest >= KILLS // 2, f"only {mid_ingest} kills landed mid-ingest: {counts}"
    assert counts[-1] > 0, "no kill came after the first commit: the test proved nothing"
    assert any(c < 4000 for c in counts), "every run finished before its kill"
    ask = briefbot(database, "ask", "who attended the talks", "--json")
    out, err = ask.communicate(timeout=120)
    assert ask.returncode == 0, err.decode()
    assert json.loads(out)["results"]
    done = briefbot(database, "ingest", str(data))
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err.decode()
    assert check(database) == 4000


# --- readers and a writer -------------------------------------------------------------


async def read_for(url: str, seconds: float) -> dict[str, Any]:
    """Searches through a Library for `seconds`, checking every read; returns a tally."""
    tally: dict[str, Any] = {
        "reads": 0,
        "failed": 0,
        "locked": 0,
        "errors": [],  # the first few failures' reasons
        "inconsistent": [],
        "sources_seen": [],  # sources in the first and the last snapshot
        "fresh_citations": 0,  # hits citing an article the writer added
        "pragmas": None,
    }
    settings = Settings(database_url=url, index=IndexSettings(path=""))
    async with await Library.open(settings) as library:
        if url.startswith("sqlite"):
            async with library.sessions() as session:  # the app's engine and connections
                tally["pragmas"] = [
                    (await session.execute(text(f"PRAGMA {name}"))).scalar()
                    for name in ("journal_mode", "busy_timeout", "foreign_keys")
                ]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            question = QUESTIONS[tally["reads"] % len(QUESTIONS)]
            try:
                found = await read_once(library, question)
            except Exception as exc:  # counted, and the test fails on any
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                tally["failed"] += 1
                tally["locked"] += "locked" in reason.lower()
                if len(tally["errors"]) < 20:
                    tally["errors"].append(reason)
                continue
            tally["reads"] += 1
            sources, problems, fresh = found
            tally["fresh_citations"] += fresh
            seen = tally["sources_seen"]
            tally["sources_seen"] = [seen[0] if seen else sources, sources]
            if problems and len(tally["inconsistent"]) < 20:
                tally["inconsistent"].extend(f"{question!r}: {p}" for p in problems)
    return tally


async def read_once(library: Library, question: str) -> tuple[int, list[str], int]:
    """One search and its checks: (sources in the snapshot, problems, fresh citations)."""
    answer = await library.ask(question, k=3)
    cited = {h.source.id: h.source.passages for h in answer.hits}
    cited.update((s.id, s.passages) for h in answer.hits for s in h.also)
    problems = []
    async with library.sessions() as session:
        sources, partial, orphans, unlogged = (await session.execute(SNAPSHOT)).one()
        if partial or orphans or unlogged:
            problems.append(f"{partial} partial, {orphans} orphan passages, {unlogged} unlogged")
        counts = {
            sid: (declared, present)
            for sid, declared, present in (await session.execute(CITED, {"ids": list(cited)}))
        }
        pids = [int(h.passage_id) for h in answer.hits]
        owners = dict((await session.execute(OWNERS, {"ids": pids})).all())
        every = (await session.execute(text("SELECT id, passage_count FROM sources"))).all()
    for sid, shown in cited.items():
        declared, present = counts.get(sid, (None, 0))
        held = library.index.passage_count(sid)
        if not declared or present != declared or shown != declared or held != declared:
            problems.append(
                f"source {sid}: stored {declared}, present {present}, answer says {shown}, "
                f"index holds {held}"
            )
    for hit in answer.hits:
        if owners.get(int(hit.passage_id)) != hit.source.id:
            problems.append(f"passage {hit.passage_id} is not stored under {hit.source.id}")
    for sid, declared in every:
        if library.index.passage_count(sid) not in (0, declared):  # 0: not followed yet
            held = library.index.passage_count(sid)
            problems.append(f"index holds {held} of source {sid}'s {declared} passages")
    fresh = sum(1 for h in answer.hits if (h.source.title or "").startswith("Talks round w"))
    return sources, problems, fresh


def reader_main() -> None:
    """`python -c` entry point of a reader process: URL and seconds in, tally out."""
    url, seconds, out = sys.argv[1], float(sys.argv[2]), Path(sys.argv[3])
    out.write_text(json.dumps(asyncio.run(read_for(url, seconds))))


def start_reader(db: Database, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIEFBOT_")}
    code = "from tests.bot.test_durability import reader_main; reader_main()"
    with out.with_suffix(".err").open("wb") as err:  # a file: a chatty reader never blocks
        return subprocess.Popen(
            [sys.executable, "-c", code, db.url, str(seconds), str(out)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def test_readers_never_see_locked_or_partial_data_while_a_writer_ingests(
    database: Database, tmp_path: Path
):
    """8 reader processes search for 30 s while a writer ingests: no "database is
    locked", no error, and no read sees part of a source (see the module docstring)."""
    seed = briefbot(database, "ingest", str(ARTICLES))
    _, err = seed.communicate(timeout=120)
    assert seed.returncode == 0, err.decode()
    seeded = stored(database)
    tallies = [tmp_path / f"reader{i}.json" for i in range(READERS)]
    readers = [start_reader(database, READ_SECONDS, out) for out in tallies]
    started = time.monotonic()
    runs = 0
    while any(reader.poll() is None for reader in readers):
        part = tmp_path / f"part{runs}.jsonl"
        corpus(part, WRITER_CHUNK, prefix=f"w{runs}-", seed=100 + runs)
        writer = briefbot(database, "ingest", str(part))
        _, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err.decode()
        runs += 1
    elapsed = time.monotonic() - started
    for reader, out in zip(readers, tallies, strict=True):
        err_text = out.with_suffix(".err").read_text(errors="replace")
        assert reader.wait(timeout=60) == 0, err_text[-3000:]
        assert "locked" not in err_text and "Traceback" not in err_text, err_text[-3000:]
    results = [json.loads(out.read_text()) for out in tallies]
    reads = sum(r["reads"] for r in results)
    locked = sum(r["locked"] for r in results)
    inconsistent = [p for r in results for p in r["inconsistent"]]
    log.info(
        "%s: %d readers, %d reads in %.1f s (%s per reader), %d failed (%d locked), "
        "%d inconsistent; writer: %d runs, %d sources; fresh citations %d; seen %s",
        database.name,
        READERS,
        reads,
        elapsed,
        [r["reads"] for r in results],
        sum(r["failed"] for r in results),
        locked,
        len(inconsistent),
        runs,
        runs * WRITER_CHUNK,
        sum(r["fresh_citations"] for r in results),
        [r["sources_seen"] for r in results],
    )
    assert locked == 0, [e for r in results for e in r["errors"]][:5]
    assert sum(r["failed"] for r in results) == 0, [e for r in results for e in r["errors"]][:5]
    assert inconsistent == [], inconsistent[:10]
    for r in results:
        assert r["reads"] > 0, "a reader answered nothing"
        first, last = r["sources_seen"]
        assert first < last, "a reader never saw the writer's sources: nothing was tested"
        if isinstance(database, SqliteDatabase):
            # What store.create_engine sets on every connection the app opens.
            assert r["pragmas"] == ["wal", 30000, 1]
    if isinstance(database, SqliteDatabase):
        assert database.rows("PRAGMA journal_mode") == [("wal",)]  # it stays set in the file
    assert sum(r["fresh_citations"] for r in results) > 0, "no answer cited a new article"
    assert check(database) == seeded + runs * WRITER_CHUNK


def test_the_reads_check_sees_a_partial_source(database: Database, tmp_path: Path):
    """The readers' check is not vacuous: a source missing one passage is reported."""
    seed = briefbot(database, "ingest", str(ARTICLES))
    _, err = seed.communicate(timeout=120)
    assert seed.returncode == 0, err.decode()
    (sid, pid), *_ = database.rows(
        "SELECT source_id, MAX(id) FROM passages GROUP BY source_id HAVING COUNT(*) > 1"
    )
    database.rows(f"DELETE FROM passages WHERE id = {pid}")
    tally = asyncio.run(read_for(database.url, 0.5))
    assert tally["reads"] > 0 and tally["errors"] == []
    problems = tally["inconsistent"]
    assert any(p.endswith("1 partial, 0 orphan passages, 0 unlogged") for p in problems), problems
    assert any(f"of source {sid}'s" in p for p in problems), problems  # in the reader's index
