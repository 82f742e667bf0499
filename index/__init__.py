"""briefbot's library: ingest articles into a BM25 passage index, answer with citations.

The whole API is `Library` plus the data types it returns; no Discord imports here.
"""

from index.errors import (
    BriefbotError,
    ExtractError,
    FetchError,
    SourceNotFound,
    StoreError,
    UnsafeURLError,
)
from index.library import Library
from index.settings import (
    ExtractSettings,
    FetchSettings,
    PassageSettings,
    SearchSettings,
    Settings,
)
from index.types import Answer, FeedInfo, Hit, IngestReport, Job, SourceInfo

__all__ = [
    "Answer",
    "BriefbotError",
    "ExtractError",
    "ExtractSettings",
    "FeedInfo",
    "FetchError",
    "FetchSettings",
    "Hit",
    "IngestReport",
    "Job",
    "Library",
    "PassageSettings",
    "SearchSettings",
    "Settings",
    "SourceInfo",
    "SourceNotFound",
    "StoreError",
    "UnsafeURLError",
]
