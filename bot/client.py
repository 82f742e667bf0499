"""The Discord client: connects, registers commands and buttons, handles errors.

A thin layer: every command turns Discord input into one call on `index.Library` and
its result into an embed (`bot.embeds`). We own start-up (`run_bot`): the library and
its database are opened first and handed to the client, as in discord.py's
advanced_startup example.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.config import DISCORD_API, Config, ConfigError, DiscordSettings
from bot.views import DYNAMIC_ITEMS, NONE, AnswerCache, Cooldowns
from index import Job, Library
from index.errors import BriefbotError

log = logging.getLogger(__name__)

COGS = ("bot.cogs.ask", "bot.cogs.sources", "bot.cogs.info")
TOKEN_SECONDS = 14 * 60  # interaction tokens live 15 min: older ones cannot be answered


def _why(exc: BaseException) -> str:
    """One line, never the statement's parameters (a job's row holds an interaction token)."""
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"


def package_version() -> str:
    try:
        return version("briefbot")
    except PackageNotFoundError:
        return "unknown"


def apply_endpoints(settings: DiscordSettings) -> None:
    """Points discord.py at another REST base and gateway (a proxy, or our test fake).

    `Route.BASE` covers all REST, interaction callbacks and webhook follow-ups. A plain
    `Client` never asks `GET /gateway/bot`; it connects to `DEFAULT_GATEWAY`, so that
    has to be set as well.
    """
    discord.http.Route.BASE = (settings.api_base or DISCORD_API).rstrip("/")
    if settings.gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)


class Briefbot(commands.AutoShardedBot):
    """discord.py bot holding the library, the answer cache and the cooldowns.

    Sharded: with no [discord] shard settings this process runs every shard Discord
    recommends; `shard_ids` + `shard_count` split them across processes that share one
    database (each follows the others' changes through `Library.watch`).
    """

    def __init__(self, library: Library, settings: DiscordSettings) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_messages = True  # mentions: Discord sends their content without
        intents.dm_messages = True  # the privileged message-content intent
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            allowed_mentions=NONE,
            shard_ids=list(settings.shard_ids) or None,
            shard_count=settings.shard_count or None,
        )
        self.library = library
        self.settings = settings
        self.answers = AnswerCache(settings.button_seconds)
        self.cooldowns = Cooldowns(
            settings.cooldown_asks,
            settings.cooldown_seconds,
            guild_rate=settings.guild_cooldown_asks,
            guild_per=settings.guild_cooldown_seconds,
        )
        self.started = datetime.now(UTC)
        self.version = package_version()
        self._watcher: asyncio.Task[None] | None = None
        self._resuming: asyncio.Task[None] | None = None

    async def setup_hook(self) -> None:
        # Load the index before connecting, so the first question is answered at full speed.
        await self.library.sync()
        self._watcher = asyncio.create_task(self.library.watch(), name="index-watch")
        for name in COGS:
            await self.load_extension(name)
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        self.tree.on_error = self.on_app_command_error
        await self.sync_commands()
        # Work a previous process left unfinished: answers owed (their interaction tokens
        # outlive the process by up to 15 min) and refreshes started.
        self._resuming = asyncio.create_task(self.resume(), name="resume-jobs")

    async def resume(self) -> None:
        for name, cog in list(self.cogs.items()):
            resume = getattr(cog, "resume", None)
            if resume is None:
                continue
            try:
                await resume()
            except Exception:
                log.exception("resuming %s's unfinished work failed", name)

    def owns(self, guild_id: int | None) -> bool:
        """Whether this process runs the shard a guild (or, for None, DMs) is on."""
        ids, count = self.settings.shard_ids, self.settings.shard_count
        if not ids or not count:
            return True
        return ((guild_id or 0) >> 22) % count in ids

    async def begin_job(
        self, key: str, kind: str, payload: dict[str, Any], created_at: datetime | None = None
    ) -> bool:
        """Library.begin_job that never fails the command: False if it was not recorded."""
        try:
            await self.library.begin_job(key, kind, payload, created_at=created_at)
            return True
        except Exception as exc:  # the journal is a safety net: never fail the command
            log.warning("could not record %s (it will not survive a restart): %s", key, _why(exc))
            return False

    async def end_job(self, key: str) -> bool:
        """Library.end_job: True if this call removed the record (a claim on the job)."""
        try:
            return await self.library.end_job(key)
        except Exception as exc:
            log.warning("could not mark %s done (a restart may redo it): %s", key, _why(exc))
            return False

    @contextlib.asynccontextmanager
    async def job(
        self, key: str, kind: str, payload: dict[str, Any], *, first: bool = False
    ) -> AsyncIterator[None]:
        """Records the work while the block runs, so a successor finishes it if we die.

        Recorded alongside the work (`first`: before it); done when the block ends, even
        in error, except when it is cancelled: this process is stopping, and the next
        one finishes the job.
        """
        recorded = asyncio.create_task(self.begin_job(key, kind, payload))
        if first:
            await recorded
        try:
            yield
        except asyncio.CancelledError:
            raise
        except BaseException:
            if await recorded:
                await self.end_job(key)
            raise
        if await recorded:
            await self.end_job(key)

    async def claim(self, job: Job) -> bool:
        """Whether this process should finish `job`, left by a previous process: it is on
        our shard, began before we started (ours are running), and no one took it yet."""
        if not self.owns(job.payload.get("guild_id")) or job.created_at >= self.started:
            return False
        return await self.end_job(job.key)

    async def release(self, job: Job) -> None:
        """A claimed job we could not finish because we are stopping: it goes back."""
        await asyncio.shield(self.begin_job(job.key, job.kind, job.payload, job.created_at))

    async def sync_commands(self) -> None:
        """Global sync, or instant per-guild sync for the guilds in `dev_guilds`."""
        if self.settings.dev_guilds:
            for guild_id in self.settings.dev_guilds:
                guild = discord.Object(guild_id)
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
                log.info("synced %d commands to guild %s", len(synced), guild_id)
        else:
            synced = await self.tree.sync()
            log.info(
                "synced %d global commands (Discord may take a while to show them)", len(synced)
            )

    async def on_ready(self) -> None:
        log.info(
            "connected as %s (%s) to %d guilds on shards %s of %s",
            self.user,
            getattr(self.user, "id", "?"),
            len(self.guilds),
            sorted(self.shards),
            self.shard_count,
        )

    async def on_message(self, message: discord.Message, /) -> None:
        """Only mentions are handled (in the ask cog); there are no prefix commands."""

    async def close(self) -> None:
        self.answers.close()
        for task in (self._watcher, self._resuming):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await super().close()

    async def check_admin(self, interaction: discord.Interaction) -> bool:
        """Manage Server or the configured role, checked here: a guild's admins can change
        the default permissions Discord applies, so those alone prove nothing."""
        if interaction.guild is None:
            await self.reply_error(interaction, "Source commands work in a server, not in DMs.")
            return False
        if is_admin(interaction, self.settings.admin_role):
            return True
        role = f" or the `{self.settings.admin_role}` role" if self.settings.admin_role else ""
        await self.reply_error(
            interaction, f"Only members with Manage Server{role} can manage sources."
        )
        log.info(
            "refused %s to user %s in guild %s",
            interaction.command.qualified_name if interaction.command else "button",
            interaction.user.id,
            interaction.guild_id,
        )
        return False

    async def reply_error(self, interaction: discord.Interaction, text: str) -> None:
        """One private line, as a response or (after a deferral) a follow-up."""
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=NONE)
        else:
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NONE)

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """Logs with context; the user sees one private line, never a traceback."""
        original = getattr(error, "original", error)
        if isinstance(error, app_commands.CheckFailure) and interaction.response.is_done():
            return  # the check already told the user why
        if isinstance(error, app_commands.CommandOnCooldown):
            text = f"Slow down a little: try again in {error.retry_after:.0f} s."
        elif isinstance(error, app_commands.CheckFailure):
            text = "You can't use this command here."
        elif isinstance(original, BriefbotError):
            text = str(original)
        else:
            text = "Something went wrong on our side; it has been logged. Please try again."
            log.error(
                "command %s failed (guild %s, channel %s, user %s)",
                interaction.command.qualified_name if interaction.command else "?",
                interaction.guild_id,
                interaction.channel_id,
                interaction.user.id,
                exc_info=original,
            )
        try:
            await self.reply_error(interaction, text[:2000])
        except discord.HTTPException:
            log.warning("could not tell the user about the error", exc_info=True)


def is_admin(interaction: discord.Interaction, admin_role: str) -> bool:
    permissions = interaction.permissions
    if permissions.manage_guild or permissions.administrator:
        return True
    member = interaction.user
    if not admin_role or not isinstance(member, discord.Member):
        return False
    return any(str(role.id) == admin_role or role.name == admin_role for role in member.roles)


class RedactingFormatter(logging.Formatter):
    """Wraps a handler's formatter so a secret never reaches the log, tracebacks included."""

    def __init__(self, inner: logging.Formatter, secret: str) -> None:
        super().__init__()
        self.inner = inner
        self.secret = secret

    def format(self, record: logging.LogRecord) -> str:
        return self.inner.format(record).replace(self.secret, "[redacted token]")


def redact_logs(secret: str) -> None:
    """Every handler of the root logger hides `secret` from here on."""
    if not secret:
        return
    for handler in logging.getLogger().handlers:
        inner = handler.formatter or logging.Formatter()
        if not isinstance(inner, RedactingFormatter):
            handler.setFormatter(RedactingFormatter(inner, secret))


async def run_bot(config: Config) -> None:
    """`briefbot run`: open the library, connect, serve until SIGINT/SIGTERM."""
    settings = config.discord
    if not settings.token:
        raise ConfigError(
            "no Discord bot token: set BRIEFBOT_DISCORD_TOKEN or [discord] token in the config"
        )
    redact_logs(settings.token)
    apply_endpoints(settings)
    # Answers run beside ingestion threads: hand the GIL over every 1 ms, not 5 ms, so a
    # question waits less behind CPU-bound indexing.
    sys.setswitchinterval(0.001)
    # We never join voice; the voice libraries' absence is not worth a warning.
    discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
    logging.getLogger("alembic").setLevel(logging.WARNING)
    async with await Library.open(config.settings) as library:
        bot = Briefbot(library, settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, lambda: asyncio.ensure_future(bot.close()))
            except NotImplementedError:  # Windows: Ctrl-C still ends the run via KeyboardInterrupt
                log.debug("no handler for %s on this platform", sig.name)
        async with bot:
            try:
                await bot.start(settings.token)
            except discord.LoginFailure:
                raise ConfigError("Discord refused the bot token (401): check it") from None
            except discord.PrivilegedIntentsRequired as exc:
                raise ConfigError(f"Discord refused the intents: {exc}") from None
            except (aiohttp.ClientConnectionError, OSError) as exc:
                raise BriefbotError(
                    f"cannot reach Discord at {discord.http.Route.BASE}: {exc}"
                ) from None
