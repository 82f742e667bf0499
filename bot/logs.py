"""The log on stderr: plain lines or JSON objects, with the Discord context of each line.

What a line is about (guild, channel, user, command) lives in a context variable, set
when a gateway event is parsed (`follow_gateway`): discord.py starts the tasks that
handle an event (the command tree's invoker, a view's button callback, `on_message`
listeners) while it parses, and a task copies the context it was created in. So every
line those tasks log, down to the library, carries the context without passing it on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TextIO

from bot.config import LoggingSettings

PLAIN_FORMAT = "%(levelname)s %(name)s: %(message)s"
# An interaction's token lets anyone post as the bot in that conversation for 15 minutes.
# At debug level discord.py logs it in follow-up URLs and gateway events, and aiosqlite in
# the parameters of a pending job's row: `…/webhooks/<id>/<token>`, `'token': '<token>'`.
WEBHOOK_TOKEN = re.compile(r"(/(?:interactions|webhooks)/\d+/)[\w.-]{20,}")
TOKEN_FIELD = re.compile(r"""(\btoken\\?["']?\s*[:=]\s*\\?["'])[^"'\\]+""")
CONTEXT_KEYS = ("guild", "channel", "user", "command")

_context: ContextVar[Mapping[str, Any]] = ContextVar(
    "briefbot_log_context", default=MappingProxyType({})
)
_handler: logging.Handler | None = None  # the stderr handler `configure` owns


def current() -> Mapping[str, Any]:
    """The context of the code running now: some of guild, channel, user, command, started."""
    return _context.get()


def bind(**fields: Any) -> Token[Mapping[str, Any]]:
    """Adds fields (None values are left out) to the context; `unbind(token)` undoes it."""
    merged = {**_context.get(), **{k: v for k, v in fields.items() if v is not None}}
    return _context.set(merged)


def unbind(token: Token[Mapping[str, Any]]) -> None:
    _context.reset(token)


@contextlib.contextmanager
def context(**fields: Any) -> Iterator[None]:
    """The block's log lines (and the tasks it starts) carry these fields."""
    token = bind(**fields)
    try:
        yield
    finally:
        unbind(token)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The context of the task that logged the record (handlers format as it logs), or
    one given as `extra={"context": {...}}`."""
    found = getattr(record, "context", None)
    if not isinstance(found, Mapping):
        found = current()
    return {k: found[k] for k in CONTEXT_KEYS if found.get(k) is not None}


class PlainFormatter(logging.Formatter):
    """`LEVEL logger: message [guild=… channel=… user=… command=…]`, the context when known."""

    def __init__(self) -> None:
        super().__init__(PLAIN_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = scrub(super().format(record))
        fields = _fields(record)
        if not fields:
            return text
        parts = " ".join(f"{k}={json.dumps(v) if ' ' in str(v) else v}" for k, v in fields.items())
        first, sep, rest = text.partition("\n")  # after the message, before a traceback
        return f"{first} [{parts}]{sep}{rest}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the context when known, and
    for an exception a one-line `exception` plus the full `traceback`."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **{k: str(v) for k, v in _fields(record).items()},
        }
        if record.exc_info and record.exc_info[1] is not None:
            out["exception"] = one_line(record.exc_info[1])
            out["traceback"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["traceback"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return scrub(json.dumps(out, ensure_ascii=False, default=str))


def scrub(text: str) -> str:
    """Interaction tokens out of webhook URLs and `token` fields."""
    return TOKEN_FIELD.sub(r"\1[redacted]", WEBHOOK_TOKEN.sub(r"\1[redacted]", text))


def one_line(exc: BaseException) -> str:
    """`TypeError: first line of the message`."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def level_of(settings: LoggingSettings | None, *, verbose: bool, default: int) -> int:
    """-v is debug; else [logging] level; else the command's default."""
    if verbose:
        return logging.DEBUG
    if settings is not None and settings.level:
        return logging.getLevelNamesMapping()[settings.level.upper()]
    return default


def configure(
    settings: LoggingSettings | None,
    *,
    verbose: bool = False,
    default: int = logging.WARNING,
    stream: TextIO | None = None,
) -> None:
    """One handler on the root logger writing `settings.format` to stderr; a later call
    replaces it."""
    global _handler
    root = logging.getLogger()
    json_format = settings is not None and settings.format == "json"
    handler = logging.StreamHandler(stream or sys.stderr)
    formatter: logging.Formatter = JsonFormatter() if json_format else PlainFormatter()
    old = _handler
    if old is not None:
        root.removeHandler(old)
        # A redacting wrapper (bot.client.redact_logs) stays on the new formatter.
        wrapper = old.formatter
        if wrapper is not None and hasattr(wrapper, "inner") and hasattr(wrapper, "secret"):
            formatter = type(wrapper)(formatter, wrapper.secret)  # type: ignore[call-arg]
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level_of(settings, verbose=verbose, default=default))
    _handler = handler
    # Python's warnings become log records, so a JSON log stays JSON.
    logging.captureWarnings(json_format)


def is_json() -> bool:
    return _handler is not None and isinstance(
        getattr(_handler.formatter, "inner", _handler.formatter), JsonFormatter
    )


def error_line(message: str) -> str:
    """A CLI error as the log would show it: `error: …`, or a JSON object in JSON mode."""
    if not is_json():
        return f"error: {message}"
    record = logging.LogRecord("briefbot", logging.ERROR, __file__, 0, message, None, None)
    assert _handler is not None and _handler.formatter is not None
    return _handler.formatter.format(record)


# --- the Discord context ----------------------------------------------------------------


def interaction_context(data: Mapping[str, Any]) -> dict[str, Any]:
    """guild, channel, user and command of a raw INTERACTION_CREATE payload.

    command: a slash command's full name (`source add`, its subcommands followed), or
    `component:<custom_id>` for a button.
    """
    user = (data.get("member") or {}).get("user") or data.get("user") or {}
    channel = data.get("channel_id") or (data.get("channel") or {}).get("id")
    inner = data.get("data") or {}
    command: str | None = None
    if data.get("type") in (2, 4):  # a command, or its autocomplete
        names = [str(inner.get("name", "?"))]
        options = inner.get("options") or []
        while options and options[0].get("type") in (1, 2):  # subcommand (group)
            names.append(str(options[0].get("name", "?")))
            options = options[0].get("options") or []
        command = " ".join(names)
    elif data.get("type") in (3, 5):  # a component, or a modal submitted
        command = f"component:{str(inner.get('custom_id', '?'))[:100]}"
    return {
        "guild": data.get("guild_id"),
        "channel": channel,
        "user": user.get("id"),
        "command": command,
    }


def message_context(data: Mapping[str, Any], bot_id: int | None) -> dict[str, Any]:
    """guild, channel and author of a raw MESSAGE_CREATE; command `mention` if it mentions us."""
    mentioned = bot_id is not None and any(
        str(m.get("id")) == str(bot_id) for m in data.get("mentions") or []
    )
    return {
        "guild": data.get("guild_id"),
        "channel": data.get("channel_id"),
        "user": (data.get("author") or {}).get("id"),
        "command": "mention" if mentioned else None,
    }


def follow_gateway(
    parsers: dict[str, Callable[[Any], None]], bot_id: Callable[[], int | None]
) -> bool:
    """Wraps discord.py's INTERACTION_CREATE and MESSAGE_CREATE parsers so that the tasks
    they start run in the event's log context (and know when it arrived: `started`).

    `parsers` is the client's `_connection.parsers`, the table its gateway looks events
    up in: discord.py has no public hook that runs before it creates those tasks.
    Returns False (and changes nothing) if the table does not hold both events.
    """
    if not {"INTERACTION_CREATE", "MESSAGE_CREATE"} <= parsers.keys():
        return False

    def wrap(
        parse: Callable[[Any], None], fields: Callable[[Any], dict[str, Any]]
    ) -> Callable[[Any], None]:
        if getattr(parse, "briefbot_context", False):
            return parse

        def parse_in_context(data: Any) -> None:
            token = bind(**fields(data), started=time.monotonic())
            try:
                parse(data)
            finally:
                unbind(token)

        parse_in_context.briefbot_context = True  # type: ignore[attr-defined]
        return parse_in_context

    parsers["INTERACTION_CREATE"] = wrap(parsers["INTERACTION_CREATE"], interaction_context)
    parsers["MESSAGE_CREATE"] = wrap(
        parsers["MESSAGE_CREATE"], lambda data: message_context(data, bot_id())
    )
    return True
