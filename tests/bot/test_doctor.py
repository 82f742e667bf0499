"""`briefbot doctor` as a subprocess: one line per check, exit 0 only when none failed,
the database and the saved index left exactly as they were, the token never printed.

Discord is the fake (tests/fakediscord), reached through [discord] api_base.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import create_engine

from index import store
from tests.bot.test_discord import ROOT, seed
from tests.fakediscord import FakeDiscord

pytestmark = pytest.mark.asyncio
TOKEN = "MTIz.doctor-token.secret"
NAMES = ["config", "token", "database", "migrations", "index", "discord"]


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord(bot_name="briefbot", token=TOKEN)
    await fake.start()
    yield fake
    await fake.close()


async def briefbot(
    tmp: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """Runs `briefbot ARGS` in `tmp` (so ./briefbot.toml is found there), without the
    caller's BRIEFBOT_ variables; the event loop (and so the fake) keeps serving."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BRIEFBOT_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        cwd=tmp,
        env=clean | {"PYTHONPATH": str(ROOT)} | (env or {}),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def doctor(
    tmp: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, list[tuple[str, str, str]], str]:
    """`briefbot ARGS` (ending in doctor): the exit status, (status, name, detail) per
    line, and all output as one text."""
    code, out, err = await briefbot(tmp, *args, env=env)
    lines = []
    for line in out.splitlines():
        state, _, rest = line.partition(" ")
        name, _, detail = rest.strip().partition(": ")
        lines.append((state, name, detail))
    return code, lines, out + err


def status(lines: list[tuple[str, str, str]]) -> dict[str, str]:
    return {name: state for state, name, _ in lines}


def detail(lines: list[tuple[str, str, str]], name: str) -> str:
    return next(d for _, n, d in lines if n == name)


def config(tmp: Path, fake: FakeDiscord | None, extra: str = "") -> None:
    api = fake.api_base if fake is not None else "http://127.0.0.1:9"
    (tmp / "briefbot.toml").write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp / "briefbot.db"}"\n\n'
        f'[discord]\napi_base = "{api}"\n{extra}'
    )


def fingerprint(tmp: Path) -> dict[str, str]:
    """Every file under tmp but the config, with a hash of its bytes."""
    return {
        str(p.relative_to(tmp)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(tmp.rglob("*"))
        if p.is_file() and p.name != "briefbot.toml"
    }


async def test_a_ready_installation_passes_every_check(tmp_path: Path, fake: FakeDiscord) -> None:
    """Config, token, database, migrations, index and Discord: six ok lines, exit 0, and
    the token shown only as its length."""
    await seed(f"sqlite+aiosqlite:///{tmp_path / 'briefbot.db'}")
    config(tmp_path, fake)
    code, lines, output = await doctor(tmp_path, "doctor", env={"BRIEFBOT_DISCORD_TOKEN": TOKEN})
    assert code == 0, output
    assert [(s, n) for s, n, _ in lines] == [("ok", name) for name in NAMES]
    assert detail(lines, "config") == "briefbot.toml"
    assert detail(lines, "token") == f"set ({len(TOKEN)} chars, from BRIEFBOT_DISCORD_TOKEN)"
    assert detail(lines, "database").startswith(f"sqlite+aiosqlite:///{tmp_path}/briefbot.db")
    assert detail(lines, "migrations").endswith("(the latest)")
    assert re.match(r"[1-9][\d,]* passages, ", detail(lines, "index"))
    assert f"logged in as briefbot ({fake.bot_id})" in detail(lines, "discord")
    assert ("GET", "/users/@me") in fake.requests
    assert TOKEN not in output
    assert fake.violations == []


async def test_the_database_and_saved_index_are_left_as_they_were(tmp_path: Path) -> None:
    """With no saved index the index is rebuilt in memory, and nothing is written: not
    the database, not an index folder; with one, it is mapped and left unchanged."""
    await seed(f"sqlite+aiosqlite:///{tmp_path / 'briefbot.db'}")
    config(tmp_path, None)
    shutil.rmtree(tmp_path / "briefbot.db.index", ignore_errors=True)
    before = fingerprint(tmp_path)
    _, lines, output = await doctor(tmp_path, "doctor", "--offline")
    assert status(lines)["index"] == "ok", output
    assert "built from the database: nothing saved in" in detail(lines, "index")
    assert fingerprint(tmp_path) == before
    assert not (tmp_path / "briefbot.db.index").exists()

    code, _, err = await briefbot(tmp_path, "ask", "Miami")  # it saves the index
    assert code == 0, err
    saved = fingerprint(tmp_path)
    _, lines, output = await doctor(tmp_path, "doctor", "--offline")
    assert "the saved index in" in detail(lines, "index"), output
    assert fingerprint(tmp_path) == saved


async def test_a_missing_database_fails_and_is_not_created(tmp_path: Path) -> None:
    config(tmp_path, None)
    code, lines, output = await doctor(tmp_path, "doctor", "--offline")
    assert code == 1, output
    assert status(lines) == {
        "config": "ok",
        "token": "FAIL",
        "database": "FAIL",
        "migrations": "skip",
        "index": "skip",
        "discord": "skip",
    }
    assert detail(lines, "database") == (
        f"{tmp_path}/briefbot.db does not exist (briefbot ingest or run creates it)"
    )
    assert not (tmp_path / "briefbot.db").exists()


def migrate_to(path: Path, revision: str) -> None:
    """A real database at an older migration, as an older briefbot left it."""
    from alembic import command
    from alembic.config import Config

    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        alembic = Config()
        alembic.set_main_option("script_location", str(store.MIGRATIONS))
        alembic.attributes["connection"] = conn
        command.upgrade(alembic, revision)
    engine.dispose()


@pytest.mark.parametrize(
    ("revision", "expected"),
    [
        (None, "none applied, latest is {head} (briefbot ingest or run creates the tables)"),
        ("0003", "at 0003, latest is {head}: the next briefbot ingest or run migrates it"),
    ],
    ids=["empty", "older"],
)
async def test_an_unmigrated_database_fails_and_stays_unmigrated(
    tmp_path: Path, revision: str | None, expected: str
) -> None:
    """The revision is compared with the code's latest, never upgraded."""
    db = tmp_path / "briefbot.db"
    if revision is None:
        sqlite3.connect(db).close()
    else:
        migrate_to(db, revision)
    config(tmp_path, None)
    before = fingerprint(tmp_path)
    code, lines, output = await doctor(tmp_path, "doctor", "--offline")
    assert code == 1, output
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    alembic = Config()
    alembic.set_main_option("script_location", str(store.MIGRATIONS))
    (head,) = ScriptDirectory.from_config(alembic).get_heads()
    assert status(lines)["database"] == "ok"
    assert detail(lines, "migrations") == expected.format(head=head)
    assert status(lines)["index"] == "skip"
    assert fingerprint(tmp_path) == before


async def test_a_bad_config_fails_first_and_skips_the_rest(tmp_path: Path) -> None:
    config(tmp_path, None, extra="colour = 3\n")
    code, lines, _ = await doctor(tmp_path, "doctor")
    assert code == 1
    assert lines[0] == ("FAIL", "config", "briefbot.toml: unknown setting [discord] colour")
    assert [(s, n) for s, n, _ in lines[1:]] == [("skip", name) for name in NAMES[1:]]


async def test_a_config_named_but_missing_fails(tmp_path: Path) -> None:
    code, lines, _ = await doctor(tmp_path, "--config", "nope.toml", "doctor")
    assert code == 1
    assert lines[0] == ("FAIL", "config", "config file nope.toml not found")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_discord_down_fails(tmp_path: Path) -> None:
    """Nothing listens at api_base: the discord line says it cannot reach it."""
    await seed(f"sqlite+aiosqlite:///{tmp_path / 'briefbot.db'}")
    config(tmp_path, None)
    api = f"http://127.0.0.1:{closed_port()}/api/v10"
    env = {"BRIEFBOT_DISCORD_TOKEN": TOKEN, "BRIEFBOT_DISCORD_API_BASE": api}
    code, lines, output = await doctor(tmp_path, "doctor", env=env)
    assert code == 1
    assert status(lines) == dict.fromkeys(NAMES[:-1], "ok") | {"discord": "FAIL"}
    assert detail(lines, "discord").startswith(f"cannot reach {api} (")
    assert TOKEN not in output


async def test_a_refused_token_fails(tmp_path: Path, fake: FakeDiscord) -> None:
    """Discord answers 401: the token is wrong (and still not printed)."""
    await seed(f"sqlite+aiosqlite:///{tmp_path / 'briefbot.db'}")
    config(tmp_path, fake)
    wrong = "MTIz.wrong-token.secret"
    code, lines, output = await doctor(tmp_path, "doctor", env={"BRIEFBOT_DISCORD_TOKEN": wrong})
    assert code == 1
    assert detail(lines, "discord") == (
        f"{fake.api_base} refused the token (401): reset it in the Developer Portal"
    )
    assert wrong not in output
    fake.violations.clear()  # the fake counts a wrong Authorization header as one


@pytest.mark.parametrize(
    ("args", "env", "code", "token", "discord"),
    [
        (("--offline",), {"BRIEFBOT_DISCORD_TOKEN": TOKEN}, 0, "ok", "--offline: not contacted"),
        ((), {}, 1, "FAIL", "no token configured, so not contacted"),
    ],
    ids=["offline", "no-token"],
)
async def test_discord_is_skipped_offline_or_without_a_token(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], code: int, token: str, discord: str
) -> None:
    await seed(f"sqlite+aiosqlite:///{tmp_path / 'briefbot.db'}")
    config(tmp_path, None)
    result, lines, output = await doctor(tmp_path, "doctor", *args, env=env)
    assert result == code, output
    assert status(lines)["token"] == token
    assert ("skip", "discord", discord) in lines


async def test_a_token_pasted_with_its_prefix_fails_without_being_shown(tmp_path: Path) -> None:
    config(tmp_path, None)
    code, lines, output = await doctor(
        tmp_path, "doctor", "--offline", env={"BRIEFBOT_DISCORD_TOKEN": f"Bot {TOKEN}"}
    )
    assert code == 1
    assert detail(lines, "token") == (
        f"set ({len(TOKEN) + 4} chars, from BRIEFBOT_DISCORD_TOKEN) but it starts with "
        "'Bot ': give the token alone"
    )
    assert TOKEN not in output
