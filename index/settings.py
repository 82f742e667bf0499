"""Typed settings the library needs; the application loads them from TOML/env."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_USER_AGENT = "briefbot/0.1 (+https://github.com/briefbot/briefbot)"


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """Limits for fetching admin-supplied URLs."""

    allow_private_networks: bool = False
    timeout: float = 20.0  # seconds for the whole request, redirects included
    max_bytes: int = 10_000_000  # response bodies are cut (and refused) past this
    max_redirects: int = 5
    allowed_ports: tuple[int, ...] = ()  # besides 80 and 443
    user_agent: str = DEFAULT_USER_AGENT


@dataclass(frozen=True, slots=True)
class ExtractSettings:
    """Limits on what extraction takes in: hostile input is refused before parsing, and a
    parser that runs away is stopped in its worker process."""

    max_html_bytes: int = 2_000_000  # trafilatura costs ~1 s and ~55 MB per MB of HTML
    max_feed_bytes: int = 5_000_000
    max_feed_entries: int = 500  # a feed's first (newest) entries; the rest are skipped
    max_pdf_bytes: int = 20_000_000
    max_pdf_pages: int = 300
    max_attachment_bytes: int = 10_000_000  # an upload, whatever its type
    max_text_bytes: int = 10_000_000  # a plain text, Markdown or JSON article
    max_records_bytes: int = 50_000_000  # a JSON/JSONL corpus file from the command line
    max_decompressed_bytes: int = 20_000_000  # gzip input, and a PDF's streams
    max_text_chars: int = 2_000_000  # extracted text kept from one PDF
    time_limit: float = 10.0  # seconds one document may take in its worker process
    memory_limit: int = 512_000_000  # bytes a worker process may hold


@dataclass(frozen=True, slots=True)
class FeedSettings:
    """How often `briefbot run` checks each feed (a feed may override the interval)."""

    interval: float = 1800.0  # seconds between checks of a feed that worked last time
    max_backoff: float = 86400.0  # a failing feed waits interval × 2^failures, at most this


@dataclass(frozen=True, slots=True)
class PassageSettings:
    """Passage windows: paragraphs joined to at least min_words, never past max_words."""

    min_words: int = 40
    max_words: int = 150


@dataclass(frozen=True, slots=True)
class SearchSettings:
    """Ranking knobs; BM25 itself is fixed to BM25Okapi (k1 1.5, b 0.75, epsilon 0.25)."""

    default_k: int = 5
    # A passage's score is its own BM25 plus article_weight × its whole article's BM25:
    # a passage of an article that is about the question beats a stray match.
    article_weight: float = 1.0
    phrase_weight: float = 0.2  # adjacent question-term pairs, scored on the article
    title_weight: float = 0.15  # the title field's own BM25, on top of the title in each passage
    expansion_weight: float = 0.35  # weight of lexicon expansion terms vs the user's terms
    variant_weight: float = 1.0  # other spellings of a name (Zelensky → Zelenskyy, Kiev → Kyiv)
    question_type_weight: float = 0.25  # light who/when/where re-ranking feature
    rerank_depth: int = 50  # candidates the features look at
    # News: a fresh answer gets up to recency_weight more, halving every half-life (days).
    recency_weight: float = 0.05
    recency_half_life: float = 30.0
    # Word-trigram Jaccard at which two passages are one text (wire copy): shown once,
    # citing every outlet. 1 turns the folding off.
    duplicate_threshold: float = 0.7
    typo_tolerance: bool = True  # unknown question words → nearest index term
    # A guild's 👍/👎 on a passage for like questions: score × (1 ± up to this).
    feedback_weight: float = 0.2


@dataclass(frozen=True, slots=True)
class FeedbackSettings:
    """How long the questions log (/stats, the vote buttons) keeps each answer."""

    keep_days: float = 90.0  # older answers are dropped (votes keep their own copy)


@dataclass(frozen=True, slots=True)
class IndexSettings:
    """Where the in-memory index is saved between runs, and how often it follows the database."""

    # "auto": next to a SQLite database file (briefbot.db → briefbot.db.index); "" turns
    # saving off; anything else is a directory. One directory per process.
    path: str = "auto"
    save_interval: float = 300.0  # seconds between saves of a changed index (also on exit)
    poll_interval: float = 1.0  # SQLite: how often a running bot checks for others' changes


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the library takes from configuration."""

    database_url: str = "sqlite+aiosqlite:///briefbot.db"
    fetch: FetchSettings = field(default_factory=FetchSettings)
    extract: ExtractSettings = field(default_factory=ExtractSettings)
    feeds: FeedSettings = field(default_factory=FeedSettings)
    passages: PassageSettings = field(default_factory=PassageSettings)
    search: SearchSettings = field(default_factory=SearchSettings)
    index: IndexSettings = field(default_factory=IndexSettings)
    feedback: FeedbackSettings = field(default_factory=FeedbackSettings)
