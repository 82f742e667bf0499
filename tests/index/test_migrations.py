"""The Alembic migrations build exactly the schema the ORM models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from index import store


async def test_migrations_match_models(db_url: str):
    """A migrated database differs in nothing from the models: no forgotten migration."""
    engine = store.create_engine(db_url)
    try:
        await store.migrate(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), store.Base.metadata)
            )
    finally:
        await engine.dispose()
    assert diff == []
