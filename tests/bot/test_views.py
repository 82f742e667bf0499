"""Cooldowns (per user, per guild), the answer cache, button ids, mentions: no Discord client."""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest

from bot.cogs.ask import cooldown_text, question_from_mention
from bot.views import AnswerCache, Cooldowns, Throttled, Window, answer_view
from index.types import Answer

GUILD, OTHER_GUILD = 7, 8


def answer(n: int) -> Answer:
    from tests.bot.test_embeds import hit

    return Answer("q", tuple(hit(i, f"p{i}") for i in range(1, n + 1)), n, 0.0)


def test_cooldown_allows_rate_then_says_how_long_to_wait() -> None:
    """Three asks per 10 s: the fourth waits until the first leaves the window."""
    cd = Cooldowns(rate=3, per=10.0)
    assert [cd.hit(1, now=t) for t in (0.0, 1.0, 2.0)] == [None, None, None]
    refused = cd.hit(1, now=3.0)
    assert refused is not None and refused.scope == "user"
    assert refused.wait == pytest.approx(7.0)
    assert cd.hit(2, now=3.0) is None  # per user
    assert cd.hit(1, now=10.5) is None


def test_cooldown_zero_seconds_is_off() -> None:
    """cooldown_seconds = 0 (and guild_cooldown_seconds = 0) disable the limits."""
    cd = Cooldowns(rate=1, per=0.0, guild_rate=1, guild_per=0.0)
    assert all(cd.hit(1, GUILD, now=0.0) is None for _ in range(10))
    assert len(cd.users) == len(cd.guilds) == 0


def test_guild_window_limits_the_whole_server() -> None:
    """Three asks per 10 s per guild: the fourth member waits; another guild and DMs do not."""
    cd = Cooldowns(rate=5, per=10.0, guild_rate=3, guild_per=10.0)
    assert [cd.hit(user, GUILD, now=float(user)) for user in (1, 2, 3)] == [None] * 3
    refused = cd.hit(4, GUILD, now=4.0)
    assert refused is not None and refused.scope == "guild"
    assert (refused.wait, refused.rate, refused.per) == (pytest.approx(7.0), 3, 10.0)
    assert cd.hit(4, OTHER_GUILD, now=4.0) is None
    assert cd.hit(5, None, now=4.0) is None
    assert cd.hit(4, GUILD, now=11.0) is None  # the first ask left the guild's window


def test_one_users_flood_spends_only_their_own_allowance_of_the_guild() -> None:
    """500 asks from one user take 2 of the guild's 5; three other members still get in."""
    cd = Cooldowns(rate=2, per=60.0, guild_rate=5, guild_per=60.0)
    results = [cd.hit(1, GUILD, now=i / 100) for i in range(500)]
    assert results[:2] == [None, None]
    assert {r.scope for r in results[2:] if r is not None} == {"user"}
    assert [cd.hit(user, GUILD, now=5.0) for user in (2, 3, 4)] == [None] * 3
    refused = cd.hit(5, GUILD, now=5.0)
    assert refused is not None and refused.scope == "guild"


def test_an_ask_the_guild_refused_does_not_count_against_the_user() -> None:
    """Refused by a full guild, a member keeps their whole allowance for later."""
    cd = Cooldowns(rate=2, per=60.0, guild_rate=3, guild_per=10.0)
    for user in (1, 2, 3):
        assert cd.hit(user, GUILD, now=0.0) is None
    for _ in range(5):
        refused = cd.hit(4, GUILD, now=1.0)
        assert refused is not None and refused.scope == "guild"
    assert [cd.hit(4, GUILD, now=10.0 + i) for i in range(2)] == [None, None]


def test_windows_forget_idle_keys() -> None:
    """A key whose asks all left the window is dropped at the next ask of anyone."""
    window = Window(rate=3, per=10.0)
    for key in range(1000):
        window.record(key, now=key / 1000)
    assert len(window) == 1000
    window.record(5000, now=20.0)
    assert len(window) == 1


def test_windows_are_bounded_even_when_every_key_is_busy() -> None:
    """Past capacity the least recently seen key goes first; a recent one keeps its limit."""
    window = Window(rate=1, per=60.0, capacity=100)
    for key in range(1000):
        window.record(key, now=0.0)
    assert len(window) == 100
    assert window.wait(999, now=1.0) == pytest.approx(59.0)
    assert window.wait(0, now=1.0) == 0.0  # forgotten early


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("user", "You're asking quickly (your limit: 5 questions per 60 s). Please wait 42 s"),
        ("guild", "This server is asking a lot right now (its limit: 5 questions per 60 s)."),
    ],
)
def test_cooldown_text_says_whose_limit_it_is(
    scope: Literal["user", "guild"], expected: str
) -> None:
    """The note names the user's or the server's limit, and how long to wait."""
    text = cooldown_text(Throttled(scope, 41.6, 5, 60.0))
    assert text.startswith(expected) and "Please wait 42 s" in text
    assert "@" not in text


async def test_answer_cache_expires_and_runs_cleanup() -> None:
    """After the timeout an answer is gone and its buttons are removed once."""
    cache = AnswerCache(seconds=0.05)
    entry = cache.add(answer(2), asker=1, per_page=1, private=False)
    assert cache.get(entry.key) is entry
    done = asyncio.Event()

    async def expire() -> None:
        done.set()

    cache.schedule(entry, expire)
    await asyncio.wait_for(done.wait(), 2)
    assert cache.get(entry.key) is None


def test_answer_cache_is_bounded() -> None:
    """Old answers are dropped first when the cache is full."""
    cache = AnswerCache(seconds=60, capacity=3)
    keys = [cache.add(answer(1), asker=1, per_page=1, private=False).key for _ in range(5)]
    assert [cache.get(k) is not None for k in keys] == [False, False, True, True, True]


def ids(view: object) -> list[tuple[str, bool]]:
    rows = view.to_components()  # type: ignore[attr-defined]
    return [(c["custom_id"], c.get("disabled", False)) for row in rows for c in row["components"]]


def test_answer_buttons_have_unique_ids_and_disable_at_the_ends() -> None:
    """◀ is disabled on the first page, ▶ on the last; ids are unique per message."""
    cache = AnswerCache(seconds=60)
    entry = cache.add(answer(7), asker=42, per_page=3, private=False)
    first = ids(answer_view(entry))
    k = entry.key
    assert first == [
        (f"bb:pg:{k}:0", True),
        (f"bb:pg:{k}:1", False),
        (f"bb:src:{k}", False),
        ("bb:del:42", False),
    ]
    entry.page = 2
    last = ids(answer_view(entry))
    assert last[:2] == [(f"bb:pg:{k}:1", False), (f"bb:pg:{k}:2", True)]
    assert ids(answer_view(entry, expired=True)) == [("bb:del:42", False)]


def test_private_single_page_answer_has_only_sources() -> None:
    """No paging for one page; no delete button on a private answer."""
    entry = AnswerCache(seconds=60).add(answer(2), asker=1, per_page=3, private=True)
    assert [i for i, _ in ids(answer_view(entry))] == [f"bb:src:{entry.key}"]


def test_rendered_views_are_not_stored() -> None:
    """Views only render components; clicks go to dynamic items, so nothing accumulates."""
    entry = AnswerCache(seconds=60).add(answer(9), asker=1, per_page=3, private=False)
    assert not answer_view(entry).is_dispatchable()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("<@99> who attended the Miami talks?", "who attended the Miami talks?"),
        ("<@!99>, who attended?", "who attended?"),
        ("who met <@99> in Miami", "who met   in Miami"),
        ("<@99>", ""),
        ("<@999> hello", "<@999> hello"),
    ],
)
def test_question_from_mention(content: str, expected: str) -> None:
    """The bot's own mention is removed; other text stays."""
    assert question_from_mention(content, 99) == expected
