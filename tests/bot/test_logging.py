"""The log: plain or JSON lines with each event's Discord context, the token never in it.

Formatters and the raw-event parsing are tested directly; then `briefbot run` logs JSON
against the fake Discord while it answers an /ask and a mention.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot import logs
from bot.config import LoggingSettings, load_config
from tests.bot.test_config import assert_refused
from tests.bot.test_discord import (
    GUILD_A,
    MIAMI,
    add_guilds,
    make_fake,
    seed,
    start_bot,
    stop_bot,
)

TOKEN = "MTIz.secret-token.value"
USER = 1300000000000000801


@pytest.fixture
def captured() -> Iterator[tuple[io.StringIO, logging.Logger]]:
    """A root handler configured by `logs.configure` writing to a string; restored after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    yield stream, logging.getLogger("briefbot.test")
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    logs._handler = None
    logging.captureWarnings(False)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_lines_hold_time_level_logger_message_and_context(captured) -> None:
    """One object per line; guild, channel, user, command only when known."""
    stream, log = captured
    logs.configure(LoggingSettings(format="json"), default=logging.INFO, stream=stream)
    log.info("plain %s", "line")
    with logs.context(guild="1", channel="2", user="3", command="source add"):
        log.warning("in a command")
    first, second = json_lines(stream.getvalue())
    assert set(first) == {"time", "level", "logger", "message"}
    assert first["message"] == "plain line" and first["level"] == "info"
    assert first["logger"] == "briefbot.test"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"])
    assert second["level"] == "warning"
    assert {k: second[k] for k in ("guild", "channel", "user", "command")} == {
        "guild": "1",
        "channel": "2",
        "user": "3",
        "command": "source add",
    }


def test_an_exception_is_a_one_line_field_plus_the_traceback(captured) -> None:
    """`exception` is `Type: first line`; `traceback` holds the whole thing."""
    stream, log = captured
    logs.configure(LoggingSettings(format="json"), stream=stream)
    try:
        raise ValueError("bad value\nsecond line")
    except ValueError:
        log.exception("it failed")
    (line,) = json_lines(stream.getvalue())
    assert line["message"] == "it failed" and line["level"] == "error"
    assert line["exception"] == "ValueError: bad value"
    assert line["traceback"].startswith("Traceback (most recent call last):")
    assert "second line" in line["traceback"]


def test_plain_lines_end_with_the_context(captured) -> None:
    """`LEVEL logger: message [guild=… command=…]`, before any traceback."""
    stream, log = captured
    logs.configure(LoggingSettings(format="plain"), stream=stream)
    with logs.context(guild="1", command="source add"):
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("failed")
    first, *rest = stream.getvalue().splitlines()
    assert first == 'ERROR briefbot.test: failed [guild=1 command="source add"]'
    assert rest[0].startswith("Traceback") and rest[-1] == "RuntimeError: boom"


@pytest.mark.parametrize("fmt", ["json", "plain"])
def test_the_token_is_redacted_in_every_field(captured, fmt: str) -> None:
    """Message, arguments, exception and traceback: the token is never written."""
    from bot.client import redact_logs

    stream, log = captured
    logs.configure(LoggingSettings(format=fmt), stream=stream)
    redact_logs(TOKEN)
    with logs.context(command=f"ask {TOKEN}"):
        log.warning("connecting with %s", TOKEN)
        try:
            raise RuntimeError(f"Authorization: Bot {TOKEN}")
        except RuntimeError:
            log.exception("failed")
    text = stream.getvalue()
    assert TOKEN not in text and text.count("[redacted token]") >= 3
    if fmt == "json":
        lines = json_lines(text)  # still valid JSON
        assert lines[1]["exception"] == "RuntimeError: Authorization: Bot [redacted token]"


INTERACTION_TOKEN = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDpzZWNyZXQ"
SQL_PARAMETER = r"""('answer:1', '{\"token\": \"%s\", \"guild\": 1}')"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"POST http://x/api/v10/interactions/123/{INTERACTION_TOKEN}/callback",
            "POST http://x/api/v10/interactions/123/[redacted]/callback",
        ),
        (f"POST /webhooks/9/{INTERACTION_TOKEN}?wait=1", "POST /webhooks/9/[redacted]?wait=1"),
        (
            f"Event: {{'id': '1', 'token': '{INTERACTION_TOKEN}'}}",
            "Event: {'id': '1', 'token': '[redacted]'}",
        ),
        (SQL_PARAMETER % INTERACTION_TOKEN, SQL_PARAMETER % "[redacted]"),
        ("the token is set", "the token is set"),
    ],
    ids=["callback-url", "webhook-url", "gateway-event", "sql-parameter", "prose"],
)
def test_interaction_tokens_are_redacted(text: str, expected: str) -> None:
    """What discord.py and aiosqlite log at debug level loses its interaction tokens."""
    assert logs.scrub(text) == expected


def test_reconfiguring_keeps_the_redaction(captured) -> None:
    """A later `configure` (another format) still hides the token."""
    from bot.client import redact_logs

    stream, log = captured
    logs.configure(LoggingSettings(format="plain"), stream=stream)
    redact_logs(TOKEN)
    logs.configure(LoggingSettings(format="json"), stream=stream)
    log.warning("token %s", TOKEN)
    assert TOKEN not in stream.getvalue() and json_lines(stream.getvalue())


def test_cli_errors_are_json_in_json_mode(captured) -> None:
    """`error: …` in plain mode; one JSON object in JSON mode."""
    stream, _ = captured
    logs.configure(LoggingSettings(format="plain"), stream=stream)
    assert logs.error_line("no such file") == "error: no such file"
    logs.configure(LoggingSettings(format="json"), stream=stream)
    line = json.loads(logs.error_line("no such file"))
    assert line["level"] == "error" and line["message"] == "no such file"


SLASH = {
    "type": 2,
    "guild_id": "10",
    "channel_id": "20",
    "member": {"user": {"id": "30"}},
    "data": {"name": "ask", "options": [{"name": "question", "type": 3, "value": "x"}]},
}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (SLASH, {"guild": "10", "channel": "20", "user": "30", "command": "ask"}),
        (
            {
                **SLASH,
                "data": {
                    "name": "source",
                    "options": [{"name": "add", "type": 1, "options": [{"name": "url"}]}],
                },
            },
            {"guild": "10", "channel": "20", "user": "30", "command": "source add"},
        ),
        ({**SLASH, "type": 4}, {"guild": "10", "channel": "20", "user": "30", "command": "ask"}),
        (
            {
                "type": 3,
                "channel": {"id": "21"},
                "user": {"id": "31"},
                "data": {"custom_id": "bb:fb:7:up", "component_type": 2},
            },
            {"guild": None, "channel": "21", "user": "31", "command": "component:bb:fb:7:up"},
        ),
    ],
    ids=["slash", "subcommand", "autocomplete", "button-in-dm"],
)
def test_an_interactions_context_is_read_from_its_payload(
    payload: dict[str, Any], expected: dict[str, Any]
) -> None:
    """guild, channel, user and the full command name of a raw INTERACTION_CREATE."""
    assert logs.interaction_context(payload) == expected


@pytest.mark.parametrize(("mentions", "command"), [([{"id": "99"}], "mention"), ([], None)])
def test_a_message_is_a_mention_only_when_it_names_the_bot(
    mentions: list[dict[str, str]], command: str | None
) -> None:
    """MESSAGE_CREATE: the author's context; command `mention` if the bot is mentioned."""
    data = {"guild_id": "1", "channel_id": "2", "author": {"id": "3"}, "mentions": mentions}
    assert logs.message_context(data, 99) == {
        "guild": "1",
        "channel": "2",
        "user": "3",
        "command": command,
    }


def test_tasks_started_while_parsing_an_event_inherit_its_context() -> None:
    """What discord.py creates inside the parser runs in the event's context."""
    seen: list[Any] = []

    async def handler() -> None:
        seen.append(dict(logs.current()))

    async def main() -> None:
        tasks: list[asyncio.Task[None]] = []
        parsers = {
            "INTERACTION_CREATE": lambda data: tasks.append(asyncio.create_task(handler())),
            "MESSAGE_CREATE": lambda data: None,
        }
        assert logs.follow_gateway(parsers, lambda: 99)
        assert logs.follow_gateway(parsers, lambda: 99)  # wrapping twice changes nothing
        parsers["INTERACTION_CREATE"](SLASH)
        assert logs.current() == {}  # the parser's caller is left as it was
        await asyncio.gather(*tasks)

    asyncio.run(main())
    (context,) = seen
    assert {k: context[k] for k in logs.CONTEXT_KEYS} == {
        "guild": "10",
        "channel": "20",
        "user": "30",
        "command": "ask",
    }
    assert isinstance(context["started"], float)


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ('[logging]\nformat = "xml"\n', {}, "[logging] format must be plain or json"),
        ('[logging]\nlevel = "loud"\n', {}, "[logging] level must be one of"),
        ("", {"BRIEFBOT_LOG_FORMAT": "yaml"}, "environment variable BRIEFBOT_LOG_FORMAT must be"),
        ("[logging]\nfile = 1\n", {}, "unknown setting [logging] file"),
    ],
)
def test_bad_logging_settings_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toml: str, env: dict[str, str], message: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert_refused(tmp_path, toml, message)


def test_the_environment_wins_over_the_logging_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BRIEFBOT_LOG_FORMAT / BRIEFBOT_LOG_LEVEL over [logging]; values any case."""
    path = tmp_path / "c.toml"
    path.write_text('[logging]\nformat = "plain"\nlevel = "WARNING"\n')
    assert load_config(str(path)).logging == LoggingSettings("plain", "warning")
    monkeypatch.setenv("BRIEFBOT_LOG_FORMAT", "JSON")
    monkeypatch.setenv("BRIEFBOT_LOG_LEVEL", "debug")
    assert load_config(str(path)).logging == LoggingSettings("json", "debug")


# --- end to end -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_bot_json_log_carries_guild_and_command_and_never_the_token(tmp_path: Path) -> None:
    """`briefbot run` with JSON logs at debug level: every line parses, the lines logged
    while answering /ask and a mention name their guild, user and command, and the token
    appears nowhere."""
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'briefbot.db'}"
    await seed(db_url)
    fake = make_fake()
    fake.token = TOKEN
    add_guilds(fake)
    fake.add_member(GUILD_A, USER, "asker")
    await fake.start()
    env = {"BRIEFBOT_LOG_FORMAT": "json", "BRIEFBOT_LOG_LEVEL": "debug"}
    process, log = await start_bot(fake, tmp_path, db_url, env)
    try:
        it = await fake.slash("ask", {"question": MIAMI}, guild_id=GUILD_A, user_id=USER)
        await it.wait_message(timeout=30)
        message = await fake.post_message(MIAMI, guild_id=GUILD_A, author_id=USER)
        await fake.wait_reply(message["id"], timeout=30)
    finally:
        code = stop_bot(process)
        await fake.close()
    raw = log.read_text()
    assert code == 0, raw[-3000:]
    assert TOKEN not in raw
    assert it.token not in raw  # interaction tokens too (discord.py logs follow-up URLs)
    lines = [json.loads(line) for line in raw.splitlines()]  # every line is one object
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    channel = str(fake.guild(GUILD_A).channel_id)
    for command in ("ask", "mention"):
        during = [line for line in lines if line.get("command") == command]
        assert during, f"no line logged while handling {command}"
        assert all(
            line["guild"] == str(GUILD_A) and line["user"] == str(USER) for line in during
        ), during[:3]
        assert any(line.get("channel") == channel for line in during)
    assert fake.violations == []
