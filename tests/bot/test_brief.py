"""/brief end to end: `briefbot run` against the fake Discord, and `briefbot brief` as a
subprocess, on a database of articles dated relative to today."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot import embeds
from index import Library, Settings
from index.types import Brief, Hit, SourceInfo, Story
from tests.bot.test_discord import GUILD_A, GUILD_B, add_guilds, make_fake, start_bot, stop_bot
from tests.fakediscord import FakeDiscord, Interaction
from tests.fakediscord.limits import check_embeds
from tests.index.test_answer_features import record
from tests.index.test_brief import day

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROOT = Path(__file__).resolve().parents[2]
TODAY = datetime.now(UTC).date()
_next_user = iter(range(1300000000000002000, 1300000000000003000))

WIRE = [
    "The meeting in Miami included Kirill Dmitriev, special envoy Steve Witkoff and Jared "
    "Kushner, who discussed the twenty point peace plan for several hours behind closed "
    "doors on Saturday, according to two officials briefed on the talks.",
    "Dmitriev told reporters after the session that the conversation had been constructive "
    "and that both sides agreed to meet again before the end of the month in Florida.",
]
OUTLETS = 12  # one wire story, carried by this many outlets
KYIV = (
    "Officials in Kyiv said President Zelenskyy would study the peace plan carefully before "
    "giving any answer, and that his cabinet met late into the night to weigh the security "
    "guarantees the draft offers in exchange for territorial concessions."
)
ENERGY = (
    "Power engineers restored electricity to most of Kharkiv overnight after drone strikes "
    "hit two substations, the regional governor said, adding that hospitals ran on backup "
    "generators for nine hours while crews worked in freezing rain."
)
GRAIN = (
    "Negotiators in Istanbul agreed a grain corridor through the Black Sea shipping lanes, "
    "with Turkish naval escorts for freighters leaving Odesa and inspections of every cargo "
    "at a joint centre on the Bosphorus before the ships sail on."
)
GENEVA = (
    "The Geneva round on prisoner swaps brought the Swiss mediator Alpha Bravo to the table "
    "with both delegations, who agreed to exchange lists of detainees and to let the Red "
    "Cross visit camps on both sides of the line."
)
SECRET = (
    "The Geneva round on grain corridors was chaired by the Turkish envoy Charlie Delta, who "
    "met both delegations separately and proposed a monitoring mission staffed by observers "
    "from three neutral countries."
)
HOSTILE = (
    "The zebra delegation @everyone <@123456> <@&654321> [click here](https://evil.example) "
    "**loud** said the zebra talks would resume after a pause, with observers from four "
    "countries invited to sit in on the sessions and report back."
)


def overflow(n: int, copy: int) -> list[str]:
    """~150 words of markup-heavy text (escaping nearly doubles it) about an overflow;
    each outlet's copy starts with its own word, so it is stored as its own article."""
    words = " ".join(f"*cascade_{n}_{i}* [overflow]" for i in range(70))
    return [f"Copy{copy}: overflow report {n}: {words}."]


LONG_TITLE = "A very long headline about the overflow cascade " * 5


GLOBAL = [
    record(
        f"wire-{i}",
        f"Envoys meet in Miami ({i})",
        [f"Outlet{i} — " + WIRE[0], WIRE[1]],
        f"Outlet {i:02d}",
        day(0 if i == 0 else -1),
    )
    for i in range(OUTLETS)
] + [
    record("kyiv", "Kyiv weighs the plan", [KYIV], "Kyiv Daily", day(-2)),
    record("energy", "Kharkiv power restored", [ENERGY], "Kyiv Daily", day(-3)),
    record("grain", "Grain corridor agreed", [GRAIN], "Sea News", day(-40)),
]
GUILD_A_RECORDS = [
    record("geneva", "Geneva prisoner swaps", [GENEVA], "Alpine Wire", day(-1)),
    record("hostile", "Hostile markup", [HOSTILE], "Zebra Post", day(-1)),
]
# Guild B: its own story, and five overflow stories each carried by three outlets, with
# long titles and links, to fill an embed past every limit if it were not budgeted.
GUILD_B_RECORDS = [
    record("secret", "Geneva grain corridors", [SECRET], "Bravo Desk", day(0)),
] + [
    {
        **record(
            f"over-{n}-{copy}",
            f"{LONG_TITLE}{n}",
            overflow(n, copy),
            f"Long Outlet {copy}",
            day(-6),
        ),
        "url": f"https://news.example/{'x' * 300}/{n}/{copy}",
    }
    for n in range(5)
    for copy in range(3)
]


def write_jsonl(path: Path, records: list[dict]) -> str:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return str(path)


async def seed(db_url: str, tmp: Path) -> None:
    async with await Library.open(Settings(database_url=db_url)) as library:
        for name, records, guild in (
            ("global", GLOBAL, None),
            ("a", GUILD_A_RECORDS, str(GUILD_A)),
            ("b", GUILD_B_RECORDS, str(GUILD_B)),
        ):
            report = await library.ingest(
                [write_jsonl(tmp / f"{name}.jsonl", records)], guild=guild
            )
            assert len(report.added) == len(records) and not report.failed, report


# Members may ask 5 times in 10 minutes (longer than the module runs, so the cooldown test
# does not depend on timing); the guilds have room for every test here.
CONFIG = """[discord]
cooldown_seconds = 600.0
guild_cooldown_asks = 1000
guild_cooldown_seconds = 600.0
"""


@dataclass
class Harness:
    fake: FakeDiscord
    process: subprocess.Popen[bytes]
    log: Path
    db_url: str

    def user(self, *guilds: int) -> int:
        uid = next(_next_user)
        for guild in guilds or (GUILD_A,):
            self.fake.add_member(guild, uid, f"reader{uid % 1000}")
        return uid


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def harness(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Harness]:
    tmp = tmp_path_factory.mktemp("brief")
    db_url = f"sqlite+aiosqlite:///{tmp / 'briefbot.db'}"
    await seed(db_url, tmp)
    config = tmp / "brief.toml"
    config.write_text(CONFIG)
    fake = make_fake()
    add_guilds(fake)
    await fake.start()
    process, log = await start_bot(fake, tmp, db_url, args=("--config", str(config)))
    try:
        yield Harness(fake, process, log, db_url)
    finally:
        code = stop_bot(process)
        await fake.close()
    assert code == 0, log.read_text()


@pytest.fixture(autouse=True)
def no_violations(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every bot test ends with the fake having seen nothing Discord would refuse."""
    if "harness" not in request.fixturenames:
        yield
        return
    h: Harness = request.getfixturevalue("harness")
    h.fake.violations.clear()
    yield
    assert h.fake.violations == [], "\n".join(h.fake.violations) + "\n" + h.log.read_text()[-3000:]


async def brief(
    h: Harness, *, user: int, guild: int = GUILD_A, **options: Any
) -> tuple[Interaction, dict[str, Any]]:
    it = await h.fake.slash("brief", options, guild_id=guild, user_id=user)
    return it, await it.wait_message(timeout=20)


def embed(message: dict[str, Any]) -> dict[str, Any]:
    assert message.get("embeds"), message
    return message["embeds"][0]


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        c.get("label"): c
        for row in message.get("components") or []
        for c in row.get("components", [])
    }


def blocks(description: str) -> list[str]:
    """The description's story blocks, in order."""
    return [b for b in re.split(r"\n\n(?=\*\*\d+\.\*\* )", description) if b.startswith("**")]


async def private_note(it: Interaction, message: dict[str, Any]) -> dict[str, Any]:
    """The private note that replaced the public "thinking…" deferral."""
    if message.get("flags", 0) & 64 == 0:
        message = (await it.wait_messages(1))[0]
    assert message["flags"] & 64 and not message.get("embeds")
    assert it.original is None or it.original["flags"] & 64
    return message


def sent_payload(h: Harness, it: Interaction) -> dict[str, Any]:
    """What the bot sent for the interaction's visible answer (its follow-up payload)."""
    sent = [m for m in h.fake.messages if m["interaction_id"] == it.id and m["kind"] == "followup"]
    assert sent, h.fake.messages[-3:]
    return sent[-1]["payload"]


# --- the command -------------------------------------------------------------------------


async def test_brief_is_synced_with_topic_since_and_source(harness: Harness) -> None:
    """/brief reaches both dev guilds; its options are optional strings, source autocompletes."""
    for guild in (GUILD_A, GUILD_B):
        commands = {c["name"]: c for c in harness.fake.commands(guild)}
        options = {o["name"]: o for o in commands["brief"]["options"]}
        assert set(options) == {"topic", "since", "source"}
        assert all(o["type"] == 3 and not o.get("required") for o in options.values())
        assert options["source"]["autocomplete"] is True
        assert all(o["description"] for o in options.values())


async def test_latest_stories_newest_first_one_per_wire_story(harness: Harness) -> None:
    """No topic: deferred, then the newest stories first; 12 outlets' copies are one story."""
    it, message = await brief(harness, user=harness.user())
    assert it.responses[0]["type"] == 5 and it.ack_seconds is not None and it.ack_seconds < 3
    assert not it.ephemeral
    e = embed(message)
    assert e["title"] == f"Since {day(-7)}: the latest stories"
    shown = blocks(e["description"])
    assert len(shown) == 5
    days = [b.split(" · ", 1)[0].split("** ", 1)[1] for b in shown]
    assert days == sorted(days, reverse=True) and days[0] == day(0)
    assert shown[0].startswith(f"**1.** {day(0)} · Outlet0 — The meeting in Miami")
    assert "[1] **Outlet 00** — " in shown[0] and "[2] **Outlet " in shown[0]
    assert sum("Miami" in b for b in shown) == 1  # the copies are not repeated
    assert "Alpha Bravo" in e["description"] and "Zelenskyy" in e["description"]
    assert "Istanbul" not in e["description"]  # 40 days old: before the default week
    assert e["footer"]["text"].startswith("5 stories, newest first, from ")
    assert set(buttons(message)) == {"Sources", "Delete"}
    assert sent_payload(harness, it)["allowed_mentions"] == {"parse": []}


async def test_sources_lists_every_outlet_of_a_folded_story(harness: Harness) -> None:
    """Sources shows each outlet of the wire story, numbered as in the brief."""
    _, message = await brief(harness, user=harness.user())
    click = await harness.fake.click(
        message, buttons(message)["Sources"]["custom_id"], user_id=harness.user()
    )
    shown = embed(await click.wait_message())
    assert click.ephemeral
    for i in range(OUTLETS):
        assert f"**Outlet {i:02d}**" in shown["description"]


async def test_topic_brief_holds_only_stories_about_it(harness: Harness) -> None:
    """topic: the matching story, its best sentence bold, the topic's words underlined."""
    _, message = await brief(harness, user=harness.user(), topic="Zelenskyy security guarantees")
    e = embed(message)
    assert e["title"] == f"Since {day(-7)}: Zelenskyy security guarantees"
    shown = blocks(e["description"])
    assert len(shown) == 1 and shown[0].startswith(f"**1.** {day(-2)} · **Officials in Kyiv")
    assert "__Zelenskyy__" in shown[0]
    assert "[1] **Kyiv Daily** — [Kyiv weighs the plan](https://news.example/kyiv)" in shown[0]
    assert e["footer"]["text"].startswith("1 story, newest first")


async def test_since_reaches_further_back(harness: Harness) -> None:
    """since:60d brings the 40-day-old grain story in, last (newest first)."""
    _, message = await brief(harness, user=harness.user(), topic="grain corridor", since="60d")
    shown = blocks(embed(message)["description"])
    assert "Istanbul" in shown[-1]


async def test_a_guild_never_sees_another_guilds_stories(harness: Harness) -> None:
    """Guild B's brief holds its own story and global ones; guild A's never shows it."""
    _, in_b = await brief(harness, user=harness.user(GUILD_B), guild=GUILD_B)
    _, in_a = await brief(harness, user=harness.user(), since="30d")
    assert "Charlie Delta" in str(in_b) and "Alpha Bravo" not in str(in_b)
    assert "zebra" not in str(in_b)
    assert "Charlie Delta" not in str(in_a) and "Overflow" not in str(in_a)


async def test_source_autocomplete_and_filter_as_for_ask(harness: Harness) -> None:
    """source: autocomplete offers the guild's publishers; picking one briefs on them only."""
    user = harness.user()
    it = await harness.fake.autocomplete(
        "brief", {"source": "kyiv"}, "source", guild_id=GUILD_A, user_id=user
    )
    await it.wait_response()
    choices = it.autocomplete_choices
    assert choices[0] == {"name": "All of Kyiv Daily (2 articles)", "value": "Kyiv Daily"}
    _, message = await brief(harness, user=user, source=choices[0]["value"])
    description = embed(message)["description"]
    assert len(blocks(description)) == 2
    assert "Zelenskyy" in description and "Kharkiv" in description and "Miami" not in description
    other = await harness.fake.autocomplete(
        "brief", {"source": "bravo"}, "source", guild_id=GUILD_A, user_id=user
    )
    await other.wait_response()
    assert other.autocomplete_choices == []  # guild B's publisher


async def test_passage_text_cannot_ping_or_spoof_links(harness: Harness) -> None:
    """@everyone, mentions, masked links and markup in a passage are inert."""
    _, message = await brief(harness, user=harness.user(), topic="zebra delegation")
    description = embed(message)["description"]
    assert "zebra" in description
    assert "@everyone" not in description
    assert "<@123456>" not in description and "<@&654321>" not in description
    assert "[click here](" not in description and "**loud**" not in description


async def test_a_full_brief_fits_discords_limits(harness: Harness) -> None:
    """Five long, markup-heavy stories with three outlets each fit every embed limit."""
    it, message = await brief(
        harness, user=harness.user(GUILD_B), guild=GUILD_B, topic="overflow cascade"
    )
    e = embed(message)
    assert check_embeds([e]) == []
    total = len(e["title"]) + len(e["description"]) + len(e["footer"]["text"])
    assert len(e["description"]) <= 4096 and total <= 6000
    shown = blocks(e["description"])
    assert len(shown) == 5
    assert all("**Long Outlet " in b for b in shown)  # every story keeps its citation
    assert sent_payload(harness, it)["allowed_mentions"] == {"parse": []}


async def test_nothing_since_the_day_is_a_private_hint(harness: Harness) -> None:
    """since: a day after every article gets a private note saying how to widen it."""
    it, message = await brief(harness, user=harness.user(), since="2999-01-01")
    note = await private_note(it, message)
    assert "No article was published or added since 2999-01-01" in note["content"]
    assert "`since`" in note["content"]


async def test_a_topic_matching_nothing_is_a_private_hint(harness: Harness) -> None:
    """A topic no story is about gets a private note, not an empty embed."""
    it, message = await brief(harness, user=harness.user(), topic="xylophone quasar")
    note = await private_note(it, message)
    assert "is about “xylophone quasar”" in note["content"]


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"since": "7x"}, "since: '7x' is not a date"),
        ({"source": "nope"}, "no source or publisher 'nope' here"),
    ],
)
async def test_a_bad_option_is_a_private_one_line_error(
    harness: Harness, options: dict[str, str], needle: str
) -> None:
    """An invalid since or an unknown source is refused privately, in one line."""
    it, message = await brief(harness, user=harness.user(), **options)
    note = await private_note(it, message)
    assert note["content"].startswith(needle) and "\n" not in note["content"]


async def test_briefs_and_questions_share_one_cooldown(harness: Harness) -> None:
    """A member's /ask and /brief count against one allowance: the sixth is a private wait."""
    user = harness.user()
    for _ in range(3):
        await brief(harness, user=user)
    for _ in range(2):
        it = await harness.fake.slash(
            "ask", {"question": "Dmitriev"}, guild_id=GUILD_A, user_id=user
        )
        await it.wait_message(timeout=20)
    it, message = await brief(harness, user=user)
    assert it.responses[0]["type"] == 4 and it.ephemeral
    assert "Please wait" in message["content"]
    assert it.responses[0]["data"]["allowed_mentions"] == {"parse": []}


async def test_the_asker_can_delete_a_brief(harness: Harness) -> None:
    """Delete removes a public brief for its asker."""
    asker = harness.user()
    _, message = await brief(harness, user=asker)
    await harness.fake.click(message, buttons(message)["Delete"]["custom_id"], user_id=asker)
    await harness.fake.wait_for(lambda: harness.fake.message(message["id"]) is None, timeout=10)


async def test_help_names_brief(harness: Harness) -> None:
    """/help has a /brief entry."""
    it = await harness.fake.slash("help", guild_id=GUILD_A, user_id=harness.user())
    fields = embed(await it.wait_message())["fields"]
    assert any(f["name"].startswith("/brief") for f in fields)


# --- a restart -----------------------------------------------------------------------------


async def test_a_brief_owed_when_the_bot_died_is_posted_by_the_next_one(tmp_path: Path) -> None:
    """Deferred, recorded, killed before the follow-up: the restarted bot posts the brief."""
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'briefbot.db'}"
    await seed(db_url, tmp_path)
    fake = make_fake()
    add_guilds(fake)
    user = next(_next_user)
    fake.add_member(GUILD_A, user, "reader")
    await fake.start()
    try:
        process, _ = await start_bot(fake, tmp_path, db_url)
        try:
            fake.rate_limit_next("POST", "/webhooks/", retry_after=600)  # the brief waits
            it = await fake.slash("brief", {}, guild_id=GUILD_A, user_id=user)
            await it.wait_response()
            for _ in range(600):
                if fake.rate_limited and pending(tmp_path):
                    break
                await asyncio.sleep(0.05)
            assert pending(tmp_path) == [f"brief:{it.id}"]
        finally:
            process.kill()
            process.wait()
        assert not it.followups
        process, log = await start_bot(fake, tmp_path, db_url)
        try:
            message = await it.wait_message(timeout=30)
            assert "Outlet0 — The meeting in Miami" in str(message.get("embeds")), message
            for _ in range(200):
                if not pending(tmp_path):
                    break
                await asyncio.sleep(0.05)
            assert pending(tmp_path) == []
        finally:
            assert stop_bot(process) == 0, log.read_text()
        assert "answered brief:" in log.read_text()
        assert fake.violations == [], fake.violations
    finally:
        await fake.close()


def pending(tmp: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(tmp / "briefbot.db") as conn:
        return [row[0] for row in conn.execute("SELECT key FROM pending")]


# --- the command line ------------------------------------------------------------------------


async def cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`briefbot --db URL ARGS…` in a subprocess (in a thread: the event loop keeps going)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIEFBOT_")}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot.cli", "--db", db_url, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def seeded(tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp = tmp_path_factory.mktemp("brief-cli")
    db_url = f"sqlite+aiosqlite:///{tmp / 'briefbot.db'}"
    await seed(db_url, tmp)
    return db_url


async def test_cli_json_has_the_documented_shape(seeded: str) -> None:
    """`brief --json`: topic, since, articles, stories with their source and outlets."""
    result = await cli(seeded, "brief", "--json", "--guild", str(GUILD_A))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) == {"topic", "since", "articles", "stories"}
    assert out["topic"] is None and out["since"] == day(-7)
    first = out["stories"][0]
    assert set(first) == {"rank", "day", "relevance", "passage_id", "text", "source", "also"}
    assert first["rank"] == 1 and first["day"] == day(0) and first["relevance"] is None
    assert set(first["source"]) == {"id", "ref", "title", "url", "publisher", "published"}
    assert first["source"]["publisher"] == "Outlet 00"
    assert sorted(o["publisher"] for o in first["also"]) == [
        f"Outlet {i:02d}" for i in range(1, OUTLETS)
    ]
    days = [s["day"] for s in out["stories"]]
    assert days == sorted(days, reverse=True) and len(days) == 5


async def test_cli_topic_since_source_and_k(seeded: str) -> None:
    """A topic, an older --since, a publisher and -k narrow the stories as asked."""
    result = await cli(
        seeded, "brief", "peace plan", "--since", "30d", "--source", "kyiv daily", "--json"
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert [s["source"]["ref"] for s in out["stories"]] == ["kyiv"]
    assert out["stories"][0]["relevance"] == 1
    two = json.loads((await cli(seeded, "brief", "-k", "2", "--json")).stdout)
    assert len(two["stories"]) == 2


async def test_cli_human_output_cites_every_outlet(seeded: str) -> None:
    """Human output: a heading, each story's day, passage and numbered citations."""
    result = await cli(seeded, "brief", "Miami envoys")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"1 story on 'Miami envoys' since {day(-7)}, newest first")
    assert f"1. {day(0)}" in lines
    assert any(line.startswith("   **") and "Miami" in line for line in lines)
    cites = [line for line in lines if line.startswith("   [")]
    assert len(cites) == OUTLETS
    assert cites[0] == (
        f"   [1] Outlet 00 — Envoys meet in Miami (0) ({day(0)}) https://news.example/wire-0"
    )


async def test_cli_empty_brief_says_what_to_try(seeded: str) -> None:
    """Nothing since the day: one line suggesting an earlier --since, exit 0."""
    result = await cli(seeded, "brief", "--since", "2999-01-01")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("No article was published or added since 2999-01-01")


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("--since", "soon"), 2, "Invalid value for --since"),
        (("--source", "nope"), 1, "error: no source or publisher 'nope' here"),
    ],
)
async def test_cli_bad_options_fail_cleanly(
    seeded: str, args: tuple[str, ...], code: int, needle: str
):
    """A bad --since is a usage error (2); an unknown --source one error line (1)."""
    result = await cli(seeded, "brief", *args)
    assert result.returncode == code and needle in result.stderr
    assert "Traceback" not in result.stderr


# --- rendering, without a client -----------------------------------------------------------


def _source(n: int, *, long: bool = False) -> SourceInfo:
    return SourceInfo(
        id=f"{n:012x}",
        ref=f"ref-{n}",
        title=("Headline *with* _markup_ [and] <@1> " * 10 if long else f"Story {n}"),
        url=f"https://news.example/{'p' * (400 if long else 1)}/{n}",
        publisher=f"Outlet **{n}** @everyone" if long else f"Outlet {n}",
        published=TODAY,
        guild=None,
        passages=1,
        added_at=datetime.now(UTC),
    )


def _brief(stories: int, outlets: int, text: str) -> Brief:
    return Brief(
        topic="a topic *in* markup @everyone",
        since=TODAY,
        stories=tuple(
            Story(
                rank=i,
                day=TODAY,
                hit=Hit(
                    rank=i,
                    score=1.0,
                    passage_id=str(i),
                    text=text,
                    source=_source(i * 100, long=True),
                    best_sentence=(0, min(len(text), 300)),
                    highlights=((0, 4),),
                    also=tuple(_source(i * 100 + j, long=True) for j in range(1, outlets)),
                ),
                relevance=i,
            )
            for i in range(1, stories + 1)
        ),
        articles=stories * outlets,
        visible=stories * outlets,
    )


@pytest.mark.parametrize(
    ("stories", "outlets", "text"),
    [
        (5, 40, "*_[`|#> " * 1500),  # escaping doubles nearly every character
        (5, 1, "word " * 3000),
        (1, 200, "@everyone <@123> [x](https://evil.example) " * 100),
    ],
)
async def test_brief_embed_fits_every_limit(stories: int, outlets: int, text: str) -> None:
    """Huge passages, hundreds of outlets and markup everywhere still fit Discord's limits,
    and every story keeps its passage and its first citation."""
    rendered = embeds.brief_embed(_brief(stories, outlets, text)).to_dict()
    assert check_embeds([rendered]) == []
    found = blocks(rendered["description"])
    assert len(found) == stories
    assert all("\n[" in block for block in found)
    assert "@everyone" not in json.dumps(rendered)


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"visible": 0}, "no sources to brief from here yet"),
        ({"visible": 3, "articles": 0}, "No article was published or added since"),
        ({"visible": 3, "articles": 0, "source": "ANI"}, "or another `source`"),
        ({"visible": 3, "articles": 2, "topic": "x"}, "No story among the 2 articles since"),
        (
            {"visible": 3, "articles": 2, "topic": "witkof", "suggestion": "Witkoff"},
            "Did you mean “Witkoff”?",
        ),
    ],
)
async def test_an_empty_brief_says_what_to_widen(fields: dict[str, Any], needle: str) -> None:
    """Each way a brief can come back empty has its own hint."""
    empty = Brief(**{"topic": None, "since": TODAY, "stories": (), **fields})
    assert needle in embeds.brief_no_match_text(empty)
