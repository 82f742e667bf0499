"""The library's one entry point: ingest sources, answer questions, manage sources.

`Library` ties the chain together (fetch → extract → passages → store → index →
search); the CLI and the Discord bot are thin callers of it. CPU work (extraction,
tokenising, index updates, scoring) runs in threads so an event loop never waits on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import math
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import delete, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from index import brief as briefing
from index import dedup, extract, store
from index import feedback as votes
from index.bm25 import IndexFileError, PassageIndex, SourceItem
from index.errors import (
    BriefbotError,
    ExtractError,
    SettingError,
    SourceNotFound,
    StoreError,
)
from index.fetch import Fetcher, NotModified
from index.passages import split_passages
from index.search import (
    Candidate,
    Query,
    Ranked,
    correct,
    holds_phrases,
    needs_correction,
    plan,
    rerank,
    suggestions,
    surface,
    term_spans,
)
from index.searcher import Searcher
from index.settings import ExtractSettings, PassageSettings, Settings
from index.tokenize import article_terms, fold, name_key, tokenize
from index.types import (
    Answer,
    Asked,
    Brief,
    Correction,
    Document,
    Extracted,
    Feed,
    FeedEntry,
    FeedInfo,
    Fetched,
    GuildSettings,
    HiddenItem,
    Hit,
    IngestReport,
    Job,
    SourceInfo,
    Stats,
    Vote,
)
from index.worker import Workers

log = logging.getLogger(__name__)

FILE_TYPES = frozenset({".txt", ".md", ".html", ".htm", ".pdf", ".json", ".jsonl"})
CHUNK = 256  # documents stored per transaction (each in its own savepoint)
REPOST_WINDOW = timedelta(days=30)  # a feed's sources a new entry is compared against
WORKER_NICE = 10  # ingest workers yield the CPU to the process answering questions
GAP_SECONDS = 30.0  # a change number missing this long is a rolled-back write
ASK_SYNC_MAX = 8  # changed sources an ask applies itself while watch() follows the rest
APPLY_CHUNK = 128  # sources read and indexed per step when following the database
INDEX_NAMES = ("passages", "articles", "titles")  # saved indexes, one folder each
CHANGES_CHANNEL = "briefbot_changes"  # PostgreSQL NOTIFY channel (migration 0003)
POSTGRES_FALLBACK_POLL = 30.0  # seconds: a check even without notifications
LOG_DELAY = 1.0  # seconds questions gather before the log writes them in one transaction
LOG_RETRY_MAX = 60.0  # seconds at most between tries of a log the database refused
PRUNE_EVERY = 3600.0  # seconds between drops of logged questions past [feedback] keep_days
MAX_HIDDEN_DEPTH = 2000  # extra candidates searched to make up for hidden passages
STATS_SOURCES = 10  # sources in each /stats list
STATS_UNANSWERED = 5  # latest questions with no result /stats shows

Progress = Callable[[int, str], None]  # (units done since last call, label)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Task:
    """One unit of ingest input: a file, a URL, or a JSON Lines file (weight = lines)."""

    value: str
    kind: str  # "file" | "records" | "url"
    weight: int = 1


@dataclass(frozen=True, slots=True)
class SourceMeta:
    """What filters and recency need of an indexed source, kept in memory beside the index."""

    guild: str | None
    day: date | None  # published, else added: what since/until compare
    publisher: str | None  # name_key(): matched without case, accents or extra spaces


@dataclass(frozen=True, slots=True)
class Prepared:
    """A document split and tokenised, ready to store."""

    doc: Document
    content_hash: str
    passages: list[tuple[str, str]]  # (display text, space-joined index terms)
    line_hashes: list[str]
    canonical_url: str | None = None  # the page's own URL for itself, normalised
    simhash: int | None = None  # of the text: re-posts with small edits are near it


def index_dir(settings: Settings) -> Path | None:
    """Where the index is saved: [index] path, or next to a SQLite database file."""
    path = settings.index.path
    if path != "auto":
        return Path(path) if path else None
    url = make_url(settings.database_url)
    database = url.database or ""
    in_memory = database in ("", ":memory:") or url.query.get("mode") == "memory"
    if url.get_backend_name() != "sqlite" or in_memory:
        return None
    return Path(f"{database}.index")


def source_id(guild: str | None, ref: str) -> str:
    """Stable id of a source: the same ref in the same guild is the same source."""
    return hashlib.sha1(f"{guild or ''}\x00{ref}".encode()).hexdigest()[:12]


def content_hash(doc: Document) -> str:
    normalised = " ".join(fold(doc.text).split())
    return hashlib.sha256(normalised.encode()).hexdigest()


def plan_inputs(inputs: Sequence[str]) -> tuple[list[Task], list[tuple[str, str]]]:
    """Expands directories; returns tasks and inputs that fail before any work."""
    tasks: list[Task] = []
    failed: list[tuple[str, str]] = []
    for value in inputs:
        if value.startswith(("http://", "https://")):
            tasks.append(Task(value, "url"))
            continue
        path = Path(value)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and _ingestible(p))
            if not files:
                failed.append(
                    (value, "directory holds no .txt .md .html .htm .pdf .json .jsonl (or .gz)")
                )
            tasks.extend(_file_task(p) for p in files)
        elif path.is_file():
            tasks.append(_file_task(path))
        elif "://" in value:
            failed.append((value, "only http:// and https:// URLs can be ingested"))
        else:
            failed.append((value, "no such file or directory"))
    return tasks, failed


def _ingestible(path: Path) -> bool:
    """A file type ingest reads, gzip-compressed or not (story.html, story.html.gz)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes[-1:] == [".gz"]:
        suffixes = suffixes[:-1]
    return bool(suffixes) and suffixes[-1] in FILE_TYPES


def _file_task(path: Path) -> Task:
    name = os.path.normpath(str(path))
    if path.suffix.lower() in (".jsonl", ".json"):
        with path.open("rb") as fh:
            lines = sum(1 for _ in fh)
        return Task(name, "records", max(lines, 1))
    return Task(name, "file")


def _read_file(path: str, limit: int, key: str) -> bytes:
    size = os.path.getsize(path)
    if size > limit:
        raise ExtractError(
            f"{path}: file is {size:,} bytes, more than the {limit:,} allowed ([extract] {key})"
        )
    with open(path, "rb") as fh:
        return fh.read()


def _extract_file(path: str, limits: ExtractSettings) -> Document:
    # Read up to the largest type's limit; extract_bytes applies the file's own type's.
    key, largest = max(
        (
            ("max_pdf_bytes", limits.max_pdf_bytes),
            ("max_text_bytes", limits.max_text_bytes),
            ("max_decompressed_bytes", limits.max_decompressed_bytes),
        ),
        key=lambda item: item[1],
    )
    data = _read_file(path, largest, key)
    return extract.extract_bytes(data, ref=path, filename=path, limits=limits)


def _extract_fetched(ref: str, fetched: Fetched, limits: ExtractSettings) -> Document:
    doc = extract.extract_bytes(
        fetched.body, ref=ref, url=fetched.url, content_type=fetched.content_type, limits=limits
    )
    return replace(doc, ref=ref, kind="url", url=doc.url or fetched.url)


def _read_records(path: str, limit: int) -> list[Document | ExtractError]:
    return list(extract.iter_records(_read_file(path, limit, "max_records_bytes"), ref=path))


def prepare(
    docs: Sequence[Document], seen: dict[tuple[str, str], int], p: PassageSettings
) -> list[Prepared | tuple[str, str]]:
    """Boilerplate removal, passages and index terms: the CPU part of storing.

    A module function, so an ingest with workers runs it in another process.
    """
    cleaned = extract.remove_recurring(list(docs), seen)
    out: list[Prepared | tuple[str, str]] = []  # prepared, or (ref, why it failed)
    for raw, doc in zip(docs, cleaned, strict=True):
        texts = split_passages(doc.paragraphs, min_words=p.min_words, max_words=p.max_words)
        if not texts:
            out.append((doc.ref, "no article text found"))
            continue
        title_terms = tokenize(doc.title or "")
        passages = [(t, " ".join(title_terms + tokenize(t))) for t in texts]
        if not any(tokens for _, tokens in passages):
            out.append((doc.ref, "no searchable words"))
            continue
        # Lines are counted as extracted, before removal, so boilerplate stays known.
        lines = [
            extract.paragraph_key(par)
            for par in raw.paragraphs
            if doc.publisher and len(par.split()) < extract.RECURRING_MAX_WORDS
        ]
        canonical = dedup.page_canonical(doc.url, doc.ref) if doc.kind == "url" else None
        out.append(
            Prepared(doc, content_hash(doc), passages, lines, canonical, dedup.simhash(doc.text))
        )
    return out


class Library:
    """briefbot's library API: everything the bot can do, without Discord."""

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        fetcher: Fetcher,
        engine: AsyncEngine | None = None,
        searcher: Callable[[], Searcher] = PassageIndex,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.fetcher = fetcher
        self._engine = engine
        self._searcher = searcher
        self.index: Searcher = searcher()  # one row per passage
        self.articles: Searcher = searcher()  # one row per source: its passages' terms and pairs
        self.titles: Searcher = searcher()  # one row per titled source: its title's terms
        self._meta: dict[str, SourceMeta] = {}
        self._loaded = False
        self._seq = 0
        self._sync_lock = asyncio.Lock()
        self._save_lock = asyncio.Lock()
        self._dirty = False  # the index changed since it was last saved
        self._saved_at = time.monotonic()
        self._saving: asyncio.Future[bool] | None = None
        # Saving is PassageIndex's own; another engine keeps its data itself.
        self.index_dir = index_dir(settings) if searcher is PassageIndex else None
        self.workers = Workers(settings.extract, nice=WORKER_NICE)
        self._watchers = 0  # running watch() tasks
        self._above: set[int] = set()  # applied changes above the floor _seq
        self._gaps: dict[int, float] = {}  # change numbers missing above the floor: since
        self.feedback = votes.FeedbackCache()  # each guild's votes and hidden items
        self._log: list[votes.Logged] = []  # answers not yet written to the questions log
        self._log_task: asyncio.Task[None] | None = None
        self._log_lock = asyncio.Lock()
        self._pruned_at = -math.inf  # the first flush prunes

    @classmethod
    async def open(
        cls, settings: Settings, *, searcher: Callable[[], Searcher] = PassageIndex
    ) -> Library:
        """Opens the database (migrating it) and a fetcher; the index loads on first ask.

        `searcher` makes the BM25 engines (the `Searcher` seam); PassageIndex by default.
        """
        engine = store.create_engine(settings.database_url)
        try:
            await store.migrate(engine)
        except BaseException:
            await engine.dispose()
            raise
        return cls(settings, store.sessionmaker(engine), Fetcher(settings.fetch), engine, searcher)

    async def close(self) -> None:
        if self._log_task is not None:
            self._log_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._log_task
        with contextlib.suppress(BriefbotError):
            await self.flush_questions()
        if self._saving is not None:
            await asyncio.wait([self._saving])
        await self.save_index()
        self.workers.close()
        await self.fetcher.aclose()
        if self._engine is not None:
            await self._engine.dispose()

    async def __aenter__(self) -> Library:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- index ------------------------------------------------------------------

    async def sync(self, *, max_sources: int | None = None) -> None:
        """Loads the index on first use, then applies changes other writers logged.

        Changes are read and applied APPLY_CHUNK sources at a time, so a question asked
        meanwhile waits for one chunk, not for a whole bulk ingest. With `max_sources`,
        changes touching more sources than that are left for a later sync.
        """
        async with self._sync_lock:
            try:
                async with self.sessions() as session:
                    if not self._loaded:
                        await self._first_load(session)
                    await self._follow(session, max_sources)
            except SQLAlchemyError as exc:
                raise StoreError(f"database: {store.db_reason(exc)}") from exc
        self._maybe_save()

    async def _follow(self, session: AsyncSession, max_sources: int | None) -> None:
        """Apply logged changes not applied yet, then move the floor `_seq` up.

        On PostgreSQL sequence numbers are taken before commit, so change 10 can commit
        after change 11: everything above the floor is read again and what was applied is
        skipped. A missing number (a rolled-back write, or one not committed yet) holds
        the floor for GAP_SECONDS, then counts as void. Applying is idempotent: an add
        reads the source as the database has it now.
        """
        changes = [
            c for c in await store.changes_since(session, self._seq) if c[0] not in self._above
        ]
        if changes:
            latest: dict[str, str] = {}
            for _seq, sid, op in changes:
                latest[sid] = op
            if max_sources is not None and len(latest) > max_sources:
                return
            added = [sid for sid, op in latest.items() if op == "add"]
            removed = [sid for sid, op in latest.items() if op != "add"]
            started = time.perf_counter()
            applied = 0
            for start in range(0, len(added), APPLY_CHUNK):
                ids = added[start : start + APPLY_CHUNK]
                fresh = await store.indexed_sources(session, ids)
                found = {s.source_id for s in fresh}
                gone = [sid for sid in ids if sid not in found]  # added, then removed
                await self._apply(fresh, gone)
                applied += len(fresh)
                self._dirty = True
            if removed:
                await self._apply([], removed)
                self._dirty = True
            self._above.update(c[0] for c in changes)
            log.info(
                "index: applied %d change(s) up to #%d (%d added, %d removed) in %.0f ms",
                len(changes),
                changes[-1][0],
                applied,
                len(latest) - applied,
                (time.perf_counter() - started) * 1000,
            )
        self._raise_floor()

    def _raise_floor(self) -> None:
        now = time.monotonic()
        top = max(self._above, default=self._seq)
        while self._seq < top:
            nxt = self._seq + 1
            if nxt in self._above:
                self._above.discard(nxt)
            elif now - self._gaps.setdefault(nxt, now) < GAP_SECONDS:
                return
            self._gaps.pop(nxt, None)
            self._seq = nxt

    async def _first_load(self, session: AsyncSession) -> None:
        """The saved index if it is of this database, else a build from the passages table."""
        started = time.perf_counter()
        seq = await store.last_change(session)
        saved = await self._read_saved(session, seq)
        if saved is not None:
            (self.index, self.articles, self.titles), self._seq = saved
            metas = await store.source_metas(session)
            self._meta = await asyncio.to_thread(lambda: {s.source_id: _meta(s) for s in metas})
            self._loaded = True
            log.info(
                "index: loaded %d passages saved at change #%d in %.2f s",
                len(self.index),
                self._seq,
                time.perf_counter() - started,
            )
            return
        # Fresh engines and metadata: a build that failed half-way leaves nothing behind.
        self.index, self.articles, self.titles = (self._searcher() for _ in INDEX_NAMES)
        self._meta = {}
        async for chunk in store.stream_indexed_sources(session):
            await self._apply(chunk, ())
        self._seq, self._loaded, self._dirty = seq, True, True
        log.info(
            "index: built from %d passages in %.2f s",
            len(self.index),
            time.perf_counter() - started,
        )

    async def _read_saved(
        self, session: AsyncSession, seq: int
    ) -> tuple[tuple[PassageIndex, PassageIndex, PassageIndex], int] | None:
        """The saved indexes, if all three are of this database at a change it still has."""
        folder = self.index_dir
        if folder is None or not (folder / INDEX_NAMES[0] / "CURRENT").exists():
            return None

        def read() -> list[tuple[PassageIndex, dict[str, Any]]]:
            return [PassageIndex.load(folder / name) for name in INDEX_NAMES]

        try:
            loaded = await asyncio.to_thread(read)
        except IndexFileError as exc:
            log.warning("index: the saved index is not usable, rebuilding (%s)", exc)
            return None
        stamp = loaded[0][1]
        saved_seq = stamp.get("seq")
        database = await store.database_id(session)
        ok = (
            all(other == stamp for _, other in loaded)
            and database is not None
            and stamp.get("database") == database
            and isinstance(saved_seq, int)
            and saved_seq <= seq
        )
        if ok and saved_seq:
            last = await store.change_at(session, saved_seq)
            ok = list(last or ()) == stamp.get("last")
        if not ok:
            log.info("index: the saved index is of another database state, rebuilding")
            return None
        first, second, third = (index for index, _ in loaded)
        return (first, second, third), saved_seq

    async def save_index(self) -> bool:
        """Saves the index under [index] path if it changed since the last save."""
        folder = self.index_dir
        if folder is None or not self._loaded or not self._dirty:
            return False
        async with self._save_lock:
            async with self._sync_lock:  # a consistent capture: no change half-applied
                if not self._dirty:
                    return False
                async with self.sessions() as session:
                    last = await store.change_at(session, self._seq) if self._seq else None
                    database = await store.database_id(session)
                    if database is None:
                        return False  # not a migrated briefbot database: nothing to stamp
                    stamp = {
                        "database": database,
                        "seq": self._seq,
                        "last": list(last) if last else None,
                    }
                engines = (self.index, self.articles, self.titles)
                writers = [idx.capture() for idx in engines if isinstance(idx, PassageIndex)]
                self._dirty = False
            started = time.perf_counter()

            def write() -> None:
                for save, name in zip(writers, INDEX_NAMES, strict=True):
                    save(folder / name, stamp)

            try:
                await asyncio.to_thread(write)
            except OSError as exc:
                self._dirty = True
                log.warning("index: could not save to %s: %s", folder, exc)
                return False
            self._saved_at = time.monotonic()
            log.info(
                "index: saved %d passages to %s in %.2f s",
                len(self.index),
                folder,
                time.perf_counter() - started,
            )
            return True

    def _maybe_save(self) -> None:
        """A background save once the index has changed and the last one is old enough."""
        if self.index_dir is None or self._saving is not None:
            return
        if time.monotonic() - self._saved_at < self.settings.index.save_interval:
            return
        self._saving = asyncio.ensure_future(self.save_index())
        self._saving.add_done_callback(self._saved)

    def _saved(self, task: asyncio.Future[bool]) -> None:
        self._saving = None
        if not task.cancelled() and task.exception() is not None:
            log.warning("index: background save failed", exc_info=task.exception())

    async def _apply(
        self, sources: Sequence[store.IndexedSource], removed: Collection[str]
    ) -> None:
        """Add (or replace) and remove sources in all three indexes, one swap each.

        The indexes change in a worker thread; the filters' metadata here, on the event
        loop, which is the only reader of it (no copy of it per change).
        """
        work = asyncio.ensure_future(asyncio.to_thread(self._apply_indexes, sources, removed))
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError:
            await work  # the thread cannot be stopped: hold the sync lock until it is done
            raise
        if removed or any(s.source_id in self._meta for s in sources):
            self.feedback.clear()  # hidden passages removed or replaced: counts change
        for sid in removed:
            self._meta.pop(sid, None)
        self._meta.update((s.source_id, _meta(s)) for s in sources)

    def _apply_indexes(
        self, sources: Sequence[store.IndexedSource], removed: Collection[str]
    ) -> None:
        items = [(s.source_id, s.guild, s.passage_ids, s.token_lists) for s in sources]
        self.index.update(items, removed)
        self.articles.update((_article_item(*item) for item in items), removed)
        titles = [(s.source_id, _title_item(s)) for s in sources]
        self.titles.update(
            (t for _, t in titles if t is not None),
            [*removed, *(sid for sid, t in titles if t is None)],
        )

    async def watch(self) -> None:
        """Follows other processes' changes until cancelled: LISTEN/NOTIFY on PostgreSQL,
        a cheap look at the change log every [index] poll_interval on SQLite.

        While it runs, ask() answers from the index as it is instead of syncing first, so
        a question never waits behind a bulk change being applied.
        """
        self._watchers += 1
        try:
            if self._engine is not None and self._engine.dialect.name == "postgresql":
                await self._watch_postgres()
                return
            while True:
                await asyncio.sleep(self.settings.index.poll_interval)
                await self._sync_logged()
        finally:
            self._watchers -= 1

    async def _watch_postgres(self) -> None:
        import asyncpg

        assert self._engine is not None
        dsn = self._engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        changed = asyncio.Event()
        while True:
            try:
                conn = await asyncpg.connect(dsn)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("index: cannot listen for changes (%s); polling", exc)
                await asyncio.sleep(POSTGRES_FALLBACK_POLL)
                await self._sync_logged()
                continue
            try:
                await conn.add_listener(CHANGES_CHANNEL, lambda *_: changed.set())
                log.info("index: listening for changes on %s", CHANGES_CHANNEL)
                await self._sync_logged()  # what committed before we listened
                while not conn.is_closed():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), POSTGRES_FALLBACK_POLL)
                    changed.clear()
                    await self._sync_logged()
            finally:
                await conn.close()

    async def _sync_logged(self) -> None:
        try:
            await self.sync()
        except BriefbotError as exc:
            log.warning("index: could not follow the database: %s", exc)

    def _search(
        self,
        query: Query,
        guild: str | None,
        depth: int,
        allowed: Collection[str] | None,
        seen: votes.GuildFeedback = votes.NO_FEEDBACK,
    ) -> list[tuple[int, float]]:
        """Top passages by passage BM25 + article_weight × article BM25 (CPU: run in a thread).

        Candidates are the best passages by their own score plus every matching passage
        of the best articles, so a passage whose article is on topic is not lost just
        because its own words are few. What the guild hid (`seen`) is searched for and
        dropped: fetching that many more keeps the answer full.
        """
        weight = self.settings.search.article_weight
        terms = list(query.terms)
        hidden = seen.hidden_sources
        if query.required:
            # Only articles holding every quoted term and adjacent pair can hold the phrase;
            # all their passages are candidates, checked word by word after the fetch.
            holding = self.articles.sources_with_all(query.required_terms(), guild) - hidden
            allowed = holding if allowed is None else holding & set(allowed)
            if not allowed:
                return []
            total = sum(self.index.passage_count(sid) for sid in allowed)
            depth = max(depth, min(total, MAX_PHRASE_CANDIDATES))
        extra = min(self._hidden_count(seen), MAX_HIDDEN_DEPTH)
        found = self.index.hits(terms, guild, depth + extra, allowed)
        if weight == 0:
            return self._with_titles(terms, guild, _shown(found, seen), depth)
        article_terms = terms + list(query.phrases)
        articles_wanted = min(depth, MAX_ARTICLES)
        articles = self.articles.hits(article_terms, guild, articles_wanted + len(hidden), allowed)
        articles = [a for a in articles if a[2] not in hidden][:articles_wanted]
        article_score = {sid: score for _, score, sid in articles}
        top = [sid for _, _, sid in articles]
        size = sum(self.index.passage_count(sid) for sid in top)
        candidates = _shown(found, seen)
        if top:
            for pid, score, sid in self.index.hits(terms, guild, size, top):
                if pid not in seen.hidden_passages:
                    candidates[pid] = (score, sid)
        missing = {sid for _, sid in candidates.values()} - article_score.keys()
        if missing:
            for _, score, sid in self.articles.hits(article_terms, guild, len(missing), missing):
                article_score[sid] = score
        # A negative article score (tiny corpora: BM25Okapi's idf floor) is no evidence.
        fused = {
            pid: (score + weight * max(article_score.get(sid, 0.0), 0.0), sid)
            for pid, (score, sid) in candidates.items()
        }
        return self._with_titles(terms, guild, fused, depth)

    def _hidden_count(self, seen: votes.GuildFeedback) -> int:
        """Passages the guild hid, as passages or as whole sources."""
        if not seen.hides:
            return 0
        in_sources = sum(self.index.passage_count(sid) for sid in seen.hidden_sources)
        return in_sources + sum(
            1 for sid in seen.hidden_passages.values() if sid not in seen.hidden_sources
        )

    def _with_titles(
        self,
        terms: list[tuple[str, float]],
        guild: str | None,
        candidates: dict[int, tuple[float, str]],
        depth: int,
    ) -> list[tuple[int, float]]:
        """Adds title_weight × the BM25 of each candidate's title; the top `depth`, best first.

        Titles are indexed inside every passage already; this field lets the title count
        for more (or, weighted negative, for less) without re-indexing.
        """
        weight = self.settings.search.title_weight
        title_score: dict[str, float] = {}
        if weight:
            sids = {sid for _, sid in candidates.values()}
            for _, score, sid in self.titles.hits(terms, guild, len(sids), sids):
                title_score[sid] = max(score, 0.0)
        fused = [
            (pid, score + weight * title_score.get(sid, 0.0))
            for pid, (score, sid) in candidates.items()
        ]
        fused.sort(key=lambda item: (-item[1], item[0]))
        return fused[:depth]

    # --- asking -----------------------------------------------------------------

    async def ask(
        self,
        question: str,
        *,
        guild: str | None = None,
        k: int | None = None,
        since: date | None = None,
        until: date | None = None,
        source: str | None = None,
    ) -> Answer:
        """Top-k passages for a question, each with its citation.

        `source` limits the search to one source id or every source of one publisher
        (any case); `since`/`until` to sources published
        (or, undated, added) on or between those days. Statistics stay those of
        everything the guild sees, so a filter never changes a passage's score.
        Quoted phrases must appear in every answer; unknown words are corrected to the
        nearest index term (`Answer.corrections` says which).
        """
        started = time.perf_counter()
        question = question.strip()
        if not question:
            raise BriefbotError("the question is empty")
        k = k or self.settings.search.default_k
        if k < 1:
            raise BriefbotError(f"k must be at least 1, not {k}")
        if since is not None and until is not None and since > until:
            raise BriefbotError(f"since ({since}) is after until ({until})")
        if not self._loaded or self._watchers == 0:
            await self.sync()
        elif not self._sync_lock.locked():
            # Followed by watch(): take a few fresh changes in (a source just added shows
            # at once); a bulk change is the watcher's, never something a question waits for.
            await self.sync(max_sources=ASK_SYNC_MAX)
        query = plan(question, self.settings.search)
        seen = await self._feedback(guild)
        hidden = self._hidden_count(seen)
        searched = self.index.visible_count(guild) - hidden
        allowed = self._allowed(guild, since, until, source, seen.hidden_sources)
        frequency = functools.partial(self.index.document_frequency, guild=guild)
        if self.settings.search.typo_tolerance and needs_correction(query, frequency):
            vocabulary = self.index.vocabulary  # copying it takes the index lock: not here
            query = await asyncio.to_thread(lambda: correct(query, vocabulary(), frequency))
        filtered = allowed is not None
        if allowed is not None:
            searched = sum(self.index.passage_count(sid) for sid in allowed)
            searched -= sum(1 for sid in seen.hidden_passages.values() if sid in allowed)
        if not query.terms or (allowed is not None and not allowed):
            return Answer(
                question,
                (),
                searched,
                time.perf_counter() - started,
                filtered=filtered,
                hidden=hidden,
            )
        depth = max(k, self.settings.search.rerank_depth)
        found = await asyncio.to_thread(self._search, query, guild, depth, allowed, seen)
        async with self.sessions() as session:
            rows = await store.passages_by_id(session, [pid for pid, _ in found])
        today = datetime.now(UTC).date()
        asked = frozenset(votes.question_terms(question)) if seen.votes else frozenset()

        def finish() -> list[tuple[Ranked, tuple[tuple[int, int], ...]]]:
            """Phrase check, re-ranking and highlights: CPU work, off the event loop."""
            kept = [(pid, score) for pid, score in found if pid in rows]
            if query.required:
                kept = [(p, s) for p, s in kept if holds_phrases(rows[p][0].text, query)][:depth]
            candidates = [
                Candidate(
                    pid, score, rows[pid][0].text, rows[pid][1].published, seen.lean(pid, asked)
                )
                for pid, score in kept
            ]
            ranked = rerank(query, candidates, self.settings.search, k, today=today)
            return [
                (r, term_spans(rows[r.passage_id][0].text, query.terms) if i < HIGHLIGHTED else ())
                for i, r in enumerate(ranked)
            ]

        terms = tuple(t for t, _ in query.terms)
        hits = tuple(
            Hit(
                rank=i,
                score=r.score,
                passage_id=str(r.passage_id),
                text=rows[r.passage_id][0].text,
                source=store.source_info(rows[r.passage_id][1]),
                best_sentence=r.best_sentence,
                terms=terms,
                highlights=spans,
                also=_also(rows, r.passage_id, r.duplicates),
            )
            for i, (r, spans) in enumerate(await asyncio.to_thread(finish), start=1)
        )
        corrections = _corrections(question, query, hits)
        suggestion = None
        if not hits and not filtered:
            suggestion = await self._suggest(question, guild)
        return Answer(
            question,
            hits,
            searched,
            time.perf_counter() - started,
            corrections,
            suggestion,
            filtered,
            hidden,
        )

    async def _feedback(self, guild: str | None) -> votes.GuildFeedback:
        """The guild's votes and hidden items (cached: no query for most questions)."""
        try:
            return await self.feedback.get(self.sessions, guild)
        except SQLAlchemyError as exc:
            raise StoreError(f"database: {store.db_reason(exc)}") from exc

    async def _suggest(self, question: str, guild: str | None) -> str | None:
        """The question with unknown words swapped for index words, as passages write them."""
        frequency = functools.partial(self.index.document_frequency, guild=guild)
        vocabulary = self.index.vocabulary
        found = await asyncio.to_thread(lambda: suggestions(question, vocabulary(), frequency))
        if not found:
            return None
        examples = {word: self.index.example(term, guild) for word, term in found.items()}
        async with self.sessions() as session:
            rows = await store.passages_by_id(
                session, [pid for pid in examples.values() if pid is not None]
            )
        out = question
        for word, term in found.items():
            pid = examples[word]
            written = None
            if pid in rows:
                passage, row = rows[pid]
                written = surface(_indexed_text(row.title, passage.text), term)
            out = re.sub(rf"(?<!\w){re.escape(word)}(?!\w)", written or term, out, count=1)
        return out

    def _allowed(
        self,
        guild: str | None,
        since: date | None,
        until: date | None,
        source: str | None,
        hidden: Collection[str] = (),
    ) -> set[str] | None:
        """The source ids the filters leave (less those `hidden`), or None when nothing is
        filtered."""
        if since is None and until is None and source is None:
            return None
        visible = {sid: m for sid, m in self._meta.items() if m.guild is None or m.guild == guild}
        allowed = set(visible).difference(hidden)
        if source is not None:
            allowed &= self._named(source, visible)
        if since is not None or until is not None:
            allowed = {
                sid
                for sid in allowed
                if (day := visible[sid].day) is not None
                and (since is None or day >= since)
                and (until is None or day <= until)
            }
        return allowed

    @staticmethod
    def _named(name: str, visible: dict[str, SourceMeta]) -> set[str]:
        """A source id, or every source of a publisher; an unknown name is an error."""
        name = name.strip()
        if name in visible:
            return {name}
        wanted = name_key(name)
        found = {sid for sid, m in visible.items() if m.publisher == wanted}
        if not found:
            raise BriefbotError(f"no source or publisher {name!r} here")
        return found

    # --- ingesting --------------------------------------------------------------

    async def ingest(
        self,
        inputs: Sequence[str],
        *,
        guild: str | None = None,
        progress: Progress | None = None,
        on_plan: Callable[[int], None] | None = None,
        added_by: str | None = None,
        workers: int = 1,
    ) -> IngestReport:
        """Ingests files, directories, article URLs, feed URLs and JSONL corpora.

        `workers` > 1 extracts files and prepares passages in that many processes.

        Each source is stored completely or not at all; one bad source fails alone.
        Files are stored in chunks so boilerplate shared by a publisher's articles in
        one batch is recognised in all of them. `progress` gets (units done, label); for a
        feed, one call per entry with 0 units, so a caller can show which one is in work.
        """
        started = time.perf_counter()
        tasks, failed = plan_inputs(inputs)
        report = IngestReport(failed=list(failed))
        if on_plan:
            on_plan(sum(t.weight for t in tasks))
        limits = self.settings.extract
        # Extraction and passages go to worker processes at low priority, so answers
        # never queue behind them for the GIL or the CPU, and a hostile file costs only
        # its own worker's time and memory.
        self.workers.resize(max(workers, 1))
        files = [t for t in tasks if t.kind == "file"]
        tasks = [t for t in tasks if t.kind != "file"]
        for start in range(0, len(files), CHUNK):
            batch = files[start : start + CHUNK]
            results = await asyncio.gather(
                *(self.workers.extract(_extract_file, t.value, limits) for t in batch),
                return_exceptions=True,
            )
            docs: list[Document] = []
            for task, result in zip(batch, results, strict=True):
                if isinstance(result, BriefbotError):
                    report.failed.append((task.value, _strip_ref(str(result), task.value)))
                elif isinstance(result, BaseException):
                    raise result
                else:
                    docs.append(result)
                if progress:
                    progress(1, task.value)
            await self._store(docs, guild, report, added_by=added_by)
        for task in tasks:
            try:
                await self._ingest_task(task, guild, report, progress, added_by)
            except BriefbotError as exc:
                report.failed.append((task.value, _strip_ref(str(exc), task.value)))
                if progress:
                    progress(task.weight, task.value)
        if self._loaded:
            await self.sync()
        report.seconds = time.perf_counter() - started
        return report

    async def ingest_bytes(
        self,
        body: bytes,
        *,
        name: str,
        ref: str | None = None,
        guild: str | None = None,
        added_by: str | None = None,
    ) -> IngestReport:
        """Ingests an uploaded file (e.g. a Discord attachment) by its content.

        `name` is the file name (its extension tells the type); `ref`, if given, is what
        identifies the upload, so two uploads with one name stay two sources.
        """
        started = time.perf_counter()
        report = IngestReport()
        ref = ref or name
        limits = self.settings.extract
        try:
            if len(body) > limits.max_attachment_bytes:
                raise ExtractError(
                    f"{name}: upload is {len(body):,} bytes, more than the "
                    f"{limits.max_attachment_bytes:,} allowed ([extract] max_attachment_bytes)"
                )
            doc = await self.workers.extract(
                functools.partial(extract.extract_bytes, ref=ref, filename=name, limits=limits),
                body,
            )
            await self._store([doc], guild, report, added_by=added_by)
        except BriefbotError as exc:
            report.failed.append((name, _strip_ref(_strip_ref(str(exc), ref), name)))
        if self._loaded:
            await self.sync()
        report.seconds = time.perf_counter() - started
        return report

    async def _ingest_task(
        self,
        task: Task,
        guild: str | None,
        report: IngestReport,
        progress: Progress | None,
        added_by: str | None,
    ) -> None:
        if task.kind == "records":
            # A corpus file is the operator's own and may be large: read in a thread, not
            # in a memory-limited worker.
            limit = self.settings.extract.max_records_bytes
            records = await asyncio.to_thread(_read_records, task.value, limit)
            docs: list[Document] = []
            for record in records:
                if isinstance(record, ExtractError):
                    report.failed.append((task.value, _strip_ref(str(record), task.value)))
                else:
                    docs.append(record)
            for start in range(0, len(docs), CHUNK):
                chunk = docs[start : start + CHUNK]
                await self._store(chunk, guild, report, added_by=added_by)
                if progress:
                    progress(len(chunk), task.value)
            if progress and len(records) - len(docs):
                progress(len(records) - len(docs), task.value)
            if not records:
                raise ExtractError(f"{task.value}: no records")
        else:
            await self._ingest_url(task.value, guild, report, progress, added_by)
            if progress:
                progress(1, task.value)

    async def _ingest_url(
        self,
        url: str,
        guild: str | None,
        report: IngestReport,
        progress: Progress | None,
        added_by: str | None,
    ) -> None:
        fetched = await self.fetcher.get(url)
        assert isinstance(fetched, Fetched)  # no conditional headers were sent
        limits = self.settings.extract
        if extract.is_feed(fetched.body, fetched.content_type):
            feed = await self.workers.extract(
                functools.partial(extract.parse_feed, url=fetched.url, limits=limits),
                fetched.body,
            )
            await self._ingest_feed(url, feed, fetched, guild, report, progress, added_by)
            return
        doc = await self.workers.extract(_extract_fetched, url, fetched, limits)
        await self._store([doc], guild, report, etags={doc.ref: fetched}, added_by=added_by)

    async def _ingest_feed(
        self,
        url: str,
        feed: Feed,
        fetched: Fetched,
        guild: str | None,
        report: IngestReport,
        progress: Progress | None = None,
        added_by: str | None = None,
        *,
        check: bool = False,
    ) -> None:
        """Subscribes (or, with `check`, updates an existing subscription: one removed
        meanwhile stays removed) and stores the entries not seen before."""
        feed_id = source_id(guild, url)
        async with store.writing(self.sessions) as session:
            row = await session.get(store.FeedRow, feed_id)
            if row is None and check:
                log.info("feed %s was removed while it was checked", feed_id)
                return
            if row is None:
                row = store.FeedRow(
                    id=feed_id, url=url, guild=guild, added_at=store.utcnow(), added_by=added_by
                )
            row.title, row.etag, row.last_modified = feed.title, fetched.etag, fetched.last_modified
            if not check:  # a scheduled check records its outcome itself (_feed_checked)
                now = store.utcnow()
                row.last_checked, row.last_success, row.last_error = now, now, None
                row.failures = 0
            session.add(row)
            known = await store.feed_entry_refs(session, feed_id)
        for number, entry in enumerate(feed.entries, start=1):
            if progress:
                progress(0, f"entry {number}/{len(feed.entries)}: {entry.link}")
            if entry.link in known:
                report.unchanged.append(source_id(guild, entry.link))
                continue
            try:
                page = await self.fetcher.get(entry.link)
                assert isinstance(page, Fetched)
                doc = await self.workers.extract(
                    _extract_fetched, entry.link, page, self.settings.extract
                )
                doc = _with_entry(doc, entry)
                await self._store(
                    [doc], guild, report, feed_id=feed_id, etags={doc.ref: page}, added_by=added_by
                )
            except BriefbotError as exc:
                report.failed.append((entry.link, _strip_ref(str(exc), entry.link)))

    async def _store(
        self,
        docs: Sequence[Document],
        guild: str | None,
        report: IngestReport,
        *,
        feed_id: str | None = None,
        etags: dict[str, Fetched] | None = None,
        added_by: str | None = None,
    ) -> None:
        publishers = [d.publisher for d in docs if d.publisher]
        try:
            async with self.sessions() as session:
                ids = [source_id(guild, d.ref) for d in docs]
                lines = [
                    extract.paragraph_key(par)
                    for d in docs
                    if d.publisher
                    for par in d.paragraphs
                    if len(par.split()) < extract.RECURRING_MAX_WORDS
                ]
                seen = await store.publisher_line_counts(session, publishers, lines, ids)
            prepared = await self.workers.run(prepare, docs, seen, self.settings.passages)
        except SQLAlchemyError as exc:
            raise StoreError(f"database: {store.db_reason(exc)}") from exc
        items: list[Prepared] = []
        for item in prepared:
            if isinstance(item, tuple):
                report.failed.append(item)
            else:
                items.append(item)
        await self._write(items, guild, report, feed_id, etags, added_by)

    async def _write(
        self,
        items: Sequence[Prepared],
        guild: str | None,
        report: IngestReport,
        feed_id: str | None,
        etags: dict[str, Fetched] | None,
        added_by: str | None = None,
    ) -> None:
        """Stores a chunk in one transaction; if that fails, source by source to isolate it."""
        if not items:
            return
        outcome = IngestReport()
        try:
            async with store.writing(self.sessions) as session:
                await self._write_chunk(session, items, guild, feed_id, etags, outcome, added_by)
        except SQLAlchemyError as exc:
            if len(items) > 1:
                for item in items:
                    await self._write([item], guild, report, feed_id, etags, added_by)
                return
            log.debug("storing %s failed", items[0].doc.ref, exc_info=True)
            report.failed.append((items[0].doc.ref, f"database: {store.db_reason(exc)}"))
            return
        report.merge(outcome)

    async def _write_chunk(
        self,
        session: AsyncSession,
        items: Sequence[Prepared],
        guild: str | None,
        feed_id: str | None,
        etags: dict[str, Fetched] | None,
        report: IngestReport,
        added_by: str | None = None,
    ) -> None:
        """Decides add / replace / unchanged for each source, then writes in bulk."""
        ids = [source_id(guild, item.doc.ref) for item in items]
        stored = await store.stored_sources(session, ids)
        same_content = await store.sources_by_hash(
            session, [item.content_hash for item in items], guild
        )
        same_url = await store.sources_by_canonical(
            session, [item.canonical_url or "" for item in items], guild
        )
        now = store.utcnow()
        recent = (
            await store.feed_fingerprints(session, feed_id, now - REPOST_WINDOW) if feed_id else []
        )
        texts = await self._candidate_texts(session, items, recent, same_url)
        new: list[store.NewSource] = []
        replaced: list[str] = []
        for item, sid in zip(items, ids, strict=True):
            doc, old = item.doc, stored.get(sid)
            if old is not None and old.content_hash == item.content_hash:
                report.unchanged.append(sid)
                continue
            others = same_content.get(item.content_hash, set()) - {sid}
            if others:
                log.info("%s has the same content as source %s", doc.ref, min(others))
                report.unchanged.append(min(others))
                continue
            repost = _repost_of(item, sid, same_url, recent, texts)
            if repost is not None:
                log.info("%s is a re-post of source %s", doc.ref, repost)
                report.unchanged.append(repost)
                continue
            same_content.setdefault(item.content_hash, set()).add(sid)  # dedup within chunk
            if item.canonical_url:
                same_url.setdefault(item.canonical_url, set()).add(sid)
            if item.simhash is not None and feed_id:
                recent.append((sid, item.simhash))
                texts[sid] = (doc.title, "\n\n".join(p for p, _ in item.passages))
            if old is not None:
                replaced.append(sid)
            fetched = (etags or {}).get(doc.ref)
            row = {
                "id": sid,
                "ref": doc.ref,
                "kind": doc.kind,
                "guild": guild,
                "title": doc.title,
                "url": doc.url,
                "publisher": doc.publisher,
                "author": doc.author,
                "published": doc.published,
                "content_hash": item.content_hash,
                "etag": fetched.etag if fetched else None,
                "last_modified": fetched.last_modified if fetched else None,
                "feed_id": feed_id or (old.feed_id if old else None),
                "added_at": old.added_at if old else now,
                "updated_at": now,
                "added_by": old.added_by if old else added_by,
                "canonical_url": item.canonical_url,
                "simhash": item.simhash,
            }
            new.append(store.NewSource(row, item.passages, item.line_hashes))
            report.added.append(sid)
            report.passages += len(item.passages)
        await store.write_sources(session, new, replaced)

    @staticmethod
    async def _candidate_texts(
        session: AsyncSession,
        items: Sequence[Prepared],
        recent: list[tuple[str, int]],
        same_url: dict[str, set[str]],
    ) -> dict[str, tuple[str | None, str]]:
        """Titles and texts of the stored sources an item may re-post: those at its
        canonical URL, and recent ones of its feed its simhash is near."""
        near = {
            other
            for item in items
            if item.simhash is not None
            for other, h in recent
            if dedup.distance(h, item.simhash) <= dedup.CANDIDATE
        }
        for item in items:
            near |= same_url.get(item.canonical_url or "", set())
        return await store.source_texts(session, sorted(near)) if near else {}

    # --- managing sources -------------------------------------------------------

    async def sources(
        self, guild: str | None = None, *, all_guilds: bool = False
    ) -> list[SourceInfo]:
        """Sources a guild sees (global and its own), or every source."""
        async with self.sessions() as session:
            rows = await store.list_sources(session, guild, all_guilds=all_guilds)
        return [store.source_info(r) for r in rows]

    async def feeds(self, guild: str | None = None, *, all_guilds: bool = False) -> list[FeedInfo]:
        async with self.sessions() as session:
            rows = await store.list_feeds(session, guild, all_guilds=all_guilds)
        return [replace(store.feed_info(r), next_check=self._next_check(r)) for r in rows]

    async def source(self, source_id: str) -> SourceInfo:
        async with self.sessions() as session:
            row = await session.get(store.SourceRow, source_id)
        if row is None:
            raise SourceNotFound(f"no source with id {source_id!r}")
        return store.source_info(row)

    async def find(
        self, text: str, *, guild: str | None = None, own_only: bool = False, limit: int = 25
    ) -> tuple[list[SourceInfo], list[FeedInfo]]:
        """Sources and feeds matching `text` (id prefix or words of title, publisher, ref).

        For pickers such as autocomplete; `own_only` leaves out global sources.
        """
        async with self.sessions() as session:
            feeds = await store.find_feeds(session, guild, text, own_only=own_only, limit=limit)
            sources = await store.find_sources(session, guild, text, own_only=own_only, limit=limit)
        return [store.source_info(r) for r in sources], [store.feed_info(r) for r in feeds]

    async def publishers(self, guild: str | None = None) -> list[tuple[str, int]]:
        """(publisher, sources) a guild sees, most sources first: for `source` pickers.

        Spellings that `ask(source=…)` treats as one name are one entry, named as most
        of its sources spell it.
        """
        async with self.sessions() as session:
            rows = await store.publishers(session, guild)
        merged: dict[str, list[tuple[int, str]]] = {}
        for name, n in rows:
            merged.setdefault(name_key(name), []).append((n, name))
        out = [(max(names)[1], sum(n for n, _ in names)) for names in merged.values()]
        return sorted(out, key=lambda item: (-item[1], name_key(item[0])))

    async def begin_job(
        self, key: str, kind: str, payload: dict[str, Any], *, created_at: datetime | None = None
    ) -> None:
        """Records work before it starts, so a process that dies midway leaves a trace its
        successor finds (`jobs`). `payload` is JSON; the same key again replaces it."""
        row = store.PendingRow(
            key=key,
            kind=kind,
            payload=json.dumps(payload),
            created_at=created_at or store.utcnow(),
        )
        async with store.writing(self.sessions) as session:
            await session.merge(row)

    async def end_job(self, key: str) -> bool:
        """Marks the work done; False if it was not (or no longer) recorded. A restarted
        process calls this before redoing a job: only the caller that gets True does it."""
        async with store.writing(self.sessions) as session:
            result = await session.execute(
                delete(store.PendingRow).where(store.PendingRow.key == key)
            )
        return bool(getattr(result, "rowcount", 0))

    async def jobs(self, kind: str) -> list[Job]:
        """Unfinished work of one kind, oldest first."""
        async with self.sessions() as session:
            rows = await session.scalars(
                select(store.PendingRow)
                .where(store.PendingRow.kind == kind)
                .order_by(store.PendingRow.created_at)
            )
            return [
                Job(r.key, r.kind, json.loads(r.payload), store.aware(r.created_at)) for r in rows
            ]

    async def backup(self, target: Path) -> tuple[int, int]:
        """A consistent copy of the (live) SQLite database; (sources, passages) it holds."""
        assert self._engine is not None
        await store.backup(self._engine, target)
        copy = store.create_engine(f"sqlite+aiosqlite:///{target}")
        try:
            async with store.sessionmaker(copy)() as session:
                sources = await session.scalar(select(func.count()).select_from(store.SourceRow))
                passages = await session.scalar(select(func.count()).select_from(store.PassageRow))
        finally:
            await copy.dispose()
        return int(sources or 0), int(passages or 0)

    async def counts(self, guild: str | None = None) -> tuple[int, int, int]:
        """(sources, passages, feeds) a guild sees."""
        async with self.sessions() as session:
            return await store.counts(session, guild)

    async def remove(self, source_or_feed_id: str, *, guild: str | None = None) -> str:
        """Removes a source (its passages too) or a feed subscription; returns what it was.

        With a guild, only that guild's own sources can be removed.
        """
        async with store.writing(self.sessions) as session:
            row = await session.get(store.SourceRow, source_or_feed_id)
            if row is not None and (guild is None or row.guild == guild):
                await store.delete_source(session, row.id)
                kind = "source"
            else:
                feed = await session.get(store.FeedRow, source_or_feed_id)
                if feed is None or (guild is not None and feed.guild != guild):
                    raise SourceNotFound(f"no source or feed with id {source_or_feed_id!r}")
                await store.delete_feed(session, feed.id)
                kind = "feed"
        if self._loaded:
            await self.sync()
        return kind

    async def refresh(
        self, source_or_feed_id: str | None = None, *, guild: str | None = None
    ) -> IngestReport:
        """Re-fetches URL sources and feeds (and re-reads files); unchanged means no work.

        With a guild, only that guild's own sources and feeds are refreshed.
        """
        started = time.perf_counter()
        report = IngestReport()
        async with self.sessions() as session:
            if source_or_feed_id is None:
                sources = await store.list_sources(session, None, all_guilds=True)
                feeds = await store.list_feeds(session, None, all_guilds=True)
                if guild is not None:
                    sources = [s for s in sources if s.guild == guild]
                    feeds = [f for f in feeds if f.guild == guild]
            else:
                one = await session.get(store.SourceRow, source_or_feed_id)
                feed = await session.get(store.FeedRow, source_or_feed_id)
                if guild is not None:
                    one = one if one is not None and one.guild == guild else None
                    feed = feed if feed is not None and feed.guild == guild else None
                if one is None and feed is None:
                    raise SourceNotFound(f"no source or feed with id {source_or_feed_id!r}")
                sources = [one] if one else []
                feeds = [feed] if feed else []
        for feed in feeds:
            now = store.utcnow()
            if await self._claim(feed, now):  # the same check the schedule makes
                await self._refresh_feed(feed, report, now)
            else:
                log.info("feed %s is being checked by another process", feed.id)
                report.unchanged.append(feed.id)
        for row in sources:
            await self._refresh_source(row, report)
        if self._loaded:
            await self.sync()
        report.seconds = time.perf_counter() - started
        return report

    async def _refresh_source(self, row: store.SourceRow, report: IngestReport) -> None:
        try:
            if row.kind == "url":
                got = await self.fetcher.get(
                    row.ref, etag=row.etag, last_modified=row.last_modified
                )
                if isinstance(got, NotModified):
                    report.unchanged.append(row.id)
                    return
                limits = self.settings.extract
                doc = await self.workers.extract(_extract_fetched, row.ref, got, limits)
                await self._store(
                    [doc], row.guild, report, feed_id=row.feed_id, etags={row.ref: got}
                )
            elif row.kind == "file" and os.path.isfile(row.ref):
                doc = await self.workers.extract(_extract_file, row.ref, self.settings.extract)
                await self._store([doc], row.guild, report)
            else:  # corpus records and vanished files cannot be re-read
                report.unchanged.append(row.id)
        except BriefbotError as exc:
            report.failed.append((row.ref, _strip_ref(str(exc), row.ref)))

    async def _refresh_feed(
        self, feed: store.FeedRow, report: IngestReport, now: datetime | None = None
    ) -> None:
        """One check of a feed (conditional GET; only entries not seen are fetched), then
        its next check: an interval on, or backed off after failures. `now` is the check's
        time (the schedule's clock; tests pass their own)."""
        error: str | None = None
        try:
            got = await self.fetcher.get(feed.url, etag=feed.etag, last_modified=feed.last_modified)
            if isinstance(got, NotModified):
                report.unchanged.append(feed.id)
            else:
                parsed = await self.workers.extract(
                    functools.partial(
                        extract.parse_feed, url=got.url, limits=self.settings.extract
                    ),
                    got.body,
                )
                await self._ingest_feed(feed.url, parsed, got, feed.guild, report, check=True)
        except BriefbotError as exc:
            error = str(exc)
            report.failed.append((feed.url, _strip_ref(error, feed.url)))
        await self._feed_checked(feed.id, error, now or store.utcnow())

    async def _claim(self, feed: store.FeedRow, now: datetime) -> bool:
        """This process checks the feed now; False if another one took it first."""
        async with store.writing(self.sessions) as session:
            return await store.claim_feed(session, feed.id, feed.last_checked, now)

    def _wait(self, feed: store.FeedRow | FeedInfo) -> float:
        """Seconds from a feed's last check to its next: its interval, doubled per failure."""
        wait = feed.interval or self.settings.feeds.interval
        if feed.failures:
            wait = min(wait * 2**feed.failures, self.settings.feeds.max_backoff)
        return wait

    def _next_check(self, feed: store.FeedRow | FeedInfo) -> datetime | None:
        if feed.last_checked is None:
            return None  # never checked: due now
        return store.aware(feed.last_checked) + timedelta(seconds=self._wait(feed))

    async def _feed_checked(self, feed_id: str, error: str | None, now: datetime) -> None:
        async with store.writing(self.sessions) as session:
            row = await session.get(store.FeedRow, feed_id)
            if row is None:  # removed meanwhile
                return
            row.last_checked, row.last_error = now, error
            if error is None:
                row.failures, row.last_success = 0, now
            else:
                row.failures = (row.failures or 0) + 1

    async def poll_feeds(self, *, now: datetime | None = None) -> IngestReport:
        """Checks every feed that is due, each once, even with several processes running:
        a feed is claimed before it is checked. Returns what the checks found."""
        started = time.perf_counter()
        report = IngestReport()
        async with self.sessions() as session:
            feeds = await store.list_feeds(session, None, all_guilds=True)
        for feed in feeds:
            when = now or store.utcnow()  # each feed's own moment: a long pass moves on
            due = self._next_check(feed)
            if due is not None and due > when:
                continue
            if await self._claim(feed, when):
                await self._refresh_feed(feed, report, when)
        if self._loaded and report.added:
            await self.sync()
        report.seconds = time.perf_counter() - started
        return report

    async def watch_feeds(self, *, at_most: float = 60.0) -> None:
        """Polls due feeds for as long as it runs (`briefbot run`), waking when the next
        one is due, and at least every `at_most` seconds (feeds added elsewhere)."""
        while True:
            wait = at_most
            try:
                report = await self.poll_feeds()
                if report.added or report.failed:
                    log.info(
                        "feeds: %d new or updated, %d failed",
                        len(report.added),
                        len(report.failed),
                    )
                upcoming = [f.next_check for f in await self.feeds(all_guilds=True)]
                soonest = min((t for t in upcoming if t is not None), default=None)
                if soonest is not None:
                    wait = min(at_most, max(1.0, (soonest - store.utcnow()).total_seconds()))
            except (SQLAlchemyError, OSError) as exc:
                log.warning("feed polling failed; retrying: %s", store.db_reason(exc))
            except Exception:  # a background loop: one bad check must not end the polling
                log.exception("feed polling failed; retrying")
            await asyncio.sleep(wait)

    async def set_feed_interval(
        self, feed_id: str, seconds: float | None, *, guild: str | None = None
    ) -> FeedInfo:
        """A feed's own interval between checks (None: back to [feeds] interval)."""
        if seconds is not None and seconds < 1:
            raise BriefbotError(f"an interval must be at least 1 s, not {seconds:g}")
        async with store.writing(self.sessions) as session:
            row = await session.get(store.FeedRow, feed_id)
            if row is None or (guild is not None and row.guild != guild):
                raise SourceNotFound(f"no feed with id {feed_id!r}")
            row.interval = seconds
            info = store.feed_info(row)
        return replace(info, next_check=self._next_check(info))

    # --- briefing ---------------------------------------------------------------

    async def brief(
        self,
        topic: str | None = None,
        *,
        guild: str | None = None,
        since: date | None = None,
        source: str | None = None,
        k: int | None = None,
    ) -> Brief:
        """What happened since a day: one passage per story, newest stories first.

        Articles count from the day they were published (or, undated, added): `since`
        defaults to 7 days ago. With a topic, the k stories that match it best (ranked as
        `ask` ranks, filters and typo correction included) are then ordered newest first;
        each shows its best-matching passage. Without one, the k newest stories, each
        with its lead. Wire copies (near-identical leads) are one story citing every
        outlet; `source` is a source id or a publisher, as for `ask`.
        """
        started = time.perf_counter()
        topic = (topic or "").strip() or None
        k = k or self.settings.search.default_k
        if k < 1:
            raise BriefbotError(f"k must be at least 1, not {k}")
        since = since or briefing.default_since(datetime.now(UTC).date())
        threshold = self.settings.search.duplicate_threshold
        seen = await self._feedback(guild)  # what the guild hid stays out of its brief
        answer: Answer | None = None
        if topic is not None:
            want = max(k * briefing.PASSAGES_PER_STORY, self.settings.search.rerank_depth)
            while True:  # articles bring many passages: ask for more until k stories show
                answer = await self.ask(topic, guild=guild, k=want, since=since, source=source)
                ids = {s.id for hit in answer.hits for s in (hit.source, *hit.also)}
                async with self.sessions() as session:
                    leads = await briefing.lead_passages(session, ids)
                texts = {sid: lead.text for sid, lead in leads.items()}
                stories = briefing.topic_stories(answer.hits, texts, k, threshold)
                if len(stories) >= k or len(answer.hits) < want or want >= briefing.MAX_PASSAGES:
                    break
                want = min(want * 4, briefing.MAX_PASSAGES)
            allowed = self._allowed(guild, since, None, source, seen.hidden_sources) or set()
        else:
            if not self._loaded or self._watchers == 0:
                await self.sync()
            elif not self._sync_lock.locked():
                await self.sync(max_sources=ASK_SYNC_MAX)
            allowed = self._allowed(guild, since, None, source, seen.hidden_sources) or set()

            def day(sid: str) -> date | None:
                return self._meta[sid].day

            latest = briefing.Latest(k, threshold)
            for ids in briefing.windows(briefing.newest_first(allowed, day), day):
                async with self.sessions() as session:
                    leads = (await briefing.lead_passages(session, ids)).values()
                latest.add(lead for lead in leads if lead.passage_id not in seen.hidden_passages)
                if latest.full:
                    break
            stories = latest.stories()
        visible = sum(1 for m in self._meta.values() if m.guild is None or m.guild == guild)
        suggestion = None
        if topic is not None and not stories and allowed:
            suggestion = await self._suggest(topic, guild)
        return Brief(
            topic,
            since,
            tuple(stories),
            articles=len(allowed),
            visible=visible,
            source=source,
            seconds=time.perf_counter() - started,
            corrections=answer.corrections if answer is not None else (),
            suggestion=suggestion,
        )

    # --- feedback and the questions log ---------------------------------------------

    def record_question(
        self,
        question: str,
        hits: Sequence[Hit],
        *,
        guild: str | None,
        per_page: int,
        via: str = "ask",
    ) -> str:
        """Logs an answer for /stats and its vote buttons; returns its id at once.

        The row is written a moment later with the answers around it, in one transaction:
        an answer never waits on the log, and a bulk ingest holding SQLite's write lock
        delays only the log. Call from a running event loop.
        """
        entry = votes.logged(guild, question, hits, via=via, per_page=per_page)
        self._log.append(entry)
        if len(self._log) > votes.MAX_LOGGED:  # the database has been down a while
            del self._log[: len(self._log) - votes.MAX_LOGGED]
            log.warning("questions log: %d answers unwritten, dropped older", votes.MAX_LOGGED)
        if self._log_task is None or self._log_task.done():
            self._log_task = asyncio.create_task(self._write_log_soon(), name="question-log")
        return entry.id

    async def _write_log_soon(self) -> None:
        """Writes the log a moment after an answer, and again until nothing is left: what
        is logged during a write, or kept after a failure (retried ever more slowly)."""
        wait = LOG_DELAY
        while True:
            await asyncio.sleep(wait)
            try:
                await self.flush_questions()
                wait = LOG_DELAY
            except Exception as exc:  # the log must never take the process down
                log.warning("questions log: %s (kept for the next try)", store.db_reason(exc))
                wait = min(wait * 2, LOG_RETRY_MAX)
            if not self._log:
                return

    async def flush_questions(self) -> int:
        """Writes the answers logged so far; returns how many. Once an hour it also drops
        answers older than [feedback] keep_days, in a transaction of its own."""
        async with self._log_lock:
            entries, self._log = self._log, []
            try:
                written = await self._write_log(entries)
            except BaseException as exc:  # kept for the next try (cancelled included)
                self._log[:0] = entries
                if isinstance(exc, SQLAlchemyError | OSError):
                    raise StoreError(f"database: {store.db_reason(exc)}") from exc
                raise
            if time.monotonic() - self._pruned_at > PRUNE_EVERY:
                keep = timedelta(days=self.settings.feedback.keep_days)
                try:
                    async with store.writing(self.sessions) as session:
                        await votes.prune_log(session, store.utcnow() - keep)
                except (SQLAlchemyError, OSError) as exc:  # the next flush tries again
                    log.warning("questions log: old answers kept: %s", store.db_reason(exc))
                else:
                    self._pruned_at = time.monotonic()
            return written

    async def _write_log(self, entries: list[votes.Logged]) -> int:
        """One transaction for the batch; if one entry cannot be written (a clashing id,
        a guild's answer logged twice), one each, and only that one is dropped."""
        if not entries:
            return 0
        try:
            async with store.writing(self.sessions) as session:
                return await votes.write_log(session, entries)
        except IntegrityError:
            if len(entries) == 1:
                log.warning("questions log: dropped answer %s (already written)", entries[0].id)
                return 0
        return sum([await self._write_log([entry]) for entry in entries])

    async def _flush_quietly(self) -> None:
        """An answer this process logged a moment ago (or is writing now) is on record
        before a vote names it."""
        if self._log or self._log_lock.locked():
            with contextlib.suppress(BriefbotError):
                await self.flush_questions()

    async def asked(self, question_id: str, *, guild: str) -> Asked | None:
        """A logged answer of this guild, with its passages still stored; None if there is
        none (never logged, from another guild, or older than [feedback] keep_days)."""
        guild = _guild_id(guild)
        await self._flush_quietly()
        try:
            async with self.sessions() as session:
                row = await session.get(store.QuestionRow, question_id)
                if row is None or row.guild != guild:
                    return None
                hits = await votes.answer_hits(session, question_id)
        except SQLAlchemyError as exc:
            raise StoreError(f"database: {store.db_reason(exc)}") from exc
        return Asked(
            row.id, row.guild, row.question, row.per_page, tuple(hits), store.aware(row.asked_at)
        )

    async def vote(
        self, question_id: str, passage_id: int, value: int, *, guild: str, user: str
    ) -> Vote:
        """Records a member's 👍 (1) or 👎 (-1) on a passage of a logged answer; a second
        vote on it for the same question replaces the first. It weighs on this guild's
        answers to like questions (`index.feedback`)."""
        guild = _guild_id(guild)
        if value not in (votes.UP, votes.DOWN):
            raise BriefbotError(f"a vote is 1 (helpful) or -1 (not helpful), not {value!r}")
        await self._flush_quietly()
        for attempt in range(2):  # a double click inserting twice: the second one updates
            try:
                async with store.writing(self.sessions) as session:
                    row = await session.get(store.QuestionRow, question_id)
                    if row is None or row.guild != guild:
                        raise SourceNotFound(
                            "this answer is no longer on record; ask again to rate the passages"
                        )
                    hit = await session.scalar(
                        select(store.AnswerHitRow).where(
                            store.AnswerHitRow.question_id == question_id,
                            store.AnswerHitRow.passage_id == passage_id,
                        )
                    )
                    if hit is None:
                        raise SourceNotFound(f"passage {passage_id} is not part of this answer")
                    passage = await session.get(store.PassageRow, passage_id)
                    source = await session.get(store.SourceRow, hit.source_id)
                    # SQLite may give a deleted passage's id to another source's passage.
                    if source is None or passage is None or passage.source_id != source.id:
                        raise SourceNotFound("that passage has been removed or updated since")
                    terms = votes.question_terms(row.question)
                    key = votes.question_key(terms)
                    mine = await session.scalar(
                        select(store.FeedbackRow).where(
                            store.FeedbackRow.guild == guild,
                            store.FeedbackRow.question_key == key,
                            store.FeedbackRow.passage_id == passage_id,
                            store.FeedbackRow.user == user,
                        )
                    )
                    previous = mine.vote if mine is not None else 0
                    if mine is None:
                        session.add(
                            store.FeedbackRow(
                                guild=guild,
                                question_key=key,
                                question=row.question,
                                terms=" ".join(terms),
                                passage_id=passage_id,
                                source_id=source.id,
                                user=user,
                                vote=value,
                                at=store.utcnow(),
                            )
                        )
                    else:
                        mine.vote, mine.at = value, store.utcnow()
                break
            except IntegrityError as exc:
                if attempt:
                    raise StoreError(f"database: {store.db_reason(exc)}") from exc
            except SQLAlchemyError as exc:
                raise StoreError(f"database: {store.db_reason(exc)}") from exc
        self.feedback.forget(guild)
        return Vote(hit.rank, passage_id, store.source_info(source), value, previous)

    async def hide(
        self, kind: str, target: str, *, guild: str, by: str | None = None
    ) -> HiddenItem:
        """Hides a passage (by passage id) or a source (by source id) from this guild's
        answers and briefs; other guilds still see it. Hiding twice keeps the first."""
        guild = _guild_id(guild)
        target = _hidden_target(kind, target)
        try:
            item = await self._hide(kind, target, guild, by)
        except IntegrityError:  # hidden at the same moment elsewhere: the first one stands
            try:
                item = await self._hide(kind, target, guild, by)
            except IntegrityError as exc:
                raise StoreError(f"database: {store.db_reason(exc)}") from exc
        self.feedback.forget(guild)
        return item

    async def _hide(self, kind: str, target: str, guild: str, by: str | None) -> HiddenItem:
        text: str | None = None
        try:
            async with store.writing(self.sessions) as session:
                if kind == "passage":
                    passage = (
                        await session.get(store.PassageRow, int(target))
                        if target.isdigit()
                        else None
                    )
                    if passage is None:
                        raise SourceNotFound(f"no passage {target!r} (its source may have changed)")
                    source = await session.get(store.SourceRow, passage.source_id)
                    text = passage.text
                else:
                    source = await session.get(store.SourceRow, target)
                if source is None or source.guild not in (None, guild):
                    raise SourceNotFound(f"no {kind} with id {target!r} here")
                row = await session.get(store.HiddenRow, (guild, kind, target))
                if row is None:
                    row = store.HiddenRow(
                        guild=guild,
                        kind=kind,
                        target=target,
                        source_id=source.id,
                        by=by,
                        at=store.utcnow(),
                    )
                    session.add(row)
                return HiddenItem(
                    kind, target, store.source_info(source), text, row.by, store.aware(row.at)
                )
        except IntegrityError:
            raise
        except SQLAlchemyError as exc:
            raise StoreError(f"database: {store.db_reason(exc)}") from exc

    async def unhide(self, kind: str, target: str, *, guild: str) -> bool:
        """Shows a hidden passage or source again; False if it was not hidden."""
        guild = _guild_id(guild)
        target = _hidden_target(kind, target)
        try:
            async with store.writing(self.sessions) as session:
                result = await session.execute(
                    delete(store.HiddenRow).where(
                        store.HiddenRow.guild == guild,
                        store.HiddenRow.kind == kind,
                        store.HiddenRow.target == target,
                    )
                )
        except SQLAlchemyError as exc:
            raise StoreError(f"database: {store.db_reason(exc)}") from exc
        self.feedback.forget(guild)
        return bool(result.rowcount)

    async def hidden(self, guild: str) -> list[HiddenItem]:
        """What the guild's admins hid, newest first."""
        guild = _guild_id(guild)
        try:
            async with self.sessions() as session:
                return await votes.hidden_items(session, guild)
        except SQLAlchemyError as exc:
            raise StoreError(f"database: {store.db_reason(exc)}") from exc

    async def stats(self, guild: str, *, since: datetime | None = None) -> Stats:
        """A guild's questions, unanswered questions, top sources and votes since a moment
        (default: 30 days ago; the log keeps [feedback] keep_days)."""
        guild = _guild_id(guild)
        # UTC: SQLite keeps datetimes as text without an offset, so one must compare them.
        since = (since or store.utcnow() - timedelta(days=30)).astimezone(UTC)
        await self._flush_quietly()
        try:
            async with self.sessions() as session:
                asked, unanswered, by_way = await votes.question_counts(session, guild, since)
                recent = await votes.unanswered_questions(session, guild, since, STATS_UNANSWERED)
                top, voted = await votes.source_stats(session, guild, since, STATS_SOURCES)
                up, down = await votes.vote_totals(session, guild, since)
                hidden = await votes.hidden_items(session, guild)
        except SQLAlchemyError as exc:
            raise StoreError(f"database: {store.db_reason(exc)}") from exc
        return Stats(
            guild,
            since,
            asked,
            unanswered,
            by_way,
            tuple(recent),
            tuple(top),
            tuple(voted),
            up,
            down,
            tuple(hidden),
        )

    # --- guild settings ---------------------------------------------------------

    async def guild_settings(self, guild: str) -> GuildSettings:
        """A guild's settings as stored; a guild that never changed any gets the defaults."""
        guild = _guild_id(guild)
        async with self.sessions() as session:
            row = await session.get(store.GuildSettingsRow, guild)
        return _guild_settings(guild, row)

    async def set_guild_settings(
        self,
        guild: str,
        *,
        mention_channels: Sequence[str] | str | None = None,
        reply: str | None = None,
        results: int | None = None,
        private: bool | None = None,
        manager_role: str | None = None,
        updated_by: str | None = None,
    ) -> GuildSettings:
        """Changes the settings given (None: unchanged) and returns them all.

        `mention_channels` is a list of channel ids, or "all" for every channel;
        `manager_role` a role id or name, or "none" for the bot's configured role.
        Everything is checked before anything is written: a bad value raises
        SettingError naming it, and nothing changes.
        """
        guild = _guild_id(guild)
        channels = _mention_channels(mention_channels) if mention_channels is not None else None
        if reply is not None:
            reply = reply.strip().lower()
            if reply not in REPLY_MODES:
                raise SettingError(f"reply must be inline or thread, not {reply!r}")
        if results is not None and (
            isinstance(results, bool) or not isinstance(results, int) or not 1 <= results <= 10
        ):
            raise SettingError(f"results must be a whole number from 1 to 10, not {results!r}")
        if private is not None and not isinstance(private, bool):
            raise SettingError(f"private must be true or false, not {private!r}")
        role = manager_role.strip() if manager_role is not None else None
        if role is not None and (not role or len(role) > MAX_ROLE):
            raise SettingError(
                f"manager role must be a role name or id of 1 to {MAX_ROLE} characters, "
                f"or none, not {manager_role!r}"
            )
        # Twice at most: two first writes for one guild race to insert its row on
        # PostgreSQL (SQLite's BEGIN IMMEDIATE serialises them); the loser updates it.
        for attempt in range(2):
            try:
                async with store.writing(self.sessions) as session:
                    row = await session.get(store.GuildSettingsRow, guild)
                    if row is None:
                        row = store.GuildSettingsRow(guild=guild)
                        session.add(row)
                    if channels is not None:
                        row.mention_channels = json.dumps(channels) if channels else None
                    if reply is not None:
                        row.reply = reply
                    if results is not None:
                        row.results = results
                    if private is not None:
                        row.private = private
                    if role is not None:
                        row.manager_role = None if role.lower() == "none" else role
                    row.updated_at = store.utcnow()
                    row.updated_by = updated_by
                    settings = _guild_settings(guild, row)
                break
            except IntegrityError:
                if attempt:
                    raise StoreError(f"guild {guild}: settings could not be saved") from None
            except SQLAlchemyError as exc:
                raise StoreError(f"guild {guild}: settings: {store.db_reason(exc)}") from None
        log.info("guild %s settings changed by %s: %s", guild, updated_by or "the CLI", settings)
        return settings


REPLY_MODES = ("inline", "thread")
MAX_MENTION_CHANNELS = 50  # channels a guild may list for mentions
MAX_ROLE = 100  # Discord role names are at most 100 characters


def _hidden_target(kind: str, target: str) -> str:
    """A passage id as digits without leading zeros (`007` and `7` are one passage), or
    a source id as given; anything else is an error naming it."""
    if kind not in votes.HIDE_KINDS:
        raise BriefbotError(f"hide a passage or a source, not {kind!r}")
    target = str(target).strip()
    if kind == "passage":
        if not (target.isascii() and target.isdigit()):
            raise SourceNotFound(f"no passage {target!r}: a passage id is a number")
        return str(int(target))
    if not target:
        raise SourceNotFound("no source given")
    return target


def _guild_id(guild: str) -> str:
    text = str(guild).strip()
    if not text.isdigit() or len(text) > 20:
        raise SettingError(f"a guild is a Discord server id (digits), not {guild!r}")
    return text


def _mention_channels(value: Sequence[str] | str) -> list[str]:
    """Channel ids in order, once each; [] for "all"."""
    if isinstance(value, str):
        if value.strip().lower() == "all":
            return []
        value = re.split(r"[\s,]+", value.strip())
    ids: list[str] = []
    for item in value:
        text = str(item).strip()
        if not text:
            continue
        if not text.isdigit() or len(text) > 20:
            raise SettingError(f"mention channels must be channel ids or all, not {text!r}")
        if text not in ids:
            ids.append(text)
    if not ids:
        raise SettingError("mention channels: give at least one channel id, or all")
    if len(ids) > MAX_MENTION_CHANNELS:
        raise SettingError(
            f"mention channels: at most {MAX_MENTION_CHANNELS} channels, not {len(ids)}"
        )
    return ids


def _guild_settings(guild: str, row: store.GuildSettingsRow | None) -> GuildSettings:
    if row is None:
        return GuildSettings(guild)
    channels = json.loads(row.mention_channels) if row.mention_channels else None
    return GuildSettings(
        guild,
        mention_channels=tuple(channels) if channels else None,
        reply=row.reply or "inline",
        results=row.results,
        private=bool(row.private),
        manager_role=row.manager_role,
        updated_at=store.aware(row.updated_at),
        updated_by=row.updated_by,
    )


async def preview(
    inputs: Sequence[str], settings: Settings, *, fetcher: Fetcher | None = None
) -> AsyncIterator[Extracted | tuple[str, str]]:
    """What ingest would store for each input (its document and passages), storing nothing.

    Yields an Extracted per document, in input order, or (input, why it failed). The same
    extraction workers and limits as ingest; boilerplate a publisher repeats is recognised
    across the inputs given (ingest also counts what the database already holds).
    """
    tasks, failed = plan_inputs(inputs)
    for ref, why in failed:
        yield ref, why
    workers = Workers(settings.extract, nice=WORKER_NICE)
    own_fetcher = fetcher is None
    fetcher = fetcher or Fetcher(settings.fetch)
    limits = settings.extract
    docs: list[Document | tuple[str, str]] = []
    try:
        for task in tasks:
            try:
                if task.kind == "file":
                    docs.append(await workers.extract(_extract_file, task.value, limits))
                elif task.kind == "records":
                    limit = limits.max_records_bytes
                    for record in await asyncio.to_thread(_read_records, task.value, limit):
                        if isinstance(record, ExtractError):
                            docs.append((task.value, _strip_ref(str(record), task.value)))
                        else:
                            docs.append(record)
                else:
                    docs.extend(await _preview_url(task.value, fetcher, workers, limits))
            except BriefbotError as exc:
                docs.append((task.value, _strip_ref(str(exc), task.value)))
    finally:
        workers.close()
        if own_fetcher:
            await fetcher.aclose()
    found = [d for d in docs if isinstance(d, Document)]
    cleaned = iter(extract.remove_recurring(found))
    p = settings.passages
    for item in docs:
        if not isinstance(item, Document):
            yield item
            continue
        doc = next(cleaned)
        passages = split_passages(doc.paragraphs, min_words=p.min_words, max_words=p.max_words)
        if passages:
            yield Extracted(doc, tuple(passages))
        else:
            yield doc.ref, "no article text found"


async def _preview_url(
    url: str, fetcher: Fetcher, workers: Workers, limits: ExtractSettings
) -> list[Document | tuple[str, str]]:
    fetched = await fetcher.get(url)
    assert isinstance(fetched, Fetched)
    if not extract.is_feed(fetched.body, fetched.content_type):
        return [await workers.extract(_extract_fetched, url, fetched, limits)]
    feed = await workers.extract(
        functools.partial(extract.parse_feed, url=fetched.url, limits=limits), fetched.body
    )
    out: list[Document | tuple[str, str]] = []
    for entry in feed.entries:
        try:
            page = await fetcher.get(entry.link)
            assert isinstance(page, Fetched)
            doc = await workers.extract(_extract_fetched, entry.link, page, limits)
            out.append(_with_entry(doc, entry))
        except BriefbotError as exc:
            out.append((entry.link, _strip_ref(str(exc), entry.link)))
    return out


MAX_ARTICLES = 200  # best articles whose passages all become candidates
MAX_PHRASE_CANDIDATES = 2000  # passages fetched to check a quoted phrase word by word
# Hits whose matching words are marked: more than any reader pages through, fewer than
# the hundreds an evaluation asks for (marking costs a tokenisation per passage).
HIGHLIGHTED = 50


def _shown(
    found: Sequence[tuple[int, float, str]], seen: votes.GuildFeedback
) -> dict[int, tuple[float, str]]:
    """Passage id → (score, source id) of the hits the guild did not hide."""
    if not seen.hides:
        return {pid: (score, sid) for pid, score, sid in found}
    return {pid: (score, sid) for pid, score, sid in found if not seen.is_hidden(pid, sid)}


def _meta(item: store.IndexedSource) -> SourceMeta:
    publisher = _publisher_key(item.publisher) if item.publisher else None
    return SourceMeta(item.guild, item.day, publisher)


@functools.lru_cache(maxsize=4096)
def _publisher_key(publisher: str) -> str:
    """name_key of a publisher: a few names shared by many sources, so cached."""
    return name_key(publisher)


def _also(
    rows: dict[int, tuple[store.PassageRow, store.SourceRow]],
    passage_id: int,
    duplicates: Sequence[int],
) -> tuple[SourceInfo, ...]:
    """Other outlets' sources of a folded near-duplicate, each once, in rank order."""
    seen = {rows[passage_id][1].id}
    out: list[SourceInfo] = []
    for pid in duplicates:
        row = rows[pid][1]
        if row.id not in seen:
            seen.add(row.id)
            out.append(store.source_info(row))
    return tuple(out)


def _indexed_text(title: str | None, text: str) -> str:
    """What a passage is indexed by, as written: its article's title and its own text."""
    return f"{title or ''}\n{text}"


def _corrections(question: str, query: Query, hits: Sequence[Hit]) -> tuple[Correction, ...]:
    """Typed words and what was searched instead, as written in the question and passages."""
    out: list[Correction] = []
    for typed, used in query.corrections:
        texts = (_indexed_text(h.source.title, h.text) for h in hits)
        shown = next((w for text in texts if (w := surface(text, used))), None)
        out.append(Correction(surface(question, typed) or typed, shown or used))
    return tuple(out)


def _title_item(source: store.IndexedSource) -> SourceItem | None:
    """A source's title as one row (keyed like its article row), or None when untitled."""
    tokens = tokenize(source.title or "")
    if not tokens:
        return None
    return (source.source_id, source.guild, [source.passage_ids[0]], [tokens])


def _article_item(
    source_id: str,
    guild: str | None,
    passage_ids: Sequence[int],
    token_lists: Sequence[Sequence[str]],
) -> SourceItem:
    """A source as one article row, keyed by its first passage id (ids are unique)."""
    return (source_id, guild, [passage_ids[0]], [article_terms(token_lists)])


def _repost_of(
    item: Prepared,
    sid: str,
    same_url: dict[str, set[str]],
    recent: list[tuple[str, int]],
    texts: dict[str, tuple[str | None, str]],
) -> str | None:
    """The stored source this one re-posts, if any: the page under its canonical URL
    stored from another ref (if it is still recognisably that page), or, within one
    feed, the same text re-dated or lightly edited. Texts compared are passages, as
    stored (publisher boilerplate removed on both sides)."""
    title = dedup.title_key(item.doc.title)
    text = "\n\n".join(passage for passage, _ in item.passages)
    for other in sorted(same_url.get(item.canonical_url or "", set()) - {sid}):
        if other not in texts:
            continue
        other_title, other_text = texts[other]
        if (title and dedup.title_key(other_title) == title) or dedup.overlap(
            other_text, text
        ) >= dedup.SAME_PAGE:
            return other
    if item.simhash is None:
        return None
    for other, h in sorted(recent):
        if other == sid or other not in texts or dedup.distance(h, item.simhash) > dedup.CANDIDATE:
            continue
        other_title, other_text = texts[other]
        same_title = bool(title) and dedup.title_key(other_title) == title
        if dedup.same_story(other_text, text, same_title=same_title):
            return other
    return None


def _with_entry(doc: Document, entry: FeedEntry) -> Document:
    """A feed entry's date and title fill what its page did not say."""
    if doc.published is None and entry.published is not None:
        doc = replace(doc, published=entry.published)
    if doc.title is None and entry.title:
        doc = replace(doc, title=entry.title)
    return doc


def _strip_ref(message: str, ref: str) -> str:
    """Error messages name their input; the report pairs them with it, so drop the echo."""
    prefix = f"{ref}: "
    return message[len(prefix) :] if message.startswith(prefix) else message
