"""SIGTERM stops cleanly: the gateway is closed, a write in flight commits or rolls back,
the saved index is written, and the exit status says what happened.

`briefbot run` is stopped while `/source add` ingests a feed whose second article hangs;
`briefbot ingest` is stopped mid-way through a large JSONL corpus (SQLite, and
PostgreSQL when BRIEFBOT_TEST_POSTGRES_URL is set).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.client import RESTARTING, STOP_GRACE, STOPPED_MIDWAY
from index.bm25 import PassageIndex
from tests.bot import test_durability
from tests.bot.test_discord import (
    ADMIN,
    FIXTURES,
    GUILD_A,
    KESTREL,
    ROOT,
    add_guilds,
    seed,
    start_bot,
    stop_bot,
)
from tests.bot.test_durability import Database, SqliteDatabase, briefbot, check, corpus, stored
from tests.conftest import LoopbackServer
from tests.fakediscord import FakeDiscord

ASKER = 1300000000000000601
database = test_durability.database  # the fixture: an empty SQLite, and PostgreSQL if set


class WatchedFake(FakeDiscord):
    """The fake Discord, also recording the close code each gateway connection ended with
    (1000: the bot closed it; 1006: the connection just dropped)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.closes: list[int | None] = []

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = await super()._gateway(request)
        self.closes.append(getattr(ws, "close_code", None))
        return ws


async def until(check: Callable[[], object], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def saved_stamp(db: Path) -> dict[str, Any]:
    """The stamp of the saved passages index next to a SQLite database."""
    _, stamp = PassageIndex.load(db.with_name(db.name + ".index") / "passages")
    return stamp


async def started(tmp: Path) -> tuple[WatchedFake, subprocess.Popen[bytes], Path, str]:
    db_url = f"sqlite+aiosqlite:///{tmp / 'briefbot.db'}"
    await seed(db_url)
    fake = WatchedFake(bot_name="briefbot")
    add_guilds(fake)
    fake.add_member(GUILD_A, ASKER, "asker")
    await fake.start()
    process, log = await start_bot(fake, tmp, db_url)
    return fake, process, log, db_url


@pytest.mark.asyncio
async def test_an_idle_bot_closes_the_gateway_and_exits_0_at_once(tmp_path: Path) -> None:
    """Nothing in flight: out without waiting out the grace period, the gateway closed (1000)."""
    fake, process, log, _ = await started(tmp_path)
    try:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 30)
        await until(lambda: fake.closes, "the gateway connection to end")
    finally:
        stop_bot(process)
        await fake.close()
    assert code == 0, log.read_text()[-3000:]
    assert fake.closes == [1000]
    assert "stopped cleanly" in log.read_text()
    assert "cancelled" not in log.read_text()  # nothing was running: no grace period used
    assert fake.violations == []


def test_a_bot_stuck_logging_in_stops_at_once(tmp_path: Path) -> None:
    """SIGTERM while Discord has not answered the login: start-up is cancelled, exit 0."""
    discord = LoopbackServer()
    discord.route("/api/v10/users/@me", b"{}", content_type="application/json", delay=600)
    discord.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIEFBOT_")} | {
        "BRIEFBOT_DISCORD_TOKEN": "stuck-login-token",
        "BRIEFBOT_DISCORD_API_BASE": discord.url("/api/v10"),
        "BRIEFBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'briefbot.db'}",
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not discord.hits("/api/v10/users/@me") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert discord.hits("/api/v10/users/@me"), "the bot never tried to log in"
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        discord.stop()
    assert process.returncode == 0, out.decode()
    assert b"stopped during start-up" in out


@pytest.mark.asyncio
async def test_sigterm_during_a_feed_ingest_keeps_whole_sources_and_saves_the_index(
    tmp_path: Path,
) -> None:
    """/source add of a feed: the first article is stored, the second hangs. SIGTERM: new
    commands are told the bot is restarting, the add is cancelled after the grace period
    and its admin told so, the gateway is closed, the exit status is 0; the database holds
    whole sources only and the saved index holds everything committed."""
    web_server = LoopbackServer()
    web_server.start()
    fake, process, log, _ = await started(tmp_path)
    db = tmp_path / "briefbot.db"
    try:
        first, second = web_server.url("/first.html"), web_server.url("/second.html")
        web_server.route(
            "/first.html", (FIXTURES / "agency-article.html").read_bytes(), content_type="text/html"
        )
        web_server.route("/second.html", KESTREL, content_type="text/html", delay=600)
        web_server.route(
            "/feed.xml",
            "<?xml version='1.0'?><rss version='2.0'><channel><title>Wire</title>"
            f"<item><title>One</title><link>{first}</link></item>"
            f"<item><title>Two</title><link>{second}</link></item></channel></rss>",
            content_type="application/rss+xml",
        )
        add = await fake.slash(
            "source add", {"url": web_server.url("/feed.xml")}, guild_id=GUILD_A, user_id=ADMIN
        )
        await until(lambda: web_server.hits("/second.html"), "the second article's fetch")
        assert rows(db, f"SELECT COUNT(*) FROM sources WHERE ref = '{first}'") == [(1,)]
        # The running bot follows the change log: the first article reaches its index.
        await until(lambda: "index: applied" in log.read_text(), "the index to take it in")

        began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        await until(lambda: "stopping (SIGTERM)" in log.read_text(), "the stop to begin", 10)
        late = await fake.slash("help", {}, guild_id=GUILD_A, user_id=ASKER)
        refused = await late.wait_message(timeout=5)
        code = await asyncio.to_thread(process.wait, 30)
        elapsed = time.monotonic() - began
        await until(lambda: fake.closes, "the gateway connection to end")
    finally:
        stop_bot(process)
        await fake.close()
        web_server.stop()
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert elapsed >= STOP_GRACE, elapsed  # the command in flight was given its grace
    assert fake.closes == [1000]
    assert refused["content"] == RESTARTING and late.ephemeral
    assert (add.original or {}).get("content") == STOPPED_MIDWAY
    assert "cancelled 1 command(s) still running" in text
    assert fake.violations == []

    check(SqliteDatabase(db))  # whole sources only
    refs = {r[0] for r in rows(db, "SELECT ref FROM sources")}
    assert first in refs and second not in refs
    (last,) = rows(db, "SELECT MAX(seq) FROM changes")[0]
    (database_id,) = rows(db, "SELECT value FROM meta WHERE key = 'database_id'")[0]
    stamp = saved_stamp(db)
    assert stamp["database"] == database_id and stamp["seq"] == last
    # The next process maps that saved index instead of rebuilding it.
    ask = subprocess.run(
        [sys.executable, "-m", "bot.cli", "-v", "--db", f"sqlite+aiosqlite:///{db}", "ask", "x"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ask.returncode == 0, ask.stderr
    assert f"saved at change #{last}" in ask.stderr


def test_sigterm_mid_ingest_rolls_back_the_open_write_and_exits_143(
    database: Database, tmp_path: Path
) -> None:
    """`briefbot ingest` stopped mid-way: status 143 and one error
    line; only whole sources stored; the same ingest again completes the job."""
    data = tmp_path / "big.jsonl"
    corpus(data, 4000)
    proc = briefbot(database, "ingest", str(data))
    deadline = time.monotonic() + 120
    while proc.poll() is None and stored(database) < 300 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "the ingest finished before the signal: nothing was tested"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err.decode()
    assert err.decode().splitlines() == [
        "error: stopped by SIGTERM (nothing half-written is kept; run it again to finish)"
    ]
    assert 0 < check(database) < 4000
    again = briefbot(database, "ingest", str(data))
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err.decode()
    assert check(database) == 4000
