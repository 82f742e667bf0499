"""The bot end to end: `briefbot run` (a real discord.py client in its own process)
against our fake Discord (tests/fakediscord) on 127.0.0.1.

The bot is configured by environment variables alone, as in a container. The fake is
strict like Discord: a first response later than 3 s, a second response, an over-limit
embed or a payload that could ping anyone is a violation, and every test ends by
asserting there were none.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from index import Library, Settings
from tests.conftest import LoopbackServer
from tests.fakediscord import FakeDiscord, Interaction

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "examples" / "corpus"
FIXTURES = ROOT / "tests" / "fixtures"
MIAMI = "who attended the Miami talks?"

GUILD_A = 1300000000000000001
GUILD_B = 1300000000000000002
ADMIN = 1300000000000000010
ROLE_ADMIN = 1300000000000000011  # has the configured admin role, not Manage Server
THREAD_A = 1300000000000000020
MANAGE_GUILD = 1 << 5
EDITORS_ROLE = 1300000000000000030
_next_user = iter(range(1300000000000000100, 1300000000000001000))

FILLER = (
    "Officials from both delegations spent the afternoon reviewing draft language on "
    "prisoner exchanges, energy infrastructure and the timetable for any ceasefire, "
    "according to people familiar with the sessions who asked not to be named."
)


def article(title: str, *paragraphs: str) -> str:
    return "\n\n".join([title, *paragraphs]) + "\n"


@dataclass
class Harness:
    fake: FakeDiscord
    process: subprocess.Popen[bytes]
    log: Path
    db_url: str
    web: LoopbackServer

    def user(self, *guilds: int, permissions: int = 0, roles: list[int] | None = None) -> int:
        """A fresh member (fresh users have no cooldown history)."""
        uid = next(_next_user)
        for guild in guilds or (GUILD_A,):
            self.fake.add_member(
                guild, uid, f"user{uid % 1000}", permissions=permissions, roles=roles or []
            )
        return uid

    def bot_log(self) -> str:
        return self.log.read_text(errors="replace")

    def components(self, message_id: str) -> set[str]:
        """Labels of the buttons a message has now."""
        return set(buttons(self.fake.message(message_id) or {}))


async def seed(db_url: str) -> None:
    """Global sample corpus, one article per guild, and one with hostile text."""
    async with await Library.open(Settings(database_url=db_url)) as library:
        report = await library.ingest([str(CORPUS)])
        assert report.added and not report.failed
        texts = {
            "A": article(
                "Geneva round on prisoner swaps",
                "The Geneva round on prisoner swaps brought the Swiss mediator Alpha Bravo to "
                "the table with both delegations. " + FILLER,
            ),
            "B": article(
                "Geneva round on grain corridors",
                "The Geneva round on grain corridors was chaired by the Turkish envoy Charlie "
                "Delta, who met both delegations. " + FILLER,
            ),
            "hostile": article(
                "Hostile markup",
                "The zebra delegation @everyone <@123456> <@&654321> [click here](https://evil."
                "example) **loud** # heading said the zebra talks would resume. " + FILLER,
            ),
        }
        for name, guild in (("A", GUILD_A), ("B", GUILD_B), ("hostile", GUILD_A)):
            report = await library.ingest_bytes(
                texts[name].encode(), name=f"{name}.txt", ref=f"seed/{name}.txt", guild=str(guild)
            )
            assert report.added, report


async def start_bot(
    fake: FakeDiscord,
    tmp: Path,
    db_url: str,
    extra_env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
) -> tuple[subprocess.Popen[bytes], Path]:
    """`briefbot run` in its own process; returns once it synced commands and connected."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIEFBOT_")} | {
        "BRIEFBOT_DISCORD_TOKEN": fake.token,
        "BRIEFBOT_DISCORD_API_BASE": fake.api_base,
        "BRIEFBOT_DISCORD_GATEWAY_URL": fake.gateway_url,
        "BRIEFBOT_DISCORD_DEV_GUILDS": f"{GUILD_A},{GUILD_B}",
        "BRIEFBOT_DATABASE_URL": db_url,
        "BRIEFBOT_ALLOW_PRIVATE_NETWORKS": "1",  # /source add url: from 127.0.0.1
        **(extra_env or {}),
    }
    log = tmp / f"bot-{len(fake.command_syncs)}.log"
    syncs, identified = len(fake.command_syncs), fake.identify
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", *args, "run"],
            cwd=tmp,
            env=env | {"PYTHONPATH": str(ROOT)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def up() -> bool:
        return len(fake.command_syncs) >= syncs + 2 and fake.identify is not identified

    deadline = asyncio.get_running_loop().time() + 60
    while not up():
        if process.poll() is not None:
            raise AssertionError(f"bot exited with {process.returncode}:\n{log.read_text()}")
        if asyncio.get_running_loop().time() > deadline:
            stop_bot(process)
            raise AssertionError(f"bot did not connect:\n{log.read_text()}")
        await asyncio.sleep(0.05)
    await fake.wait_connected(timeout=60)
    return process, log


def stop_bot(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def make_fake() -> FakeDiscord:
    fake = FakeDiscord(bot_name="briefbot")
    return fake


def add_guilds(fake: FakeDiscord) -> None:
    guild_a = fake.add_guild(GUILD_A, "Alpha newsroom")
    fake.add_guild(GUILD_B, "Bravo newsroom")
    fake.add_role(GUILD_A, EDITORS_ROLE, "Editors")
    fake.add_channel(GUILD_A, THREAD_A, "miami-thread", type=11, parent_id=guild_a.channel_id)
    for guild in (GUILD_A, GUILD_B):
        fake.add_member(guild, ADMIN, "admin", permissions=MANAGE_GUILD)
    fake.add_member(GUILD_A, ROLE_ADMIN, "editor", roles=[EDITORS_ROLE])


@contextlib.asynccontextmanager
async def bot_with_guilds(
    tmp: Path,
    guilds: Sequence[int],
    env: dict[str, str] | None = None,
    setup: Callable[[FakeDiscord], None] | None = None,
) -> AsyncIterator[tuple[FakeDiscord, subprocess.Popen[bytes], Path, str]]:
    """A seeded database and a running bot whose commands reach guilds A, B and `guilds`
    (each with ADMIN holding Manage Server); `setup` adds to the fake before it starts.
    Yields (fake, process, log, database URL); the bot must stop with status 0."""
    db_url = f"sqlite+aiosqlite:///{tmp / 'briefbot.db'}"
    await seed(db_url)
    fake = make_fake()
    add_guilds(fake)
    for guild in guilds:
        fake.add_guild(guild, f"guild {guild % 100}")
        fake.add_member(guild, ADMIN, "admin", permissions=MANAGE_GUILD)
    if setup is not None:
        setup(fake)
    await fake.start()
    dev = ",".join(str(g) for g in (GUILD_A, GUILD_B, *guilds))
    process, log = await start_bot(
        fake, tmp, db_url, {**(env or {}), "BRIEFBOT_DISCORD_DEV_GUILDS": dev}
    )
    for guild in guilds:
        await fake.wait_commands(guild_id=guild)
    try:
        yield fake, process, log, db_url
    finally:
        code = stop_bot(process)
        await fake.close()
    assert code == 0, log.read_text()


@pytest.fixture(scope="module")
def web() -> Iterator[LoopbackServer]:
    server = LoopbackServer()
    server.start()
    yield server
    server.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def harness(
    tmp_path_factory: pytest.TempPathFactory, web: LoopbackServer
) -> AsyncIterator[Harness]:
    tmp = tmp_path_factory.mktemp("bot")
    db_url = f"sqlite+aiosqlite:///{tmp / 'briefbot.db'}"
    await seed(db_url)
    fake = make_fake()
    add_guilds(fake)
    await fake.start()
    process, log = await start_bot(fake, tmp, db_url, {"BRIEFBOT_DISCORD_ADMIN_ROLE": "Editors"})
    try:
        yield Harness(fake, process, log, db_url, web)
    finally:
        code = stop_bot(process)
        await fake.close()
    assert code == 0, log.read_text()


@pytest.fixture(autouse=True)
def no_violations(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test ends with the fake having seen nothing Discord would refuse."""
    used = [name for name in ("harness", "limited") if name in request.fixturenames]
    harnesses: list[Harness] = [request.getfixturevalue(name) for name in used]
    for h in harnesses:
        h.fake.violations.clear()
    yield
    for h in harnesses:
        assert h.fake.violations == [], "\n".join(h.fake.violations) + "\n" + h.bot_log()[-3000:]


def embed(message: dict[str, Any]) -> dict[str, Any]:
    assert message.get("embeds"), message
    return message["embeds"][0]


def plain(text: str) -> str:
    """Description text without the underline markers of query words."""
    return text.replace("__", "")


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Label → button component."""
    return {
        c.get("label"): c
        for row in message.get("components") or []
        for c in row.get("components", [])
    }


async def ask(
    h: Harness, question: str, *, user: int, guild: int = GUILD_A, **options: Any
) -> tuple[Interaction, dict[str, Any]]:
    it = await h.fake.slash("ask", {"question": question, **options}, guild_id=guild, user_id=user)
    message = await it.wait_message(timeout=20)
    return it, message


# --- commands --------------------------------------------------------------------------


async def test_commands_are_synced_to_the_dev_guilds(harness: Harness) -> None:
    """/ask, /brief, /source (add list remove refresh unhide), /settings, /stats, /help,
    /about reach both dev guilds."""
    for guild in (GUILD_A, GUILD_B):
        commands = {c["name"]: c for c in harness.fake.commands(guild)}
        assert set(commands) == {"ask", "brief", "source", "settings", "stats", "help", "about"}
        assert int(commands["settings"]["default_member_permissions"]) == MANAGE_GUILD
        assert int(commands["stats"]["default_member_permissions"]) == MANAGE_GUILD
        subs = {o["name"] for o in commands["source"]["options"]}
        assert subs == {"add", "list", "remove", "refresh", "unhide"}
        assert int(commands["source"]["default_member_permissions"]) == MANAGE_GUILD
        ask_options = {o["name"]: o for o in commands["ask"]["options"]}
        assert ask_options["source"]["autocomplete"] is True
        assert ask_options["since"]["type"] == ask_options["until"]["type"] == 3  # string
        assert not ask_options["since"].get("required")
        assert (ask_options["results"]["min_value"], ask_options["results"]["max_value"]) == (
            1,
            10,
        )


# --- asking ----------------------------------------------------------------------------


async def test_slash_ask_defers_then_answers_with_the_cited_passage(harness: Harness) -> None:
    """/ask is acknowledged with a deferral, then the embed cites the Miami passage first."""
    it, message = await ask(harness, MIAMI, user=harness.user())
    assert it.responses[0]["type"] == 5 and it.ack_seconds is not None
    assert not it.ephemeral
    e = embed(message)
    first = e["description"].split("\n\n**2.** ")[0]
    assert first.startswith("**1.** ")
    assert "**The __meeting__ __included__ Dmitriev" in first and "Jared Kushner" in first
    assert "[1] **ANI** — Ukraine peace talks in Miami 'constructive'" in first
    assert "· 2025-12-21" in first
    assert e["title"] == MIAMI
    assert e["footer"]["text"].startswith("Searched ")
    labels = buttons(message)
    assert set(labels) == {"◀", "▶", "Sources", "Delete", "👍", "👎"}
    assert labels["◀"].get("disabled") is True
    rows = [{c.get("label") for c in row["components"]} for row in message["components"]]
    assert rows == [{"◀", "▶", "Sources", "Delete"}, {"👍", "👎"}]  # votes on a row of their own


async def test_paging_is_for_the_asker_only(harness: Harness) -> None:
    """▶ shows page 2 to the asker; anyone else gets a private no, the message stays."""
    asker, other = harness.user(), harness.user()
    _, message = await ask(harness, MIAMI, user=asker)
    page1 = embed(message)["description"]
    nope = await harness.fake.click(message, buttons(message)["▶"]["custom_id"], user_id=other)
    refusal = await nope.wait_message()
    assert nope.ephemeral and "Only the person who asked" in refusal["content"]
    assert embed(harness.fake.message(message["id"]))["description"] == page1
    click = await harness.fake.click(message, buttons(message)["▶"]["custom_id"], user_id=asker)
    page2 = await click.wait_message()
    assert click.responses[0]["type"] == 7
    assert embed(page2)["description"].startswith("**4.** ")
    assert "page 2/" in embed(page2)["footer"]["text"]
    assert buttons(page2)["◀"].get("disabled") is not True
    back = await harness.fake.click(page2, buttons(page2)["◀"]["custom_id"], user_id=asker)
    assert embed(await back.wait_message())["description"] == page1


async def test_sources_button_lists_cited_articles_privately(harness: Harness) -> None:
    """Sources shows each cited article once, numbered as in the answer, to the presser."""
    asker = harness.user()
    _, message = await ask(harness, MIAMI, user=asker)
    click = await harness.fake.click(
        message, buttons(message)["Sources"]["custom_id"], user_id=harness.user()
    )
    shown = await click.wait_message()
    assert click.ephemeral
    e = embed(shown)
    assert e["title"] == "Sources cited"
    assert e["description"].startswith("[1] **ANI** — Ukraine peace talks in Miami")


async def test_asker_can_delete_the_answer(harness: Harness) -> None:
    """Delete removes a public answer for its asker."""
    asker = harness.user()
    _, message = await ask(harness, MIAMI, user=asker)
    click = await harness.fake.click(
        message, buttons(message)["Delete"]["custom_id"], user_id=asker
    )
    await harness.fake.wait_for(lambda: harness.fake.message(message["id"]) is None, timeout=10)
    assert click.responses[0]["type"] == 6


async def test_no_match_is_a_private_hint(harness: Harness) -> None:
    """A question matching nothing gets a friendly private hint, not an empty embed."""
    it, message = await ask(harness, "xylophone quasar", user=harness.user())
    if message.get("flags", 0) & 64 == 0:  # the public "thinking" message was removed first
        message = (await it.wait_messages(1))[0]
    assert message["flags"] & 64
    assert "Try other words" in message["content"]
    assert not message.get("embeds")
    assert it.original is None or it.original["flags"] & 64


async def test_private_answer_is_ephemeral(harness: Harness) -> None:
    """private:true defers ephemerally and the answer stays private, without Delete."""
    it, message = await ask(harness, MIAMI, user=harness.user(), private=True)
    assert it.ephemeral and message["flags"] & 64
    assert "Delete" not in buttons(message)
    assert "Dmitriev" in embed(message)["description"]


async def test_results_option_sets_passages_per_page(harness: Harness) -> None:
    """results:1 shows one passage per page."""
    _, message = await ask(harness, MIAMI, user=harness.user(), results=1)
    description = embed(message)["description"]
    assert description.startswith("**1.** ") and "**2.** " not in description


async def test_source_option_limits_the_search(harness: Harness) -> None:
    """Autocomplete offers what the guild sees; picking one searches only that article."""
    user = harness.user()
    it = await harness.fake.autocomplete(
        "ask", {"question": "talks", "source": "geneva"}, "source", guild_id=GUILD_A, user_id=user
    )
    await it.wait_response()
    choices = it.autocomplete_choices
    assert [c["name"] for c in choices] == ["Geneva round on prisoner swaps"]
    _, message = await ask(harness, "delegations", user=user, source=choices[0]["value"])
    assert "Alpha Bravo" in embed(message)["description"]
    assert "Miami" not in embed(message)["description"]
    _, bad = await ask(harness, "delegations", user=user, source="nope")
    assert bad["flags"] & 64 and "no source" in bad["content"]


async def private_note(it: Interaction, message: dict[str, Any]) -> dict[str, Any]:
    """The private note that replaced a public "thinking…" deferral, checked as such."""
    if message.get("flags", 0) & 64 == 0:  # the public "thinking" message was removed first
        message = (await it.wait_messages(1))[0]
    assert message["flags"] & 64
    assert not message.get("embeds")
    assert it.original is None or it.original["flags"] & 64
    return message


async def test_since_excluding_everything_is_a_private_filter_note(harness: Harness) -> None:
    """since: a day after every article gets a private note that names the filters."""
    it, message = await ask(harness, MIAMI, user=harness.user(), since="2999-01-01")
    note = await private_note(it, message)
    assert "filters" in note["content"] and "`since`" in note["content"]
    assert "Widen" in note["content"]


@pytest.mark.parametrize(("option", "value"), [("since", "7x"), ("until", "soon")])
async def test_an_invalid_day_is_a_private_error_naming_the_option(
    harness: Harness, option: str, value: str
) -> None:
    """since:7x (or until:soon) is refused privately, in one line naming the option."""
    it, message = await ask(harness, MIAMI, user=harness.user(), **{option: value})
    error = await private_note(it, message)
    assert error["content"].startswith(f"{option}: '{value}' is not a date")
    assert "\n" not in error["content"]


async def test_until_before_since_is_a_private_error(harness: Harness) -> None:
    """A range that ends before it starts is refused, naming both options."""
    it, message = await ask(
        harness, MIAMI, user=harness.user(), since="2025-12-21", until="2025-12-01"
    )
    error = await private_note(it, message)
    assert "since (2025-12-21) is after until (2025-12-01)" in error["content"]


async def test_since_keeps_articles_published_on_or_after_it(harness: Harness) -> None:
    """The Miami article (2025-12-21) answers with since:2025-12-21, and the footer says why."""
    _, message = await ask(harness, MIAMI, user=harness.user(), since="2025-12-21")
    e = embed(message)
    assert "Dmitriev" in e["description"]
    assert "within your filters" in e["footer"]["text"]


async def test_source_option_takes_a_publisher_name(harness: Harness) -> None:
    """source:ani (any case) searches every ANI article and nothing else."""
    user = harness.user()
    _, everything = await ask(harness, "delegations", user=user)
    assert "Alpha Bravo" in embed(everything)["description"]
    _, message = await ask(harness, "delegations", user=user, source="ani")
    description = embed(message)["description"]
    assert "Alpha Bravo" not in description and "zebra" not in description
    cites = [line for line in description.split("\n") if line.startswith("[")]
    assert cites and all(line.split("] ", 1)[1].startswith("**ANI** — ") for line in cites)
    assert "within your filters" in embed(message)["footer"]["text"]


HARBOUR = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Harbour pilots strike talks | Harbour Courier</title>
<meta property="og:title" content="Harbour pilots strike talks">
<meta property="og:site_name" content="Harbour Courier">
<meta property="article:published_time" content="2025-10-01T09:00:00+00:00">
</head><body><main><article><h1>Harbour pilots strike talks</h1>
<p>The harbour pilots' union met the port authority for strike talks chaired by the mediator
Golf Hotel, who asked both delegations to return next week.</p>
<p>{FILLER}</p><p>{FILLER} The pilots want a new shift roster.</p>
</article></main></body></html>"""


async def test_source_autocomplete_offers_the_guilds_publishers_only(harness: Harness) -> None:
    """Typing a publisher offers "All of …" in the guild that has it, never in another."""
    async with await Library.open(Settings(database_url=harness.db_url)) as library:
        report = await library.ingest_bytes(
            HARBOUR.encode(), name="harbour.html", ref="seed/harbour.html", guild=str(GUILD_B)
        )
        assert report.added, report
    user_b, user_a = harness.user(GUILD_B), harness.user()
    it = await harness.fake.autocomplete(
        "ask", {"question": "talks", "source": "harb"}, "source", guild_id=GUILD_B, user_id=user_b
    )
    await it.wait_response()
    choices = it.autocomplete_choices
    assert choices[0] == {"name": "All of Harbour Courier (1 article)", "value": "Harbour Courier"}
    assert [c["name"] for c in choices[1:]] == ["Harbour pilots strike talks — Harbour Courier"]
    _, answer = await ask(
        harness,
        "who chaired the strike talks?",
        user=user_b,
        guild=GUILD_B,
        source="harbour courier",
    )
    assert "Golf Hotel" in embed(answer)["description"]
    elsewhere = await harness.fake.autocomplete(
        "ask", {"question": "talks", "source": "harb"}, "source", guild_id=GUILD_A, user_id=user_a
    )
    await elsewhere.wait_response()
    assert elsewhere.autocomplete_choices == []
    it, refused = await ask(harness, "strike talks", user=user_a, source="Harbour Courier")
    error = await private_note(it, refused)
    assert "no source or publisher 'Harbour Courier' here" in error["content"]


async def test_source_autocomplete_offers_global_publishers(harness: Harness) -> None:
    """A global publisher is offered by name, with its article count, besides its articles."""
    it = await harness.fake.autocomplete(
        "ask",
        {"question": "talks", "source": "an"},
        "source",
        guild_id=GUILD_A,
        user_id=harness.user(),
    )
    await it.wait_response()
    assert {"name": "All of ANI (1 article)", "value": "ANI"} in it.autocomplete_choices
    assert len(it.autocomplete_choices) <= 25


async def test_a_corrected_typo_is_named_in_the_answer(harness: Harness) -> None:
    """Witkof finds Witkoff, and the answer says what it searched for."""
    _, message = await ask(harness, "Witkof", user=harness.user())
    description = embed(message)["description"]
    assert description.startswith("Searched for Witkoff (you typed Witkof)\n\n**1.** ")
    assert "__Witkoff__" in description


async def test_mention_replies_with_the_answer(harness: Harness) -> None:
    """`@briefbot question` gets a reply to that message with the same answer."""
    message = await harness.fake.post_message(MIAMI, guild_id=GUILD_A, author_id=harness.user())
    reply = await harness.fake.wait_reply(message["id"], timeout=20)
    assert reply["message_reference"]["message_id"] == message["id"]
    assert "**The meeting included Dmitriev" in plain(embed(reply)["description"])
    payload = next(m["payload"] for m in harness.fake.messages if m.get("id") == reply["id"])
    assert payload["allowed_mentions"]["parse"] == []
    assert payload["allowed_mentions"].get("replied_user") is False


async def test_mention_in_a_thread(harness: Harness) -> None:
    """Mentions work in threads too."""
    message = await harness.fake.post_message(
        "who chaired the grain corridors round?",
        guild_id=GUILD_A,
        channel_id=THREAD_A,
        author_id=harness.user(),
    )
    reply = await harness.fake.wait_reply(message["id"], timeout=20)
    assert reply["channel_id"] == str(THREAD_A)
    # Guild B's grain article is not visible in guild A.
    assert "Charlie Delta" not in str(reply)


async def test_guilds_see_only_global_and_their_own_sources(harness: Harness) -> None:
    """Each guild's articles answer in that guild only; global ones answer in both."""
    _, in_a = await ask(
        harness, "who mediated the Geneva round?", user=harness.user(), guild=GUILD_A
    )
    _, in_b = await ask(
        harness, "who mediated the Geneva round?", user=harness.user(GUILD_B), guild=GUILD_B
    )
    assert "Alpha Bravo" in str(in_a) and "Charlie Delta" not in str(in_a)
    assert "Charlie Delta" in str(in_b) and "Alpha Bravo" not in str(in_b)
    _, b_hostile = await ask(harness, "zebra delegation", user=harness.user(GUILD_B), guild=GUILD_B)
    assert "zebra" not in str([e.get("description") for e in b_hostile.get("embeds") or []])


async def test_passage_text_cannot_ping_or_spoof_links(harness: Harness) -> None:
    """@everyone, user and role mentions and masked links in a passage are inert."""
    _, message = await ask(harness, "zebra delegation talks", user=harness.user())
    description = embed(message)["description"]
    assert "zebra" in description
    assert "@everyone" not in description
    assert "<@123456>" not in description and "<@&654321>" not in description
    assert "[click here](" not in description
    assert "**loud**" not in description


async def test_cooldown_is_polite_and_private(harness: Harness) -> None:
    """The sixth question in a minute gets a private 'please wait', not an answer."""
    user = harness.user()
    for _ in range(5):
        await ask(harness, "Dmitriev", user=user)
    it, message = await ask(harness, "Dmitriev", user=user)
    assert it.responses[0]["type"] == 4 and it.ephemeral
    assert "Please wait" in message["content"]


# --- sources -----------------------------------------------------------------------------


async def test_non_admin_cannot_add_even_when_discord_shows_the_command(
    harness: Harness,
) -> None:
    """A guild lets everyone see /source; the bot still refuses a member without rights."""
    harness.fake.show_command_to_everyone(GUILD_A, "source")
    before = len(harness.web.requests)
    harness.web.route(
        "/never.html", (FIXTURES / "agency-article.html").read_bytes(), content_type="text/html"
    )
    it = await harness.fake.slash(
        "source add",
        {"url": harness.web.url("/never.html")},
        guild_id=GUILD_A,
        user_id=harness.user(),
    )
    message = await it.wait_message()
    assert it.ephemeral and "Manage Server" in message["content"]
    assert len(harness.web.requests) == before  # nothing was fetched
    listing = await harness.fake.slash("source list", guild_id=GUILD_A, user_id=harness.user())
    assert "Manage Server" in (await listing.wait_message())["content"]


async def test_admin_adds_a_url_and_a_duplicate_is_named(harness: Harness) -> None:
    """An admin adds an article from a URL; adding it again says it is already indexed."""
    harness.web.route(
        "/story.html", (FIXTURES / "agency-article.html").read_bytes(), content_type="text/html"
    )
    url = harness.web.url("/story.html")
    it = await harness.fake.slash("source add", {"url": url}, guild_id=GUILD_B, user_id=ADMIN)
    await it.wait_response()
    assert it.responses[0]["type"] == 5 and it.ephemeral
    await harness.fake.wait_for(
        lambda: "Added" in (it.original or {}).get("content", ""), timeout=20
    )
    assert "passages)" in it.original["content"]
    again = await harness.fake.slash("source add", {"url": url}, guild_id=GUILD_B, user_id=ADMIN)
    await harness.fake.wait_for(
        lambda: "already indexed" in (again.original or {}).get("content", ""), timeout=20
    )


async def test_unreachable_url_is_a_clear_error(harness: Harness) -> None:
    """A URL that answers 404 ends with an error naming the URL and the status."""
    harness.web.route("/gone.html", b"no", status=404)
    url = harness.web.url("/gone.html")
    it = await harness.fake.slash("source add", {"url": url}, guild_id=GUILD_B, user_id=ADMIN)
    await harness.fake.wait_for(
        lambda: "Could not add" in (it.original or {}).get("content", ""), timeout=20
    )
    assert "404" in it.original["content"]


async def test_admin_role_adds_an_attachment_served_from_loopback(harness: Harness) -> None:
    """A member with the configured role uploads a file; it answers in that guild only."""
    body = article(
        "Oslo back-channel",
        "The Oslo back-channel was run by the Norwegian diplomat Echo Foxtrot, who hosted "
        "both delegations at a farmhouse. " + FILLER,
    ).encode()
    attachment = harness.fake.add_attachment("oslo.txt", body, "text/plain")
    harness.fake.show_command_to_everyone(GUILD_A, "source")  # the role has no Manage Server
    it = await harness.fake.slash(
        "source add", {"file": attachment}, guild_id=GUILD_A, user_id=ROLE_ADMIN
    )
    await harness.fake.wait_for(
        lambda: "Added" in (it.original or {}).get("content", ""), timeout=20
    )
    assert "Oslo back-channel" in it.original["content"]
    _, in_a = await ask(harness, "who ran the Oslo back-channel?", user=harness.user())
    assert "Echo Foxtrot" in embed(in_a)["description"]
    assert "oslo.txt" not in embed(in_a)["description"] or "Oslo back-channel" in str(in_a)
    _, in_b = await ask(
        harness, "who ran the Oslo back-channel?", user=harness.user(GUILD_B), guild=GUILD_B
    )
    assert "Echo Foxtrot" not in str(in_b)


@pytest.mark.parametrize(
    ("filename", "expected"),
    [("notes.docx", "Unsupported file type"), ("huge.txt", "too large")],
)
async def test_bad_uploads_are_refused_at_once(
    harness: Harness, filename: str, expected: str
) -> None:
    """Wrong type or too large is refused before any download, privately."""
    size = 10_000_001 if filename == "huge.txt" else 10  # the default limit is 10,000,000
    attachment = harness.fake.add_attachment(filename, b"x" * size, "application/octet-stream")
    it = await harness.fake.slash(
        "source add", {"file": attachment}, guild_id=GUILD_A, user_id=ADMIN
    )
    message = await it.wait_message()
    assert it.responses[0]["type"] == 4 and it.ephemeral
    assert expected in message["content"]


async def test_add_needs_exactly_one_of_url_or_file(harness: Harness) -> None:
    """/source add with neither option says what to give."""
    it = await harness.fake.slash("source add", {}, guild_id=GUILD_A, user_id=ADMIN)
    assert "exactly one" in (await it.wait_message())["content"]


async def test_list_and_remove_a_guild_source(harness: Harness) -> None:
    """/source list shows ids and counts; /source remove takes a guild's own source away."""
    lst = await harness.fake.slash("source list", guild_id=GUILD_B, user_id=ADMIN)
    shown = await lst.wait_message()
    assert lst.ephemeral
    e = embed(shown)
    assert "Geneva round on grain corridors" in e["description"]
    assert "Geneva round on prisoner swaps" not in e["description"]
    choices_it = await harness.fake.autocomplete(
        "source remove", {"id": "grain"}, "id", guild_id=GUILD_B, user_id=ADMIN
    )
    await choices_it.wait_response()
    (choice,) = choices_it.autocomplete_choices
    assert f"`{choice['value']}`" in e["description"]
    rm = await harness.fake.slash(
        "source remove", {"id": choice["value"]}, guild_id=GUILD_B, user_id=ADMIN
    )
    assert "Removed source" in (await rm.wait_message())["content"]
    _, after = await ask(
        harness, "grain corridors Charlie Delta", user=harness.user(GUILD_B), guild=GUILD_B
    )
    assert "Charlie Delta" not in str([e.get("description") for e in after.get("embeds") or []])
    # A global source cannot be removed from Discord.
    _, miami = await ask(harness, MIAMI, user=harness.user(GUILD_B), guild=GUILD_B)
    sources = await harness.fake.click(miami, buttons(miami)["Sources"]["custom_id"], user_id=ADMIN)
    global_id = embed(await sources.wait_message())["description"].split("`")[1]
    refused = await harness.fake.slash(
        "source remove", {"id": global_id}, guild_id=GUILD_B, user_id=ADMIN
    )
    assert "no source or feed" in (await refused.wait_message())["content"]


async def test_refresh_reports_unchanged(harness: Harness) -> None:
    """/source refresh re-checks the guild's own sources and says what changed."""
    it = await harness.fake.slash("source refresh", {}, guild_id=GUILD_A, user_id=ADMIN)
    message = await it.wait_message(timeout=30)
    assert it.ephemeral and message["content"].startswith("Refreshed in ")
    assert "0 failed" in message["content"]


# --- help, about -------------------------------------------------------------------------


async def test_help_and_about(harness: Harness) -> None:
    """/help explains the commands; /about counts what this guild searches."""
    help_it = await harness.fake.slash("help", guild_id=GUILD_A, user_id=harness.user())
    help_embed = embed(await help_it.wait_message())
    assert any(f["name"].startswith("/ask") for f in help_embed["fields"])
    about_it = await harness.fake.slash("about", guild_id=GUILD_A, user_id=harness.user())
    fields = {f["name"]: f["value"] for f in embed(await about_it.wait_message())["fields"]}
    assert fields["Version"] and int(fields["Sources"]) >= 3


async def test_every_acknowledgement_was_in_time(harness: Harness) -> None:
    """Across this module's interactions, every first response met Discord's 3 s rule."""
    answered = [it for it in harness.fake.interactions if it.ack_seconds is not None]
    assert len(answered) >= 20
    assert not [
        it
        for it in harness.fake.interactions
        if it.responses and it.responses[0].get("status", 200) >= 400
    ]


# --- floods and server limits -------------------------------------------------------------

# Windows longer than any test run, so what is allowed does not depend on timing: each
# member 5 asks (the default), each guild 30.
LIMITED_CONFIG = """[discord]
cooldown_seconds = 600.0
guild_cooldown_asks = 30
guild_cooldown_seconds = 600.0
"""
FLOOD = 500
OTHERS = 20  # one ask each, spread through the flood; 5 + 20 fits the guild's 30


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def limited(
    tmp_path_factory: pytest.TempPathFactory, web: LoopbackServer
) -> AsyncIterator[Harness]:
    """A second bot, on its own database, with the per-user and per-guild limits above."""
    tmp = tmp_path_factory.mktemp("limited")
    db_url = f"sqlite+aiosqlite:///{tmp / 'briefbot.db'}"
    await seed(db_url)
    config = tmp / "limits.toml"
    config.write_text(LIMITED_CONFIG)
    fake = make_fake()
    add_guilds(fake)
    await fake.start()
    process, log = await start_bot(fake, tmp, db_url, args=("--config", str(config)))
    try:
        yield Harness(fake, process, log, db_url, web)
    finally:
        code = stop_bot(process)
        await fake.close()
    assert code == 0, log.read_text()


def cooldown_reply(it: Interaction) -> str:
    """The text of an immediate private reply that pings no one, or fails the test."""
    assert it.responses[0]["type"] == 4 and it.ephemeral
    data = it.responses[0]["data"]
    assert data["flags"] & 64 and data["allowed_mentions"] == {"parse": []}
    assert (
        not data.get("embeds")
        and "<@" not in data["content"]
        and "@everyone" not in data["content"]
    )
    return data["content"]


def answered(it: Interaction) -> bool:
    """Deferred, then a real answer (the Miami passage), not a note."""
    shown = it.visible_messages
    return it.response_type == 5 and bool(shown) and "Dmitriev" in str(shown[0].get("embeds"))


async def test_a_flood_from_one_member_leaves_the_server_its_answers(limited: Harness) -> None:
    """500 asks from one member: 5 answers, then private pings-nothing 'please wait' notes
    naming their own limit; every interaction is acknowledged, and the 20 members asking
    meanwhile all get real answers (the refused asks cost the guild nothing)."""
    h = limited
    flooder, others = h.user(), [h.user() for _ in range(OTHERS)]
    flood: list[Interaction] = []
    theirs: list[Interaction] = []

    async def send(user: int) -> Interaction:
        return await h.fake.slash("ask", {"question": MIAMI}, guild_id=GUILD_A, user_id=user)

    per_round = FLOOD // OTHERS
    for other in others:  # in rounds, so the fake's 3 s rule measures the bot, not a backlog
        batch = [await send(flooder) for _ in range(per_round // 2)]
        theirs.append(await send(other))
        batch += [await send(flooder) for _ in range(per_round - per_round // 2)]
        flood += batch
        await asyncio.gather(*(it.wait_message(timeout=20) for it in [*batch, theirs[-1]]))

    assert len(flood) == FLOOD
    acknowledged = [it for it in flood + theirs if it.responses and it.response_type in (4, 5)]
    assert len(acknowledged) == FLOOD + OTHERS
    assert all(it.responses[0]["status"] == 200 for it in acknowledged)
    assert sum(answered(it) for it in flood) == 5
    refused = [it for it in flood if it.response_type == 4]
    assert len(refused) == FLOOD - 5
    assert all(
        cooldown_reply(it).startswith("You're asking quickly (your limit: 5 questions per 600 s)")
        for it in refused
    )
    assert sum(answered(it) for it in theirs) == OTHERS


async def test_a_busy_server_gets_a_private_note_naming_its_limit(limited: Harness) -> None:
    """Past the guild's 30 asks, a member who never asked is told it is the server's limit."""
    for _ in range(30):
        it, _ = await ask(limited, MIAMI, user=limited.user(GUILD_B), guild=GUILD_B)
        assert answered(it)
    it, message = await ask(limited, MIAMI, user=limited.user(GUILD_B), guild=GUILD_B)
    text = cooldown_reply(it)
    assert text.startswith("This server is asking a lot right now (its limit: 30 questions")
    assert "Please wait" in message["content"]


# --- restarts and timeouts -----------------------------------------------------------------


async def test_buttons_expire_cleanly_and_survive_restarts(
    tmp_path: Path, web: LoopbackServer
) -> None:
    """After button_seconds the paging buttons are removed; after a restart Delete still
    works and a stale ▶ removes itself with a private note instead of failing. 👍 / 👎
    stay throughout (tests/bot/test_feedback.py clicks them after a restart)."""
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'restart.db'}"
    await seed(db_url)
    config = tmp_path / "briefbot.toml"
    config.write_text("[discord]\nbutton_seconds = 1.5\n")
    async with FakeDiscord(bot_name="briefbot") as fake:
        add_guilds(fake)
        h = Harness(fake, None, tmp_path / "none.log", db_url, web)  # type: ignore[arg-type]
        asker = h.user()
        process, log = await start_bot(fake, tmp_path, db_url, args=("--config", str(config)))
        try:
            _, expiring = await ask(h, MIAMI, user=asker)
            assert {"◀", "▶", "Sources"} <= h.components(expiring["id"])
            lasting = {"Delete", "👍", "👎"}
            await fake.wait_for(lambda: h.components(expiring["id"]) == lasting, timeout=15)
            _, stale = await ask(h, MIAMI, user=asker)
        finally:
            assert stop_bot(process) == 0, log.read_text()
        process, log = await start_bot(fake, tmp_path, db_url)  # default 600 s buttons
        try:
            click = await fake.click(stale, buttons(stale)["▶"]["custom_id"], user_id=asker)
            note = await click.wait_messages(2)
            assert click.responses[0]["type"] == 7
            assert h.components(stale["id"]) == {"Delete", "👍", "👎"}
            assert note[1]["flags"] & 64 and "expired" in note[1]["content"]
            delete = await fake.click(stale, buttons(note[0])["Delete"]["custom_id"], user_id=asker)
            await fake.wait_for(lambda: fake.message(stale["id"]) is None, timeout=10)
            assert delete.responses[0]["type"] == 6
            assert fake.violations == []
        finally:
            assert stop_bot(process) == 0, log.read_text()


async def test_run_without_a_token_says_how_to_set_one(tmp_path: Path) -> None:
    """No token: one error line naming the variable, exit status 1, nothing started."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIEFBOT_")}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--db", f"sqlite+aiosqlite:///{tmp_path}/x.db", "run"],
        cwd=tmp_path,
        env=env | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: no Discord bot token")
    assert "BRIEFBOT_DISCORD_TOKEN" in result.stderr


async def test_the_bot_log_never_holds_the_token(harness: Harness) -> None:
    """After every test above, the bot's whole log is free of its token."""
    assert harness.fake.token not in harness.bot_log()


# --- admin rights and guild isolation, command by command ---------------------------------

KESTREL = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Kestrel ferry talks | Kestrel Gazette</title>
<meta property="og:title" content="Kestrel ferry talks">
<meta property="og:site_name" content="Kestrel Gazette">
</head><body><main><article><h1>Kestrel ferry talks</h1>
<p>The Kestrel ferry talks between the island council and the operator were chaired by the
mediator India Juliet, who asked both delegations to return after the holiday.</p>
<p>{FILLER}</p><p>{FILLER} The crews want a new timetable.</p>
</article></main></body></html>"""


async def owned(h: Harness, guild: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The sources and feeds a guild owns (id → stored record), read beside the running bot."""
    async with await Library.open(Settings(database_url=h.db_url)) as library:
        sources = {s.id: s for s in await library.sources(str(guild)) if s.guild == str(guild)}
        feeds = {f.id: f for f in await library.feeds(str(guild)) if f.guild == str(guild)}
    return sources, feeds


@dataclass(frozen=True)
class GuildAIds:
    article: str  # an uploaded article of guild A
    feed: str  # a feed guild A subscribed to
    entry: str  # the article that feed brought in


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def guild_a(harness: Harness) -> GuildAIds:
    """Guild A's admin subscribes to a feed through the bot; the exact ids guild B will try."""
    web = harness.web
    web.route("/kestrel.html", KESTREL, content_type="text/html")
    feed_url = web.url("/kestrel.xml")
    web.route(
        "/kestrel.xml",
        "<?xml version='1.0'?><rss version='2.0'><channel><title>Kestrel Gazette</title>"
        f"<link>{web.url('/')}</link><item><title>Kestrel ferry talks</title>"
        f"<link>{web.url('/kestrel.html')}</link></item></channel></rss>",
        content_type="application/rss+xml",
    )
    it = await harness.fake.slash("source add", {"url": feed_url}, guild_id=GUILD_A, user_id=ADMIN)
    await harness.fake.wait_for(
        lambda: "Added" in (it.original or {}).get("content", ""), timeout=30
    )
    sources, feeds = await owned(harness, GUILD_A)
    (feed,) = [f for f in feeds.values() if f.url == feed_url]
    (entry,) = [s for s in sources.values() if s.feed_id == feed.id]
    (seeded,) = [s for s in sources.values() if s.ref == "seed/A.txt"]
    return GuildAIds(article=seeded.id, feed=feed.id, entry=entry.id)


def _admin_commands(ids: GuildAIds, h: Harness) -> list[tuple[str, dict[str, Any]]]:
    attachment = h.fake.add_attachment("sneaky.txt", b"Sneaky text. " * 20, "text/plain")
    return [
        ("source add", {"url": h.web.url("/kestrel.html")}),
        ("source add", {"file": attachment}),
        ("source list", {}),
        ("source remove", {"id": ids.article}),
        ("source remove", {"id": ids.feed}),
        ("source refresh", {"id": ids.feed}),
        ("source refresh", {}),
    ]


async def test_a_non_admin_is_refused_every_source_command(
    harness: Harness, guild_a: GuildAIds
) -> None:
    """With /source shown to everyone, each subcommand (own ids included) is refused privately
    by the bot and changes nothing: no fetch, no source or feed added or removed."""
    harness.fake.show_command_to_everyone(GUILD_A, "source")
    member = harness.user(GUILD_A)
    before, fetched = await owned(harness, GUILD_A), len(harness.web.requests)
    commands = _admin_commands(guild_a, harness)
    for name, options in commands:
        it = await harness.fake.slash(name, options, guild_id=GUILD_A, user_id=member)
        message = await it.wait_message()
        assert it.responses[0]["type"] == 4 and it.ephemeral, name
        assert message["content"] == (
            "Only members with Manage Server or the `Editors` role can manage sources."
        ), (name, options)
    assert {c for c, _ in commands} == {
        "source add",
        "source list",
        "source remove",
        "source refresh",
    }
    assert len(harness.web.requests) == fetched
    assert await owned(harness, GUILD_A) == before


@pytest.mark.parametrize("command", ["source remove", "source refresh"])
async def test_admin_command_autocomplete_offers_a_non_admin_nothing(
    harness: Harness, guild_a: GuildAIds, command: str
) -> None:
    """Typing into `id` lists the guild's sources for its admins only (autocomplete skips the
    command's own check, so it checks by itself)."""
    harness.fake.show_command_to_everyone(GUILD_A, "source")
    for text in ("", "kestrel", guild_a.feed):
        admin = await harness.fake.autocomplete(
            command, {"id": text}, "id", guild_id=GUILD_A, user_id=ADMIN
        )
        await admin.wait_response()
        assert admin.autocomplete_choices, text
        member = await harness.fake.autocomplete(
            command, {"id": text}, "id", guild_id=GUILD_A, user_id=harness.user(GUILD_A)
        )
        await member.wait_response()
        assert member.autocomplete_choices == [], text


@pytest.mark.parametrize("command", ["source remove", "source refresh"])
@pytest.mark.parametrize("which", ["article", "feed", "entry"])
async def test_another_guilds_exact_id_is_not_found(
    harness: Harness, guild_a: GuildAIds, command: str, which: str
) -> None:
    """Guild B's admin naming guild A's source or feed by its exact id gets "not found";
    guild A's sources and feeds stay as they were and nothing is fetched."""
    target = getattr(guild_a, which)
    admin_b = harness.user(GUILD_B, permissions=MANAGE_GUILD)
    before, fetched = await owned(harness, GUILD_A), len(harness.web.requests)
    it = await harness.fake.slash(command, {"id": target}, guild_id=GUILD_B, user_id=admin_b)
    message = await it.wait_message(timeout=20)
    assert it.ephemeral
    assert message["content"].startswith(f"This server has no source or feed `{target}`")
    assert len(harness.web.requests) == fetched
    assert await owned(harness, GUILD_A) == before
    _, in_a = await ask(harness, "who chaired the Kestrel ferry talks?", user=harness.user())
    assert "India Juliet" in embed(in_a)["description"]


@pytest.mark.parametrize("which", ["article", "entry"])
async def test_another_guilds_exact_id_is_no_ask_source(
    harness: Harness, guild_a: GuildAIds, which: str
) -> None:
    """/ask source:<guild A's exact id> in guild B is an unknown source, not a way in."""
    target = getattr(guild_a, which)
    it, message = await ask(
        harness,
        "ferry talks prisoner swaps",
        user=harness.user(GUILD_B),
        guild=GUILD_B,
        source=target,
    )
    note = await private_note(it, message)
    assert f"no source or publisher '{target}' here" in note["content"]


@pytest.mark.parametrize(
    ("command", "option", "options"),
    [
        ("source remove", "id", {}),
        ("source refresh", "id", {}),
        ("ask", "source", {"question": "talks"}),
    ],
)
async def test_autocomplete_never_offers_another_guilds_sources(
    harness: Harness, guild_a: GuildAIds, command: str, option: str, options: dict[str, Any]
) -> None:
    """Guild B's admin typing guild A's ids, titles or publishers is offered none of them."""
    theirs = {guild_a.article, guild_a.feed, guild_a.entry}
    admin_b = harness.user(GUILD_B, permissions=MANAGE_GUILD)
    for text in (*sorted(theirs), "kestrel", "prisoner swaps", ""):
        it = await harness.fake.autocomplete(
            command, {**options, option: text}, option, guild_id=GUILD_B, user_id=admin_b
        )
        await it.wait_response()
        offered = {c["value"] for c in it.autocomplete_choices}
        assert not offered & theirs, text
        assert "Kestrel Gazette" not in offered, text
