"""Terminal and JSON rendering of answers and sources (pure functions)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from index.types import Answer, Extracted, Hit, SourceInfo

BOLD, RESET = "\x1b[1m", "\x1b[0m"
UNDERLINE, NO_UNDERLINE = "\x1b[4m", "\x1b[24m"


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


def extracted_json(item: Extracted) -> dict[str, Any]:
    """The `extract --json` line (a contract: exactly these keys)."""
    doc = item.doc
    return {
        "ref": doc.ref,
        "title": doc.title,
        "publisher": doc.publisher,
        "published": iso(doc.published),
        "url": doc.url,
        "text": doc.text,
        "passages": list(item.passages),
    }


def extracted_text(item: Extracted) -> str:
    """A document for the terminal: its citation line, then its numbered passages."""
    doc = item.doc
    cite = " · ".join(
        x for x in (doc.publisher, doc.title, iso(doc.published), doc.url or doc.ref) if x
    )
    words = len(doc.text.split())
    lines = [f"{BOLD}{cite}{RESET}", f"{len(item.passages)} passages, {words} words"]
    lines += [f"  [{n}] {text}" for n, text in enumerate(item.passages, start=1)]
    return "\n".join(lines) + "\n"


def answer_json(answer: Answer) -> dict[str, Any]:
    """The `ask --json` object (its shape is a contract other tools rely on: no extra keys)."""
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
    """The passage with its best sentence in bold and, on a terminal, query words underlined.

    Without ANSI (a pipe or file) the best sentence is `**…**` and words stay unmarked,
    so the text remains what the source said.
    """
    marks: list[tuple[int, int, str]] = []  # (position, order at that position, mark)
    if hit.best_sentence is not None:
        start, end = hit.best_sentence
        left, right = (BOLD, RESET) if ansi else ("**", "**")
        marks += [(start, 1, left), (end, 0, right)]
    if ansi:
        for start, end in hit.highlights:
            marks += [(start, 2, UNDERLINE), (end, 0, NO_UNDERLINE)]
    if not marks:
        return hit.text
    out, at = [], 0
    for position, _, mark in sorted(marks):
        out.append(hit.text[at:position])
        out.append(mark)
        at = position
    out.append(hit.text[at:])
    return "".join(out)


def answer_text(answer: Answer, *, ansi: bool) -> str:
    """Human output: rank, score, marked passage, then `[n]` citation per source."""
    if not answer.hits:
        where = " within the filters" if answer.filtered else ""
        text = (
            f"No passage matches {answer.question!r} among {answer.searched} passages"
            f"{where}; try other words."
        )
        if answer.suggestion:
            text += f" Did you mean {answer.suggestion!r}?"
        return text
    numbers: dict[str, int] = {}
    lines: list[str] = []
    if answer.corrections:
        fixed = ", ".join(f"{c.used} (for {c.typed})" for c in answer.corrections)
        lines += [f"Searched for {fixed}: no passage holds the word as typed.", ""]
    for hit in answer.hits:
        lines.append(f"{hit.rank}. score {hit.score:.3f}")
        for paragraph in marked(hit, ansi=ansi).split("\n"):
            if paragraph.strip():
                lines.append(f"   {paragraph}")
        for source in (hit.source, *hit.also):
            n = numbers.setdefault(source.id, len(numbers) + 1)
            lines.append(f"   [{n}] {citation(source)}")
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
