"""Killed mid-job, the bot's successor finishes it: an owed answer, a started refresh.

`briefbot run` is killed with SIGKILL while a job is provably in progress (the fake
Discord holds the answer's follow-up with a long 429; the loopback site holds a refresh's
fetch), then a new `briefbot run` on the same database takes the job over.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio

from index import Library, Settings
from index.settings import FetchSettings
from tests.bot.test_discord import (
    ADMIN,
    GUILD_A,
    MIAMI,
    add_guilds,
    make_fake,
    seed,
    start_bot,
    stop_bot,
)
from tests.conftest import LoopbackServer
from tests.fakediscord import FakeDiscord, Interaction

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROOT = Path(__file__).resolve().parents[2]
ARTICLE = (ROOT / "tests" / "fixtures" / "agency-article.html").read_bytes()
ASKER = 1300000000000000901
T = TypeVar("T")


def url(tmp: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp / 'briefbot.db'}"


def pending(tmp: Path) -> list[str]:
    """Keys of the jobs recorded as unfinished."""
    with sqlite3.connect(tmp / "briefbot.db") as conn:
        return [row[0] for row in conn.execute("SELECT key FROM pending")]


async def until(check: Callable[[], object], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest_asyncio.fixture(loop_scope="module")
async def fake() -> AsyncIterator[FakeDiscord]:
    fake = make_fake()
    add_guilds(fake)
    fake.add_member(GUILD_A, ASKER, "asker")
    await fake.start()
    yield fake
    await fake.close()


async def killed_mid_job(
    fake: FakeDiscord, tmp: Path, start: Callable[[], Awaitable[T]], held: Callable[[], bool]
) -> T:
    """Starts a bot and a job, waits until the job is held mid-way, then SIGKILLs the bot."""
    process, _ = await start_bot(fake, tmp, url(tmp))
    try:
        job = await start()
        await until(lambda: held() and bool(pending(tmp)), "the held job")
    finally:
        process.kill()
        process.wait()
    return job


@contextlib.asynccontextmanager
async def successor(fake: FakeDiscord, tmp: Path) -> AsyncIterator[Path]:
    """The next `briefbot run` on the same database; it must finish the job and stop clean."""
    process, log = await start_bot(fake, tmp, url(tmp))
    try:
        yield log
        await until(lambda: not pending(tmp), "the job to be marked done")
    finally:
        assert stop_bot(process) == 0, log.read_text()
    assert fake.violations == [], fake.violations


async def test_an_answer_owed_when_the_bot_died_is_posted_by_the_next_one(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    """Deferred, recorded, killed before the follow-up: the restarted bot posts it."""
    await seed(url(tmp_path))

    async def ask() -> Interaction:
        fake.rate_limit_next("POST", "/webhooks/", retry_after=600)  # the answer waits
        it = await fake.slash("ask", {"question": MIAMI}, guild_id=GUILD_A, user_id=ASKER)
        await it.wait_response()
        return it

    it = await killed_mid_job(fake, tmp_path, ask, lambda: bool(fake.rate_limited))
    assert not it.followups
    async with successor(fake, tmp_path) as log:
        message = await it.wait_message(timeout=30)
        assert "Kushner" in str(message.get("embeds")), message
    assert "answered answer:" in log.read_text()


async def test_a_mention_taken_when_the_bot_died_is_replied_to_by_the_next_one(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    """The reply to `@briefbot question` is held; after the kill the next bot replies."""
    await seed(url(tmp_path))
    channel = fake.guild(GUILD_A).channel_id

    async def mention() -> dict[str, Any]:
        fake.rate_limit_next("POST", f"/channels/{channel}/messages", retry_after=600)
        return await fake.post_message(MIAMI, guild_id=GUILD_A, author_id=ASKER)

    message = await killed_mid_job(fake, tmp_path, mention, lambda: bool(fake.rate_limited))
    assert not fake.replies_to(message["id"])
    async with successor(fake, tmp_path) as log:
        reply = await fake.wait_reply(message["id"], timeout=30)
        assert "Kushner" in str(reply.get("embeds")), reply
    assert "answered mention:" in log.read_text()


async def test_a_refresh_cut_short_by_a_restart_is_finished(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    """The admin's /source refresh is fetching when the bot dies; the next one redoes it
    and the admin still gets the report."""
    web = LoopbackServer()
    web.start()
    try:
        web.route("/story.html", ARTICLE, content_type="text/html")
        settings = Settings(
            database_url=url(tmp_path), fetch=FetchSettings(allow_private_networks=True)
        )
        async with await Library.open(settings) as library:
            report = await library.ingest([web.url("/story.html")], guild=str(GUILD_A))
            assert report.added, report

        async def refresh() -> Interaction:
            web.route("/story.html", ARTICLE, content_type="text/html", delay=600)
            it = await fake.slash("source refresh", {}, guild_id=GUILD_A, user_id=ADMIN)
            await it.wait_response()
            return it

        it = await killed_mid_job(fake, tmp_path, refresh, lambda: web.hits("/story.html") >= 2)
        web.route("/story.html", ARTICLE + b"<!-- changed -->", content_type="text/html")
        async with successor(fake, tmp_path) as log:
            message = await it.wait_message(timeout=30)
            assert message["content"].startswith("Refreshed in "), message
            assert web.hits("/story.html") >= 3  # fetched again by the new process
        assert "finished refresh:" in log.read_text()
    finally:
        web.stop()
