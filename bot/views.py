"""Buttons on answers and listings, as dynamic items whose state lives in `custom_id`.

discord.py dispatches a click to a dynamic item by matching its `custom_id` against a
template, so buttons keep working after a restart. Answers themselves are kept in
memory for `button_seconds`: paging an answer after that (or after a restart) removes
the buttons and says so, rather than failing with "This interaction failed". 👍 / 👎
and Delete stay: their state is the custom_id and the database (the questions log).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import discord

from bot import embeds
from index.errors import BriefbotError
from index.feedback import DOWN, UP
from index.types import Answer, Asked, AskedHit, HiddenItem, Vote

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
    logged: str | None = None  # its id in the questions log: the 👍 / 👎 buttons name it


class AnswerCache:
    """Answers by key, bounded, each dropped (and its buttons removed) after a timeout."""

    def __init__(self, seconds: float, capacity: int = MAX_ANSWERS) -> None:
        self.seconds = seconds
        self.capacity = capacity
        self._entries: OrderedDict[str, AnswerEntry] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    def add(
        self,
        answer: Answer,
        *,
        asker: int,
        per_page: int,
        private: bool,
        logged: str | None = None,
    ) -> AnswerEntry:
        key = secrets.token_hex(5)
        entry = AnswerEntry(key, answer, asker, per_page, private, logged=logged)
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
        """After the timeout, the message's paging buttons go (👍 / 👎 and Delete stay)."""

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
    """◀ ▶ (when there is more than one page) and Sources; Delete on public answers;
    then 👍 / 👎 on the page shown, when the answer is in the questions log."""
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
    if entry.logged is not None:
        items += vote_buttons(entry.logged, entry.page)
    return stopped(*items)


def vote_buttons(logged: str, page: int) -> list[discord.ui.Item[Any]]:
    """👍 / 👎 for the passages one page of a logged answer shows, on a row of their own."""
    return [VoteButton(logged, page, UP), VoteButton(logged, page, DOWN)]


def _button(
    custom_id: str,
    label: str,
    style: discord.ButtonStyle = discord.ButtonStyle.secondary,
    *,
    disabled: bool = False,
    row: int | None = None,
) -> discord.ui.Button[Any]:
    return discord.ui.Button(
        label=label, style=style, custom_id=custom_id, disabled=disabled, row=row
    )


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
    """Strip the stale buttons (keeping Delete and 👍 / 👎, if the message had them) and
    tell the clicker once, privately."""
    await interaction.response.edit_message(
        view=stopped(*_lasting(interaction)), allowed_mentions=NONE
    )
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


DELETE_ID = r"bb:del:(?P<asker>\d+)"
VOTE_ID = r"bb:fb:(?P<logged>[0-9a-f]{12}):(?P<page>\d+):(?P<vote>[ud])"


class DeleteButton(_FromMatch, discord.ui.DynamicItem[discord.ui.Button[Any]], template=DELETE_ID):
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


def _lasting(interaction: discord.Interaction) -> list[discord.ui.Item[Any]]:
    """The message's buttons that outlive the answer cache: Delete and 👍 / 👎."""
    message = interaction.message
    items: list[discord.ui.Item[Any]] = []
    for row in message.components if message is not None else ():
        for child in getattr(row, "children", ()):
            custom_id = getattr(child, "custom_id", None) or ""
            if match := re.fullmatch(DELETE_ID, custom_id):
                items.append(DeleteButton.parse(match))
            elif match := re.fullmatch(VOTE_ID, custom_id):
                items.append(VoteButton.parse(match))
    return items


# --- feedback -------------------------------------------------------------------------

VOTE_WORDS = {UP: "helpful", DOWN: "not helpful"}
VOTE_EMOJI = {UP: "👍", DOWN: "👎"}
VOTE_CODE = {UP: "u", DOWN: "d"}
NOT_LOGGED = "This answer is no longer on record, so it can't be rated; ask again to rate it."


async def _thinking(interaction: discord.Interaction) -> None:
    """Acknowledged at once: a vote or a hide writes to the database, and on SQLite a bulk
    ingest can hold the write lock longer than Discord's 3 s."""
    await interaction.response.defer(ephemeral=True, thinking=True)


class VoteButton(_FromMatch, discord.ui.DynamicItem[discord.ui.Button[Any]], template=VOTE_ID):
    """👍 / 👎 on one page of an answer, for whoever sees it. A page of one passage is
    rated at once; of several, the clicker picks which, privately."""

    def __init__(self, logged: str, page: int, value: int) -> None:
        super().__init__(
            _button(f"bb:fb:{logged}:{page}:{VOTE_CODE[value]}", VOTE_EMOJI[value], row=1)
        )
        self.logged, self.page, self.value = logged, page, value

    @classmethod
    def parse(cls, match: re.Match[str]) -> VoteButton:
        return cls(match["logged"], int(match["page"]), UP if match["vote"] == "u" else DOWN)

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        if interaction.guild_id is None:
            await _private(interaction, "Answers are rated in a server, not in DMs.")
            return
        await _thinking(interaction)
        bot = _bot(interaction)
        try:
            asked = await bot.library.asked(self.logged, guild=str(interaction.guild_id))
        except BriefbotError as exc:
            await interaction.followup.send(str(exc), ephemeral=True, allowed_mentions=NONE)
            return
        shown = asked.page(self.page) if asked is not None else ()
        if asked is None or not shown:
            text = NOT_LOGGED if asked is None else "These passages are no longer stored."
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=NONE)
            return
        if len(shown) == 1:
            text, view = await record_vote(interaction, asked, shown[0].passage_id, self.value)
            await interaction.followup.send(text, view=view, ephemeral=True, allowed_mentions=NONE)
            return
        await interaction.followup.send(
            f"Which passage was {VOTE_WORDS[self.value]} {VOTE_EMOJI[self.value]}?",
            view=stopped(VoteSelect(asked.id, self.value, shown)),
            ephemeral=True,
            allowed_mentions=NONE,
        )


class VoteSelect(
    _FromMatch,
    discord.ui.DynamicItem[discord.ui.Select[Any]],
    template=r"bb:fs:(?P<logged>[0-9a-f]{12}):(?P<vote>[ud])",
):
    """The private "which passage?" after 👍 / 👎 on a page of several passages."""

    def __init__(self, logged: str, value: int, shown: Sequence[AskedHit] = ()) -> None:
        options = [
            discord.SelectOption(
                label=embeds.cut(f"#{hit.rank} · {embeds.source_label(hit.source)}", 100),
                value=str(hit.passage_id),
                description=embeds.cut(" ".join(hit.text.split()), 100),
            )
            for hit in shown
        ] or [discord.SelectOption(label="…", value="0")]  # rebuilt from a click: unused
        super().__init__(
            discord.ui.Select(
                custom_id=f"bb:fs:{logged}:{VOTE_CODE[value]}",
                placeholder="Pick the passage",
                options=options,
            )
        )
        self.logged, self.value = logged, value

    @classmethod
    def parse(cls, match: re.Match[str]) -> VoteSelect:
        return cls(match["logged"], UP if match["vote"] == "u" else DOWN)

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        await interaction.response.defer()  # the private message is edited with the result
        bot = _bot(interaction)
        values = (interaction.data or {}).get("values") or []
        try:
            asked = await bot.library.asked(self.logged, guild=str(interaction.guild_id))
            if asked is None:
                raise BriefbotError(NOT_LOGGED)
            if not values or not str(values[0]).isdigit():
                raise BriefbotError("Pick one of the passages.")
            text, view = await record_vote(interaction, asked, int(values[0]), self.value)
        except BriefbotError as exc:
            text, view = str(exc), stopped()
        await interaction.edit_original_response(content=text, view=view, allowed_mentions=NONE)


async def record_vote(
    interaction: discord.Interaction, asked: Asked, passage_id: int, value: int
) -> tuple[str, discord.ui.View]:
    """Stores the vote; the private reply, with Hide buttons for an admin's 👎."""
    bot = _bot(interaction)
    try:
        vote = await bot.library.vote(
            asked.id,
            passage_id,
            value,
            guild=str(interaction.guild_id),
            user=str(interaction.user.id),
        )
    except BriefbotError as exc:
        return str(exc), stopped()
    items: list[discord.ui.Item[Any]] = []
    text = vote_text(vote, asked.question)
    if value == DOWN and await bot.is_manager(interaction):
        text += "\nAs a manager you can also hide it from this server's answers:"
        items = [HideButton("passage", str(vote.passage_id)), HideButton("source", vote.source.id)]
    return text, stopped(*items)


def vote_text(vote: Vote, question: str) -> str:
    what = f"#{vote.rank} ({embeds.escape(embeds.cut(embeds.source_label(vote.source), 80))})"
    asked = f"“{embeds.escape(embeds.cut(question, 120))}”"
    word, emoji = VOTE_WORDS[vote.value], VOTE_EMOJI[vote.value]
    if vote.previous == vote.value:
        return f"You had already marked {what} {word} {emoji} for {asked}."
    if vote.previous:
        return f"Changed: {what} is now marked {word} {emoji} for {asked}."
    return (
        f"Thanks: {what} marked {word} {emoji} for {asked}. "
        "Votes nudge this server's answers to questions like it."
    )


HIDE_CODE = {"passage": "p", "source": "s"}
HIDE_KIND = {code: kind for kind, code in HIDE_CODE.items()}


class _HiddenToggle(_FromMatch):
    """Hide and Undo: managers only, checked at each click (rights can change after the
    offer); the private message is edited with what happened."""

    kind: str
    target: str
    # What a click does (each subclass's method): the new text and buttons.
    toggle: Callable[[Briefbot, discord.Interaction], Awaitable[tuple[str, discord.ui.View]]]

    @classmethod
    def parse(cls, match: re.Match[str]) -> Any:
        return cls(HIDE_KIND[match["kind"]], match["target"])  # type: ignore[call-arg]

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        bot = _bot(interaction)
        if not await bot.check_admin(interaction, action="hide passages and sources"):
            return
        await interaction.response.defer()
        try:
            text, view = await self.toggle(bot, interaction)
        except BriefbotError as exc:
            text, view = str(exc), stopped()
        await interaction.edit_original_response(content=text, view=view, allowed_mentions=NONE)


class HideButton(
    _HiddenToggle,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"bb:hide:(?P<kind>[ps]):(?P<target>[0-9a-z]+)",
):
    """Hide this passage / its source from the server's answers (managers only)."""

    def __init__(self, kind: str, target: str) -> None:
        label = "Hide this passage" if kind == "passage" else "Hide its source"
        super().__init__(
            _button(f"bb:hide:{HIDE_CODE[kind]}:{target}", label, discord.ButtonStyle.danger)
        )
        self.kind, self.target = kind, target

    async def toggle(
        self, bot: Briefbot, interaction: discord.Interaction
    ) -> tuple[str, discord.ui.View]:
        item = await bot.library.hide(
            self.kind, self.target, guild=str(interaction.guild_id), by=str(interaction.user.id)
        )
        text = f"Hidden from this server's answers and briefs: {embeds.hidden_line(item)}."
        return text, stopped(UnhideButton(self.kind, self.target))


class UnhideButton(
    _HiddenToggle,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"bb:unhide:(?P<kind>[ps]):(?P<target>[0-9a-z]+)",
):
    """Undo a hide (managers only); `/source unhide` does the same later."""

    def __init__(self, kind: str, target: str) -> None:
        super().__init__(_button(f"bb:unhide:{HIDE_CODE[kind]}:{target}", "Undo"))
        self.kind, self.target = kind, target

    async def toggle(
        self, bot: Briefbot, interaction: discord.Interaction
    ) -> tuple[str, discord.ui.View]:
        shown = await bot.library.unhide(self.kind, self.target, guild=str(interaction.guild_id))
        text = "Shown again in this server's answers." if shown else "It was not hidden."
        return text, stopped()


def hidden_choice(item: HiddenItem) -> tuple[str, str]:
    """(label, value) of a hidden item for `/source unhide`'s autocomplete."""
    return embeds.cut(embeds.hidden_label(item), 100), f"{item.kind}:{item.target}"


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (
    PageButton,
    SourcesButton,
    DeleteButton,
    SourceListPage,
    VoteButton,
    VoteSelect,
    HideButton,
    UnhideButton,
)
