"""Feedback: the questions log, 👍/👎 votes, hidden passages and sources, and /stats.

Votes act on ranking gently and for their guild only. A passage's votes count in
proportion to how alike the question voted on and the question asked are (Jaccard of
their index terms): a 👍 for "who attended the Miami talks?" lifts that passage for
"who attended the talks in Miami" a lot, for "Miami talks" less, and for "what did
Putin say?" not at all. A passage is never good or bad in itself, only for a question.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, case, delete, func, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from index import store
from index.errors import BriefbotError
from index.tokenize import tokenize
from index.types import AskedHit, HiddenItem, Hit, SourceInfo, SourceStats

log = logging.getLogger(__name__)

READ_TIMEOUT = 1.0  # a slow database must not hold a question up: the last known then
FEEDBACK_TTL = 5.0  # seconds a guild's votes and hidden items are reused (other processes)
MAX_GUILDS = 10_000  # guilds whose feedback is cached; the least recently asked go first
MAX_LOGGED = 10_000  # questions held for the log while the database is unreachable
HIDE_KINDS = ("passage", "source")
UP, DOWN = 1, -1


def question_terms(question: str) -> tuple[str, ...]:
    """The question's index terms, sorted and unique: what makes two questions one."""
    return tuple(sorted(set(tokenize(question))))


def question_key(terms: Sequence[str]) -> str:
    return hashlib.sha1(" ".join(terms).encode()).hexdigest()


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard of two questions' terms: 1 for the same question, 0 for unrelated ones."""
    if not a or not b:
        return 0.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


@dataclass(frozen=True, slots=True)
class GuildFeedback:
    """One guild's hidden items and votes, as the ranking reads them."""

    hidden_passages: dict[int, str] = field(default_factory=dict)  # passage id → source id
    hidden_sources: frozenset[str] = frozenset()
    # passage id → (member, question terms, vote) for each vote on it
    votes: dict[int, tuple[tuple[str, frozenset[str], int], ...]] = field(default_factory=dict)

    @property
    def hides(self) -> bool:
        return bool(self.hidden_passages or self.hidden_sources)

    def is_hidden(self, passage_id: int, source_id: str) -> bool:
        return source_id in self.hidden_sources or passage_id in self.hidden_passages

    def lean(self, passage_id: int, terms: frozenset[str]) -> float:
        """In (-1, 1): the passage's net vote for questions like this one, squashed so
        one vote moves it about half as far as many do (tanh(net / 2)).

        A member counts once: by their vote on the question most like this one, so
        voting on ten rephrasings weighs no more than voting on one.
        """
        votes = self.votes.get(passage_id)
        if not votes:
            return 0.0
        best: dict[str, tuple[float, int]] = {}
        for user, theirs, vote in votes:
            alike = similarity(terms, theirs)
            if alike > best.get(user, (0.0, 0))[0]:
                best[user] = (alike, vote)
        net = sum(alike * vote for alike, vote in best.values())
        return math.tanh(net / 2)


NO_FEEDBACK = GuildFeedback()


class FeedbackCache:
    """Each guild's feedback, read from the database at most every `ttl` seconds.

    Votes are human clicks: a guild has few, so all of them are read at once, and a
    question costs no query. A vote or a hide in this process forgets the guild at
    once; other processes' show within `ttl`.
    """

    def __init__(self, ttl: float = FEEDBACK_TTL, capacity: int = MAX_GUILDS) -> None:
        self.ttl = ttl
        self.capacity = capacity
        # guild → (read at, its version when read, what was read)
        self._guilds: OrderedDict[str, tuple[float, int, GuildFeedback]] = OrderedDict()
        self._versions: dict[str, int] = {}  # bumped by each change made here
        self._epoch = 0  # bumped by clear(): part of every guild's version

    def _version(self, guild: str) -> int:
        return self._versions.get(guild, 0) + self._epoch

    async def get(
        self, sessions: async_sessionmaker[AsyncSession], guild: str | None
    ) -> GuildFeedback:
        """The guild's feedback; a session is opened only when it must be read again."""
        if guild is None:  # no guild (DMs, the CLI without --guild): no one voted
            return NO_FEEDBACK
        cached = self._guilds.get(guild)
        now = time.monotonic()
        version = self._version(guild)
        if cached is not None and now - cached[0] < self.ttl and cached[1] == version:
            self._guilds.move_to_end(guild)
            return cached[2]
        try:
            loaded = await asyncio.wait_for(_read(sessions, guild), READ_TIMEOUT)
        except (TimeoutError, SQLAlchemyError) as exc:
            if cached is None and not isinstance(exc, TimeoutError):
                raise
            log.warning("guild %s feedback not read (using the last known): %r", guild, exc)
            return cached[2] if cached is not None else NO_FEEDBACK
        if self._version(guild) == version:  # else a change landed meanwhile: read it next
            self._guilds[guild] = (now, version, loaded)
            self._guilds.move_to_end(guild)
            while len(self._guilds) > self.capacity:
                self._guilds.popitem(last=False)
        return loaded

    def forget(self, guild: str) -> None:
        """This process changed the guild's votes or hides: read them again, keeping what
        was known for a database too slow to answer."""
        self._versions[guild] = self._versions.get(guild, 0) + 1

    def clear(self) -> None:
        """Every guild is read again: sources were removed or replaced (passage ids gone)."""
        self._epoch += 1


async def _read(sessions: async_sessionmaker[AsyncSession], guild: str) -> GuildFeedback:
    async with sessions() as session:
        return await load(session, guild)


def parse_item(item: str) -> tuple[str, str]:
    """`passage:ID` or `source:ID` (as /source unhide and the CLI take it) → (kind, id)."""
    kind, _, target = item.strip().partition(":")
    if kind not in HIDE_KINDS or not target.strip():
        raise BriefbotError(f"{item.strip()!r}: give passage:ID or source:ID")
    return kind, target.strip()


async def load(session: AsyncSession, guild: str) -> GuildFeedback:
    """A guild's hides and votes. Those on passage ids no longer holding the text they
    named are left out: a replaced source's passages get new ids, and SQLite may hand a
    deleted passage's id to a later one (of any source, any guild)."""
    hidden = await session.execute(
        select(store.HiddenRow.kind, store.HiddenRow.target, store.HiddenRow.source_id).where(
            store.HiddenRow.guild == guild
        )
    )
    passages: dict[int, str] = {}
    sources: set[str] = set()
    for kind, target, source_id in hidden.all():
        if kind == "source":
            sources.add(target)
        else:
            passages[int(target)] = source_id
    if passages:
        stored = await session.execute(
            select(store.PassageRow.id, store.PassageRow.source_id).where(
                store.PassageRow.id.in_(sorted(passages))
            )
        )
        now_of = {pid: sid for pid, sid in stored.all()}
        passages = {pid: sid for pid, sid in passages.items() if now_of.get(pid) == sid}
    f, p = store.FeedbackRow, store.PassageRow
    rows = await session.execute(
        select(f.passage_id, f.user, f.terms, f.vote)
        .join(p, and_(p.id == f.passage_id, p.source_id == f.source_id))
        .where(f.guild == guild)
    )
    votes: dict[int, list[tuple[str, frozenset[str], int]]] = {}
    interned: dict[str, frozenset[str]] = {}  # one set per question, however many votes
    for passage_id, user, terms, vote in rows.all():
        key = interned.get(terms)
        if key is None:
            key = interned[terms] = frozenset(terms.split())
        votes.setdefault(passage_id, []).append((user, key, vote))
    return GuildFeedback(passages, frozenset(sources), {pid: tuple(v) for pid, v in votes.items()})


# --- the questions log ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Logged:
    """An answer to write to the log: its id is known (the vote buttons carry it) before
    the row is written."""

    id: str
    guild: str | None
    question: str
    via: str
    per_page: int
    hits: tuple[tuple[int, str], ...]  # (passage id, source id) by rank
    asked_at: datetime


def new_question_id() -> str:
    return secrets.token_hex(6)


def logged(
    guild: str | None, question: str, hits: Sequence[Hit], *, via: str, per_page: int
) -> Logged:
    return Logged(
        new_question_id(),
        guild,
        question,
        via,
        per_page,
        tuple((int(hit.passage_id), hit.source.id) for hit in hits),
        store.utcnow(),
    )


async def write_log(session: AsyncSession, entries: Iterable[Logged]) -> int:
    rows = list(entries)
    if not rows:
        return 0
    session.add_all(
        store.QuestionRow(
            id=e.id,
            guild=e.guild,
            question=e.question,
            via=e.via,
            results=len(e.hits),
            per_page=e.per_page,
            asked_at=e.asked_at,
        )
        for e in rows
    )
    await session.flush()
    hits = [
        {"question_id": e.id, "rank": rank, "passage_id": pid, "source_id": sid}
        for e in rows
        for rank, (pid, sid) in enumerate(e.hits, start=1)
    ]
    if hits:
        await session.execute(insert(store.AnswerHitRow), hits)
    return len(rows)


async def prune_log(session: AsyncSession, before: datetime) -> int:
    """Drops logged questions asked before `before` (their hits go by cascade); votes
    keep their own copy of the question."""
    old = select(store.QuestionRow.id).where(store.QuestionRow.asked_at < before)
    await session.execute(delete(store.AnswerHitRow).where(store.AnswerHitRow.question_id.in_(old)))
    result = await session.execute(
        delete(store.QuestionRow).where(store.QuestionRow.asked_at < before)
    )
    return int(result.rowcount or 0)


async def answer_hits(session: AsyncSession, question_id: str) -> list[AskedHit]:
    """A logged answer's passages still stored, by rank, with their text and citation."""
    h, p = store.AnswerHitRow, store.PassageRow
    rows = await session.execute(
        select(h.rank, p, store.SourceRow)
        # The source too: SQLite may have given a deleted passage's id to another one.
        .join(p, and_(p.id == h.passage_id, p.source_id == h.source_id))
        .join(store.SourceRow, store.SourceRow.id == store.PassageRow.source_id)
        .where(store.AnswerHitRow.question_id == question_id)
        .order_by(store.AnswerHitRow.rank)
    )
    return [
        AskedHit(rank, passage.id, passage.text, store.source_info(source))
        for rank, passage, source in rows.all()
    ]


# --- hidden items and /stats --------------------------------------------------------------


async def hidden_items(session: AsyncSession, guild: str) -> list[HiddenItem]:
    rows = await session.execute(
        select(store.HiddenRow, store.SourceRow)
        .join(store.SourceRow, store.SourceRow.id == store.HiddenRow.source_id)
        .where(store.HiddenRow.guild == guild)
        .order_by(store.HiddenRow.at.desc(), store.HiddenRow.target)
    )
    found = rows.all()
    passage_ids = [int(h.target) for h, _ in found if h.kind == "passage"]
    texts: dict[int, str] = {}
    if passage_ids:
        rows = await session.execute(
            select(store.PassageRow.id, store.PassageRow.text).where(
                store.PassageRow.id.in_(passage_ids)
            )
        )
        texts = {pid: text for pid, text in rows.all()}
    return [
        HiddenItem(
            kind=h.kind,
            target=h.target,
            source=store.source_info(source),
            text=texts.get(int(h.target)) if h.kind == "passage" else None,
            by=h.by,
            at=store.aware(h.at),
        )
        for h, source in found
    ]


async def question_counts(
    session: AsyncSession, guild: str, since: datetime
) -> tuple[int, int, dict[str, int]]:
    """Questions asked since then, those with no result, and the count by way of asking."""
    q = store.QuestionRow
    rows = await session.execute(
        select(q.via, func.count(), func.sum(case((q.results == 0, 1), else_=0)))
        .where(q.guild == guild, q.asked_at >= since)
        .group_by(q.via)
    )
    asked = unanswered = 0
    by_way: dict[str, int] = {}
    for via, n, empty in rows.all():
        asked += int(n)
        unanswered += int(empty or 0)
        by_way[via] = int(n)
    return asked, unanswered, by_way


async def unanswered_questions(
    session: AsyncSession, guild: str, since: datetime, limit: int
) -> list[str]:
    """The latest questions that found nothing, newest first, each once."""
    q = store.QuestionRow
    rows = await session.execute(
        select(q.question, func.max(q.asked_at).label("last"))
        .where(q.guild == guild, q.asked_at >= since, q.results == 0)
        .group_by(q.question)
        .order_by(func.max(q.asked_at).desc())
        .limit(limit)
    )
    return [question for question, _ in rows.all()]


async def source_stats(
    session: AsyncSession, guild: str, since: datetime, limit: int
) -> tuple[list[SourceStats], list[SourceStats]]:
    """The sources cited most on answers' first pages, and the sources voted on most;
    each with both its citations and its votes."""
    f = store.FeedbackRow
    cited = await _citations(session, guild, since, limit=limit * 2)  # some may be gone
    voted = await session.execute(
        select(f.source_id)
        .where(f.guild == guild, f.at >= since)
        .group_by(f.source_id)
        .order_by(func.count().desc(), f.source_id)
        .limit(limit)
    )
    voted_ids = list(voted.scalars().all())
    answers_of = dict(cited)
    answers_of.update(await _citations(session, guild, since, ids=set(voted_ids) - set(cited)))
    ids = set(answers_of)
    infos = await _source_infos(session, ids | set(voted_ids))
    votes_of = await _votes_of(session, guild, since, sorted(ids | set(voted_ids)))

    def row(sid: str) -> SourceStats:
        return SourceStats(infos[sid], *answers_of.get(sid, (0, 0)), *votes_of.get(sid, (0, 0)))

    top = [row(sid) for sid in cited if sid in infos][:limit]
    return top, [row(sid) for sid in voted_ids if sid in infos]


async def _citations(
    session: AsyncSession,
    guild: str,
    since: datetime,
    *,
    limit: int | None = None,
    ids: Iterable[str] | None = None,
) -> dict[str, tuple[int, int]]:
    """Source id → (answers citing it on their first page, answers it came first in),
    most cited first: the top `limit`, or those of `ids`."""
    q, h = store.QuestionRow, store.AnswerHitRow
    answers = func.count(func.distinct(h.question_id))
    first = func.sum(case((h.rank == 1, 1), else_=0))
    query = (
        select(h.source_id, answers, first)
        .join(q, q.id == h.question_id)
        .where(q.guild == guild, q.asked_at >= since, h.rank <= q.per_page)
        .group_by(h.source_id)
        .order_by(answers.desc(), first.desc(), h.source_id)
    )
    if ids is not None:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        query = query.where(h.source_id.in_(wanted))
    if limit is not None:
        query = query.limit(limit)
    rows = await session.execute(query)
    return {sid: (int(n), int(top or 0)) for sid, n, top in rows.all()}


async def _source_infos(session: AsyncSession, ids: Iterable[str]) -> dict[str, SourceInfo]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await session.scalars(select(store.SourceRow).where(store.SourceRow.id.in_(wanted)))
    return {row.id: store.source_info(row) for row in rows.all()}


async def _votes_of(
    session: AsyncSession, guild: str, since: datetime, ids: Sequence[str]
) -> dict[str, tuple[int, int]]:
    if not ids:
        return {}
    f = store.FeedbackRow
    rows = await session.execute(
        select(
            f.source_id,
            func.sum(case((f.vote > 0, 1), else_=0)),
            func.sum(case((f.vote < 0, 1), else_=0)),
        )
        .where(f.guild == guild, f.at >= since, f.source_id.in_(sorted(set(ids))))
        .group_by(f.source_id)
    )
    return {sid: (int(up or 0), int(down or 0)) for sid, up, down in rows.all()}


async def vote_totals(session: AsyncSession, guild: str, since: datetime) -> tuple[int, int]:
    f = store.FeedbackRow
    row = (
        await session.execute(
            select(
                func.sum(case((f.vote > 0, 1), else_=0)),
                func.sum(case((f.vote < 0, 1), else_=0)),
            ).where(f.guild == guild, f.at >= since)
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)
