"""Two briefbot processes on one PostgreSQL database: one answering, one ingesting.

`briefbot run` (a sharded discord.py client, shard 1 of 2) answers through the fake
Discord; `briefbot ingest` and `briefbot sources remove`, separate processes, change the
database. The bot must see each change within 2 s of the command's exit, through
PostgreSQL's LISTEN/NOTIFY (its log says so), without anyone asking first.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from tests.bot.test_discord import ADMIN, MANAGE_GUILD, start_bot, stop_bot
from tests.dbfixtures import POSTGRES_URL, reset_postgres
from tests.fakediscord import FakeDiscord

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(not POSTGRES_URL, reason="BRIEFBOT_TEST_POSTGRES_URL is not set"),
]

ROOT = Path(__file__).resolve().parents[2]
# Discord puts guild g on shard (g >> 22) % shard_count: one guild per shard of two.
ON_SHARD_1 = (1 << 22) * 310_000_001
ON_SHARD_0 = (1 << 22) * 310_000_002
MIAMI = "who attended the Miami talks?"
NEW_ARTICLE = (
    "Gdansk ferry talks\n\n"
    "The Gdansk ferry talks were chaired by the Danish envoy Kilo Lima, who met both "
    "delegations for six hours to settle the timetable for the disputed ferry routes, "
    "the port fees and the inspection regime agreed in principle last spring.\n"
)


@dataclass
class Processes:
    fake: FakeDiscord
    bot: subprocess.Popen[bytes]
    log: Path
    tmp: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BRIEFBOT_")}
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", *args],
            cwd=ROOT,
            env=env | {"BRIEFBOT_DATABASE_URL": POSTGRES_URL or "", "BRIEFBOT_INDEX_PATH": ""},
            capture_output=True,
            text=True,
            timeout=120,
        )

    async def wait_log(self, needle: str, since: int, timeout: float) -> float:
        """Seconds until `needle` appears in the bot's log after offset `since`."""
        started = time.monotonic()
        while needle not in self.log.read_text(errors="replace")[since:]:
            assert self.bot.poll() is None, self.log.read_text()
            if time.monotonic() - started > timeout:
                tail = self.log.read_text(errors="replace")[-3000:]
                raise AssertionError(f"{needle!r} not logged within {timeout} s:\n{tail}")
            await asyncio.sleep(0.02)
        return time.monotonic() - started

    asks: int = 0

    async def ask(self, question: str) -> str:
        """The answer's description, asked by a fresh member (no cooldown)."""
        self.asks += 1
        user = ADMIN + self.asks
        self.fake.add_member(ON_SHARD_1, user, f"user{self.asks}")
        it = await self.fake.slash("ask", {"question": question}, guild_id=ON_SHARD_1, user_id=user)
        message = await it.wait_message(timeout=20)
        return (message.get("embeds") or [{}])[0].get("description", "")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def processes(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Processes]:
    assert POSTGRES_URL
    await asyncio.to_thread(reset_postgres, POSTGRES_URL)  # it runs its own event loop
    tmp = tmp_path_factory.mktemp("processes")
    fake = FakeDiscord(bot_name="briefbot")
    for guild, name in ((ON_SHARD_1, "Shard one newsroom"), (ON_SHARD_0, "Shard zero newsroom")):
        fake.add_guild(guild, name)
        fake.add_member(guild, ADMIN, "admin", permissions=MANAGE_GUILD)
    await fake.start()
    procs = Processes(fake, None, tmp / "none.log", tmp)  # type: ignore[arg-type]
    seeded = procs.cli("ingest", "examples/corpus")
    assert seeded.returncode == 0, seeded.stderr
    bot, log = await start_bot(
        fake,
        tmp,
        POSTGRES_URL,
        {
            "BRIEFBOT_DISCORD_DEV_GUILDS": f"{ON_SHARD_1},{ON_SHARD_0}",
            "BRIEFBOT_DISCORD_SHARD_COUNT": "2",
            "BRIEFBOT_DISCORD_SHARD_IDS": "1",
            "BRIEFBOT_INDEX_PATH": "",
        },
    )
    procs.bot, procs.log = bot, log
    try:
        await procs.wait_log("listening for changes on briefbot_changes", 0, 10)
        yield procs
    finally:
        code = stop_bot(bot)
        await fake.close()
    assert code == 0, log.read_text()


async def test_the_bot_runs_the_shard_it_was_given(processes: Processes) -> None:
    """IDENTIFY carries shard [1, 2]; only that shard's guild arrives; the bot answers there."""
    assert processes.fake.identify is not None
    assert processes.fake.identify["shard"] == [1, 2]
    created = {d["id"] for event, d in processes.fake.dispatched if event == "GUILD_CREATE"}
    assert created == {str(ON_SHARD_1)}
    assert "Witkoff" in await processes.ask(MIAMI)


async def test_another_process_adds_and_removes_and_the_bot_follows(processes: Processes) -> None:
    """Within 2 s of `briefbot ingest` (and of `sources remove`) the bot has applied it."""
    article = processes.tmp / "gdansk.txt"
    article.write_text(NEW_ARTICLE)
    mark = len(processes.log.read_text(errors="replace"))
    added = processes.cli("ingest", str(article))
    assert added.returncode == 0 and added.stdout.startswith("1 added"), added.stderr
    seconds = await processes.wait_log("(1 added, 0 removed)", mark, 2.0)
    assert seconds < 2.0
    assert "Kilo Lima" in await processes.ask("who chaired the Gdansk ferry talks?")

    listed = processes.cli("sources", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (source,) = [s for s in json.loads(listed.stdout)["sources"] if "gdansk" in s["ref"]]
    mark = len(processes.log.read_text(errors="replace"))
    removed = processes.cli("sources", "remove", source["id"])
    assert removed.returncode == 0, removed.stderr
    await processes.wait_log("(0 added, 1 removed)", mark, 2.0)
    assert "Kilo Lima" not in await processes.ask("who chaired the Gdansk ferry talks?")
