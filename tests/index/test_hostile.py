"""Hostile files and feeds (tests/hostile.py) through the real ingest path.

Each one ends in text or our typed error: never a crash, a hang past the worker's time
limit, or a half-written source. A second test runs each in an extraction worker set up as
the library sets it up and reads the worker's peak memory for that file alone.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from index import Library, Settings, store, worker
from index.errors import BriefbotError
from index.settings import ExtractSettings, FetchSettings
from tests.hostile import CORPUS, Hostile, measured_in_worker, stuck

ROOT = Path(__file__).resolve().parents[2]
LIMITS = ExtractSettings()
MEMORY_CEILING = 512_000_000  # the bound on a worker holding one hostile file


def check(item: Hostile, text: str | None, error: str | None) -> None:
    """The outcome `item` promises; `error` is our typed error's message."""
    if error is not None:
        assert "\n" not in error, f"{item.name}: error is not one line: {error!r}"
        assert item.expect != "text", f"{item.name}: refused: {error}"
        assert item.says in error, f"{item.name}: {error!r} does not say {item.says!r}"
    else:
        assert item.expect != "refused", f"{item.name}: was not refused"
        assert text is not None and item.holds in text, f"{item.name}: lost {item.holds!r}"
        assert item.never not in text, f"{item.name}: holds {item.never!r}"


async def stored_counts(library: Library) -> tuple[int, int]:
    async with library.sessions() as session:
        sources = await session.scalar(select(func.count()).select_from(store.SourceRow))
        passages = await session.scalar(select(func.count()).select_from(store.PassageRow))
        return sources or 0, passages or 0


async def stored_text(library: Library, source_id: str) -> str:
    async with library.sessions() as session:
        rows = await session.scalars(
            select(store.PassageRow.text)
            .where(store.PassageRow.source_id == source_id)
            .order_by(store.PassageRow.ordinal)
        )
        return " ".join(rows)


async def feed_titles(library: Library) -> str:
    """The feeds' titles as stored: what a hostile feed got into the database (its entries
    point at a refused port, so are never stored; the worker test checks their titles)."""
    async with library.sessions() as session:
        return " ".join(t or "" for t in await session.scalars(select(store.FeedRow.title)))


async def test_every_hostile_file_ends_in_text_or_our_error(
    tmp_path: Path, http_server, caplog: pytest.LogCaptureFixture
) -> None:
    """Uploads go through Library.ingest_bytes, feeds are fetched from a loopback server."""
    assert len(CORPUS) >= 20
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'hostile.db'}",
        fetch=FetchSettings(allow_private_networks=True),
    )
    outcomes: list[str] = []
    async with await Library.open(settings) as library:
        # A real article first: BM25 over one or two passages scores nothing.
        assert (await library.ingest([str(ROOT / "examples" / "corpus")])).added
        for item in CORPUS:
            body = item.build()
            before = await stored_counts(library)
            if item.feed:
                http_server.route(f"/{item.name}", body, content_type="application/rss+xml")
                report = await library.ingest([http_server.url(f"/{item.name}")])
                # The feed itself failing is our error; its entries point at a refused port.
                feed_errors = [why for ref, why in report.failed if ref.endswith(item.name)]
                error = feed_errors[0] if feed_errors else None
                text = None if error else ""
                assert all("\n" not in why for _, why in report.failed)
            else:
                report = await library.ingest_bytes(body, name=item.name)
                error = report.failed[0][1] if report.failed else None
                text = None
                if report.added:
                    (added,) = report.added
                    text = await stored_text(library, added)
                    if item.holds.isascii():  # CJK is stored whole, not split into words
                        answer = await library.ask(item.holds or "negotiators", source=added)
                        assert answer.hits, f"{item.name}: stored, not found"
            check(item, text, error)
            after = await stored_counts(library)
            if error is not None and not item.feed:
                assert after == before, f"{item.name}: refused, yet something was stored"
            outcomes.append(f"{item.name}: {error or 'text'}")
    refused = sum(1 for o in outcomes if not o.endswith(": text"))
    print(f"\nhostile files: {refused} refused, {len(outcomes) - refused} degraded to text")
    print("\n".join(outcomes))


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_hostile_files_stay_within_the_worker_limits() -> None:
    """≤ 512 MB per file in a worker set up as the library's (memory limit, low priority)."""
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        2,
        mp_context=context,
        initializer=worker.setup,
        initargs=(10, LIMITS.memory_limit, 30, None, {}),
    )
    rows: list[str] = []
    try:
        futures = [
            (item, pool.submit(measured_in_worker, item.name, item.build())) for item in CORPUS
        ]
        for item, future in futures:
            text, error, peak, seconds = future.result(timeout=LIMITS.time_limit + 60)
            check(item, text or "", error)
            assert peak <= MEMORY_CEILING, f"{item.name}: worker peaked at {peak / 1e6:.0f} MB"
            rows.append(f"{item.name:28} {peak / 1e6:6.0f} MB {seconds:6.2f} s")
    finally:
        pool.shutdown(cancel_futures=True)
    print("\n" + "\n".join(rows))


async def test_a_slow_upload_fails_alone_at_the_time_limit(tmp_path: Path) -> None:
    """Past the time limit the worker is stopped: that upload fails, the next one works."""
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'stuck.db'}",
        extract=ExtractSettings(time_limit=1.0),
    )
    slow = next(h for h in CORPUS if h.name == "million-operators.pdf").build()
    fine = b"Miami talks\n\n" + b"The envoys met. " * 30
    async with await Library.open(settings) as library:
        slow_report, fine_report = await asyncio.gather(
            library.ingest_bytes(slow, name="slow.pdf"),
            library.ingest_bytes(fine, name="fine.txt"),
        )
        assert slow_report.failed and "time_limit" in slow_report.failed[0][1]
        assert fine_report.added and not fine_report.failed
        again = await library.ingest_bytes(b"Geneva\n\n" + b"Delegates talked. " * 30, name="g.txt")
        assert again.added


async def test_a_worker_deaf_to_the_alarm_is_killed(tmp_path: Path) -> None:
    """The parent's backstop: time limit + grace, then the worker process is killed."""
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'deaf.db'}",
        extract=ExtractSettings(time_limit=0.5),
    )
    async with await Library.open(settings) as library:
        with pytest.raises(BriefbotError, match="time_limit"):
            await library.workers.extract(stuck)
        report = await library.ingest_bytes(
            b"Geneva\n\n" + b"Delegates talked. " * 30, name="g.txt"
        )
        assert report.added


async def test_a_crashing_worker_fails_its_input_and_spares_the_one_queued_behind(
    tmp_path: Path,
) -> None:
    """A worker dying in C code (os._exit) breaks the pool: the input that killed it fails
    after one retry, the input queued behind it is retried in a fresh pool and works."""
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}")
    async with await Library.open(settings) as library:
        crash, fine = await asyncio.gather(
            library.workers.extract(os._exit, 3),
            library.workers.extract(len, [1, 2, 3]),
            return_exceptions=True,
        )
        assert isinstance(crash, BriefbotError) and "died" in str(crash)
        assert fine == 3


async def test_inputs_queued_behind_others_are_not_timed_while_they_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch of 8 inputs of 0.3 s each on one worker, under a 1 s limit: each is timed
    from when a worker takes it, so none fails however long the queue before it."""
    monkeypatch.setattr(worker, "KILL_GRACE", 0.5)
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'queue.db'}",
        extract=ExtractSettings(time_limit=1.0),
    )
    async with await Library.open(settings) as library:
        results = await asyncio.gather(
            *(library.workers.extract(time.sleep, 0.3) for _ in range(8)), return_exceptions=True
        )
    assert results == [None] * 8
