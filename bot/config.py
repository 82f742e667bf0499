"""Configuration: TOML file + environment → the library's typed Settings.

Precedence for each value: command-line option, environment variable, config file,
built-in default. Unknown keys are errors, so a typo never silently does nothing.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from index.errors import BriefbotError
from index.settings import FetchSettings, PassageSettings, SearchSettings, Settings

DEFAULT_CONFIG = Path("briefbot.toml")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(BriefbotError):
    """The config file or an environment variable holds something we cannot use."""


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
    """Reads the config file (if any) and the environment into Settings."""
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
        "passages": PassageSettings,
        "search": SearchSettings,
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
    passages: PassageSettings = parsed["passages"]
    if not 1 <= passages.min_words <= passages.max_words:
        raise ConfigError(f"{origin}: [passages] needs 1 <= min_words <= max_words")
    return Settings(database_url=url, **parsed)
