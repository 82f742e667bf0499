"""End-to-end: the real discord.py client against the fake Discord.

One bot (a `commands.Bot` with an app-command tree) is shared by the module because its
`on_ready` costs ~2 s; each test clears the violations it expects and asserts the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import discord
import pytest
import pytest_asyncio
import yarl
from discord import app_commands
from discord.ext import commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from tests.fakediscord import FakeDiscord, FakeDiscordError

pytestmark = pytest.mark.asyncio(loop_scope="module")

GUILD = 1200000000000000001
USER = 1200000000000000002
MOD = 1200000000000000003
THREAD = 1200000000000000004


class MoreView(discord.ui.View):
    """A persistent-style button: clicking it rewrites the message (callback type 7)."""

    def __init__(self) -> None:
        super().__init__(timeout=60)

    @discord.ui.button(label="More", custom_id="more", style=discord.ButtonStyle.primary)
    async def more(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.edit_message(content="expanded", view=None)


@dataclass
class Seen:
    """What the bot observed, so tests can check discord.py's side of an error too."""

    errors: list[Exception] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)


def make_bot(seen: Seen) -> commands.Bot:
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    bot = commands.Bot(
        command_prefix=commands.when_mentioned,
        intents=intents,
        allowed_mentions=discord.AllowedMentions.none(),
        help_command=None,
    )

    async def setup_hook() -> None:
        guild = discord.Object(GUILD)
        bot.tree.copy_global_to(guild=guild)
        await bot.tree.sync(guild=guild)

    bot.setup_hook = setup_hook  # type: ignore[method-assign]

    @bot.event
    async def on_ready() -> None:
        seen.ready.set()

    @bot.event
    async def on_message(message: discord.Message) -> None:
        if message.author.bot:
            return
        if bot.user is not None and bot.user in message.mentions:
            await message.reply("pong")

    @bot.tree.error
    async def on_tree_error(
        interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        seen.errors.append(error)

    @bot.tree.command(name="ping", description="Defers, then answers with an embed")
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.followup.send(embed=discord.Embed(title="pong", description="ok"))

    @bot.tree.command(name="secret", description="Defers ephemerally, then edits @original")
    async def secret(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.edit_original_response(content="shh")

    grp = app_commands.Group(name="grp", description="A group")

    @grp.command(name="sub", description="Repeats a word")
    @app_commands.describe(word="The word", times="How often")
    async def sub(interaction: discord.Interaction, word: str, times: int = 1) -> None:
        await interaction.response.send_message(word * times)

    bot.tree.add_command(grp)

    @bot.tree.command(name="buttons", description="A message with a button")
    async def buttons(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pick", view=MoreView())

    @bot.tree.command(name="file", description="Answers with an attached file")
    async def file(interaction: discord.Interaction) -> None:
        upload = discord.File(io.BytesIO(b"hello file"), filename="hello.txt")
        await interaction.response.send_message("here", file=upload)

    @bot.tree.command(name="find", description="Autocompleted lookup")
    async def find(interaction: discord.Interaction, topic: str) -> None:
        await interaction.response.send_message(f"found {topic}")

    @find.autocomplete("topic")
    async def find_topic(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        names = ["ceasefire", "sanctions", "summit"]
        return [app_commands.Choice(name=n, value=n) for n in names if n.startswith(current)]

    @bot.tree.command(name="upload", description="Reads an attachment option")
    async def upload(interaction: discord.Interaction, doc: discord.Attachment) -> None:
        body = await doc.read()
        await interaction.response.send_message(f"{doc.filename}: {len(body)} bytes")

    @bot.tree.command(name="early", description="Sends a follow-up before any callback")
    async def early(interaction: discord.Interaction) -> None:
        with contextlib.suppress(discord.NotFound):
            await interaction.followup.send("too early")
        await interaction.response.send_message("ok")

    @bot.tree.command(name="slow", description="Answers after Discord's deadline")
    async def slow(interaction: discord.Interaction) -> None:
        await asyncio.sleep(3.2)
        await interaction.response.send_message("too late")

    @bot.tree.command(name="twice", description="Answers one interaction twice")
    async def twice(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("one")
        interaction.response._response_type = None  # defeat discord.py's own guard
        await interaction.response.send_message("two")

    @bot.tree.command(name="big", description="Sends an embed over Discord's limits")
    async def big(interaction: discord.Interaction) -> None:
        await interaction.response.send_message(embed=discord.Embed(description="x" * 5000))

    return bot


@dataclass
class Env:
    fake: FakeDiscord
    bot: commands.Bot
    seen: Seen


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env() -> AsyncIterator[Env]:
    """One fake Discord and one connected bot for the module; globals restored afterwards."""
    old_base, old_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    fake = FakeDiscord()
    await fake.start()
    fake.add_guild(GUILD, "test guild")
    fake.add_member(GUILD, USER, "alice")
    fake.add_member(GUILD, MOD, "mod", permissions=1 << 5)
    seen = Seen()
    bot = make_bot(seen)
    Route.BASE = fake.api_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    task = asyncio.create_task(bot.start(fake.token))
    try:
        await fake.wait_commands(guild_id=GUILD)
        await fake.wait_connected()
        await asyncio.wait_for(seen.ready.wait(), 10)
        yield Env(fake, bot, seen)
    finally:
        await bot.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        await fake.close()
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = old_base, old_gateway


@pytest.fixture
def fake(env: Env) -> FakeDiscord:
    """The shared fake with a clean slate of violations and bot-side errors."""
    env.fake.violations.clear()
    env.seen.errors.clear()
    return env.fake


async def test_connects_and_syncs_guild_commands(env: Env, fake: FakeDiscord) -> None:
    """Login, command sync and gateway handshake use the payload shapes discord.py needs."""
    assert ("GET", "/users/@me") in fake.requests
    assert ("GET", "/oauth2/applications/@me") in fake.requests
    assert fake.identify is not None and fake.intents == env.bot.intents.value
    names = {c["name"] for c in fake.commands(GUILD)}
    assert names >= {"ping", "grp", "buttons", "slow", "twice", "big"}
    grp = next(c for c in fake.commands(GUILD) if c["name"] == "grp")
    assert grp["options"][0]["name"] == "sub" and grp["options"][0]["type"] == 1
    guild = env.bot.get_guild(GUILD)
    assert guild is not None and guild.me is not None
    assert guild.get_channel(fake.guild(GUILD).channel_id) is not None
    assert env.bot.user is not None and env.bot.user.id == fake.bot_id
    assert fake.violations == []


async def test_json_content_type_is_exact(fake: FakeDiscord) -> None:
    """discord.py parses JSON only when the Content-Type is exactly application/json."""
    headers = {"Authorization": f"Bot {fake.token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{fake.api_base}/users/@me", headers=headers) as response,
    ):
        assert response.headers["Content-Type"] == "application/json"
        assert (await response.json())["bot"] is True


async def test_bad_token_and_unknown_route_are_violations(env: Env, fake: FakeDiscord) -> None:
    """A wrong Authorization gets 401 and an unknown route 404, both recorded."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{fake.api_base}/users/@me", headers={"Authorization": "Bot no"}) as r,
    ):
        assert r.status == 401
    with pytest.raises(discord.NotFound):
        await env.bot.http.request(Route("GET", "/nope/{x}", x=1))
    assert len(fake.violations) == 2
    assert "Authorization" in fake.violations[0] and "unknown route" in fake.violations[1]


async def test_slash_defer_then_followup(fake: FakeDiscord) -> None:
    """/ping defers (type 5); its first follow-up replaces the loading message."""
    it = await fake.slash("ping", guild_id=GUILD, user_id=USER)
    message = await it.wait_message()
    assert [r["type"] for r in it.responses] == [5]
    assert it.ack_seconds is not None and it.ack_seconds < 3
    assert message["embeds"][0]["title"] == "pong"
    assert it.original is not None and it.original["id"] == message["id"]
    assert not it.ephemeral and not message["flags"] & 128
    assert fake.violations == []


async def test_ephemeral_defer_keeps_original_ephemeral(fake: FakeDiscord) -> None:
    """A deferral with flags 64 makes the later @original edit ephemeral."""
    it = await fake.slash("secret", guild_id=GUILD, user_id=USER)
    message = await it.wait_message()
    assert it.responses[0]["data"] == {"flags": 64}
    assert message["content"] == "shh" and message["flags"] & 64
    assert it.ephemeral and len(it.edits) == 1
    assert fake.violations == []


async def test_group_subcommand_with_options(fake: FakeDiscord) -> None:
    """Options are typed from the registered command and nested under the subcommand."""
    it = await fake.slash("grp sub", {"word": "ab", "times": 2}, guild_id=GUILD, user_id=USER)
    message = await it.wait_message()
    assert message["content"] == "abab"
    assert it.payload["data"]["options"][0]["options"][1] == {
        "name": "times",
        "type": 4,
        "value": 2,
    }
    with pytest.raises(FakeDiscordError, match="unknown option"):
        await fake.slash("grp sub", {"wrod": "x"}, guild_id=GUILD, user_id=USER)
    with pytest.raises(FakeDiscordError, match="is a group"):
        await fake.slash("grp", guild_id=GUILD, user_id=USER)
    with pytest.raises(FakeDiscordError, match="not registered"):
        await fake.slash("nope", guild_id=GUILD, user_id=USER)
    assert fake.violations == []


async def test_button_click_updates_message(fake: FakeDiscord) -> None:
    """A click on the bot's button is answered with type 7, editing that message."""
    it = await fake.slash("buttons", guild_id=GUILD, user_id=USER)
    message = await it.wait_message()
    assert message["components"][0]["components"][0]["custom_id"] == "more"
    click = await fake.click(message, "more", user_id=USER)
    updated = await click.wait_message()
    assert click.responses[0]["type"] == 7
    assert updated["id"] == message["id"]
    assert updated["content"] == "expanded" and updated["components"] == []
    with pytest.raises(FakeDiscordError, match="no component"):
        await fake.click(updated, "more", user_id=USER)
    assert fake.violations == []


async def test_attachment_upload_is_served(fake: FakeDiscord) -> None:
    """A multipart callback (payload_json + files[0]) yields an attachment the fake serves."""
    it = await fake.slash("file", guild_id=GUILD, user_id=USER)
    message = await it.wait_message()
    (attachment,) = message["attachments"]
    assert attachment["filename"] == "hello.txt" and attachment["size"] == 10
    async with aiohttp.ClientSession() as session, session.get(attachment["url"]) as response:
        assert await response.read() == b"hello file"
    assert fake.violations == []


async def test_autocomplete(fake: FakeDiscord) -> None:
    """Autocomplete sends the focused partial value and records the returned choices."""
    it = await fake.autocomplete("find", {"topic": "s"}, "topic", guild_id=GUILD, user_id=USER)
    response = await it.wait_response()
    assert response["type"] == 8
    assert it.autocomplete_choices == [
        {"name": "sanctions", "value": "sanctions"},
        {"name": "summit", "value": "summit"},
    ]
    assert fake.violations == []


async def test_mention_gets_a_reply(fake: FakeDiscord) -> None:
    """An @mention is answered with a reply whose message_reference points at it."""
    message = await fake.post_message("hello", guild_id=GUILD, author_id=USER)
    reply = await fake.wait_reply(message["id"])
    assert reply["content"] == "pong" and reply["type"] == 19
    assert reply["message_reference"]["message_id"] == message["id"]
    assert fake.violations == []


async def test_late_response_is_a_violation(env: Env, fake: FakeDiscord) -> None:
    """A first callback after 3 s gets 404 Unknown interaction, like Discord."""
    it = await fake.slash("slow", guild_id=GUILD, user_id=USER)
    response = await it.wait_response(timeout=8)
    assert response["status"] == 404 and it.ack_seconds is not None and it.ack_seconds > 3
    assert any("after dispatch" in v for v in fake.violations)
    await fake.wait_for(lambda: bool(env.seen.errors), 5, "the bot's error")
    assert isinstance(env.seen.errors[0].__cause__, discord.NotFound)
    assert env.seen.errors[0].__cause__.code == 10062


async def test_double_response_is_a_violation(env: Env, fake: FakeDiscord) -> None:
    """A second callback for one interaction gets 400 code 40060."""
    it = await fake.slash("twice", guild_id=GUILD, user_id=USER)
    await fake.wait_for(lambda: len(it.responses) == 2, 5, "two callbacks")
    assert [r["status"] for r in it.responses] == [200, 400]
    assert len(fake.violations) == 1 and "second callback" in fake.violations[0]
    await fake.wait_for(lambda: bool(env.seen.errors), 5, "the bot's error")
    assert getattr(env.seen.errors[0].__cause__, "code", None) == 40060


async def test_oversized_embed_is_a_violation(env: Env, fake: FakeDiscord) -> None:
    """An embed description over 4096 characters is refused with 50035 Invalid Form Body."""
    it = await fake.slash("big", guild_id=GUILD, user_id=USER)
    response = await it.wait_response()
    assert response["status"] == 400 and it.original is None
    assert len(fake.violations) == 1 and "embeds.0.description" in fake.violations[0]
    await fake.wait_for(lambda: bool(env.seen.errors), 5, "the bot's error")
    assert getattr(env.seen.errors[0].__cause__, "code", None) == 50035


async def test_missing_allowed_mentions_is_a_violation(env: Env, fake: FakeDiscord) -> None:
    """Discord accepts a message without allowed_mentions; the fake records it anyway."""
    channel_id = fake.guild(GUILD).channel_id
    route = Route("POST", "/channels/{channel_id}/messages", channel_id=channel_id)
    data = await env.bot.http.request(route, json={"content": "raw"})
    assert data["content"] == "raw"
    assert len(fake.violations) == 1 and "allowed_mentions" in fake.violations[0]


async def test_rate_limit_is_retried(fake: FakeDiscord) -> None:
    """An injected 429 (with Via) is waited out and retried by discord.py."""
    path = f"/channels/{fake.guild(GUILD).channel_id}/messages"
    fake.rate_limit_next("POST", path, retry_after=0.2)
    before = fake.requests.count(("POST", path))
    message = await fake.post_message("again", guild_id=GUILD, author_id=USER)
    reply = await fake.wait_reply(message["id"])
    assert reply["content"] == "pong"
    assert fake.rate_limited == [("POST", path)]
    assert fake.requests.count(("POST", path)) - before == 2
    assert fake.violations == []


async def test_gateway_resume(env: Env, fake: FakeDiscord) -> None:
    """After the connection drops (4000) discord.py RESUMEs and interactions still work."""
    await fake.drop_gateway(4000)
    await fake.wait_for(lambda: any(f.get("op") == 6 for f in fake.gateway_log), 10, "a RESUME")
    await fake.wait_for(lambda: fake.dispatched[-1][0] == "RESUMED", 10, "RESUMED")
    it = await fake.slash("grp sub", {"word": "ok"}, guild_id=GUILD, user_id=USER)
    assert (await it.wait_message())["content"] == "ok"
    assert fake.violations == []


async def test_attachment_option_is_resolved_and_downloadable(fake: FakeDiscord) -> None:
    """An attachment option arrives in data.resolved and the bot can download it."""
    doc = fake.add_attachment("notes.pdf", b"%PDF-1.4 tiny", "application/pdf")
    it = await fake.slash("upload", {"doc": doc}, guild_id=GUILD, user_id=USER)
    assert it.payload["data"]["resolved"]["attachments"][doc["id"]]["filename"] == "notes.pdf"
    message = await it.wait_message()
    assert message["content"] == "notes.pdf: 13 bytes"
    assert fake.violations == []


async def test_followup_before_callback_is_a_violation(fake: FakeDiscord) -> None:
    """A follow-up before the interaction is acknowledged gets 404 Unknown Webhook."""
    it = await fake.slash("early", guild_id=GUILD, user_id=USER)
    message = await it.wait_message()
    assert message["content"] == "ok" and it.followups == []
    assert len(fake.violations) == 1 and "no accepted callback" in fake.violations[0]
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{fake.api_base}/webhooks/{fake.app_id}/bogus?wait=true", json={"content": "x"}
        ) as response,
    ):
        assert response.status == 404 and (await response.json())["code"] == 10015


async def test_messages_log_records_every_kind(fake: FakeDiscord) -> None:
    """fake.messages holds channel messages, callbacks, follow-ups and edits, in order."""
    start = len(fake.messages)
    it = await fake.slash("ping", guild_id=GUILD, user_id=USER)
    await it.wait_message()
    it = await fake.slash("secret", guild_id=GUILD, user_id=USER)
    await it.wait_message()
    kinds = [m["kind"] for m in fake.messages[start:]]
    assert kinds == ["followup", "edit"]
    assert all(m["channel_id"] == fake.guild(GUILD).channel_id for m in fake.messages[start:])
    assert fake.violations == []


async def test_thread_from_a_message_takes_its_id_once(env: Env, fake: FakeDiscord) -> None:
    """A thread started from a message has the message's id; a second one is refused."""
    message = await fake.post_message("start here", guild_id=GUILD, author_id=USER)
    channel = env.bot.get_partial_messageable(fake.guild(GUILD).channel_id, guild_id=GUILD)
    thread = await channel.get_partial_message(int(message["id"])).create_thread(name="q")
    assert thread.id == int(message["id"]) and thread.parent_id == channel.id
    assert fake.guild(GUILD).channels[thread.id]["type"] == 11
    assert ("THREAD_CREATE", str(thread.id)) in [(e, d.get("id")) for e, d in fake.dispatched]
    sent = await thread.send("in the thread")
    assert sent.channel.id == thread.id and fake.violations == []
    with pytest.raises(discord.HTTPException) as refused:
        await channel.get_partial_message(int(message["id"])).create_thread(name="again")
    assert refused.value.code == 160004
    assert len(fake.violations) == 1 and "already has a thread" in fake.violations[0]
