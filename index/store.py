"""Database: ORM models, engine set-up and the queries the library needs.

The database is the source of truth (sources, passages and their index terms, a change
log); the in-memory search index is derived from it. Functions take a session; callers
open one short session per command or job.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from index.errors import StoreError
from index.types import FeedInfo, SourceInfo

log = logging.getLogger(__name__)

# SQLite needs INTEGER (not BIGINT) for an autoincrementing rowid primary key.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class FeedRow(Base):
    """An RSS/Atom subscription; its entries are stored as sources."""

    __tablename__ = "feeds"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    guild: Mapped[str | None] = mapped_column(String(32), index=True)
    title: Mapped[str | None] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_checked: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    added_by: Mapped[str | None] = mapped_column(String(32))
    # The schedule (migration 0005): seconds between checks if not [feeds] interval,
    # failed checks in a row (the back-off), and the last check that worked.
    interval: Mapped[float | None] = mapped_column(Float)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_success: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SourceRow(Base):
    """One article: where it came from, what a citation shows, and its content hash."""

    __tablename__ = "sources"
    __table_args__ = (
        Index("ix_sources_content_hash", "content_hash"),
        Index("ix_sources_canonical_url", "canonical_url"),
    )

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    ref: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    guild: Mapped[str | None] = mapped_column(String(32), index=True)
    title: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    publisher: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(Text)
    published: Mapped[date | None] = mapped_column(Date)
    content_hash: Mapped[str] = mapped_column(String(64))
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    feed_id: Mapped[str | None] = mapped_column(
        String(16), ForeignKey("feeds.id", ondelete="SET NULL"), index=True
    )
    passage_count: Mapped[int] = mapped_column(Integer, default=0)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    added_by: Mapped[str | None] = mapped_column(String(32))
    # Re-posts (migration 0005): the page's own canonical URL, and a simhash of the text.
    canonical_url: Mapped[str | None] = mapped_column(Text)
    simhash: Mapped[int | None] = mapped_column(BigInteger)


class PassageRow(Base):
    """A passage as displayed, and the index terms it is searched by (title included)."""

    __tablename__ = "passages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(
        String(16), ForeignKey("sources.id", ondelete="CASCADE"), index=True
    )
    ordinal: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    tokens: Mapped[str] = mapped_column(Text)  # space-joined index terms


class ChangeRow(Base):
    """Append-only log of index changes, so every process can follow the database."""

    __tablename__ = "changes"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(String(16))
    op: Mapped[str] = mapped_column(String(8))  # "add" (or replace) | "remove"
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MetaRow(Base):
    """Facts about the database itself: its id, which saved indexes are checked against."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(64))


class SourceLineRow(Base):
    """Short paragraphs a source carried (hashed): lines many sources of one publisher
    share are boilerplate. Deleted with their source, so counts follow removals."""

    __tablename__ = "source_lines"

    source_id: Mapped[str] = mapped_column(
        String(16), ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
    )
    line_hash: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)


class PendingRow(Base):
    """A job begun and not yet finished (migration 0004): what a restart must pick up."""

    __tablename__ = "pending"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    payload: Mapped[str] = mapped_column(Text)  # JSON
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class GuildSettingsRow(Base):
    """One guild's bot settings (migration 0006); a null column means the default."""

    __tablename__ = "guild_settings"

    guild: Mapped[str] = mapped_column(String(32), primary_key=True)
    mention_channels: Mapped[str | None] = mapped_column(Text)  # JSON list of channel ids
    reply: Mapped[str | None] = mapped_column(String(8))
    results: Mapped[int | None] = mapped_column(Integer)
    private: Mapped[bool | None] = mapped_column(Boolean)
    manager_role: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(32))


class QuestionRow(Base):
    """An answer a guild got (migration 0007): for /stats, and what its vote buttons name."""

    __tablename__ = "questions"
    __table_args__ = (
        Index("ix_questions_guild_asked", "guild", "asked_at"),
        Index("ix_questions_asked_at", "asked_at"),
    )

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    guild: Mapped[str | None] = mapped_column(String(32))
    question: Mapped[str] = mapped_column(Text)
    via: Mapped[str] = mapped_column(String(8))  # "ask" | "mention"
    results: Mapped[int] = mapped_column(Integer)  # passages answered; 0: no result
    per_page: Mapped[int] = mapped_column(Integer)
    asked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AnswerHitRow(Base):
    """One ranked passage of a logged answer; no foreign key to its source, which may be
    removed before the log is written (/stats joins sources)."""

    __tablename__ = "answer_hits"

    question_id: Mapped[str] = mapped_column(
        String(16), ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True
    )
    rank: Mapped[int] = mapped_column(Integer, primary_key=True)
    passage_id: Mapped[int] = mapped_column(BigInteger)
    source_id: Mapped[str] = mapped_column(String(16), index=True)


class FeedbackRow(Base):
    """A member's 👍 (+1) or 👎 (-1) on a passage for a question, in one guild."""

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("guild", "question_key", "passage_id", "user", name="uq_feedback_vote"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    guild: Mapped[str] = mapped_column(String(32), index=True)
    question_key: Mapped[str] = mapped_column(String(40))  # sha1 of `terms`
    question: Mapped[str] = mapped_column(Text)
    terms: Mapped[str] = mapped_column(Text)  # the question's index terms, sorted, space-joined
    passage_id: Mapped[int] = mapped_column(BigInteger)
    # No foreign key: a source whose content changes is deleted and re-inserted under
    # its id, and its votes and hides must stay; `delete_source` removes them.
    source_id: Mapped[str] = mapped_column(String(16), index=True)
    user: Mapped[str] = mapped_column(String(32))
    vote: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class HiddenRow(Base):
    """A passage or a source a guild's admins hid from that guild's answers."""

    __tablename__ = "hidden"

    guild: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # "passage" | "source"
    target: Mapped[str] = mapped_column(String(32), primary_key=True)  # passage or source id
    source_id: Mapped[str] = mapped_column(String(16), index=True)  # as for FeedbackRow
    by: Mapped[str | None] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


LINES_PER_QUERY = 5000  # bound parameters per IN list (SQLite allows 32766)


# --- engine -------------------------------------------------------------------------


def create_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys and real transactions."""
    is_sqlite = url.startswith("sqlite")
    # Statement parameters never reach error messages or logs: rows can hold secrets
    # (a pending job keeps its interaction token).
    kwargs: dict[str, Any] = {"hide_parameters": True}
    if is_sqlite:
        kwargs["connect_args"] = {"timeout": 30}
    engine = create_async_engine(url, **kwargs)
    if is_sqlite:
        _sqlite_recipe(engine)
    return engine


def _sqlite_recipe(engine: AsyncEngine) -> None:
    """SQLAlchemy's documented recipe: we emit BEGIN so reads and writes are one unit."""

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if not _is_memory(engine):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


WRITE_OPTION = "briefbot_write"


async def begin_write(session: AsyncSession) -> None:
    """Opens the session's transaction as a writer; call it before anything else in it.

    On SQLite a transaction that reads and then writes fails at once ("database is
    locked") if another process committed in between, whatever the busy timeout: its
    snapshot is stale. BEGIN IMMEDIATE takes the write lock first, so writers queue
    (up to busy_timeout) instead. PostgreSQL ignores the option.
    """
    await session.connection(execution_options={WRITE_OPTION: True})


@asynccontextmanager
async def writing(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session in a write transaction that holds the write lock from its start
    (`begin_write`); committed when the block ends, rolled back if it raises."""
    async with sessions() as session, session.begin():
        await begin_write(session)
        yield session


def _is_memory(engine: AsyncEngine) -> bool:
    database = engine.url.database or ""
    return database in ("", ":memory:") or "mode=memory" in str(engine.url)


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


MIGRATIONS = Path(__file__).with_name("migrations")


def _upgrade(connection: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def migrate(engine: AsyncEngine) -> None:
    """Brings the schema to the newest migration (runs on every start, cheap when current)."""
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade)
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"database {engine.url.render_as_string()}: {db_reason(exc)}") from exc


async def backup(engine: AsyncEngine, target: Path) -> None:
    """A consistent copy of a live SQLite database at `target` (VACUUM INTO).

    VACUUM INTO reads inside one transaction, so writers carry on and the copy holds
    exactly what had committed when it started; it is also compacted. PostgreSQL has
    pg_dump for this.
    """
    if engine.dialect.name != "sqlite":
        raise StoreError(
            f"backup copies SQLite databases; for {engine.dialect.name} use its own tools "
            "(pg_dump -Fc, see the README)"
        )
    if _is_memory(engine):
        raise StoreError("backup: the database is in memory, there is nothing to copy")
    if target.exists():
        raise StoreError(f"backup: {target} already exists; give a new file name")
    if not target.parent.is_dir():
        raise StoreError(f"backup: folder {target.parent} does not exist")
    try:
        async with engine.connect() as conn:
            # On the driver's own connection: ours would BEGIN first, and VACUUM cannot
            # run inside a transaction.
            raw = await conn.get_raw_connection()
            await raw.driver_connection.execute("VACUUM INTO ?", (str(target),))
    except (SQLAlchemyError, sqlite3.Error) as exc:
        target.unlink(missing_ok=True)
        raise StoreError(f"backup to {target}: {db_reason(exc)}") from exc


def db_reason(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --- queries ------------------------------------------------------------------------


def visible(column: Any, guild: str | None) -> Any:
    """A guild sees global rows and its own; no guild sees global rows only."""
    if guild is None:
        return column.is_(None)
    return or_(column.is_(None), column == guild)


def source_info(row: SourceRow) -> SourceInfo:
    return SourceInfo(
        id=row.id,
        ref=row.ref,
        title=row.title,
        url=row.url,
        publisher=row.publisher,
        published=row.published,
        guild=row.guild,
        passages=row.passage_count,
        added_at=row.added_at,
        kind=row.kind,
        feed_id=row.feed_id,
        added_by=row.added_by,
    )


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every one we store is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def feed_info(row: FeedRow) -> FeedInfo:
    return FeedInfo(
        id=row.id,
        url=row.url,
        title=row.title,
        guild=row.guild,
        added_at=aware(row.added_at),
        last_checked=row.last_checked and aware(row.last_checked),
        last_error=row.last_error,
        added_by=row.added_by,
        last_success=row.last_success and aware(row.last_success),
        failures=row.failures or 0,
        interval=row.interval,
    )


async def claim_feed(
    session: AsyncSession, feed_id: str, seen: datetime | None, now: datetime
) -> bool:
    """Takes a due feed for this check: its last check becomes now, but only if it is
    still the one we read, so two processes never check one feed at once (and if this
    one dies mid-check, the feed is due again one interval later)."""
    same = FeedRow.last_checked.is_(None) if seen is None else FeedRow.last_checked == seen
    result = await session.execute(
        update(FeedRow).where(FeedRow.id == feed_id).where(same).values(last_checked=now)
    )
    return bool(result.rowcount)


async def last_change(session: AsyncSession) -> int:
    return (await session.scalar(select(func.max(ChangeRow.seq)))) or 0


async def database_id(session: AsyncSession) -> str | None:
    """The id migration 0003 gave this database (a copy made by backup keeps it)."""
    row = await session.get(MetaRow, "database_id")
    return row.value if row is not None else None


async def change_at(session: AsyncSession, seq: int) -> tuple[str, str] | None:
    """(source id, time) of change `seq`: tells a restored database from the one we saw."""
    row = (
        await session.execute(select(ChangeRow.source_id, ChangeRow.at).where(ChangeRow.seq == seq))
    ).first()
    return (row.source_id, row.at.isoformat()) if row is not None else None


async def changes_since(session: AsyncSession, seq: int) -> list[tuple[int, str, str]]:
    rows = await session.execute(
        select(ChangeRow.seq, ChangeRow.source_id, ChangeRow.op)
        .where(ChangeRow.seq > seq)
        .order_by(ChangeRow.seq)
    )
    return [(r.seq, r.source_id, r.op) for r in rows]


@dataclass(frozen=True, slots=True)
class IndexedSource:
    """What the search index needs of one source."""

    source_id: str
    guild: str | None
    passage_ids: list[int]
    token_lists: list[list[str]]
    day: date | None = None  # published, else the day it was added: for filters
    publisher: str | None = None
    title: str | None = None


def _indexed_query() -> Any:
    return (
        select(
            PassageRow.id,
            PassageRow.source_id,
            PassageRow.tokens,
            SourceRow.guild,
            SourceRow.published,
            SourceRow.added_at,
            SourceRow.publisher,
            SourceRow.title,
        )
        .join(SourceRow, SourceRow.id == PassageRow.source_id)
        .order_by(PassageRow.source_id, PassageRow.id)
    )


def _group(rows: Iterable[Any], out: list[IndexedSource]) -> None:
    """Append passage rows (ordered by source) to `out`, continuing its last source."""
    current = out[-1] if out else None
    for pid, sid, tokens, guild, published, added_at, publisher, title in rows:
        if current is None or current.source_id != sid:
            day = published or (added_at.date() if added_at is not None else None)
            current = IndexedSource(sid, guild, [], [], day, publisher, title)
            out.append(current)
        current.passage_ids.append(pid)
        current.token_lists.append(tokens.split())


async def indexed_sources(
    session: AsyncSession, source_ids: Sequence[str] | None = None
) -> list[IndexedSource]:
    """Index terms of all passages (or of some sources), grouped by source."""
    query = _indexed_query()
    if source_ids is not None:
        query = query.where(PassageRow.source_id.in_(list(source_ids)))
    out: list[IndexedSource] = []
    _group((await session.execute(query)).all(), out)
    return out


async def stream_indexed_sources(
    session: AsyncSession, chunk_passages: int = 20_000
) -> AsyncIterator[list[IndexedSource]]:
    """All sources in chunks of about `chunk_passages` passages: a full build never holds
    every passage's tokens as Python strings at once (a million passages would not fit)."""
    result = await session.stream(_indexed_query().execution_options(yield_per=chunk_passages))
    pending: list[IndexedSource] = []
    async for partition in result.partitions(chunk_passages):
        _group(partition, pending)
        if len(pending) > 1:
            done, pending = pending[:-1], pending[-1:]  # the last may continue
            yield done
    if pending:
        yield pending


async def source_metas(session: AsyncSession) -> list[IndexedSource]:
    """Every source without its passages: what a saved index lacks (filters, recency).

    Plain SQL without type processing, dates parsed here: a million-passage database
    has a quarter of a million sources, and this is on the path of a restart.
    """
    rows = await session.execute(
        text("SELECT id, guild, published, added_at, publisher, title FROM sources")
    )
    return [
        IndexedSource(
            sid,
            guild,
            [],
            [],
            _day(published) or _day(added_at),
            publisher,
            title,
        )
        for sid, guild, published, added_at, publisher, title in rows.all()
    ]


def _day(value: Any) -> date | None:
    """A date from what the driver returns: date, datetime, or ISO text (SQLite)."""
    if isinstance(value, datetime):
        return value.date()
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


async def passages_by_id(
    session: AsyncSession, passage_ids: Iterable[int]
) -> dict[int, tuple[PassageRow, SourceRow]]:
    ids = list(passage_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(PassageRow, SourceRow)
        .join(SourceRow, SourceRow.id == PassageRow.source_id)
        .where(PassageRow.id.in_(ids))
    )
    return {p.id: (p, s) for p, s in rows.all()}


async def list_sources(
    session: AsyncSession, guild: str | None, *, all_guilds: bool
) -> list[SourceRow]:
    query = select(SourceRow).order_by(SourceRow.added_at, SourceRow.id)
    if not all_guilds:
        query = query.where(visible(SourceRow.guild, guild))
    return list((await session.scalars(query)).all())


async def list_feeds(
    session: AsyncSession, guild: str | None, *, all_guilds: bool
) -> list[FeedRow]:
    query = select(FeedRow).order_by(FeedRow.added_at, FeedRow.id)
    if not all_guilds:
        query = query.where(visible(FeedRow.guild, guild))
    return list((await session.scalars(query)).all())


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _find(
    model: type[SourceRow] | type[FeedRow],
    columns: Sequence[Any],
    guild: str | None,
    text: str,
    own_only: bool,
    limit: int,
) -> Any:
    """Rows a guild sees (or owns) whose id starts with `text` or a column contains it."""
    query = select(model).order_by(model.added_at.desc(), model.id).limit(limit)
    query = query.where(model.guild == guild if own_only else visible(model.guild, guild))
    text = text.strip()
    if text:
        pattern = f"%{_escape_like(text.lower())}%"
        query = query.where(
            or_(
                model.id.like(f"{_escape_like(text)}%", escape="\\"),
                *(func.lower(column).like(pattern, escape="\\") for column in columns),
            )
        )
    return query


async def find_sources(
    session: AsyncSession, guild: str | None, text: str, *, own_only: bool, limit: int
) -> list[SourceRow]:
    """Sources whose id, title, publisher or ref contains `text`, newest first."""
    columns = (SourceRow.title, SourceRow.publisher, SourceRow.ref)
    query = _find(SourceRow, columns, guild, text, own_only, limit)
    return list((await session.scalars(query)).all())


async def publishers(session: AsyncSession, guild: str | None) -> list[tuple[str, int]]:
    """(publisher, sources) over what a guild sees, as stored (spellings not merged)."""
    rows = await session.execute(
        select(SourceRow.publisher, func.count())
        .where(visible(SourceRow.guild, guild), SourceRow.publisher.is_not(None))
        .group_by(SourceRow.publisher)
    )
    return [(name, int(n)) for name, n in rows.all() if name]


async def find_feeds(
    session: AsyncSession, guild: str | None, text: str, *, own_only: bool, limit: int
) -> list[FeedRow]:
    query = _find(FeedRow, (FeedRow.title, FeedRow.url), guild, text, own_only, limit)
    return list((await session.scalars(query)).all())


async def counts(session: AsyncSession, guild: str | None) -> tuple[int, int, int]:
    """(sources, passages, feeds) a guild sees."""
    n_sources, n_passages = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(SourceRow.passage_count), 0)).where(
                visible(SourceRow.guild, guild)
            )
        )
    ).one()
    n_feeds = await session.scalar(
        select(func.count()).select_from(FeedRow).where(visible(FeedRow.guild, guild))
    )
    return int(n_sources), int(n_passages), int(n_feeds or 0)


@dataclass(frozen=True, slots=True)
class StoredSource:
    """What deciding add / replace / unchanged needs of a stored source."""

    id: str
    content_hash: str
    added_at: datetime
    feed_id: str | None
    added_by: str | None


async def stored_sources(session: AsyncSession, ids: Sequence[str]) -> dict[str, StoredSource]:
    rows = await session.execute(
        select(
            SourceRow.id,
            SourceRow.content_hash,
            SourceRow.added_at,
            SourceRow.feed_id,
            SourceRow.added_by,
        ).where(SourceRow.id.in_(sorted(set(ids))))
    )
    return {
        r.id: StoredSource(r.id, r.content_hash, r.added_at, r.feed_id, r.added_by)
        for r in rows.all()
    }


async def sources_by_hash(
    session: AsyncSession, hashes: Sequence[str], guild: str | None
) -> dict[str, set[str]]:
    """Content hash → ids of sources with that content which this guild already sees."""
    rows = await session.execute(
        select(SourceRow.id, SourceRow.content_hash)
        .where(SourceRow.content_hash.in_(sorted(set(hashes))))
        .where(visible(SourceRow.guild, guild))
    )
    found: dict[str, set[str]] = {}
    for r in rows.all():
        found.setdefault(r.content_hash, set()).add(r.id)
    return found


async def sources_by_canonical(
    session: AsyncSession, urls: Sequence[str], guild: str | None
) -> dict[str, set[str]]:
    """Canonical URL → ids of sources at that URL which this guild already sees."""
    wanted = sorted({u for u in urls if u})
    if not wanted:
        return {}
    rows = await session.execute(
        select(SourceRow.id, SourceRow.canonical_url)
        .where(SourceRow.canonical_url.in_(wanted))
        .where(visible(SourceRow.guild, guild))
    )
    found: dict[str, set[str]] = {}
    for r in rows.all():
        found.setdefault(r.canonical_url, set()).add(r.id)
    return found


async def feed_fingerprints(
    session: AsyncSession, feed_id: str, since: datetime
) -> list[tuple[str, int]]:
    """(id, simhash) of a feed's sources added since then: what a re-post is checked against."""
    rows = await session.execute(
        select(SourceRow.id, SourceRow.simhash)
        .where(SourceRow.feed_id == feed_id)
        .where(SourceRow.simhash.is_not(None))
        .where(SourceRow.added_at >= since)
    )
    return [(r.id, r.simhash) for r in rows.all()]


async def source_texts(
    session: AsyncSession, ids: Sequence[str]
) -> dict[str, tuple[str | None, str]]:
    """Each source's title and passages joined in order: its text, as the store keeps it."""
    found = await session.execute(
        select(SourceRow.id, SourceRow.title).where(SourceRow.id.in_(ids))
    )
    titles = {r.id: r.title for r in found.all()}
    rows = await session.execute(
        select(PassageRow.source_id, PassageRow.text)
        .where(PassageRow.source_id.in_(ids))
        .order_by(PassageRow.source_id, PassageRow.ordinal)
    )
    texts: dict[str, list[str]] = {}
    for r in rows.all():
        texts.setdefault(r.source_id, []).append(r.text)
    return {sid: (titles.get(sid), "\n\n".join(parts)) for sid, parts in texts.items()}


@dataclass(frozen=True, slots=True)
class NewSource:
    """A source row to write, with its passages (text, index terms) and line hashes."""

    row: dict[str, Any]
    passages: Sequence[tuple[str, str]]
    line_hashes: Sequence[str]


async def write_sources(
    session: AsyncSession, sources: Sequence[NewSource], replaced: Sequence[str]
) -> None:
    """Writes sources with a few bulk statements; the caller's transaction makes it atomic.

    Replaced sources are deleted first (their passages and lines go with them).
    """
    if replaced:
        ids = sorted(set(replaced))
        await session.execute(delete(PassageRow).where(PassageRow.source_id.in_(ids)))
        await session.execute(delete(SourceLineRow).where(SourceLineRow.source_id.in_(ids)))
        await session.execute(delete(SourceRow).where(SourceRow.id.in_(ids)))
    if not sources:
        return
    await session.execute(
        insert(SourceRow), [{**s.row, "passage_count": len(s.passages)} for s in sources]
    )
    await session.execute(
        insert(PassageRow),
        [
            {"source_id": s.row["id"], "ordinal": i, "text": text, "tokens": tokens}
            for s in sources
            for i, (text, tokens) in enumerate(s.passages)
        ],
    )
    lines = [
        {"source_id": s.row["id"], "line_hash": h}
        for s in sources
        for h in sorted(set(s.line_hashes))
    ]
    if lines:
        await session.execute(insert(SourceLineRow), lines)
    now = utcnow()
    await session.execute(
        insert(ChangeRow), [{"source_id": s.row["id"], "op": "add", "at": now} for s in sources]
    )


async def delete_source(session: AsyncSession, source_id: str) -> bool:
    result = await session.execute(delete(SourceRow).where(SourceRow.id == source_id))
    if not result.rowcount:
        return False
    # Passages go by ON DELETE CASCADE; delete explicitly too, in case a driver ignores it.
    await session.execute(delete(PassageRow).where(PassageRow.source_id == source_id))
    # Votes on it and hides of it (no foreign key: a content update keeps them).
    await session.execute(delete(FeedbackRow).where(FeedbackRow.source_id == source_id))
    await session.execute(delete(HiddenRow).where(HiddenRow.source_id == source_id))
    session.add(ChangeRow(source_id=source_id, op="remove"))
    return True


async def feed_entry_refs(session: AsyncSession, feed_id: str) -> set[str]:
    rows = await session.scalars(select(SourceRow.ref).where(SourceRow.feed_id == feed_id))
    return set(rows.all())


async def delete_feed(session: AsyncSession, feed_id: str) -> bool:
    await session.execute(
        update(SourceRow).where(SourceRow.feed_id == feed_id).values(feed_id=None)
    )
    result = await session.execute(delete(FeedRow).where(FeedRow.id == feed_id))
    return bool(result.rowcount)


async def publisher_line_counts(
    session: AsyncSession, publishers: Iterable[str], lines: Iterable[str], exclude: Iterable[str]
) -> dict[tuple[str, str], int]:
    """(publisher, line hash) → how many stored sources carry it, leaving out `exclude`.

    Only for the given line hashes: what a batch being stored could repeat. Counting
    every line of every publisher would grow with the database.
    """
    names = sorted(set(publishers))
    wanted = sorted(set(lines))
    if not names or not wanted:
        return {}
    excluded = sorted(set(exclude))
    out: dict[tuple[str, str], int] = {}
    for start in range(0, len(wanted), LINES_PER_QUERY):
        query = (
            select(SourceRow.publisher, SourceLineRow.line_hash, func.count())
            .join(SourceRow, SourceRow.id == SourceLineRow.source_id)
            .where(
                SourceRow.publisher.in_(names),
                SourceLineRow.line_hash.in_(wanted[start : start + LINES_PER_QUERY]),
            )
            .group_by(SourceRow.publisher, SourceLineRow.line_hash)
        )
        if excluded:
            query = query.where(SourceLineRow.source_id.not_in(excluded))
        rows = await session.execute(query)
        out.update(((publisher, line), n) for publisher, line, n in rows.all())
    return out
