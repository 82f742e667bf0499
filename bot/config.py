"""Configuration: TOML file + environment → the library's typed Settings.

Precedence for each value: command-line option, environment variable, config file,
built-in default. Unknown keys are errors, so a typo never silently does nothing.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from index.errors import BriefbotError
from index.settings import (
    ExtractSettings,
    FeedbackSettings,
    FeedSettings,
    FetchSettings,
    IndexSettings,
    PassageSettings,
    SearchSettings,
    Settings,
)

DEFAULT_CONFIG = Path("briefbot.toml")
DISCORD_API = "https://discord.com/api/v10"
MAX_BUTTON_SECONDS = 840.0  # interaction tokens live 15 min; buttons are cleaned up before
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(BriefbotError):
    """The config file or an environment variable holds something we cannot use."""


@dataclass(frozen=True, slots=True)
class DiscordSettings:
    """How the bot connects to Discord and behaves there."""

    token: str = field(default="", repr=False)
    api_base: str = DISCORD_API  # REST base; operators may point it at a proxy
    gateway_url: str = ""  # empty: Discord's own gateway
    dev_guilds: tuple[int, ...] = ()  # sync commands to these guilds at start (instant)
    admin_role: str = ""  # role name or id that may manage sources besides Manage Server
    results: int = 3  # passages per page of an answer
    pages: int = 5  # pages of results an answer keeps for the ◀ ▶ buttons
    cooldown_asks: int = 5  # asks a user may make per cooldown_seconds
    cooldown_seconds: float = 60.0
    guild_cooldown_asks: int = 60  # asks a whole guild may make per guild_cooldown_seconds
    guild_cooldown_seconds: float = 60.0
    button_seconds: float = 600.0  # answer buttons stop working after this
    shard_count: int = 0  # 0: as many shards as Discord recommends, all in this process
    shard_ids: tuple[int, ...] = ()  # the shards this process runs (needs shard_count)


LOG_FORMATS = ("plain", "json")
LOG_LEVELS = ("", "debug", "info", "warning", "error", "critical")


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    """What the log on stderr looks like and how much it says."""

    format: str = "plain"  # "plain" (one readable line) or "json" (one object per line)
    level: str = ""  # empty: warning for commands, info for `briefbot run`; -v is debug


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    """Prometheus metrics of `briefbot run`, served over HTTP at /metrics."""

    port: int = 0  # 0: no metrics
    host: str = "127.0.0.1"  # the address to listen on; 0.0.0.0 exposes it to the network


@dataclass(frozen=True, slots=True)
class Config:
    """The library's settings plus the bot's."""

    settings: Settings
    discord: DiscordSettings
    logging: LoggingSettings = LoggingSettings()
    metrics: MetricsSettings = MetricsSettings()


def _section(name: str, cls: type, data: Any, origin: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: [{name}] must be a table")
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    defaults = cls()
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"{origin}: unknown setting [{name}] {key}")
        default = getattr(defaults, key)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            value = float(value) if ok else value
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, tuple):
            ok = isinstance(value, list) and all(isinstance(v, int) for v in value)
            value = tuple(value) if ok else value
        else:
            ok = isinstance(value, str)
        if not ok:
            raise ConfigError(
                f"{origin}: [{name}] {key} must be {type(default).__name__}, not {value!r}"
            )
        values[key] = value
    return replace(defaults, **values) if is_dataclass(defaults) else defaults


def env_flag(name: str) -> bool | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"environment variable {name} must be 1 or 0, not {raw!r}")


def load_settings(config_path: str | None = None, database_url: str | None = None) -> Settings:
    """Reads the config file (if any) and the environment into the library's Settings."""
    return load_config(config_path, database_url).settings


def load_config(config_path: str | None = None, database_url: str | None = None) -> Config:
    """Reads the config file (if any) and the environment."""
    data: dict[str, Any] = {}
    origin = "defaults"
    path = Path(config_path) if config_path else DEFAULT_CONFIG
    if config_path or path.exists():
        origin = str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    sections = {
        "fetch": FetchSettings,
        "extract": ExtractSettings,
        "feeds": FeedSettings,
        "passages": PassageSettings,
        "search": SearchSettings,
        "index": IndexSettings,
        "feedback": FeedbackSettings,
        "discord": DiscordSettings,
        "logging": LoggingSettings,
        "metrics": MetricsSettings,
    }
    for key in data:
        if key not in (*sections, "database"):
            raise ConfigError(f"{origin}: unknown section [{key}]")
    parsed = {
        name: _section(name, cls, data.get(name, {}), origin) for name, cls in sections.items()
    }
    db = data.get("database", {})
    if not isinstance(db, dict) or set(db) - {"url"}:
        raise ConfigError(f"{origin}: [database] takes only url")
    url = (
        database_url
        or os.environ.get("BRIEFBOT_DATABASE_URL")
        or db.get("url")
        or Settings().database_url
    )
    allow = env_flag("BRIEFBOT_ALLOW_PRIVATE_NETWORKS")
    if allow is not None:
        parsed["fetch"] = replace(parsed["fetch"], allow_private_networks=allow)
    index_path = os.environ.get("BRIEFBOT_INDEX_PATH")
    if index_path is not None:
        parsed["index"] = replace(parsed["index"], path=index_path.strip())
    index: IndexSettings = parsed["index"]
    if index.save_interval < 0 or index.poll_interval <= 0:
        raise ConfigError(f"{origin}: [index] needs save_interval >= 0 and poll_interval > 0")
    _check_extract(parsed["extract"], origin)
    feeds: FeedSettings = parsed["feeds"]
    if feeds.interval < 1 or feeds.max_backoff < feeds.interval:
        raise ConfigError(f"{origin}: [feeds] needs interval >= 1 and max_backoff >= interval")
    if parsed["feedback"].keep_days <= 0:
        raise ConfigError(f"{origin}: [feedback] keep_days must be more than 0")
    if not 0 <= parsed["search"].feedback_weight < 1:
        raise ConfigError(f"{origin}: [search] feedback_weight must be at least 0 and below 1")
    passages: PassageSettings = parsed["passages"]
    if not 1 <= passages.min_words <= passages.max_words:
        raise ConfigError(f"{origin}: [passages] needs 1 <= min_words <= max_words")
    discord = _discord_env(parsed.pop("discord"))
    _check_discord(discord, origin)
    logs = _logging_env(parsed.pop("logging"), origin)
    metrics = _metrics_env(parsed.pop("metrics"), origin)
    return Config(Settings(database_url=url, **parsed), discord, logs, metrics)


def logging_from_env() -> LoggingSettings:
    """[logging] as the environment alone says: for the log before a config file is read."""
    return _logging_env(LoggingSettings(), "environment")


def _logging_env(logs: LoggingSettings, origin: str) -> LoggingSettings:
    """BRIEFBOT_LOG_FORMAT and BRIEFBOT_LOG_LEVEL win over [logging]."""
    values = {"format": logs.format.lower(), "level": logs.level.lower()}
    where = {key: f"{origin}: [logging] {key}" for key in values}
    for key, name in (("format", "BRIEFBOT_LOG_FORMAT"), ("level", "BRIEFBOT_LOG_LEVEL")):
        raw = os.environ.get(name)
        if raw is not None and raw.strip():
            values[key], where[key] = raw.strip().lower(), f"environment variable {name}"
    if values["format"] not in LOG_FORMATS:
        raise ConfigError(f"{where['format']} must be plain or json, not {values['format']!r}")
    if values["level"] not in LOG_LEVELS:
        raise ConfigError(
            f"{where['level']} must be one of {', '.join(LOG_LEVELS[1:])}, not {values['level']!r}"
        )
    return replace(logs, **values)


def _metrics_env(metrics: MetricsSettings, origin: str) -> MetricsSettings:
    """BRIEFBOT_METRICS_PORT and BRIEFBOT_METRICS_HOST win over [metrics]."""
    raw = os.environ.get("BRIEFBOT_METRICS_PORT")
    if raw is not None and raw.strip():
        if not raw.strip().isdigit():
            raise ConfigError(
                f"environment variable BRIEFBOT_METRICS_PORT must be a port, not {raw!r}"
            )
        metrics = replace(metrics, port=int(raw))
    host = os.environ.get("BRIEFBOT_METRICS_HOST")
    if host is not None and host.strip():
        metrics = replace(metrics, host=host.strip())
    if not 0 <= metrics.port <= 65535:
        raise ConfigError(f"{origin}: [metrics] port must be 0 (off) to 65535, not {metrics.port}")
    if metrics.port and not metrics.host:
        raise ConfigError(f"{origin}: [metrics] host must be an address, e.g. 127.0.0.1")
    return metrics


def _check_extract(limits: ExtractSettings, origin: str) -> None:
    for key in ExtractSettings.__dataclass_fields__:
        if getattr(limits, key) <= 0:
            raise ConfigError(f"{origin}: [extract] {key} must be more than 0")


def _discord_env(discord: DiscordSettings) -> DiscordSettings:
    """Environment variables win over the file, so a container needs no config file."""
    values: dict[str, Any] = {}
    for key, name in (
        ("token", "BRIEFBOT_DISCORD_TOKEN"),
        ("api_base", "BRIEFBOT_DISCORD_API_BASE"),
        ("gateway_url", "BRIEFBOT_DISCORD_GATEWAY_URL"),
        ("admin_role", "BRIEFBOT_DISCORD_ADMIN_ROLE"),
    ):
        raw = os.environ.get(name)
        if raw is not None and raw.strip():
            values[key] = raw.strip()
    for key, name in (
        ("dev_guilds", "BRIEFBOT_DISCORD_DEV_GUILDS"),
        ("shard_ids", "BRIEFBOT_DISCORD_SHARD_IDS"),
    ):
        raw = os.environ.get(name)
        if raw is not None:
            values[key] = _numbers(name, raw)
    raw = os.environ.get("BRIEFBOT_DISCORD_SHARD_COUNT")
    if raw is not None and raw.strip():
        (values["shard_count"],) = _numbers("BRIEFBOT_DISCORD_SHARD_COUNT", raw)
    return replace(discord, **values)


def _numbers(name: str, raw: str) -> tuple[int, ...]:
    ids: list[int] = []
    for part in raw.split(","):
        if not part.strip():
            continue
        if not part.strip().isdigit():
            raise ConfigError(
                f"environment variable {name} holds {part.strip()!r}, not a number: "
                "give comma-separated numbers"
            )
        ids.append(int(part))
    return tuple(ids)


def _check_discord(discord: DiscordSettings, origin: str) -> None:
    if discord.shard_ids and not discord.shard_count:
        raise ConfigError(f"{origin}: [discord] shard_ids needs shard_count")
    if discord.shard_count < 0 or any(not 0 <= i < discord.shard_count for i in discord.shard_ids):
        raise ConfigError(
            f"{origin}: [discord] shard_ids must each be 0 to shard_count - 1 "
            f"(shard_count {discord.shard_count}, shard_ids {list(discord.shard_ids)})"
        )
    for key in ("api_base", "gateway_url"):
        value = getattr(discord, key)
        schemes = ("http://", "https://") if key == "api_base" else ("ws://", "wss://")
        if value and not value.startswith(schemes):
            raise ConfigError(
                f"{origin}: [discord] {key} must start with {' or '.join(schemes)}, not {value!r}"
            )
    if not 1 <= discord.results <= 10:
        raise ConfigError(f"{origin}: [discord] results must be 1 to 10")
    if not 1 <= discord.pages <= 10:
        raise ConfigError(f"{origin}: [discord] pages must be 1 to 10")
    if discord.cooldown_asks < 1 or discord.cooldown_seconds < 0:
        raise ConfigError(
            f"{origin}: [discord] cooldown_asks must be >= 1 and cooldown_seconds >= 0"
        )
    if discord.guild_cooldown_asks < 1 or discord.guild_cooldown_seconds < 0:
        raise ConfigError(
            f"{origin}: [discord] guild_cooldown_asks must be >= 1 and guild_cooldown_seconds >= 0"
        )
    if discord.cooldown_seconds and discord.guild_cooldown_seconds:
        # The most one user's window lets through within one guild window: the guild's
        # budget must hold more, or a single user could lock the rest of a server out.
        windows = math.ceil(discord.guild_cooldown_seconds / discord.cooldown_seconds)
        one_user = discord.cooldown_asks * windows
        if discord.guild_cooldown_asks <= one_user:
            raise ConfigError(
                f"{origin}: [discord] guild_cooldown_asks must be more than one user may ask "
                f"in guild_cooldown_seconds ({one_user}), or one user could use up the server's "
                "budget"
            )
    if not 1 <= discord.button_seconds <= MAX_BUTTON_SECONDS:
        raise ConfigError(
            f"{origin}: [discord] button_seconds must be 1 to {MAX_BUTTON_SECONDS:.0f} "
            "(Discord lets a bot edit an answer for 15 minutes)"
        )
