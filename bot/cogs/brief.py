"""Briefing: `/brief [topic] [since] [source]` runs one `Library.brief` and posts `brief_embed`."""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import embeds
from bot.cogs.ask import AskCog, _guild, _private, start_deferred
from index.brief import default_since
from index.dates import parse_day
from index.errors import BriefbotError
from index.types import Answer, Brief

if TYPE_CHECKING:
    from bot.client import Briefbot

log = logging.getLogger(__name__)

MAX_TOPIC = 200
STORIES = 5  # stories in one brief: each keeps room for a readable passage and its outlets
BRIEF_JOB = "brief"  # a deferred /brief not yet posted (Library.begin_job)


def as_answer(brief: Brief) -> Answer:
    """The brief's passages as one answer page, for the Sources button and the cache."""
    question = brief.topic or f"the latest stories since {brief.since.isoformat()}"
    return Answer(question, tuple(story.hit for story in brief.stories))


class BriefCog(commands.Cog):
    def __init__(self, bot: Briefbot) -> None:
        self.bot = bot

    @app_commands.command(name="brief", description="What happened since: one passage per story")
    @app_commands.describe(
        topic="Only stories about this (leave out for the latest stories)",
        since="Articles published or added on or after: 1d, 7d (default), 2w, 2025-12-01",
        source="Only this article or publisher (start typing a title or a name)",
    )
    async def brief(
        self,
        interaction: discord.Interaction,
        topic: app_commands.Range[str, 1, MAX_TOPIC] | None = None,
        since: str | None = None,
        source: str | None = None,
    ) -> None:
        # A brief costs what a question costs: the same per-member and per-server windows.
        started = await start_deferred(self.bot, interaction, None)
        if started is None:
            return
        _, request = started
        request |= {
            "topic": topic.strip() if topic and topic.strip() else None,
            "since": since.strip() if since and since.strip() else None,
            "source": source.strip() if source and source.strip() else None,
        }
        # As for /ask: recorded while it runs, so a successor posts it if we die.
        async with self.bot.job(f"brief:{interaction.id}", BRIEF_JOB, request):
            await self._respond(interaction.followup, request)

    async def _respond(self, followup: discord.Webhook, request: dict[str, Any]) -> None:
        """Posts a deferred /brief through its follow-up webhook (live, or after a restart)."""
        today = date.fromisoformat(request["today"])
        since = request["since"]
        private = bool(request.get("private"))
        try:
            brief = await self.bot.library.brief(
                request["topic"],
                guild=_guild(request["guild_id"]),
                since=parse_day(since, today, what="since") if since else default_since(today),
                source=request["source"],
                k=STORIES,
            )
        except BriefbotError as exc:
            await _private(followup, private, embeds.escape(embeds.cut(str(exc), 300)))
            return
        # A brief on a topic is a question: logged for /stats, its stories rated by 👍 / 👎.
        via = "brief" if brief.topic else None
        if not brief.stories:
            self.bot.log_answer(as_answer(brief), request["guild_id"], STORIES, via)
            await _private(followup, private, embeds.brief_no_match_text(brief))
            return
        answer = as_answer(brief)
        await self.bot.post_answer(
            followup,
            answer,
            embeds.brief_embed(brief),
            asker=int(request["asker"]),
            per_page=len(answer.hits),
            private=private,
            guild_id=request["guild_id"],
            via=via,
        )

    async def resume(self) -> None:
        """Posts the briefs a previous process deferred and never posted."""
        await self.bot.resume_deferred(BRIEF_JOB, self._respond)

    @brief.autocomplete("source")
    async def source_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """The same choices as /ask's source: the guild's publishers, then its articles."""
        ask = self.bot.get_cog(AskCog.__cog_name__)
        if not isinstance(ask, AskCog):
            return []
        return await ask.source_choices(interaction, current)


async def setup(bot: Briefbot) -> None:
    await bot.add_cog(BriefCog(bot))
