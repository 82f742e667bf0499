"""`/source add|list|remove|refresh|unhide`: admins manage what their server searches.

Discord's `default_permissions` only hides the commands by default (a guild's admins
can change that), so every command and button checks permissions here as well.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import embeds
from bot.client import TOKEN_SECONDS
from bot.views import NONE, hidden_choice, source_list_message
from index.errors import BriefbotError, SourceNotFound
from index.feedback import parse_item
from index.types import IngestReport, SourceInfo

if TYPE_CHECKING:
    from bot.client import Briefbot

log = logging.getLogger(__name__)

UPLOAD_TYPES = frozenset({".html", ".htm", ".pdf", ".txt", ".md"})
PROGRESS_EVERY = 1.5  # seconds between progress edits (Discord rate-limits edits)
REFRESH_JOB = "refresh"  # a /source refresh not yet finished (Library.begin_job)


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class SourceCommands(commands.GroupCog, group_name="source", group_description="Manage sources"):
    """Admin commands; the checks below run whatever permissions a guild configured."""

    def __init__(self, bot: Briefbot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:  # type: ignore[override]
        return await self.bot.check_admin(interaction)

    @app_commands.command(name="add", description="Add an article or feed URL, or upload a file")
    @app_commands.describe(
        url="Link to a news article or an RSS/Atom feed",
        file="An HTML, PDF or text file",
    )
    async def add(
        self,
        interaction: discord.Interaction,
        url: str | None = None,
        file: discord.Attachment | None = None,
    ) -> None:
        if (url is None) == (file is None):
            await self.bot.reply_error(
                interaction, "Give exactly one of `url` (an article or feed link) or `file`."
            )
            return
        if file is not None:
            problem = self._check_upload(file)
            if problem:
                await self.bot.reply_error(interaction, problem)
                return
        await interaction.response.defer(thinking=True, ephemeral=True)
        guild = str(interaction.guild_id)
        user = str(interaction.user.id)
        progress = Progress(interaction)
        if file is not None:
            await progress.say(f"Reading {embeds.escape(file.filename)} …", force=True)
            try:
                body = await file.read()
            except discord.HTTPException as exc:
                await progress.done(f"Could not download the upload: {exc.text or exc.status}.")
                return
            if len(body) > self.bot.library.settings.extract.max_attachment_bytes:
                await progress.done(self._too_large(file.filename, len(body)))
                return
            await progress.say(f"Extracting and indexing {embeds.escape(file.filename)} …")
            report = await self.bot.library.ingest_bytes(
                body,
                name=file.filename,
                ref=f"upload:{file.id}/{file.filename}",
                guild=guild,
                added_by=user,
            )
            what = file.filename
        else:
            assert url is not None
            url = url.strip()
            if not url.startswith(("http://", "https://")):
                await progress.done("The URL must start with http:// or https://.")
                return
            await progress.say(f"Fetching <{url}> …", force=True)

            def step(_units: int, label: str) -> None:
                if label != url:
                    progress.later(f"Fetching feed articles, {label}")

            report = await self.bot.library.ingest([url], guild=guild, progress=step, added_by=user)
            what = url
        added = [await self.bot.library.source(sid) for sid in report.added[:5]]
        await progress.done(embeds.ingest_text(report, added, what))
        log.info(
            "guild %s user %s added %s: %d added, %d unchanged, %d failed",
            guild,
            user,
            what,
            len(report.added),
            len(report.unchanged),
            len(report.failed),
        )

    def _check_upload(self, file: discord.Attachment) -> str | None:
        suffix = PurePath(file.filename).suffix.lower()
        if suffix not in UPLOAD_TYPES:
            kinds = " ".join(sorted(UPLOAD_TYPES))
            return (
                f"Unsupported file type `{embeds.escape(suffix or file.filename)}`: "
                f"upload one of {kinds}."
            )
        if file.size > self.bot.library.settings.extract.max_attachment_bytes:
            return self._too_large(file.filename, file.size)
        return None

    def _too_large(self, name: str, size: int) -> str:
        limit = self.bot.library.settings.extract.max_attachment_bytes
        return f"{embeds.escape(name)} is too large: {size:,} bytes, the limit is {limit:,}."

    @app_commands.command(name="list", description="Sources and feeds this server searches")
    async def list_(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True, ephemeral=True)
        embed, view = await source_list_message(self.bot, interaction.guild_id, 0)
        await interaction.followup.send(
            embed=embed, view=view, ephemeral=True, allowed_mentions=NONE
        )

    @app_commands.command(name="remove", description="Remove a source or feed from this server")
    @app_commands.describe(id="The source or feed (start typing its title or id)")
    async def remove(self, interaction: discord.Interaction, id: str) -> None:
        guild = str(interaction.guild_id)
        try:
            kind = await self.bot.library.remove(id.strip(), guild=guild)
        except SourceNotFound:
            await self.bot.reply_error(
                interaction,
                f"This server has no source or feed `{embeds.escape(id[:40])}` "
                "(global sources can only be removed with the `briefbot` CLI).",
            )
            return
        await interaction.response.send_message(
            f"Removed {kind} `{embeds.escape(id.strip())}`.", ephemeral=True, allowed_mentions=NONE
        )
        log.info("guild %s user %s removed %s %s", guild, interaction.user.id, kind, id)

    @remove.autocomplete("id")
    async def own_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._choices(interaction, current)

    @app_commands.command(name="refresh", description="Fetch this server's URLs and feeds again")
    @app_commands.describe(id="One source or feed (default: all of this server's)")
    async def refresh(self, interaction: discord.Interaction, id: str | None = None) -> None:
        await interaction.response.defer(thinking=True, ephemeral=True)
        request = {
            "application_id": interaction.application_id,
            "token": interaction.token,
            "guild_id": interaction.guild_id,
            "id": id.strip() if id and id.strip() else None,
        }
        # A refresh fetches for a while: recorded first, so a restart midway redoes it.
        async with self.bot.job(f"refresh:{interaction.id}", REFRESH_JOB, request, first=True):
            await self._refresh(interaction.followup, request)

    async def _refresh(self, followup: discord.Webhook | None, request: dict[str, Any]) -> None:
        """Runs one refresh and reports it (unless its interaction has expired: None)."""
        id = request["id"]
        try:
            report = await self.bot.library.refresh(id, guild=str(request["guild_id"]))
        except SourceNotFound:
            text = f"This server has no source or feed `{embeds.escape((id or '')[:40])}`."
        else:
            added = [await self.bot.library.source(sid) for sid in report.added[:5]]
            text = _refresh_text(report, added)
            log.info(
                "guild %s refreshed %s: %d updated, %d failed",
                request["guild_id"],
                id or "everything",
                len(report.added),
                len(report.failed),
            )
        if followup is not None:
            await followup.send(text, ephemeral=True, allowed_mentions=NONE)

    async def resume(self) -> None:
        """Finishes the refreshes a previous process started and never finished (once: a
        refresh that crashed the process is claimed, so it is not retried for ever)."""
        for job in await self.bot.library.jobs(REFRESH_JOB):
            if not await self.bot.claim(job):
                continue
            request = job.payload
            age = (datetime.now(UTC) - job.created_at).total_seconds()
            followup = None
            if age <= TOKEN_SECONDS:  # the admin who asked still gets the report
                followup = self.bot.followup(request)
            try:
                await self._refresh(followup, request)
                log.info("finished %s after a restart", job.key)
            except asyncio.CancelledError:
                await self.bot.release(job)
                raise
            except (discord.HTTPException, BriefbotError) as exc:
                log.warning("could not finish %s after a restart: %s", job.key, exc)

    @refresh.autocomplete("id")
    async def refresh_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._choices(interaction, current)

    @app_commands.command(
        name="unhide", description="Show a passage or source hidden by a 👎 in answers again"
    )
    @app_commands.describe(item="What was hidden (start typing; /stats lists them all)")
    async def unhide(self, interaction: discord.Interaction, item: str) -> None:
        guild = str(interaction.guild_id)
        try:
            kind, target = parse_item(item)
        except BriefbotError:
            await self.bot.reply_error(
                interaction, "Pick a hidden passage or source from the list as you type."
            )
            return
        await interaction.response.defer(thinking=True, ephemeral=True)
        shown = await self.bot.library.unhide(kind, target, guild=guild)
        text = (
            f"The {kind} `{embeds.escape(target[:40])}` shows in this server's answers again."
            if shown
            else f"No {kind} `{embeds.escape(target[:40])}` is hidden in this server."
        )
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NONE)
        if shown:
            log.info("guild %s user %s unhid %s %s", guild, interaction.user.id, kind, target)

    @unhide.autocomplete("item")
    async def hidden_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if not await self.bot.is_manager(interaction):
            return []
        wanted = current.strip().lower()
        choices = []
        for item in await self.bot.library.hidden(str(interaction.guild_id)):
            name, value = hidden_choice(item)
            if wanted in name.lower() or wanted in value:
                choices.append(app_commands.Choice(name=name, value=value))
        return choices[:25]

    async def _choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        # Autocomplete skips interaction_check: without this, a member who may not run
        # /source list could read the server's sources and feed URLs by typing into `id`.
        if not await self.bot.is_manager(interaction):
            return []
        sources, feeds = await self.bot.library.find(
            current, guild=str(interaction.guild_id), own_only=True, limit=25
        )
        choices = [
            app_commands.Choice(name=embeds.cut(f"feed: {f.title or f.url}", 100), value=f.id)
            for f in feeds
        ]
        choices += [
            app_commands.Choice(
                name=embeds.cut(" ".join((s.title or s.ref).split()), 100), value=s.id
            )
            for s in sources
        ]
        return choices[:25]


def _refresh_text(report: IngestReport, added: list[SourceInfo]) -> str:
    lines = [
        f"Refreshed in {report.seconds:.1f} s: {len(report.added)} updated or new, "
        f"{len(report.unchanged)} unchanged, {len(report.failed)} failed."
    ]
    for source in added:
        lines.append(f"Updated {embeds.citation(source, title_limit=120)} (`{source.id}`)")
    for ref, reason in report.failed[:5]:
        lines.append(
            f"Failed {embeds.escape(embeds.cut(ref, 200))}: "
            f"{embeds.escape(embeds.cut(reason, 300))}"
        )
    return embeds.cut("\n".join(lines), embeds.Limits.CONTENT)


class Progress:
    """Shows how an add is going by editing the deferred response, at most every 1.5 s."""

    def __init__(self, interaction: discord.Interaction) -> None:
        self.interaction = interaction
        self.last = 0.0
        self.tasks: set[asyncio.Task[None]] = set()

    async def say(self, text: str, *, force: bool = False) -> None:
        """Skipped when the last edit was under 1.5 s ago: a newer step follows anyway."""
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_EVERY:
            return
        self.last = now
        try:
            await self.interaction.edit_original_response(content=text, allowed_mentions=NONE)
        except discord.HTTPException as exc:  # progress is best effort
            log.debug("progress edit failed: %s", exc)

    def later(self, text: str) -> None:
        """From a synchronous callback: show it if enough time has passed."""
        if time.monotonic() - self.last >= PROGRESS_EVERY:
            self.last = time.monotonic()
            task = asyncio.get_running_loop().create_task(self.say(text, force=True))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def done(self, text: str) -> None:
        """The final word; progress edits still in flight must not land after it."""
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.interaction.edit_original_response(
            content=embeds.cut(text, embeds.Limits.CONTENT), allowed_mentions=NONE
        )


async def setup(bot: Briefbot) -> None:
    await bot.add_cog(SourceCommands(bot))
