"""Buttons on answers and listings, as dynamic items whose state lives in `custom_id`.

discord.py dispatches a click to a dynamic item by matching its `custom_id` against a
template, so buttons keep working after a restart. Answers themselves are kept in
memory for `button_seconds`: paging an answer after that (or after a restart) removes
the buttons and says so, rather than failing with "This interaction failed".
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import discord

from bot import embeds
from index.types import Answer

if TYPE_CHECKING:
    from bot.client import Briefbot

log = logging.getLogger(__name__)

NONE = discord.AllowedMentions.none()
MAX_ANSWERS = 2000  # answers kept for paging; the oldest go first
MAX_COOLDOWN_KEYS = 100_000  # users (or guilds) with a recent ask that cooldowns keep


@dataclass(slots=True)
class AnswerEntry:
    """An answer a user can page through, and how to remove its buttons later."""

    key: str
    answer: Answer
    asker: int
    per_page: int
    private: bool
    created: float = field(default_factory=time.monotonic)
    page: int = 0
    expire: Callable[[], Awaitable[Any]] | None = None
    timer: asyncio.TimerHandle | None = None


class AnswerCache:
    """Answers by key, bounded, each dropped (and its buttons removed) after a timeout."""

    def __init__(self, seconds: float, capacity: int = MAX_ANSWERS) -> None:
        self.seconds = seconds
        self.capacity = capacity
        self._entries: OrderedDict[str, AnswerEntry] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, answer: Answer, *, asker: int, per_page: int, private: bool) -> AnswerEntry:
        key = secrets.token_hex(5)
        entry = AnswerEntry(key, answer, asker, per_page, private)
        self._entries[key] = entry
        while len(self._entries) > self.capacity:
            _, old = self._entries.popitem(last=False)
            if old.timer:
                old.timer.cancel()
        return entry

    def get(self, key: str) -> AnswerEntry | None:
        entry = self._entries.get(key)
        if entry is None or time.monotonic() - entry.created > self.seconds:
            return None
        return entry

    def schedule(self, entry: AnswerEntry, expire: Callable[[], Awaitable[Any]]) -> None:
        """After the timeout, forget the answer and run `expire` (it removes the buttons)."""
        entry.expire = expire
        loop = asyncio.get_running_loop()
        entry.timer = loop.call_later(self.seconds, self._expire, entry.key)

    def expire_buttons(self, entry: AnswerEntry, message: Any) -> None:
        """After the timeout, the message's paging buttons go (its Delete stays)."""

        async def expire() -> None:
            await message.edit(view=answer_view(entry, expired=True), allowed_mentions=NONE)

        self.schedule(entry, expire)

    def _expire(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is None or entry.expire is None:
            return
        task = asyncio.get_running_loop().create_task(self._run_expire(entry))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _run_expire(entry: AnswerEntry) -> None:
        assert entry.expire is not None
        try:
            await entry.expire()
        except discord.HTTPException as exc:  # deleted meanwhile, or token gone
            log.debug("could not remove buttons of answer %s: %s", entry.key, exc)

    def close(self) -> None:
        for entry in self._entries.values():
            if entry.timer:
                entry.timer.cancel()
        self._entries.clear()


class Window:
    """Sliding window per key (a user or a guild): at most `rate` asks in `per` seconds.

    Only a key's last `rate` allowed asks are kept, and keys stay in the order of their
    last ask, so idle keys are forgotten from the front at no cost per ask. Past
    `capacity` busy keys the least recently seen one is forgotten early: memory stays
    bounded under any load, at the price of that key's limit starting over.
    """

    def __init__(self, rate: int, per: float, capacity: int = MAX_COOLDOWN_KEYS) -> None:
        self.rate = rate
        self.per = per
        self.capacity = capacity
        self._hits: OrderedDict[int, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._hits)

    def wait(self, key: int, now: float) -> float:
        """0 if `key` may ask at `now`, else seconds until it may; records nothing."""
        hits = self._hits.get(key)
        if self.per <= 0 or hits is None or len(hits) < self.rate:
            return 0.0
        return max(self.per - (now - hits[0]), 0.0)

    def record(self, key: int, now: float) -> None:
        """Counts an allowed ask against `key`."""
        if self.per <= 0:
            return
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque(maxlen=self.rate)
        else:
            self._hits.move_to_end(key)
        hits.append(now)
        while self._hits:
            oldest = next(iter(self._hits.values()))
            if now - oldest[-1] < self.per and len(self._hits) <= self.capacity:
                break
            self._hits.popitem(last=False)


@dataclass(frozen=True, slots=True)
class Throttled:
    """Why an ask was refused: whose limit it hit, and seconds until the next is allowed."""

    scope: Literal["user", "guild"]
    wait: float
    rate: int
    per: float


class Cooldowns:
    """Per-user and per-guild windows on /ask and mentions.

    An ask counts against its guild only after the user's own window allowed it, and a
    refused ask counts nowhere: a user flooding the bot spends at most their own
    allowance of the guild's budget, so one user cannot lock the rest of a server out.
    """

    def __init__(
        self, rate: int, per: float, *, guild_rate: int = 60, guild_per: float = 0.0
    ) -> None:
        self.users = Window(rate, per)
        self.guilds = Window(guild_rate, guild_per)

    def hit(
        self, user_id: int, guild_id: int | None = None, now: float | None = None
    ) -> Throttled | None:
        """Records an ask if both windows allow it; else says which one refused it."""
        now = time.monotonic() if now is None else now
        wait = self.users.wait(user_id, now)
        if wait:
            return Throttled("user", wait, self.users.rate, self.users.per)
        if guild_id is not None:  # DMs have only the user's window
            wait = self.guilds.wait(guild_id, now)
            if wait:
                return Throttled("guild", wait, self.guilds.rate, self.guilds.per)
            self.guilds.record(guild_id, now)
        self.users.record(user_id, now)
        return None


class Rendered(discord.ui.View):
    """A view that only renders components: dynamic items dispatch the clicks, so
    discord.py must not keep a copy of every answer's view in its view store."""

    def is_dispatchable(self) -> bool:
        return False


def stopped(*items: discord.ui.Item[Any]) -> discord.ui.View:
    view = Rendered(timeout=None)
    for item in items:
        view.add_item(item)
    return view


def answer_view(entry: AnswerEntry, *, expired: bool = False) -> discord.ui.View:
    """◀ ▶ (when there is more than one page) and Sources; Delete on public answers."""
    items: list[discord.ui.Item[Any]] = []
    total = embeds.pages(entry.answer, entry.per_page)
    if not expired:
        if total > 1:
            prev_page, next_page = max(entry.page - 1, 0), min(entry.page + 1, total - 1)
            items.append(PageButton(entry.key, prev_page, "◀", disabled=entry.page == 0))
            items.append(PageButton(entry.key, next_page, "▶", disabled=entry.page == total - 1))
        items.append(SourcesButton(entry.key))
    if not entry.private:
        items.append(DeleteButton(entry.asker))
    return stopped(*items)


def _button(
    custom_id: str,
    label: str,
    style: discord.ButtonStyle = discord.ButtonStyle.secondary,
    *,
    disabled: bool = False,
) -> discord.ui.Button[Any]:
    return discord.ui.Button(label=label, style=style, custom_id=custom_id, disabled=disabled)


class _FromMatch:
    """discord.py rebuilds a dynamic item from its custom_id; each item says how in `parse`."""

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
    ) -> Any:
        return cls.parse(match)

    @classmethod
    def parse(cls, match: re.Match[str]) -> Any:
        raise NotImplementedError(f"{cls.__name__} must say how to read its custom_id")


async def _private(interaction: discord.Interaction, text: str) -> None:
    await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NONE)


def _bot(interaction: discord.Interaction) -> Briefbot:
    return interaction.client  # type: ignore[return-value]


async def _expired(interaction: discord.Interaction) -> None:
    """Strip the stale buttons (keeping Delete, if the message had it) and tell the
    clicker once, privately."""
    asker = _asker(interaction)
    view = stopped(DeleteButton(asker)) if asker is not None else stopped()
    await interaction.response.edit_message(view=view, allowed_mentions=NONE)
    await interaction.followup.send(
        "These buttons have expired. Ask again with `/ask` for fresh results.",
        ephemeral=True,
        allowed_mentions=NONE,
    )


class PageButton(
    _FromMatch,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"bb:pg:(?P<key>[0-9a-f]+):(?P<page>\d+)",
):
    """◀ / ▶ on an answer: only the asker may page."""

    def __init__(self, key: str, page: int, label: str = "▶", *, disabled: bool = False) -> None:
        super().__init__(_button(f"bb:pg:{key}:{page}", label, disabled=disabled))
        self.key, self.page = key, page

    @classmethod
    def parse(cls, match: re.Match[str]) -> PageButton:
        return cls(match["key"], int(match["page"]))

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        entry = _bot(interaction).answers.get(self.key)
        if entry is None:
            await _expired(interaction)
            return
        if interaction.user.id != entry.asker:
            await _private(
                interaction,
                "Only the person who asked can page through this answer; ask your own with `/ask`.",
            )
            return
        entry.page = self.page
        await interaction.response.edit_message(
            embed=embeds.answer_embed(entry.answer, entry.page, entry.per_page),
            view=answer_view(entry),
            allowed_mentions=NONE,
        )


class SourcesButton(
    _FromMatch,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"bb:src:(?P<key>[0-9a-f]+)",
):
    """Lists the articles an answer cites, privately, to whoever presses it."""

    def __init__(self, key: str) -> None:
        super().__init__(_button(f"bb:src:{key}", "Sources", discord.ButtonStyle.primary))
        self.key = key

    @classmethod
    def parse(cls, match: re.Match[str]) -> SourcesButton:
        return cls(match["key"])

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        entry = _bot(interaction).answers.get(self.key)
        if entry is None:
            await _expired(interaction)
            return
        await interaction.response.send_message(
            embed=embeds.sources_embed(entry.answer), ephemeral=True, allowed_mentions=NONE
        )


class DeleteButton(
    _FromMatch, discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"bb:del:(?P<asker>\d+)"
):
    """Lets the asker (or a moderator) delete a public answer, even after a restart."""

    def __init__(self, asker: int) -> None:
        super().__init__(_button(f"bb:del:{asker}", "Delete", discord.ButtonStyle.danger))
        self.asker = asker

    @classmethod
    def parse(cls, match: re.Match[str]) -> DeleteButton:
        return cls(int(match["asker"]))

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        moderator = interaction.guild is not None and interaction.permissions.manage_messages
        if interaction.user.id != self.asker and not moderator:
            await _private(
                interaction, "Only the person who asked (or a moderator) can delete this answer."
            )
            return
        await interaction.response.defer()
        await interaction.delete_original_response()


class SourceListPage(
    _FromMatch,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"bb:sl:(?P<page>\d+):(?P<dir>[pn])",
):
    """Pages of `/source list`: read from the database on each click, so no state."""

    def __init__(self, page: int, label: str, *, disabled: bool = False) -> None:
        direction = "p" if label == "◀" else "n"
        super().__init__(_button(f"bb:sl:{page}:{direction}", label, disabled=disabled))
        self.page = page

    @classmethod
    def parse(cls, match: re.Match[str]) -> SourceListPage:
        return cls(int(match["page"]), "◀" if match["dir"] == "p" else "▶")

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        bot = _bot(interaction)
        if not await bot.check_admin(interaction):
            return
        embed, view = await source_list_message(bot, interaction.guild_id, self.page)
        await interaction.response.edit_message(embed=embed, view=view, allowed_mentions=NONE)


async def source_list_message(
    bot: Briefbot, guild_id: int | None, page: int
) -> tuple[discord.Embed, discord.ui.View]:
    guild = str(guild_id) if guild_id else None
    sources = await bot.library.sources(guild)
    feeds = await bot.library.feeds(guild)
    embed, total = embeds.source_list_embed(sources, feeds, page)
    page = min(max(page, 0), total - 1)
    items: list[discord.ui.Item[Any]] = []
    if total > 1:
        items.append(SourceListPage(max(page - 1, 0), "◀", disabled=page == 0))
        items.append(SourceListPage(min(page + 1, total - 1), "▶", disabled=page == total - 1))
    return embed, stopped(*items)


def _asker(interaction: discord.Interaction) -> int | None:
    """The asker recorded in the message's Delete button, if it has one."""
    message = interaction.message
    if message is None:
        return None
    for row in message.components:
        for child in getattr(row, "children", ()):
            match = re.fullmatch(r"bb:del:(\d+)", getattr(child, "custom_id", None) or "")
            if match:
                return int(match[1])
    return None


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (
    PageButton,
    SourcesButton,
    DeleteButton,
    SourceListPage,
)
