"""Plain data passed along the chain source → fetch → extract → passages → store → search."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Fetched:
    """One HTTP response body, already size-capped and checked for safety."""

    url: str  # final URL after redirects
    status: int
    content_type: str | None
    body: bytes
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """An extracted article: clean paragraphs plus what a citation needs."""

    ref: str  # BEIR _id, URL, or file path the article came from
    title: str | None
    paragraphs: tuple[str, ...]
    url: str | None = None
    publisher: str | None = None
    author: str | None = None
    published: date | None = None
    kind: str = "file"  # file | url | beir | feed-entry

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One item of an RSS/Atom feed: where its article lives."""

    link: str
    title: str | None = None
    published: date | None = None
    summary: str | None = None


@dataclass(frozen=True, slots=True)
class Feed:
    """A parsed RSS/Atom feed."""

    url: str
    title: str | None
    entries: tuple[FeedEntry, ...]


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """A stored source as users see it in listings and citations."""

    id: str
    ref: str
    title: str | None
    url: str | None
    publisher: str | None
    published: date | None
    guild: str | None
    passages: int
    added_at: datetime
    kind: str = "file"
    feed_id: str | None = None
    added_by: str | None = None  # who added it (a Discord user id from the bot)


@dataclass(frozen=True, slots=True)
class FeedInfo:
    """A feed subscription: its entries become sources."""

    id: str
    url: str
    title: str | None
    guild: str | None
    added_at: datetime
    last_checked: datetime | None = None
    last_error: str | None = None
    added_by: str | None = None
    last_success: datetime | None = None
    next_check: datetime | None = None  # None: due now
    failures: int = 0  # failed checks in a row; each doubles the wait
    interval: float | None = None  # seconds, if this feed overrides [feeds] interval


@dataclass(frozen=True, slots=True)
class Hit:
    """One ranked passage with its citation."""

    rank: int
    score: float
    passage_id: str
    text: str
    source: SourceInfo
    best_sentence: tuple[int, int] | None = None  # char span of the best-matching sentence
    terms: tuple[str, ...] = ()  # the query's index terms (stems), expansions included
    # Char spans of words matching a query term; the first 50 hits only (library.HIGHLIGHTED).
    highlights: tuple[tuple[int, int], ...] = ()
    also: tuple[SourceInfo, ...] = ()  # other outlets carrying the same text (wire copy)


@dataclass(frozen=True, slots=True)
class Correction:
    """A question word no passage holds, and the index word searched instead."""

    typed: str
    used: str


@dataclass(frozen=True, slots=True)
class Answer:
    """Ranked passages for one question, and how much was searched."""

    question: str
    hits: tuple[Hit, ...]
    searched: int = 0  # passages visible to the asker
    seconds: float = 0.0
    corrections: tuple[Correction, ...] = ()  # typos corrected before searching
    suggestion: str | None = None  # "did you mean": the question in index words, when no hit
    filtered: bool = False  # since/until/source narrowed the search (searched counts that)
    hidden: int = 0  # passages this guild's admins hid (`searched` leaves them out)


@dataclass(frozen=True, slots=True)
class Extracted:
    """A document as ingest would store it, and its passages (`briefbot extract`)."""

    doc: Document
    passages: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Job:
    """Work a caller began and had not finished when last seen (`Library.begin_job`)."""

    key: str
    kind: str
    payload: dict[str, Any]
    created_at: datetime


@dataclass(slots=True)
class IngestReport:
    """What one ingest run did, source by source."""

    added: list[str] = field(default_factory=list)  # source ids
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (input, reason)
    passages: int = 0
    seconds: float = 0.0

    def merge(self, other: IngestReport) -> None:
        self.added += other.added
        self.unchanged += other.unchanged
        self.failed += other.failed
        self.passages += other.passages


@dataclass(frozen=True, slots=True)
class Story:
    """One story of a brief: the passage shown, cited by every outlet that carried it."""

    rank: int  # position in the brief: newest stories first
    day: date | None  # published, else added (the newest of its outlets)
    # The passage shown (the best match for a topic, else the article's lead) and its
    # citation; `hit.also` holds the other outlets carrying the same story (wire copy).
    hit: Hit
    relevance: int | None = None  # with a topic: 1 = the best-matching story


@dataclass(frozen=True, slots=True)
class Brief:
    """What happened since a day: one passage per story, newest stories first."""

    topic: str | None
    since: date
    stories: tuple[Story, ...]
    articles: int = 0  # articles published (or, undated, added) since then, within `source`
    visible: int = 0  # articles the guild sees at all
    source: str | None = None
    seconds: float = 0.0
    corrections: tuple[Correction, ...] = ()  # typos in the topic corrected before searching
    suggestion: str | None = None  # "did you mean", when a topic matched nothing


@dataclass(frozen=True, slots=True)
class GuildSettings:
    """One guild's bot settings (`/settings`, `briefbot settings`); unset = the default."""

    guild: str
    mention_channels: tuple[str, ...] | None = None  # channel ids; None: every channel
    reply: str = "inline"  # mentions answered "inline" (a reply) or in a new "thread"
    results: int | None = None  # passages per page; None: the bot's [discord] results
    private: bool = False  # /ask answers only the asker sees unless they say otherwise
    manager_role: str | None = None  # role id or name; None: the bot's [discord] admin_role
    updated_at: datetime | None = None
    updated_by: str | None = None


@dataclass(frozen=True, slots=True)
class AskedHit:
    """One passage of a logged answer, still stored: what a vote names."""

    rank: int
    passage_id: int
    text: str
    source: SourceInfo


@dataclass(frozen=True, slots=True)
class Asked:
    """A logged answer (`Library.asked`): the question and its ranked passages."""

    id: str
    guild: str | None
    question: str
    per_page: int
    hits: tuple[AskedHit, ...]
    asked_at: datetime

    def page(self, page: int) -> tuple[AskedHit, ...]:
        """The passages page `page` (from 0) showed; ranks are 1-based."""
        first, last = page * self.per_page + 1, (page + 1) * self.per_page
        return tuple(hit for hit in self.hits if first <= hit.rank <= last)


@dataclass(frozen=True, slots=True)
class Vote:
    """A member's vote as recorded (`Library.vote`)."""

    rank: int
    passage_id: int
    source: SourceInfo
    value: int  # 1 (👍) or -1 (👎)
    previous: int  # the member's earlier vote on it for this question; 0: none


@dataclass(frozen=True, slots=True)
class HiddenItem:
    """A passage or a source a guild's admins hid from its answers."""

    kind: str  # "passage" | "source"
    target: str  # the passage id or the source id
    source: SourceInfo  # for a passage: its source
    text: str | None  # a passage's text; None for a source, or a passage no longer stored
    by: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class SourceStats:
    """How a source fared in a guild's answers since a day (`Stats`)."""

    source: SourceInfo
    answers: int  # answers citing it on their first page
    first: int  # answers it came first in
    up: int  # 👍 on its passages
    down: int  # 👎


@dataclass(frozen=True, slots=True)
class Stats:
    """A guild's questions and feedback since a moment (`Library.stats`, `/stats`)."""

    guild: str
    since: datetime
    questions: int
    unanswered: int  # questions that found no passage
    by_way: dict[str, int]  # questions by how they were asked: ask | mention | brief
    recent_unanswered: tuple[str, ...]  # the latest questions that found nothing
    top_sources: tuple[SourceStats, ...]
    feedback: tuple[SourceStats, ...]  # sources by votes on their passages
    up: int
    down: int
    hidden: tuple[HiddenItem, ...]
