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
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot import logs
from bot.cogs.settings import GuildSettingsCache, role_text
from bot.config import DISCORD_API, Config, ConfigError, DiscordSettings
from bot.metrics import CountedCooldowns, MeteredLibrary, Metrics, MetricsServer, gauges
from bot.views import DYNAMIC_ITEMS, NONE, AnswerCache, answer_view
from index import Answer, Job, Library
from index.errors import BriefbotError

log = logging.getLogger(__name__)

COGS = (
    "bot.cogs.ask",
    "bot.cogs.brief",
    "bot.cogs.sources",
    "bot.cogs.info",
    "bot.cogs.settings",
    "bot.cogs.stats",
)
TOKEN_SECONDS = 14 * 60  # interaction tokens live 15 min: older ones cannot be answered
# On SIGTERM, work in flight gets this long to finish before it is cancelled (a write
# then rolls back; journaled jobs are finished by the next process). Docker waits 10 s.
STOP_GRACE = 5.0
CANCEL_WAIT = 2.0  # seconds for cancelled work to roll back and tell its user
RESTARTING = "briefbot is restarting; please try again in a minute."
STOPPED_MIDWAY = (
    "briefbot was stopped before this finished: whatever it had stored is kept, the rest "
    "is not. Please run the command again in a minute (what is stored is skipped)."
)


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


class BriefTree(app_commands.CommandTree["Briefbot"]):
    """The command tree; every command passes `Briefbot.admit` first (in its own task)."""

    async def interaction_check(self, interaction: discord.Interaction[Briefbot], /) -> bool:
        return await self.client.admit(interaction)


class Briefbot(commands.AutoShardedBot):
    """discord.py bot holding the library, the answer cache and the cooldowns.

    Sharded: with no [discord] shard settings this process runs every shard Discord
    recommends; `shard_ids` + `shard_count` split them across processes that share one
    database (each follows the others' changes through `Library.watch`).
    """

    def __init__(
        self, library: Library, settings: DiscordSettings, metrics: Metrics | None = None
    ) -> None:
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
            tree_cls=BriefTree,
        )
        self.library = library
        self.settings = settings
        self.version = package_version()
        self.metrics = metrics or Metrics(self.version)
        self.answers = AnswerCache(settings.button_seconds)
        self.cooldowns = CountedCooldowns(
            self.metrics,
            settings.cooldown_asks,
            settings.cooldown_seconds,
            guild_rate=settings.guild_cooldown_asks,
            guild_per=settings.guild_cooldown_seconds,
        )
        self.guild_config = GuildSettingsCache(library)  # /settings, read every few s
        self.started = datetime.now(UTC)
        self._watcher: asyncio.Task[None] | None = None
        self._resuming: asyncio.Task[None] | None = None
        self._feeds: asyncio.Task[None] | None = None
        # Commands and jobs running now (the interaction, if any), for a clean stop.
        self._busy: dict[asyncio.Task[Any], discord.Interaction[Briefbot] | None] = {}
        self._journaled: set[asyncio.Task[Any]] = set()  # their job() finishes them later
        self.serving = False  # set up: a stop drains the work in flight
        self.stopping = False

    async def setup_hook(self) -> None:
        # Every event's handlers log with its guild, channel, user and command.
        if not logs.follow_gateway(
            self._connection.parsers, lambda: getattr(self.user, "id", None)
        ):
            log.warning("log lines will lack their Discord context (discord.py changed)")
        # Load the index before connecting, so the first question is answered at full speed.
        await self.library.sync()
        self._watcher = asyncio.create_task(self.library.watch(), name="index-watch")
        self._feeds = asyncio.create_task(self.library.watch_feeds(), name="feed-poll")
        for name in COGS:
            await self.load_extension(name)
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        self.tree.on_error = self.on_app_command_error
        await self.sync_commands()
        # Work a previous process left unfinished: answers owed (their interaction tokens
        # outlive the process by up to 15 min) and refreshes started.
        self._resuming = asyncio.create_task(self.resume(), name="resume-jobs")
        self.serving = True

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
        task = asyncio.current_task()
        if task is not None:
            self._track(task)
            self._journaled.add(task)
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

    def followup(self, request: dict[str, Any]) -> discord.Webhook:
        """The follow-up webhook of a deferred interaction a job recorded (as discord.py's
        own `Interaction.followup` builds it): how a successor answers it."""
        return discord.Webhook.from_state(
            {"id": int(request["application_id"]), "type": 3, "token": request["token"]},
            self._connection,
        )

    async def finish(
        self,
        job: Job,
        resume: Callable[[Job], Awaitable[None]],
        *,
        deferred: bool = True,
    ) -> None:
        """Finishes a claimed job a previous process left: `resume` redoes it.

        Past the interaction token's life the question has moved on, so it is dropped. For
        a `deferred` interaction, an original that no longer shows "thinking…" (or was
        deleted for a private note) was answered just before the crash: not posted twice.
        Stopping midway puts the job back for the next process.
        """
        age = (datetime.now(UTC) - job.created_at).total_seconds()
        if age > TOKEN_SECONDS:
            log.info("dropped %s: %.0f s old", job.key, age)
            return
        try:
            if deferred:
                try:
                    original = await self.followup(job.payload).fetch_message(
                        "@original"  # type: ignore[arg-type]
                    )
                except discord.NotFound:
                    return
                if not original.flags.loading:
                    return
            await resume(job)
        except asyncio.CancelledError:
            await self.release(job)
            raise
        except (discord.HTTPException, BriefbotError) as exc:
            log.warning("could not finish %s after a restart: %s", job.key, exc)
            return
        log.info("answered %s after a restart (%.0f s late)", job.key, age)

    async def resume_deferred(
        self, kind: str, respond: Callable[[discord.Webhook, dict[str, Any]], Awaitable[None]]
    ) -> None:
        """Finishes every deferred interaction of `kind` a previous process owed:
        `respond(followup, request)` as the live command would have."""
        for job in await self.library.jobs(kind):
            if await self.claim(job):
                await self.finish(job, lambda job: respond(self.followup(job.payload), job.payload))

    def log_answer(
        self, answer: Answer, guild_id: int | None, per_page: int, via: str | None
    ) -> str | None:
        """Logs a server's answer (/stats; its 👍 / 👎 name it); None when not logged: in
        DMs, or for a `via` of None (a brief without a topic asks no question)."""
        if guild_id is None or via is None:
            return None
        return self.library.record_question(
            answer.question, answer.hits, guild=str(guild_id), per_page=per_page, via=via
        )

    async def post_answer(
        self,
        followup: discord.Webhook,
        answer: Answer,
        embed: discord.Embed,
        *,
        asker: int,
        per_page: int,
        private: bool,
        guild_id: int | None = None,
        via: str | None = None,
    ) -> None:
        """The deferred reply: an answer embed with its buttons, which expire later (but
        for 👍 / 👎 and Delete)."""
        logged = self.log_answer(answer, guild_id, per_page, via)
        entry = self.answers.add(
            answer, asker=asker, per_page=per_page, private=private, logged=logged
        )
        message = await followup.send(
            embed=embed,
            view=answer_view(entry),
            ephemeral=private,
            allowed_mentions=NONE,
            wait=True,
        )
        self.answers.expire_buttons(entry, message)

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

    async def admit(self, interaction: discord.Interaction[Briefbot]) -> bool:
        """Every command and autocomplete, first: tracked while it runs; refused while
        the bot is stopping."""
        if self.stopping:
            if interaction.type is discord.InteractionType.application_command:
                with contextlib.suppress(discord.HTTPException):
                    await interaction.response.send_message(
                        RESTARTING, ephemeral=True, allowed_mentions=NONE
                    )
            return False
        task = asyncio.current_task()
        if task is not None:
            self._track(task, interaction)
        return True

    def _track(
        self, task: asyncio.Task[Any], interaction: discord.Interaction[Briefbot] | None = None
    ) -> None:
        if task not in self._busy:
            task.add_done_callback(self._untrack)
        self._busy[task] = interaction or self._busy.get(task)

    def _untrack(self, task: asyncio.Task[Any]) -> None:
        self._busy.pop(task, None)
        self._journaled.discard(task)

    async def shutdown(self, reason: str) -> None:
        """Stops cleanly: new commands are refused, work in flight gets STOP_GRACE seconds,
        then is cancelled (its write rolls back); then the gateway closes."""
        if self.stopping:
            return
        self.stopping = True
        busy = dict(self._busy)
        log.info("stopping (%s): %d command(s) in flight", reason, len(busy))
        if busy:
            _, late = await asyncio.wait(set(busy), timeout=STOP_GRACE)
            journaled = set(self._journaled)  # before cancelling: done tasks leave the set
            for task in late:
                task.cancel()
            if late:
                log.warning(
                    "cancelled %d command(s) still running after %.0f s", len(late), STOP_GRACE
                )
                await asyncio.wait(late, timeout=CANCEL_WAIT)
                notes = [
                    self._tell_stopped(busy[task])
                    for task in late
                    if busy[task] is not None and task not in journaled
                ]
                if notes:
                    await asyncio.wait(
                        [asyncio.ensure_future(note) for note in notes], timeout=CANCEL_WAIT
                    )
        await self.close()

    async def _tell_stopped(self, interaction: discord.Interaction[Briefbot] | None) -> None:
        """A command cancelled by a stop that no successor will finish: say so."""
        if interaction is None or not interaction.response.is_done():
            return
        with contextlib.suppress(discord.HTTPException):
            await interaction.edit_original_response(content=STOPPED_MIDWAY, allowed_mentions=NONE)

    async def close(self) -> None:
        self.answers.close()
        for task in (self._watcher, self._resuming, self._feeds):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await super().close()

    async def check_admin(
        self, interaction: discord.Interaction, *, action: str = "manage sources"
    ) -> bool:
        """Manage Server or the configured role, checked here: a guild's admins can change
        the default permissions Discord applies, so those alone prove nothing."""
        if interaction.guild is None:
            await self.reply_error(interaction, "Admin commands work in a server, not in DMs.")
            return False
        manager_role = await self.manager_role(interaction.guild_id)
        if is_admin(interaction, manager_role):
            return True
        role = f" or the {role_text(manager_role)} role" if manager_role else ""
        await self.reply_error(interaction, f"Only members with Manage Server{role} can {action}.")
        log.info(
            "refused %s to user %s in guild %s",
            interaction.command.qualified_name if interaction.command else "button",
            interaction.user.id,
            interaction.guild_id,
        )
        return False

    async def is_manager(self, interaction: discord.Interaction) -> bool:
        """`check_admin` without the refusal: whether to offer manager-only buttons and
        choices (autocomplete skips the commands' checks)."""
        if interaction.guild_id is None:
            return False
        return is_admin(interaction, await self.manager_role(interaction.guild_id))

    async def manager_role(self, guild_id: int | None) -> str:
        """The role that may manage sources besides Manage Server: the guild's own
        (/settings), else [discord] admin_role; empty for none."""
        settings = await self.guild_config.get(guild_id)
        return settings.manager_role or self.settings.admin_role

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
    # An id (all digits, as /settings stores) matches only that role: a role someone names
    # after the id must not pass.
    if admin_role.isdigit():
        return any(str(role.id) == admin_role for role in member.roles)
    return any(role.name == admin_role for role in member.roles)


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
    """`briefbot run`: open the library, connect, serve until SIGINT/SIGTERM.

    A signal during start-up (migrating, loading the index) cancels it; once the bot is
    set up, `Briefbot.shutdown` lets the work in flight finish or roll back and closes
    the gateway; then the library saves its index as it closes. Either way: exit 0.
    """
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
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    bot: Briefbot | None = None
    signalled: list[str] = []
    shutdowns: set[asyncio.Task[None]] = set()  # referenced until done

    def stop(sig: signal.Signals) -> None:
        if signalled:
            log.info("%s again: already stopping", sig.name)
            return
        signalled.append(sig.name)
        log.info("%s received: stopping", sig.name)
        if bot is not None and bot.serving:
            task = asyncio.create_task(bot.shutdown(sig.name), name="shutdown")
            shutdowns.add(task)
            task.add_done_callback(shutdowns.discard)
        elif main is not None:
            main.cancel()

    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        try:
            loop.add_signal_handler(sig, stop, sig)
        except NotImplementedError:  # Windows: Ctrl-C still ends the run via KeyboardInterrupt
            log.debug("no handler for %s on this platform", sig.name)
    metrics = Metrics(package_version())
    try:
        async with await MeteredLibrary.open_metered(config.settings, metrics) as library:
            bot = Briefbot(library, settings, metrics)
            client = bot
            server = None
            if config.metrics.port:
                server = MetricsServer(
                    metrics, config.metrics, gauges(metrics, library, lambda: client.latency)
                )
                await server.start()
            try:
                async with bot:
                    await _serve(bot, settings.token)
            finally:
                if server is not None:
                    await server.close()
    except asyncio.CancelledError:
        if not signalled:
            raise
        log.info("stopped during start-up")
    finally:
        for sig in signals:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    log.info("stopped cleanly")


async def _serve(bot: Briefbot, token: str) -> None:
    """Connects and runs until the bot is closed; Discord's refusals become our errors."""
    try:
        await bot.start(token)
    except discord.LoginFailure:
        raise ConfigError("Discord refused the bot token (401): check it") from None
    except discord.PrivilegedIntentsRequired as exc:
        raise ConfigError(f"Discord refused the intents: {exc}") from None
    except (aiohttp.ClientConnectionError, OSError) as exc:
        raise BriefbotError(f"cannot reach Discord at {discord.http.Route.BASE}: {exc}") from None
