"""👍 / 👎, hiding and /stats end to end: `briefbot run` against the fake Discord.

Each behaviour gets its own guild (or its own question), so votes never leak between
tests; what the bot stored is read beside it with a second `Library` on the database.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select

from index import Library, Settings, store
from tests.bot.test_cli import Briefbot
from tests.bot.test_discord import (
    ADMIN,
    GUILD_A,
    GUILD_B,
    MANAGE_GUILD,
    MIAMI,
    add_guilds,
    bot_with_guilds,
    buttons,
    plain,
    seed,
    start_bot,
    stop_bot,
)
from tests.fakediscord import FakeDiscord, Interaction

pytestmark = pytest.mark.asyncio(loop_scope="module")

GUILD_C = 1300000000000000006  # /stats counts
GUILD_D = 1300000000000000007  # hiding a source
GUILD_E = 1300000000000000008  # hiding a passage
ANSWER = "The meeting included Dmitriev"  # the Miami answer passage (global sample corpus)
_next_user = iter(range(1300000000000006000, 1300000000000007000))


@dataclass
class World:
    fake: FakeDiscord
    process: subprocess.Popen[bytes]
    log: Path
    db_url: str

    def user(self, *guilds: int, permissions: int = 0) -> int:
        """A fresh member (of guild A by default): no cooldown history."""
        uid = next(_next_user)
        for guild in guilds or (GUILD_A,):
            self.fake.add_member(guild, uid, f"user{uid % 1000}", permissions=permissions)
        return uid

    async def ask(self, question: str, *, guild: int, user: int, **options: Any) -> dict[str, Any]:
        it = await self.fake.slash(
            "ask", {"question": question, **options}, guild_id=guild, user_id=user
        )
        return await it.wait_message(timeout=20)

    async def click(self, message: dict[str, Any], label: str, user: int) -> Interaction:
        return await self.fake.click(message, buttons(message)[label]["custom_id"], user_id=user)

    async def votes(self, guild: int) -> list[store.FeedbackRow]:
        async with (
            await Library.open(Settings(database_url=self.db_url)) as library,
            library.sessions() as session,
        ):
            rows = await session.scalars(
                select(store.FeedbackRow).where(store.FeedbackRow.guild == str(guild))
            )
            return list(rows.all())


def ranks(message: dict[str, Any]) -> int:
    """How many ranked passages (`**1.** …`) a message's answer embed shows."""
    return len(re.findall(r"(?m)^\*\*\d+\.\*\* ", message["embeds"][0]["description"]))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    async with bot_with_guilds(
        tmp_path_factory.mktemp("feedback"), (GUILD_C, GUILD_D, GUILD_E)
    ) as (fake, process, log, db_url):
        yield World(fake, process, log, db_url)


@pytest.fixture(autouse=True)
def no_violations(world: World) -> Iterator[None]:
    """Every test ends with the fake having seen nothing Discord would refuse."""
    world.fake.violations.clear()
    yield
    assert world.fake.violations == [], "\n".join(world.fake.violations) + world.log.read_text()


async def test_a_vote_on_a_one_passage_page_is_stored_at_once(world: World) -> None:
    """👍 on a page of one passage: acknowledged privately within Discord's deadline, the
    vote stored for this guild, question and passage; the same click again changes
    nothing, and 👎 replaces it."""
    user = world.user()
    answer = await world.ask(MIAMI, guild=GUILD_A, user=user, results=1)
    assert ANSWER in plain(answer["embeds"][0]["description"])
    up = await world.click(answer, "👍", user)
    thanks = await up.wait_message()
    assert up.responses[0]["type"] == 5 and up.ephemeral
    assert thanks["content"].startswith("Thanks: #1 (ANI")
    assert "marked helpful 👍" in thanks["content"] and not thanks.get("components")
    rows = [r for r in await world.votes(GUILD_A) if r.user == str(user)]
    assert [(r.vote, r.question) for r in rows] == [(1, MIAMI)]
    again = await world.click(answer, "👍", user)
    assert "already marked" in (await again.wait_message())["content"]
    down = await world.click(answer, "👎", user)
    assert (await down.wait_message())["content"].startswith("Changed: #1")
    rows = [r for r in await world.votes(GUILD_A) if r.user == str(user)]
    assert [r.vote for r in rows] == [-1]  # one vote per member, question and passage


async def test_a_page_of_several_passages_asks_which_one(world: World) -> None:
    """👎 on a page of three passages: a private menu of exactly those three; the pick is
    stored against that passage, and a member without Manage Server gets no Hide."""
    user = world.user()
    question = "what did Witkoff say about the Miami talks?"
    answer = await world.ask(question, guild=GUILD_A, user=user)
    shown = ranks(answer)
    down = await world.click(answer, "👎", user)
    menu = await down.wait_message()
    assert down.ephemeral and menu["content"] == "Which passage was not helpful 👎?"
    select_menu = menu["components"][0]["components"][0]
    options = select_menu["options"]
    assert [o["label"].split(" · ")[0] for o in options] == [f"#{i}" for i in range(1, shown + 1)]
    assert all(o["value"].isdigit() and o.get("description") for o in options)
    pick = await world.fake.click(
        menu, select_menu["custom_id"], user_id=user, values=[options[1]["value"]]
    )
    result = await pick.wait_message()
    assert pick.responses[0]["type"] == 6
    assert result["content"].startswith("Thanks: #2 ") and "not helpful 👎" in result["content"]
    assert not result.get("components")  # no Hide buttons for a member
    rows = [r for r in await world.votes(GUILD_A) if r.user == str(user)]
    assert [(r.passage_id, r.vote) for r in rows] == [(int(options[1]["value"]), -1)]


async def test_votes_nudge_only_their_own_guilds_answers(world: World) -> None:
    """After 👍 votes on the second passage in guild A, its score rises there (by at most
    feedback_weight) and is unchanged in guild B and for an unrelated question."""
    question = "who attended the Miami talks with Dmitriev?"
    answer = await world.ask(question, guild=GUILD_A, user=world.user())
    async with await Library.open(Settings(database_url=world.db_url)) as library:
        before_a = await library.ask(question, guild=str(GUILD_A), k=5)
        before_b = await library.ask(question, guild=str(GUILD_B), k=5)
        other_before = await library.ask("grain corridors", guild=str(GUILD_A), k=5)
    second = before_a.hits[1]
    for _ in range(3):
        voter = world.user()
        up = await world.click(answer, "👍", voter)
        menu = await up.wait_message()
        select_menu = menu["components"][0]["components"][0]
        pick = await world.fake.click(
            menu, select_menu["custom_id"], user_id=voter, values=[second.passage_id]
        )
        assert (await pick.wait_message())["content"].startswith("Thanks: #2 ")
    async with await Library.open(Settings(database_url=world.db_url)) as library:
        after_a = await library.ask(question, guild=str(GUILD_A), k=5)
        after_b = await library.ask(question, guild=str(GUILD_B), k=5)
        other_after = await library.ask("grain corridors", guild=str(GUILD_A), k=5)
    score = {h.passage_id: h.score for h in after_a.hits}
    assert second.score < score[second.passage_id] <= second.score * 1.2 + 1e-9
    assert [(h.passage_id, h.score) for h in after_b.hits] == [
        (h.passage_id, h.score) for h in before_b.hits
    ]
    assert [(h.passage_id, h.score) for h in other_after.hits] == [
        (h.passage_id, h.score) for h in other_before.hits
    ]


async def test_a_managers_down_vote_hides_a_passage_from_that_guild_only(world: World) -> None:
    """A manager's 👎 offers Hide this passage / Hide its source. Hiding the Miami answer
    passage removes it from that guild's answers (which stay full), not from guild B's;
    Undo brings it back. The button checks the clicker's rights itself."""
    boss = world.user(GUILD_E, GUILD_B, permissions=MANAGE_GUILD)
    answer = await world.ask(MIAMI, guild=GUILD_E, user=boss, results=1)
    assert ANSWER in plain(answer["embeds"][0]["description"])
    down = await world.click(answer, "👎", boss)
    offer = await down.wait_message()
    assert "hide it from this server's answers" in offer["content"]
    assert set(buttons(offer)) == {"Hide this passage", "Hide its source"}
    demoted = world.user(GUILD_E, permissions=MANAGE_GUILD)  # loses Manage Server below
    down2 = await world.click(answer, "👎", demoted)
    offer2 = await down2.wait_message()
    world.fake.add_member(GUILD_E, demoted, "demoted", permissions=0)
    refused = await world.click(offer2, "Hide this passage", demoted)
    assert "Only members with Manage Server" in (await refused.wait_message())["content"]
    hide = await world.click(offer, "Hide this passage", boss)
    hidden = await hide.wait_message()
    assert hidden["content"].startswith("Hidden from this server's answers and briefs: passage")
    again = await world.ask(MIAMI, guild=GUILD_E, user=boss, results=3)
    description = plain(again["embeds"][0]["description"])
    assert ANSWER not in description and ranks(again) == 3  # the page is still full
    elsewhere = await world.ask(MIAMI, guild=GUILD_B, user=boss, results=1)
    assert ANSWER in plain(elsewhere["embeds"][0]["description"])
    undo = await world.click(hidden, "Undo", boss)
    assert (await undo.wait_message())["content"] == "Shown again in this server's answers."
    back = await world.ask(MIAMI, guild=GUILD_E, user=boss, results=3)
    assert ANSWER in plain(back["embeds"][0]["description"])  # lower: two 👎 on it here


async def test_hiding_a_source_and_unhiding_it_with_the_command(world: World) -> None:
    """Hide its source takes every passage of the article out of that guild's answers;
    `/source unhide` lists it (to managers only) and shows it again."""
    boss = world.user(GUILD_D, permissions=MANAGE_GUILD)
    answer = await world.ask(MIAMI, guild=GUILD_D, user=boss, results=1)
    down = await world.click(answer, "👎", boss)
    offer = await down.wait_message()
    hide = await world.click(offer, "Hide its source", boss)
    assert (await hide.wait_message())["content"].startswith(
        "Hidden from this server's answers and briefs: source ANI: "
    )
    after = await world.ask(MIAMI, guild=GUILD_D, user=boss, results=3)
    assert not after.get("embeds"), after  # the sample article was all this guild had
    assert after["content"].startswith("Nothing is left to search here: this server's admins")
    member = world.user(GUILD_D)
    world.fake.show_command_to_everyone(GUILD_D, "source")  # as a server's admins may
    nothing = await world.fake.autocomplete(
        "source unhide", {"item": ""}, "item", guild_id=GUILD_D, user_id=member
    )
    await nothing.wait_response()
    assert nothing.autocomplete_choices == []
    listed = await world.fake.autocomplete(
        "source unhide", {"item": "ani"}, "item", guild_id=GUILD_D, user_id=boss
    )
    await listed.wait_response()
    choices = listed.autocomplete_choices or []
    assert len(choices) == 1 and choices[0]["value"].startswith("source:")
    assert choices[0]["name"].startswith("source ANI: ")
    unhide = await world.fake.slash(
        "source unhide", {"item": choices[0]["value"]}, guild_id=GUILD_D, user_id=boss
    )
    assert "shows in this server's answers again" in (await unhide.wait_message())["content"]
    back = await world.ask(MIAMI, guild=GUILD_D, user=boss, results=3)
    assert ANSWER in plain(back["embeds"][0]["description"])  # lower: boss's 👎 on it


async def test_stats_counts_questions_results_sources_and_votes(world: World) -> None:
    """/stats in a fresh guild: two questions (one with no result, listed), the source
    that answered on top, one 👍 on it; members are refused even when a server shows
    them the command."""
    user = world.user(GUILD_C)
    answer = await world.ask(MIAMI, guild=GUILD_C, user=user, results=1)
    nothing = await world.fake.slash(
        "ask", {"question": "zzyzx quorble"}, guild_id=GUILD_C, user_id=user
    )
    await nothing.wait_message(timeout=20)
    up = await world.click(answer, "👍", user)
    await up.wait_message()
    world.fake.show_command_to_everyone(GUILD_C, "stats")  # the check is the bot's own
    refused = await world.fake.slash("stats", {}, guild_id=GUILD_C, user_id=user)
    assert "Only members with Manage Server" in (await refused.wait_message())["content"]
    it = await world.fake.slash("stats", {"days": 7}, guild_id=GUILD_C, user_id=ADMIN)
    message = await it.wait_message()
    assert it.ephemeral
    fields = {f["name"]: f["value"] for f in message["embeds"][0]["fields"]}
    assert fields["Questions"] == "2 asked (/ask 2) · 1 with no result (50%)"
    assert fields["Lately with no result"] == "• zzyzx quorble"
    top = fields["Top sources (cited on an answer's first page)"]
    assert top.startswith("1. ANI: ") and "1 answer, first in 1 · 👍 1 · 👎 0" in top
    assert fields["Feedback: 👍 1 · 👎 0"].startswith("1. ANI: ")
    assert fields["Hidden from this server (0)"] == "Nothing."
    assert message["embeds"][0]["title"] == "briefbot in this server: the last 7 days"


async def test_mentions_and_topic_briefs_carry_votes_topicless_briefs_do_not(
    world: World,
) -> None:
    """A mention's answer and a /brief on a topic are rated like /ask; a brief without a
    topic asks no question, so it has no 👍 / 👎."""
    user = world.user()
    message = await world.fake.post_message(MIAMI, guild_id=GUILD_A, author_id=user)
    reply = await world.fake.wait_reply(message["id"], timeout=20)
    assert {"👍", "👎"} <= set(buttons(reply))
    up = await world.click(reply, "👍", user)
    assert (
        "marked helpful" in (await up.wait_message())["content"]
        or "Which passage" in (await up.wait_message())["content"]
    )
    topic = await world.fake.slash(
        "brief", {"topic": "Miami talks", "since": "2000-01-01"}, guild_id=GUILD_A, user_id=user
    )
    assert {"👍", "👎"} <= set(buttons(await topic.wait_message(timeout=20)))
    latest = await world.fake.slash(
        "brief", {"since": "2000-01-01"}, guild_id=GUILD_A, user_id=world.user()
    )
    assert not {"👍", "👎"} & set(buttons(await latest.wait_message(timeout=20)))


async def test_votes_keep_working_after_a_restart(tmp_path: Path) -> None:
    """An answer posted just before SIGTERM is in the log (the stop writes it), and its
    👍 works in the next process; `briefbot stats --json` counts it."""
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'restart.db'}"
    await seed(db_url)
    async with FakeDiscord(bot_name="briefbot") as fake:
        add_guilds(fake)
        user = 1300000000000006999
        fake.add_member(GUILD_A, user, "voter")
        process, log = await start_bot(fake, tmp_path, db_url)
        try:
            it = await fake.slash(
                "ask", {"question": MIAMI, "results": 1}, guild_id=GUILD_A, user_id=user
            )
            answer = await it.wait_message(timeout=20)
        finally:
            assert stop_bot(process) == 0, log.read_text()  # at once: the log is not yet written
        process, log = await start_bot(fake, tmp_path, db_url)
        try:
            up = await fake.click(answer, buttons(answer)["👍"]["custom_id"], user_id=user)
            assert (await up.wait_message(timeout=20))["content"].startswith("Thanks: #1 (ANI")
            assert fake.violations == []
        finally:
            assert stop_bot(process) == 0, log.read_text()
    result = Briefbot(db_url)("stats", "--guild", str(GUILD_A), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["questions"], data["unanswered"], data["by_way"]) == (1, 0, {"ask": 1})
    assert data["feedback"]["up"] == 1 and data["top_sources"][0]["source"]["publisher"] == "ANI"
