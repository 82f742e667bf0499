"""Database fixtures: a fresh SQLite file, and PostgreSQL when BRIEFBOT_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

POSTGRES_URL = os.environ.get("BRIEFBOT_TEST_POSTGRES_URL")


def reset_postgres(url: str) -> None:
    """Drops every table so each test starts from an empty, unmigrated database."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def reset() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()

    asyncio.run(reset())


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL for an empty database, once for SQLite and once for PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'briefbot.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("BRIEFBOT_TEST_POSTGRES_URL is not set")
    reset_postgres(POSTGRES_URL)
    yield POSTGRES_URL


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'briefbot.db'}"
