"""Cooldowns, the answer cache, button ids and mention parsing: no Discord client."""

from __future__ import annotations

import asyncio

import pytest

from bot.cogs.ask import question_from_mention
from bot.views import AnswerCache, Cooldowns, answer_view
from index.types import Answer


def answer(n: int) -> Answer:
    from tests.bot.test_embeds import hit

    return Answer("q", tuple(hit(i, f"p{i}") for i in range(1, n + 1)), n, 0.0)


def test_cooldown_allows_rate_then_says_how_long_to_wait() -> None:
    """Three asks per 10 s: the fourth waits until the first leaves the window."""
    cd = Cooldowns(rate=3, per=10.0)
    assert [cd.hit(1, now=t) for t in (0.0, 1.0, 2.0)] == [0.0, 0.0, 0.0]
    assert cd.hit(1, now=3.0) == pytest.approx(7.0)
    assert cd.hit(2, now=3.0) == 0.0  # per user
    assert cd.hit(1, now=10.5) == 0.0


def test_cooldown_zero_seconds_is_off() -> None:
    """cooldown_seconds = 0 disables the limit."""
    cd = Cooldowns(rate=1, per=0.0)
    assert all(cd.hit(1, now=0.0) == 0.0 for _ in range(10))


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
