"""`briefbot run` keeps feeds fresh by itself: a new entry becomes answerable without
anyone running a refresh (against the fake Discord and a loopback feed server)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from index import Library, Settings
from index.settings import FetchSettings
from tests.bot.test_discord import GUILD_A, add_guilds, make_fake, start_bot, stop_bot
from tests.index.test_feeds import FeedServer, page

pytestmark = pytest.mark.asyncio(loop_scope="function")

ASKER = 1300000000000000951


async def test_the_running_bot_polls_its_feeds(tmp_path: Path, http_server) -> None:
    feed = FeedServer(http_server)
    for city in ("Geneva", "Doha"):
        http_server.route(f"/{city}", page(f"Talks in {city}", city), content_type="text/html")
    feed.links = ["/Geneva"]
    url = f"sqlite+aiosqlite:///{tmp_path / 'briefbot.db'}"
    settings = Settings(database_url=url, fetch=FetchSettings(allow_private_networks=True))
    async with await Library.open(settings) as library:
        assert (await library.ingest([http_server.url("/feed")], guild=str(GUILD_A))).added
    config = tmp_path / "briefbot.toml"
    config.write_text("[feeds]\ninterval = 1\n")
    fake = make_fake()
    add_guilds(fake)
    fake.add_member(GUILD_A, ASKER, "asker")
    await fake.start()
    process, log = await start_bot(fake, tmp_path, url, args=("--config", str(config)))
    try:
        polls = http_server.hits("/feed")
        feed.links = ["/Doha", "/Geneva"]
        deadline = time.monotonic() + 30
        while http_server.hits("/Doha") == 0:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            await asyncio.sleep(0.1)
        assert http_server.hits("/Geneva") == 1  # seen before: never fetched again
        deadline = time.monotonic() + 30
        while True:
            it = await fake.slash(
                "ask",
                {"question": "Qatari mediators children Doha"},
                guild_id=GUILD_A,
                user_id=ASKER,
            )
            message = await it.wait_message(timeout=20)
            if "Talks in Doha" in str(message.get("embeds")):
                break
            assert time.monotonic() < deadline, message
            await asyncio.sleep(0.5)
        assert http_server.hits("/feed") > polls
    finally:
        assert stop_bot(process) == 0, log.read_text()[-3000:]
        await fake.close()
    assert fake.violations == [], fake.violations
