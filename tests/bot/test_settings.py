"""/settings end to end: `briefbot run` against the fake Discord, and `briefbot settings`
as a subprocess. Each behaviour gets its own guild, so settings never leak between tests."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from index import Library, Settings
from tests.bot.test_discord import (
    ADMIN,
    GUILD_A,
    GUILD_B,
    MIAMI,
    ROLE_ADMIN,
    bot_with_guilds,
)
from tests.fakediscord import FakeDiscord, Interaction

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROOT = Path(__file__).resolve().parents[2]
GUILD_C = 1300000000000000003  # /ask defaults
GUILD_D = 1300000000000000004  # the manager role
GUILD_E = 1300000000000000005  # changed by the CLI while the bot runs
LISTED = 1300000000000000040  # guild A: the one channel mentions are answered in
LISTED_THREAD = 1300000000000000041
THREAD_B = 1300000000000000042
CURATORS = 1300000000000000043  # guild D: the role /settings makes source managers
CURATOR = 1300000000000000044
D_EDITOR = 1300000000000000045  # guild D: has the configured admin role (Editors)
D_EDITORS = 1300000000000000046
_next_user = iter(range(1300000000000004000, 1300000000000005000))


@dataclass
class World:
    fake: FakeDiscord
    process: subprocess.Popen[bytes]
    log: Path
    db_url: str

    def user(self, guild: int, permissions: int = 0, roles: list[int] | None = None) -> int:
        uid = next(_next_user)
        self.fake.add_member(guild, uid, f"user{uid % 1000}", permissions=permissions, roles=roles)
        return uid

    async def settings(self, guild: int, user: int = ADMIN, **options: Any) -> dict[str, Any]:
        """/settings with these options; the (private) reply's embed fields by name."""
        it = await self.fake.slash("settings", options, guild_id=guild, user_id=user)
        message = await it.wait_message()
        assert it.ephemeral, message
        assert message.get("embeds"), message
        return {f["name"]: f["value"] for f in message["embeds"][0]["fields"]}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    def setup(fake: FakeDiscord) -> None:
        fake.add_channel(GUILD_A, LISTED, "briefings")
        fake.add_channel(GUILD_A, LISTED_THREAD, "briefings-thread", type=11, parent_id=LISTED)
        fake.add_channel(
            GUILD_B, THREAD_B, "a-thread", type=11, parent_id=fake.guild(GUILD_B).channel_id
        )
        fake.add_role(GUILD_D, CURATORS, "Curators")
        fake.add_role(GUILD_D, D_EDITORS, "Editors")
        fake.add_member(GUILD_D, CURATOR, "curator", roles=[CURATORS])
        fake.add_member(GUILD_D, D_EDITOR, "editor", roles=[D_EDITORS])

    async with bot_with_guilds(
        tmp_path_factory.mktemp("settings"),
        (GUILD_C, GUILD_D, GUILD_E),
        {"BRIEFBOT_DISCORD_ADMIN_ROLE": "Editors"},
        setup,
    ) as (fake, process, log, db_url):
        yield World(fake, process, log, db_url)


@pytest.fixture(autouse=True)
def no_violations(world: World) -> Iterator[None]:
    """Every test ends with the fake having seen nothing Discord would refuse."""
    world.fake.violations.clear()
    yield
    assert world.fake.violations == [], "\n".join(world.fake.violations) + world.log.read_text()


def payload_of(fake: FakeDiscord, it: Interaction) -> dict[str, Any]:
    return next(m["payload"] for m in fake.messages if m["interaction_id"] == it.id)


async def stored(world: World, guild: int):
    async with await Library.open(Settings(database_url=world.db_url)) as library:
        return await library.guild_settings(str(guild))


# --- the command ---------------------------------------------------------------------------


async def test_settings_without_options_shows_the_defaults_privately(world: World) -> None:
    """/settings alone: the current settings, ephemeral, pinging no one."""
    it = await world.fake.slash("settings", {}, guild_id=GUILD_C, user_id=ADMIN)
    message = await it.wait_message()
    assert it.ephemeral
    fields = {f["name"]: f["value"] for f in message["embeds"][0]["fields"]}
    assert fields["Mentions answered in"] == "every channel"
    assert fields["Mentions answered"] == "inline, as a reply"
    assert fields["/ask results per page"] == "3 (the bot's default)"
    assert fields["/ask answers"] == "public"
    assert "`Editors` role (the bot's default)" in fields["May manage sources"]
    assert payload_of(world.fake, it)["allowed_mentions"]["parse"] == []


async def test_admin_sets_channels_reply_and_role(world: World) -> None:
    """An admin's changes are saved and shown; channels are stored as ids."""
    fields = await world.settings(
        GUILD_E, mention_channels=f"<#{world.fake.guild(GUILD_E).channel_id}>", reply="thread"
    )
    assert fields["Mentions answered in"].startswith(f"<#{world.fake.guild(GUILD_E).channel_id}>")
    assert fields["Mentions answered"] == "in a new thread from the question"
    settings = await stored(world, GUILD_E)
    assert settings.mention_channels == (str(world.fake.guild(GUILD_E).channel_id),)
    assert settings.updated_by == str(ADMIN)
    fields = await world.settings(GUILD_E, mention_channels="all", reply="inline")
    assert fields["Mentions answered in"] == "every channel"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"mention_channels": "#no-such-channel"}, "no channel `#no-such-channel`"),
        ({"mention_channels": "1234"}, "no channel `1234`"),
        ({"manager_role": "Nobody"}, "no role `Nobody`"),
    ],
)
async def test_an_unknown_channel_or_role_is_a_private_error(
    world: World, options: dict[str, Any], expected: str
) -> None:
    """A channel or role the server does not have is named back; nothing changes."""
    it = await world.fake.slash("settings", options, guild_id=GUILD_C, user_id=ADMIN)
    message = await it.wait_message()
    assert it.ephemeral and expected in message["content"]
    assert (await stored(world, GUILD_C)).mention_channels is None


@pytest.mark.parametrize("user", ["member", "source manager"])
async def test_non_admin_cannot_change_settings_even_when_discord_shows_the_command(
    world: World, user: str
) -> None:
    """Everyone may see /settings; only Manage Server may use it, not the manager role."""
    world.fake.show_command_to_everyone(GUILD_A, "settings")
    uid = world.user(GUILD_A) if user == "member" else ROLE_ADMIN
    it = await world.fake.slash("settings", {"reply": "thread"}, guild_id=GUILD_A, user_id=uid)
    message = await it.wait_message()
    assert it.ephemeral and "Only members with Manage Server" in message["content"]
    assert (await stored(world, GUILD_A)).reply == "inline"
    shown = await world.fake.slash("settings", {}, guild_id=GUILD_A, user_id=uid)
    assert "Only members with Manage Server" in (await shown.wait_message())["content"]


# --- applied ---------------------------------------------------------------------------------


async def test_mentions_outside_the_listed_channels_are_ignored(world: World) -> None:
    """With one channel listed, a mention elsewhere gets nothing; there and its threads, answers."""
    await world.settings(GUILD_A, mention_channels=str(LISTED))
    asker = world.user(GUILD_A)
    ignored = await world.fake.post_message(MIAMI, guild_id=GUILD_A, author_id=asker)
    answered = await world.fake.post_message(
        MIAMI, guild_id=GUILD_A, channel_id=LISTED, author_id=asker
    )
    await world.fake.wait_reply(answered["id"], timeout=20)
    in_thread = await world.fake.post_message(
        MIAMI, guild_id=GUILD_A, channel_id=LISTED_THREAD, author_id=world.user(GUILD_A)
    )
    assert (await world.fake.wait_reply(in_thread["id"], timeout=20))["channel_id"] == str(
        LISTED_THREAD
    )
    # Mentions are handled in order: the ignored one had its turn before these replies.
    assert world.fake.replies_to(ignored["id"]) == []
    assert world.fake.channel_messages(int(ignored["id"])) == []
    await world.settings(GUILD_A, mention_channels="all")


async def test_reply_thread_answers_in_a_new_thread_from_the_question(world: World) -> None:
    """reply=thread: the answer is posted in a thread started from the question message."""
    await world.settings(GUILD_B, reply="thread")
    question = await world.fake.post_message(MIAMI, guild_id=GUILD_B, author_id=world.user(GUILD_B))
    await world.fake.wait_for(
        lambda: any(m.get("embeds") for m in world.fake.channel_messages(int(question["id"]))),
        timeout=20,
        what="an answer in the question's thread",
    )
    (answer,) = world.fake.channel_messages(int(question["id"]))
    assert "Dmitriev" in answer["embeds"][0]["description"]
    thread = world.fake.guild(GUILD_B).channels[int(question["id"])]
    assert thread["type"] == 11 and thread["parent_id"] == question["channel_id"]
    assert thread["name"] == MIAMI
    assert world.fake.replies_to(question["id"]) == []
    assert any(event == "THREAD_CREATE" for event, _ in world.fake.dispatched)


async def test_reply_thread_in_a_thread_answers_in_place(world: World) -> None:
    """A mention already in a thread is answered there, as a reply; no new thread."""
    await world.settings(GUILD_B, reply="thread")
    question = await world.fake.post_message(
        MIAMI, guild_id=GUILD_B, channel_id=THREAD_B, author_id=world.user(GUILD_B)
    )
    reply = await world.fake.wait_reply(question["id"], timeout=20)
    assert reply["channel_id"] == str(THREAD_B)
    assert int(question["id"]) not in world.fake.guild(GUILD_B).channels


async def test_ask_uses_the_guilds_results_and_private_by_default(world: World) -> None:
    """results=1, private=true: /ask answers privately with one passage per page, unless
    the asker says otherwise; /brief is private too."""
    await world.settings(GUILD_C, results=1, private=True)
    it = await world.fake.slash(
        "ask", {"question": MIAMI}, guild_id=GUILD_C, user_id=world.user(GUILD_C)
    )
    message = await it.wait_message(timeout=20)
    description = message["embeds"][0]["description"]
    assert it.ephemeral and description.startswith("**1.** ") and "**2.** " not in description
    it = await world.fake.slash(
        "ask",
        {"question": MIAMI, "private": False, "results": 2},
        guild_id=GUILD_C,
        user_id=world.user(GUILD_C),
    )
    message = await it.wait_message(timeout=20)
    assert not it.ephemeral and "**2.** " in message["embeds"][0]["description"]
    brief = await world.fake.slash(
        "brief", {"since": "2020-01-01"}, guild_id=GUILD_C, user_id=world.user(GUILD_C)
    )
    await brief.wait_message(timeout=20)
    assert brief.ephemeral  # a brief is an answer too: private by this server's default


async def test_the_manager_role_manages_sources_instead_of_the_configured_one(
    world: World,
) -> None:
    """manager_role=Curators: a curator may /source list; the [discord] admin_role may not."""
    world.fake.show_command_to_everyone(GUILD_D, "source")
    choices = await world.fake.autocomplete(
        "settings", {"manager_role": "cur"}, "manager_role", guild_id=GUILD_D, user_id=ADMIN
    )
    await choices.wait_response()
    offered = {c["name"]: c["value"] for c in choices.autocomplete_choices or []}
    assert offered == {"none (the bot's configured role)": "none", "Curators": str(CURATORS)}
    fields = await world.settings(GUILD_D, manager_role=str(CURATORS))
    assert fields["May manage sources"] == f"Manage Server, or the <@&{CURATORS}> role"
    listing = await world.fake.slash("source list", guild_id=GUILD_D, user_id=CURATOR)
    message = await listing.wait_message()
    assert listing.ephemeral and message.get("embeds"), message
    refused = await world.fake.slash("source list", guild_id=GUILD_D, user_id=D_EDITOR)
    assert f"<@&{CURATORS}>" in (await refused.wait_message())["content"]
    typed = await world.fake.autocomplete(
        "source remove", {"id": ""}, "id", guild_id=GUILD_D, user_id=D_EDITOR
    )
    await typed.wait_response()
    assert typed.autocomplete_choices == []
    await world.settings(GUILD_D, manager_role="none")
    again = await world.fake.slash("source list", guild_id=GUILD_D, user_id=D_EDITOR)
    assert (await again.wait_message()).get("embeds")


async def test_a_change_from_the_cli_applies_to_the_running_bot_within_seconds(
    world: World,
) -> None:
    """`briefbot settings` in another process: the bot follows it within its cache TTL."""
    result = cli(world.db_url, "settings", "--guild", str(GUILD_E), "--results", "1")
    assert result.returncode == 0, result.stderr
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        it = await world.fake.slash(
            "ask", {"question": MIAMI}, guild_id=GUILD_E, user_id=world.user(GUILD_E)
        )
        description = (await it.wait_message(timeout=20))["embeds"][0]["description"]
        if "**2.** " not in description:
            break
        assert asyncio.get_running_loop().time() < deadline, "the bot kept the old setting"
        await asyncio.sleep(0.5)


# --- the CLI -----------------------------------------------------------------------------


def cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIEFBOT_")}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=ROOT,
        env={**env, "BRIEFBOT_DATABASE_URL": db_url, "BRIEFBOT_DISCORD_ADMIN_ROLE": "Editors"},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_cli_sets_and_prints_json(tmp_path: Path) -> None:
    """`briefbot settings --json` prints exactly the documented object after a change."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    result = cli(
        db,
        "settings",
        "--guild",
        "42",
        "--mention-channels",
        "11,22",
        "--reply",
        "thread",
        "--private",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)) == {
        "guild",
        "mention_channels",
        "reply",
        "results",
        "private",
        "manager_role",
        "from_config",
        "updated_at",
        "updated_by",
    }
    shown = json.loads(cli(db, "settings", "--guild", "42", "--json").stdout)
    assert shown["mention_channels"] == ["11", "22"] and shown["reply"] == "thread"
    assert shown["private"] is True and shown["results"] == 3
    assert shown["manager_role"] == "Editors"
    assert shown["from_config"] == ["results", "manager_role"] and shown["updated_by"] == "cli"
    text = cli(db, "settings", "--guild", "42", "--public", "--manager-role", "Curators")
    assert text.returncode == 0, text.stderr
    assert "private: no" in text.stdout and "manager role: Curators\n" in text.stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--results", "11"), "11"),
        (("--reply", "sideways"), "'sideways'"),
        (("--mention-channels", "11,general"), "'general'"),
    ],
)
async def test_cli_bad_value_is_one_error_line(
    tmp_path: Path, args: tuple[str, ...], named: str
) -> None:
    """A bad value: exit 1 and one `error:` line naming it."""
    result = cli(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}", "settings", "--guild", "42", *args)
    assert result.returncode == 1 and result.stderr.startswith("error: ")
    assert named in result.stderr and "Traceback" not in result.stderr
