"""`briefbot doctor`: is this installation ready to run? One line per check.

Read-only: the database is only read (a missing SQLite file is not created, migrations
are compared, never applied, and the index is loaded only on a database at the latest
migration, without saving it). The token is never printed, only its length.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.config import DEFAULT_CONFIG, DISCORD_API, Config, ConfigError, load_config
from index import store
from index.library import Library, index_dir
from index.settings import Settings

OK, FAIL, SKIP = "ok", "FAIL", "skip"
CONNECT_SECONDS = 10.0  # database and Discord: a check that hangs is a failure


@dataclass(frozen=True, slots=True)
class Check:
    """One check's outcome: ok, FAIL or skip, and what it found."""

    name: str
    status: str
    detail: str

    def line(self) -> str:
        return f"{self.status:<4} {self.name}: {self.detail}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer in {CONNECT_SECONDS:g} s"
    return store.db_reason(exc) or type(exc).__name__


async def checks(
    config_path: str | None, database_url: str | None, *, offline: bool = False
) -> AsyncIterator[Check]:
    """The checks in order, each as soon as it is done; later ones are skipped when an
    earlier one they need failed."""
    try:
        config = load_config(config_path, database_url)
    except ConfigError as exc:
        yield Check("config", FAIL, str(exc))
        for name in ("token", "database", "migrations", "index", "discord"):
            yield Check(name, SKIP, "needs a valid config")
        return
    path = Path(config_path) if config_path else DEFAULT_CONFIG
    found = config_path is not None or path.exists()
    yield Check("config", OK, str(path) if found else "no file: defaults and the environment")
    yield token_check(config)
    database, migrated = await database_checks(config.settings)
    yield database
    yield migrated
    if migrated.status == OK:
        yield await index_check(config.settings)
    else:
        yield Check("index", SKIP, "needs a database at the latest migration")
    yield await discord_check(config, offline=offline)


def token_check(config: Config) -> Check:
    token = config.discord.token
    if not token:
        return Check(
            "token",
            FAIL,
            "not set: briefbot run needs BRIEFBOT_DISCORD_TOKEN or [discord] token",
        )
    where = "BRIEFBOT_DISCORD_TOKEN" if os.environ.get("BRIEFBOT_DISCORD_TOKEN") else "the config"
    size = f"set ({len(token)} chars, from {where})"
    if token.lower().startswith("bot "):
        return Check("token", FAIL, f"{size} but it starts with 'Bot ': give the token alone")
    if any(c.isspace() or c in "\"'" for c in token):
        return Check("token", FAIL, f"{size} but it holds spaces or quotes: copy it again")
    return Check("token", OK, size)


async def database_checks(settings: Settings) -> tuple[Check, Check]:
    """Reachable, then at the latest migration; read-only, on an engine of its own (the
    app's sets SQLite pragmas as it connects)."""
    url = make_url(settings.database_url)
    shown = url.render_as_string(hide_password=True)
    not_checked = Check("migrations", SKIP, "needs a reachable database")
    connect_args: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or url.query.get("mode") == "memory":
            return Check("database", FAIL, f"{shown} is in memory: nothing would persist"), (
                not_checked
            )
        if not Path(database).is_file():
            return (
                Check(
                    "database",
                    FAIL,
                    f"{database} does not exist (briefbot ingest or run creates it)",
                ),
                not_checked,
            )
    elif url.get_backend_name() == "postgresql":
        connect_args["timeout"] = CONNECT_SECONDS
    engine = create_async_engine(url, connect_args=connect_args, hide_parameters=True)
    try:
        async with asyncio.timeout(CONNECT_SECONDS + 5):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
                version = ".".join(str(v) for v in (conn.dialect.server_version_info or ()))
                current, heads, known = await conn.run_sync(_revisions)
                await conn.rollback()
    except Exception as exc:
        return Check("database", FAIL, f"{shown}: cannot connect ({_reason(exc)})"), not_checked
    finally:
        await engine.dispose()
    name = f"{engine.dialect.name} {version}".strip()
    reachable = Check("database", OK, f"{shown} ({name})")
    latest = ", ".join(heads)
    if current == heads:
        return reachable, Check("migrations", OK, f"at {latest} (the latest)")
    if not current:
        return reachable, Check(
            "migrations",
            FAIL,
            f"none applied, latest is {latest} (briefbot ingest or run creates the tables)",
        )
    at = ", ".join(current)
    if not known:
        return reachable, Check(
            "migrations", FAIL, f"at {at}, which this briefbot does not know (a newer version's?)"
        )
    return reachable, Check(
        "migrations",
        FAIL,
        f"at {at}, latest is {latest}: the next briefbot ingest or run migrates it",
    )


def _revisions(connection: Connection) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """(the database's revisions, the code's heads, whether the code knows the database's)."""
    from alembic.config import Config as AlembicConfig
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    config = AlembicConfig()
    config.set_main_option("script_location", str(store.MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    heads = tuple(sorted(script.get_heads()))
    current = tuple(sorted(MigrationContext.configure(connection).get_current_heads()))
    try:
        known = all(script.get_revision(rev) is not None for rev in current)
    except CommandError:
        known = False
    return current, heads, known


@contextlib.contextmanager
def _index_log() -> Iterator[list[str]]:
    """The library's own account of how it loaded the index, kept off stderr."""
    logger = logging.getLogger("index.library")
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Keep(logging.INFO)
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


async def index_check(settings: Settings) -> Check:
    """Loads the index as `briefbot run` would (the saved one, or a rebuild); saves nothing."""
    folder = index_dir(settings)
    # No background save while loading, none on close.
    quiet = replace(settings, index=replace(settings.index, save_interval=math.inf))
    started = time.perf_counter()
    try:
        with _index_log() as lines:
            # At the latest migration (checked before), opening migrates nothing.
            library = await Library.open(quiet)
            try:
                await library.sync()
                passages = len(library.index)
            finally:
                library.index_dir = None
                await library.close()
    except Exception as exc:
        return Check("index", FAIL, f"cannot load it ({_reason(exc)})")
    seconds = time.perf_counter() - started
    if any(line.startswith("index: loaded") for line in lines):
        how = f"the saved index in {folder}"
    elif folder is None:
        how = "built from the database; saving is off ([index] path)"
    elif (folder / "passages" / "CURRENT").exists():
        how = f"built from the database: the saved index in {folder} is stale or damaged"
    else:
        how = f"built from the database: nothing saved in {folder} yet"
    hint = " (nothing ingested yet: briefbot ingest PATH)" if passages == 0 else ""
    return Check("index", OK, f"{passages:,} passages{hint}, {how}, in {seconds:.1f} s")


async def discord_check(config: Config, *, offline: bool) -> Check:
    """GET /users/@me (the token works) and /gateway/bot (the gateway, session starts left)."""
    settings = config.discord
    if offline:
        return Check("discord", SKIP, "--offline: not contacted")
    if not settings.token:
        return Check("discord", SKIP, "no token configured, so not contacted")
    base = (settings.api_base or DISCORD_API).rstrip("/")
    headers = {"Authorization": f"Bot {settings.token}"}
    timeout = aiohttp.ClientTimeout(total=CONNECT_SECONDS)
    try:
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as http:
            async with http.get(f"{base}/users/@me") as response:
                if response.status == 401:
                    return Check(
                        "discord",
                        FAIL,
                        f"{base} refused the token (401): reset it in the Developer Portal",
                    )
                if response.status != 200:
                    return Check("discord", FAIL, f"{base}/users/@me answered {response.status}")
                me = await response.json()
            async with http.get(f"{base}/gateway/bot") as response:
                gateway = await response.json() if response.status == 200 else {}
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        reason = _reason(exc) if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
        return Check(
            "discord", FAIL, f"cannot reach {base} ({reason})".replace(settings.token, "…")
        )
    who = f"{me.get('username', '?')} ({me.get('id', '?')})"
    limit = gateway.get("session_start_limit") or {}
    if limit and not limit.get("remaining"):
        hours = int(limit.get("reset_after", 0)) / 3_600_000
        return Check(
            "discord", FAIL, f"logged in as {who}, but no gateway starts left for {hours:.1f} h"
        )
    extra = ""
    if gateway:
        extra = f"; {gateway.get('shards', '?')} shard(s) recommended"
        if limit:
            extra += f", {limit.get('remaining')}/{limit.get('total')} gateway starts left"
    return Check("discord", OK, f"{base} answers: logged in as {who}{extra}")
