"""Terminal and JSON rendering of answers, briefs and sources (pure functions)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from index.types import (
    Answer,
    Brief,
    Extracted,
    FeedInfo,
    HiddenItem,
    Hit,
    SourceInfo,
    SourceStats,
    Stats,
)

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


def feed_text(feed: FeedInfo) -> str:
    """One feed for `sources list`: scope, title, URL, then how its checks are going."""
    scope = f"guild {feed.guild}" if feed.guild else "global"
    title = f"{feed.title} " if feed.title else ""
    every = f"every {_seconds(feed.interval)}" if feed.interval else "default interval"
    status = [every, f"last success {iso(feed.last_success) or 'never'}"]
    if feed.next_check:
        status.append(f"next {iso(feed.next_check)}")
    if feed.last_error:
        status.append(f"{feed.failures} failed in a row, last error: {feed.last_error}")
    return f"{feed.id}  feed  {scope}  {title}{feed.url}\n    " + "; ".join(status)


def _seconds(value: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if value >= size and value % size == 0:
            return f"{value / size:g}{unit}"
    return f"{value:g}s"


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


def brief_json(brief: Brief) -> dict[str, Any]:
    """The `brief --json` object (a contract: exactly these keys)."""
    return {
        "topic": brief.topic,
        "since": iso(brief.since),
        "articles": brief.articles,
        "stories": [
            {
                "rank": story.rank,
                "day": iso(story.day),
                "relevance": story.relevance,
                "passage_id": story.hit.passage_id,
                "text": story.hit.text,
                "source": source_json(story.hit.source),
                "also": [source_json(other) for other in story.hit.also],
            }
            for story in brief.stories
        ],
    }


def brief_empty_text(brief: Brief) -> str:
    """Why a brief holds no story, and what to try."""
    if brief.visible == 0:
        return "No sources yet: add some with `briefbot ingest PATH-OR-URL`."
    within = f" from {brief.source!r}" if brief.source else ""
    if brief.articles == 0:
        return (
            f"No article{within} was published or added since {brief.since.isoformat()}; "
            "try an earlier --since (e.g. 30d)."
        )
    text = (
        f"No story since {brief.since.isoformat()} matches {brief.topic!r} among "
        f"{brief.articles} article{'s' if brief.articles != 1 else ''}{within}; try other words "
        "or an earlier --since."
    )
    if brief.suggestion:
        text += f" Did you mean {brief.suggestion!r}?"
    return text


def brief_text(brief: Brief, *, ansi: bool) -> str:
    """Human output: a heading, then per story its day, passage and `[n]` citations."""
    if not brief.stories:
        return brief_empty_text(brief)
    n = len(brief.stories)
    about = f" on {brief.topic!r}" if brief.topic else ""
    lines = [
        f"{n} stor{'y' if n == 1 else 'ies'}{about} since {brief.since.isoformat()}, newest "
        f"first ({brief.articles} article{'s' if brief.articles != 1 else ''} looked at)",
        "",
    ]
    if brief.corrections:
        fixed = ", ".join(f"{c.used} (for {c.typed})" for c in brief.corrections)
        lines[-1:] = [f"Searched for {fixed}: no passage holds the word as typed.", ""]
    numbers: dict[str, int] = {}
    for story in brief.stories:
        lines.append(f"{story.rank}. {iso(story.day) or 'undated'}")
        for paragraph in marked(story.hit, ansi=ansi).split("\n"):
            if paragraph.strip():
                lines.append(f"   {paragraph}")
        for source in (story.hit.source, *story.hit.also):
            number = numbers.setdefault(source.id, len(numbers) + 1)
            lines.append(f"   [{number}] {citation(source)}")
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


# --- feedback and stats -------------------------------------------------------------


def hidden_json(item: HiddenItem) -> dict[str, Any]:
    return {
        "kind": item.kind,
        "target": item.target,
        "source": source_json(item.source),
        "text": item.text,
        "by": item.by,
        "at": iso(item.at),
    }


def _source_stats_json(row: SourceStats) -> dict[str, Any]:
    return {
        "source": source_json(row.source),
        "answers": row.answers,
        "first": row.first,
        "up": row.up,
        "down": row.down,
    }


def stats_json(stats: Stats) -> dict[str, Any]:
    """`briefbot stats --json`: what `/stats` shows, as data."""
    return {
        "guild": stats.guild,
        "since": iso(stats.since),
        "questions": stats.questions,
        "unanswered": stats.unanswered,
        "by_way": dict(sorted(stats.by_way.items())),
        "recent_unanswered": list(stats.recent_unanswered),
        "top_sources": [_source_stats_json(row) for row in stats.top_sources],
        "feedback": {
            "up": stats.up,
            "down": stats.down,
            "sources": [_source_stats_json(row) for row in stats.feedback],
        },
        "hidden": [hidden_json(item) for item in stats.hidden],
    }


def _stats_row(row: SourceStats) -> str:
    return (
        f"  {row.source.id}  {citation(row.source)}\n"
        f"      {row.answers} answers, first in {row.first}; +{row.up} / -{row.down}"
    )


def hidden_text(item: HiddenItem) -> str:
    what = f"passage {item.target}" if item.kind == "passage" else f"source {item.target}"
    text = ""
    if item.kind == "passage":
        text = f": {' '.join(item.text.split())[:80]}" if item.text else " (no longer stored)"
    return f"  {what} of {citation(item.source)}{text}"


def stats_text(stats: Stats) -> str:
    share = f"{100 * stats.unanswered / stats.questions:.0f}%" if stats.questions else "0%"
    ways = ", ".join(f"{way} {n}" for way, n in sorted(stats.by_way.items()))
    lines = [
        f"guild {stats.guild} since {iso(stats.since)}",
        f"questions: {stats.questions}" + (f" ({ways})" if ways else ""),
        f"with no result: {stats.unanswered} ({share})",
    ]
    lines += [f"  {question}" for question in stats.recent_unanswered]
    lines.append("top sources (cited on an answer's first page):")
    lines += [_stats_row(row) for row in stats.top_sources] or ["  none yet"]
    lines.append(f"feedback: +{stats.up} / -{stats.down}")
    lines += [_stats_row(row) for row in stats.feedback]
    lines.append(f"hidden: {len(stats.hidden)}")
    lines += [hidden_text(item) for item in stats.hidden]
    return "\n".join(lines)
