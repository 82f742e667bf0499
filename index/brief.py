"""Briefs: what happened since a day, one passage per story, newest stories first.

A story is one article, or several outlets' copies of one wire text. Copies are told
by their leads (first passages): word-trigram Jaccard ≥ `duplicate_threshold`, the
measure that folds copies in answers. Only leads decide, never a passage found further
down: a disclaimer paragraph that two different articles share must not make them one
story. `Library.brief` gathers the articles; the functions here pick and order stories.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from index import store
from index.search import Folding, term_spans
from index.types import Hit, SourceInfo, Story

DEFAULT_SINCE_DAYS = 7  # a brief without `since` covers the last week
PASSAGES_PER_STORY = 10  # passages asked for per story wanted: articles bring several
MAX_PASSAGES = 4000  # a topic brief never asks for more
LEAD_WINDOW = 64  # newest articles whose leads are read at a time (topic-less briefs)
MAX_LEADS = 5000  # leads a topic-less brief reads at most (a day of many copies)
IDS_PER_QUERY = 500  # bound parameters per IN list
# A topic's story must score at least this share of the best story's score: one that only
# shares a common word with the topic ("secure" for "security guarantees") is not news
# about it, and in a brief ordered by date it would sit among the real matches.
RELEVANCE_FLOOR = 0.25


@dataclass(frozen=True, slots=True)
class Lead:
    """An article's first passage and its citation."""

    passage_id: int
    text: str
    source: SourceInfo


def default_since(today: date) -> date:
    return today - timedelta(days=DEFAULT_SINCE_DAYS)


def day_of(source: SourceInfo) -> date:
    """Published, else the (UTC) day it was added: what `since` compares."""
    return source.published or source.added_at.date()


def _added(source: SourceInfo) -> float:
    return store.aware(source.added_at).timestamp()


async def lead_passages(session: AsyncSession, source_ids: Iterable[str]) -> dict[str, Lead]:
    """Each source's first passage (lowest ordinal), by source id."""
    ids = sorted(set(source_ids))
    out: dict[str, Lead] = {}
    for start in range(0, len(ids), IDS_PER_QUERY):
        chunk = ids[start : start + IDS_PER_QUERY]
        first = (
            select(store.PassageRow.source_id, func.min(store.PassageRow.ordinal).label("first"))
            .where(store.PassageRow.source_id.in_(chunk))
            .group_by(store.PassageRow.source_id)
            .subquery()
        )
        rows = await session.execute(
            select(store.PassageRow, store.SourceRow)
            .join(store.SourceRow, store.SourceRow.id == store.PassageRow.source_id)
            .join(
                first,
                and_(
                    first.c.source_id == store.PassageRow.source_id,
                    first.c.first == store.PassageRow.ordinal,
                ),
            )
        )
        for passage, source in rows.all():
            out[source.id] = Lead(passage.id, passage.text, store.source_info(source))
    return out


def newest_first(source_ids: Iterable[str], day: Callable[[str], date | None]) -> list[str]:
    """Source ids by day, newest first (ties by id: stable, refined per window)."""
    return sorted(source_ids, key=lambda sid: (-_ordinal(day(sid)), sid))


def _ordinal(value: date | None) -> int:
    return value.toordinal() if value else 0


def windows(
    ordered: Sequence[str], day: Callable[[str], date | None], size: int = LEAD_WINDOW
) -> Iterator[list[str]]:
    """Consecutive slices of about `size`, each extended to the end of its last day, so
    that every article of one day is ordered against the others by when it was added."""
    start = 0
    while start < len(ordered) and start < MAX_LEADS:
        end = min(start + size, len(ordered))
        last = day(ordered[end - 1])
        while end < len(ordered) and end - start < MAX_LEADS and day(ordered[end]) == last:
            end += 1
        yield list(ordered[start:end])
        start = end


class Latest:
    """Topic-less brief: leads fed newest first; each new text starts a story, a copy of
    a story's lead joins it (its newest outlet is the one shown)."""

    def __init__(self, k: int, threshold: float) -> None:
        self.k = k
        self._folding = Folding(threshold)
        self._stories: list[tuple[Lead, list[SourceInfo]]] = []
        self._owner: list[int] = []  # folding's kept text → story

    @property
    def full(self) -> bool:
        return len(self._stories) >= self.k

    def add(self, leads: Iterable[Lead]) -> None:
        """One window of leads, in any order: newest first by day, then by added time."""
        ordered = sorted(
            leads, key=lambda lead: (-day_of(lead.source).toordinal(), -_added(lead.source))
        )
        for lead in ordered:
            keep = not self.full
            twin = self._folding.twin(lead.text, keep=keep)
            if twin is not None:
                self._stories[self._owner[twin]][1].append(lead.source)
            elif keep:
                self._owner.append(len(self._stories))
                self._stories.append((lead, [lead.source]))

    def stories(self) -> list[Story]:
        out: list[Story] = []
        for rank, (lead, sources) in enumerate(self._stories[: self.k], start=1):
            hit = Hit(
                rank=rank,
                score=0.0,
                passage_id=str(lead.passage_id),
                text=lead.text,
                source=lead.source,
                also=tuple(sources[1:]),
            )
            out.append(Story(rank, day_of(lead.source), hit))
        return out


def topic_stories(
    hits: Sequence[Hit], leads: Mapping[str, str], k: int, threshold: float
) -> list[Story]:
    """Topic brief: the k most relevant stories (within RELEVANCE_FLOOR), newest first.

    `hits` are an answer's passages, best first; `leads` the first passage of each article
    they cite. An article's story is that of the first article with a near-identical lead;
    the passage shown is the story's best-ranked one (at most one per article). Articles
    that only `also` carry a passage (its copy ranked first) join a story by their lead,
    or are left out: the passage they share is not their story.
    """
    folding = Folding(threshold)
    stories: list[tuple[Hit, list[SourceInfo]]] = []
    owner: dict[str, int] = {}  # source id → story
    kept: list[int] = []  # folding's kept text → story
    for hit in hits:
        for i, source in enumerate((hit.source, *hit.also)):
            if source.id in owner:
                continue
            own = i == 0  # the article whose passage this hit is
            lead = leads.get(source.id)
            twin = folding.twin(lead, keep=own) if lead is not None else None
            if twin is not None:
                owner[source.id] = kept[twin]
                stories[kept[twin]][1].append(source)
            elif own:
                owner[source.id] = len(stories)
                if lead is not None:
                    kept.append(len(stories))
                stories.append((hit, [source]))
    best = stories[0][0].score if stories else 0.0
    floor = RELEVANCE_FLOOR * best if best > 0 else float("-inf")  # tiny corpora: BM25 < 0
    top = [
        (relevance, hit, sources)
        for relevance, (hit, sources) in enumerate(stories[:k], start=1)
        if hit.score >= floor
    ]
    top.sort(key=lambda item: (-max(day_of(s) for s in item[2]).toordinal(), item[0]))
    out: list[Story] = []
    for rank, (relevance, hit, sources) in enumerate(top, start=1):
        highlights = hit.highlights
        if not highlights and hit.terms:  # past the hits an answer highlights
            highlights = term_spans(hit.text, [(t, 1.0) for t in hit.terms])
        shown = replace(hit, rank=rank, also=tuple(sources[1:]), highlights=highlights)
        out.append(Story(rank, max(day_of(s) for s in sources), shown, relevance))
    return out
