"""Asking: `/ask` and mentions. Both run one `Library.ask` and post `answer_embed`."""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import embeds
from bot.cogs.settings import mention_allowed
from bot.views import NONE, Throttled, answer_view
from index.dates import parse_day
from index.errors import BriefbotError
from index.tokenize import name_key
from index.types import Answer, GuildSettings, Job

if TYPE_CHECKING:
    from bot.client import Briefbot

log = logging.getLogger(__name__)

MAX_QUESTION = 300
MAX_CHOICES = 25  # Discord's limit for autocomplete
MAX_PUBLISHER_CHOICES = 10  # so articles still show when many publishers match
THREAD_EXISTS = 160004  # Discord: "A thread has already been created for this message"
ANSWER_JOB = "answer"  # a deferred /ask not yet answered (Library.begin_job)
MENTION_JOB = "mention"  # a mention not yet replied to


def _guild(guild_id: int | None) -> str | None:
    return str(guild_id) if guild_id else None


def cooldown_text(throttled: Throttled) -> str:
    """Whose limit it is, so a member slowed down by a busy server knows it is not them."""
    wait = f"Please wait {max(throttled.wait, 1):.0f} s before the next question."
    limit = f"{throttled.rate} questions per {throttled.per:g} s"
    if throttled.scope == "guild":
        return f"This server is asking a lot right now (its limit: {limit}). {wait}"
    return f"You're asking quickly (your limit: {limit}). {wait}"


async def start_deferred(
    bot: Briefbot, interaction: discord.Interaction, private: bool | None
) -> tuple[GuildSettings, dict[str, Any]] | None:
    """What /ask and /brief start with: the member's and the server's cooldowns, the
    server's settings, the deferral (Discord drops what is not answered within 3 s), and
    the request a successor needs to answer through the follow-up webhook. None when a
    cooldown refused it (the member was told, privately)."""
    throttled = bot.cooldowns.hit(interaction.user.id, interaction.guild_id)
    if throttled:
        await interaction.response.send_message(
            cooldown_text(throttled), ephemeral=True, allowed_mentions=NONE
        )
        return None
    config = await bot.guild_config.get(interaction.guild_id)  # cached; ≤ 1 s
    private = config.private if private is None else private  # /settings: the default
    await interaction.response.defer(thinking=True, ephemeral=private)
    return config, {
        "application_id": interaction.application_id,
        "token": interaction.token,
        "guild_id": interaction.guild_id,
        "asker": interaction.user.id,
        "private": private,
        "today": datetime.now(UTC).date().isoformat(),
    }


async def _private(followup: discord.Webhook, private: bool, text: str) -> None:
    """A private note after a deferral: a public "thinking…" message is replaced.

    "@original" is the deferred response, as in discord.py's own Interaction methods.
    """
    if not private:
        await followup.delete_message("@original")  # type: ignore[arg-type]
    await followup.send(text, ephemeral=True, allowed_mentions=NONE)


def question_from_mention(content: str, bot_id: int) -> str:
    """The message without the bot's mention(s), e.g. `<@123> who attended?` → `who attended?`."""
    return re.sub(rf"<@!?{bot_id}>", " ", content).strip(" \t\n,:;")


class AskCog(commands.Cog):
    def __init__(self, bot: Briefbot) -> None:
        self.bot = bot

    async def _ask(
        self,
        question: str,
        guild: str | None,
        per_page: int,
        *,
        source: str | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> Answer:
        k = per_page * self.bot.settings.pages
        return await self.bot.library.ask(
            question, guild=guild, k=k, source=source, since=since, until=until
        )

    @app_commands.command(name="ask", description="Ask a question; get cited passages")
    @app_commands.describe(
        question="What you want to know, in plain words",
        source="Search only this article or publisher (start typing a title or a name)",
        since="Only articles published on or after: 2025-12-01, 7d, 2w",
        until="Only articles published on or before: 2025-12-31, 1m, yesterday",
        results="Passages per page (1–10; default: this server's setting)",
        private="Only you see the answer (default: this server's setting)",
    )
    async def ask(
        self,
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, MAX_QUESTION],
        source: str | None = None,
        since: str | None = None,
        until: str | None = None,
        results: app_commands.Range[int, 1, 10] | None = None,
        private: bool | None = None,
    ) -> None:
        started = await start_deferred(self.bot, interaction, private)
        if started is None:
            return
        config, request = started
        request |= {
            "question": question,
            "source": source.strip() if source and source.strip() else None,
            "since": since,
            "until": until,
            "per_page": results or config.results or self.bot.settings.results,
        }
        # Recorded while answering: if this process dies before the answer is posted, the
        # next one posts it. Not recorded first: during a big ingest on SQLite the write
        # may queue behind the writer, and the answer must not.
        async with self.bot.job(f"answer:{interaction.id}", ANSWER_JOB, request):
            await self._respond(interaction.followup, request)

    async def _respond(self, followup: discord.Webhook, request: dict[str, Any]) -> None:
        """Answers a deferred /ask through its follow-up webhook (live, or after a restart)."""
        private = bool(request["private"])
        per_page = int(request["per_page"])
        today = date.fromisoformat(request["today"])
        since, until = request["since"], request["until"]
        try:
            # Unknown sources or publishers, bad days and since > until are one-line
            # BriefbotErrors from the library: the asker sees exactly what was wrong.
            answer = await self._ask(
                request["question"],
                _guild(request["guild_id"]),
                per_page,
                source=request["source"],
                since=parse_day(since, today, what="since") if since else None,
                until=parse_day(until, today, what="until") if until else None,
            )
        except BriefbotError as exc:
            await _private(followup, private, embeds.escape(embeds.cut(str(exc), 300)))
            return
        if not answer.hits:
            self.bot.log_answer(answer, request["guild_id"], per_page, "ask")  # for /stats
            await _private(followup, private, embeds.no_match_text(answer))
            return
        await self.bot.post_answer(
            followup,
            answer,
            embeds.answer_embed(answer, 0, per_page),
            asker=int(request["asker"]),
            per_page=per_page,
            private=private,
            guild_id=request["guild_id"],
            via="ask",
        )

    async def resume(self) -> None:
        """Answers the questions a previous process took and never answered."""
        await self.bot.resume_deferred(ANSWER_JOB, self._respond)
        for job in await self.bot.library.jobs(MENTION_JOB):
            if await self.bot.claim(job):
                await self.bot.finish(job, self._resume_mention, deferred=False)

    async def _resume_mention(self, job: Job) -> None:
        request = job.payload
        channel = self.bot.get_partial_messageable(
            int(request["channel_id"]), guild_id=request.get("guild_id")
        )
        await self._reply(channel.get_partial_message(int(request["message_id"])), request)

    @ask.autocomplete("source")
    async def source_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Publishers first ("All of ANI (12 articles)", value: the name), then articles."""
        guild = _guild(interaction.guild_id)
        publishers = publisher_choices(await self.bot.library.publishers(guild), current)
        sources, _ = await self.bot.library.find(current, guild=guild, limit=MAX_CHOICES)
        articles = [
            app_commands.Choice(name=_choice_name(s.title or s.ref, s.publisher), value=s.id)
            for s in sources
        ]
        return (publishers[:MAX_PUBLISHER_CHOICES] + articles)[:MAX_CHOICES]

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """`@briefbot question` in a channel or thread: reply to it with the answer."""
        me = self.bot.user
        if me is None or message.author.bot or me.id not in message.raw_mentions:
            return
        if self.bot.stopping:  # the next process would not see this mention: say so
            await message.reply(
                "briefbot is restarting; please ask again in a minute.",
                mention_author=False,
                allowed_mentions=NONE,
            )
            return
        config = await self.bot.guild_config.get(message.guild.id if message.guild else None)
        if not mention_allowed(config, message.channel):
            return  # /settings: not a channel this server has the bot answer in
        question = question_from_mention(message.content, me.id)
        if not question:
            await message.reply(
                "Ask me a question after the mention, e.g. "
                f"`@{embeds.escape(me.name)} who attended the Miami talks?` (or use `/ask`).",
                mention_author=False,
                allowed_mentions=NONE,
            )
            return
        throttled = self.bot.cooldowns.hit(
            message.author.id, message.guild.id if message.guild else None
        )
        if throttled:
            await message.reply(
                cooldown_text(throttled),
                mention_author=False,
                allowed_mentions=NONE,
                delete_after=10,
            )
            return
        request = {
            "channel_id": message.channel.id,
            "message_id": message.id,
            "guild_id": message.guild.id if message.guild else None,
            "asker": message.author.id,
            "question": question[:MAX_QUESTION],
            "per_page": config.results or self.bot.settings.results,
            # /settings reply=thread: a new thread from the question, unless it is in one
            "thread": config.reply == "thread" and not isinstance(message.channel, discord.Thread),
        }
        async with self.bot.job(f"mention:{message.id}", MENTION_JOB, request):
            await self._reply(message, request)

    async def _reply(
        self, message: discord.Message | discord.PartialMessage, request: dict[str, Any]
    ) -> None:
        """Replies to a mention with the answer (live, or after a restart): inline, or in
        a thread started from the question."""
        per_page = int(request.get("per_page") or self.bot.settings.results)
        thread = await self._thread(message, request) if request.get("thread") else None

        async def send(content: str | None = None, **kwargs: Any) -> discord.Message:
            if thread is not None:
                return await thread.send(content, allowed_mentions=NONE, **kwargs)
            return await message.reply(
                content, mention_author=False, allowed_mentions=NONE, **kwargs
            )

        try:
            async with (thread or message.channel).typing():
                answer = await self._ask(request["question"], _guild(request["guild_id"]), per_page)
        except BriefbotError as exc:
            await send(str(exc)[:2000])
            return
        except Exception:
            log.exception(
                "mention failed (guild %s, channel %s, user %s)",
                request["guild_id"],
                request["channel_id"],
                request["asker"],
            )
            await send("Something went wrong on our side; it has been logged. Please try again.")
            return
        logged = self.bot.log_answer(answer, request["guild_id"], per_page, "mention")
        if not answer.hits:
            await send(embeds.no_match_text(answer))
            return
        entry = self.bot.answers.add(
            answer, asker=int(request["asker"]), per_page=per_page, private=False, logged=logged
        )
        reply = await send(embed=embeds.answer_embed(answer, 0, per_page), view=answer_view(entry))

        self.bot.answers.expire_buttons(entry, reply)

    async def _thread(
        self, message: discord.Message | discord.PartialMessage, request: dict[str, Any]
    ) -> discord.abc.Messageable | None:
        """The thread started from the question; None (answer inline) if it cannot be."""
        name = embeds.cut(" ".join(request["question"].split()), 100) or "question"
        try:
            return await message.create_thread(name=name)
        except discord.HTTPException as exc:
            if exc.code == THREAD_EXISTS:  # started before a restart; it has the message's id
                return self.bot.get_partial_messageable(message.id, guild_id=request["guild_id"])
            log.warning("could not start a thread from %s, answering inline: %s", message.id, exc)
        except ValueError as exc:  # no guild known for the message
            log.warning("could not start a thread from %s, answering inline: %s", message.id, exc)
        return None


def publisher_choices(
    publishers: list[tuple[str, int]], current: str
) -> list[app_commands.Choice[str]]:
    """Publishers whose name holds `current` (any case), prefix matches first.

    `publishers` is `Library.publishers()`: spellings already merged, most articles
    first. Names over 100 characters cannot be a choice value.
    """
    wanted = name_key(current)
    found = [(name, n) for name, n in publishers if len(name) <= 100 and wanted in name_key(name)]
    found.sort(key=lambda item: not name_key(item[0]).startswith(wanted))  # stable
    return [
        app_commands.Choice(
            name=embeds.cut(f"All of {name} ({n} article{'s' if n != 1 else ''})", 100),
            value=name,
        )
        for name, n in found
    ]


def _choice_name(title: str, publisher: str | None) -> str:
    name = f"{title} — {publisher}" if publisher else title
    name = " ".join(name.split())
    return embeds.cut(name, 100) or "untitled"


async def setup(bot: Briefbot) -> None:
    await bot.add_cog(AskCog(bot))
