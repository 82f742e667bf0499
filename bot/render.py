"""Terminal and JSON rendering of answers and sources (pure functions)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from index.types import Answer, Hit, SourceInfo

BOLD, RESET = "\x1b[1m", "\x1b[0m"


def iso(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return value.isoformat()


def source_json(source: SourceInfo) -> dict[str, Any]:
    return {
        "id": source.id,
        "ref": source.ref,
        "title": source.title,
        "url": source.url,
        "publisher": source.publisher,
        "published": iso(source.published),
    }


def answer_json(answer: Answer) -> dict[str, Any]:
    """The `ask --json` object (its shape is a contract other tools rely on)."""
    return {
        "question": answer.question,
        "results": [
            {
                "rank": hit.rank,
                "score": round(hit.score, 6),
                "passage_id": hit.passage_id,
                "text": hit.text,
                "source": source_json(hit.source),
            }
            for hit in answer.hits
        ],
    }


def sources_json(sources: list[SourceInfo]) -> dict[str, Any]:
    return {
        "sources": [
            {
                **source_json(s),
                "passages": s.passages,
                "guild": s.guild,
                "added_at": iso(s.added_at),
            }
            for s in sources
        ]
    }


def citation(source: SourceInfo) -> str:
    """`Publisher — Title (YYYY-MM-DD) URL-or-path`, leaving out what is unknown."""
    head = " — ".join(part for part in (source.publisher, source.title) if part)
    if source.published:
        head = (
            f"{head} ({source.published.isoformat()})"
            if head
            else f"({source.published.isoformat()})"
        )
    where = source.url or source.ref
    return f"{head} {where}" if head else where


def marked(hit: Hit, *, ansi: bool) -> str:
    """The passage with its best-matching sentence in bold (ANSI) or **…**."""
    if hit.best_sentence is None:
        return hit.text
    start, end = hit.best_sentence
    left, right = (BOLD, RESET) if ansi else ("**", "**")
    return f"{hit.text[:start]}{left}{hit.text[start:end]}{right}{hit.text[end:]}"


def answer_text(answer: Answer, *, ansi: bool) -> str:
    """Human output: rank, score, marked passage, then `[n]` citation per source."""
    if not answer.hits:
        return (
            f"No passage matches {answer.question!r} among {answer.searched} passages; "
            "try other words."
        )
    numbers: dict[str, int] = {}
    lines: list[str] = []
    for hit in answer.hits:
        n = numbers.setdefault(hit.source.id, len(numbers) + 1)
        lines.append(f"{hit.rank}. score {hit.score:.3f}")
        for paragraph in marked(hit, ansi=ansi).split("\n"):
            if paragraph.strip():
                lines.append(f"   {paragraph}")
        lines.append(f"   [{n}] {citation(hit.source)}")
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def sources_text(sources: list[SourceInfo]) -> str:
    if not sources:
        return "No sources yet: add some with `briefbot ingest PATH-OR-URL`."
    lines = []
    for s in sources:
        scope = f"guild {s.guild}" if s.guild else "global"
        when = s.published.isoformat() if s.published else "—"
        lines.append(f"{s.id}  {s.passages:>4} passages  {when}  {scope}  {citation(s)}")
    return "\n".join(lines)
