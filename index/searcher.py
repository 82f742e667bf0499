"""The seam between the library and a BM25 engine.

`Library` holds three `Searcher`s (passages, articles, titles) and uses nothing else of
them, so an engine that lives outside the process — OpenSearch's BM25 for deployments
beyond one machine — can replace the in-process `PassageIndex` without touching the
chain around it. The README maps each method onto OpenSearch. Persistence (`capture`,
`load`) is PassageIndex's own: a remote engine keeps its data itself.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Protocol, runtime_checkable

from index.bm25 import SourceItem


@runtime_checkable
class Searcher(Protocol):
    """BM25 over sources' passages, scoped per guild (global sources plus the guild's)."""

    def update(self, adds: Iterable[SourceItem], removes: Iterable[str] = ()) -> int:
        """Add or replace sources and remove others as one change; passages removed."""
        ...

    def hits(
        self,
        terms: Sequence[tuple[str, float]],
        guild: str | None,
        k: int,
        allowed_sources: Collection[str] | None = None,
    ) -> list[tuple[int, float, str]]:
        """Top-k (passage id, score, source id), best first; ties by passage id."""
        ...

    def sources_with_all(self, terms: Collection[str], guild: str | None) -> set[str]:
        """Visible sources with one row holding every term (no scoring)."""
        ...

    def passage_count(self, source_id: str) -> int: ...

    def visible_count(self, guild: str | None) -> int:
        """Passages a query for `guild` searches."""
        ...

    def document_frequency(self, term: str, guild: str | None) -> int: ...

    def example(self, term: str, guild: str | None) -> int | None:
        """A visible passage holding `term`: how the term is written, for suggestions."""
        ...

    def vocabulary(self) -> Sequence[str]:
        """Every indexed term (callers check document_frequency before showing one)."""
        ...

    def source_ids(self) -> set[str]: ...

    def __len__(self) -> int: ...
