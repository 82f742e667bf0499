"""Discord embeds for answers, sources and help (pure functions, tested without a client).

Everything we post passes through `fit`, because discord.py does not check Discord's
embed limits and an over-long embed is refused outright (the whole answer is lost).
Passage text comes from the web, so it is escaped: no masked links, no mentions, no
headings or list markup that could pass for our own formatting.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from urllib.parse import quote, urlsplit

import discord

from index.types import Answer, FeedInfo, Hit, IngestReport, SourceInfo

BLUE = discord.Colour(0x2B6CB0)
GREY = discord.Colour(0x718096)
RED = discord.Colour(0xC53030)
ELLIPSIS = "…"


class Limits:
    """Discord's documented message and embed limits."""

    CONTENT = 2000
    TITLE = 256
    DESCRIPTION = 4096
    FIELDS = 25
    FIELD_NAME = 256
    FIELD_VALUE = 1024
    FOOTER = 2048
    AUTHOR = 256
    TOTAL = 6000


# --- text helpers --------------------------------------------------------------------

_MARKUP = re.compile(r"([\\*_~`|\[\]<>#])")
_LINE_START = re.compile(r"(?m)^(\s*)([-+]|\d+)(\.?)(?=\s)")
_MASS = re.compile(r"@(everyone|here)", re.IGNORECASE)


def escape(text: str) -> str:
    """Text shown literally: markdown, masked links, mentions and list markers are inert."""
    text = _MARKUP.sub(r"\\\1", text)
    text = _LINE_START.sub(_escape_list_marker, text)
    return _MASS.sub("@\u200b\\1", text)


def _escape_list_marker(m: re.Match[str]) -> str:
    indent, marker, dot = m.groups()
    if marker.isdigit():  # "1." is a list, "1" is not; a backslash before a digit would show
        return f"{indent}{marker}\\." if dot else m.group(0)
    return f"{indent}\\{marker}{dot}"


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary with an ellipsis when shortened."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    if limit == 1:
        return ELLIPSIS
    head = text[: limit - 1]
    space = head.rfind(" ")
    if space >= limit // 2:
        head = head[:space]
    head = head.rstrip()
    # Never leave a dangling escape backslash that would swallow the ellipsis.
    trailing = len(head) - len(head.rstrip("\\"))
    if trailing % 2:
        head = head[:-1]
    return head + ELLIPSIS


def link(label: str, url: str | None) -> str:
    """A masked link for http(s) URLs only; anything else is shown as plain text."""
    shown = escape(label)
    if not url:
        return shown
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return shown
    safe = quote(url, safe=":/?#@!$&'*+,;=%~-._")  # no spaces, parens or brackets
    return f"[{shown}]({safe})"


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def timestamp(value: datetime) -> str:
    """Discord's relative timestamp, rendered in each reader's own time zone."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return f"<t:{int(value.timestamp())}:R>"


# --- the limit guard -----------------------------------------------------------------


def embed_length(embed: discord.Embed) -> int:
    """Characters Discord counts towards the 6000 total."""
    total = len(embed.title or "") + len(embed.description or "")
    total += sum(len(f.name or "") + len(f.value or "") for f in embed.fields)
    total += len(embed.footer.text or "") + len(embed.author.name or "")
    return total


def fit(embed: discord.Embed) -> discord.Embed:
    """Cuts an embed to Discord's limits (the last resort; renderers budget first)."""
    if embed.title:
        embed.title = cut(embed.title, Limits.TITLE)
    if embed.description:
        embed.description = cut(embed.description, Limits.DESCRIPTION)
    if embed.footer.text:
        embed.set_footer(text=cut(embed.footer.text, Limits.FOOTER), icon_url=embed.footer.icon_url)
    if embed.author.name:
        embed.set_author(
            name=cut(embed.author.name, Limits.AUTHOR), url=embed.author.url, icon_url=None
        )
    kept = embed.fields[: Limits.FIELDS]
    embed.clear_fields()
    for f in kept:
        embed.add_field(
            name=cut(f.name or "", Limits.FIELD_NAME) or "\u200b",
            value=cut(f.value or "", Limits.FIELD_VALUE) or "\u200b",
            inline=bool(f.inline),
        )
    excess = embed_length(embed) - Limits.TOTAL
    while excess > 0 and embed.fields:
        last = embed.fields[-1]
        embed.remove_field(len(embed.fields) - 1)
        excess -= len(last.name or "") + len(last.value or "")
    if excess > 0 and embed.description:
        embed.description = cut(embed.description, max(len(embed.description) - excess, 1))
    return embed


# --- answers -------------------------------------------------------------------------


def citation_numbers(hits: Sequence[Hit]) -> dict[str, int]:
    """Source id → citation number, in order of first appearance (stable across pages)."""
    numbers: dict[str, int] = {}
    for hit in hits:
        numbers.setdefault(hit.source.id, len(numbers) + 1)
    return numbers


def citation(source: SourceInfo, *, title_limit: int = 200) -> str:
    """`Publisher — [Title](link) · 2025-12-21`: what a reader needs to check the passage."""
    title = cut(source.title or _display_ref(source), title_limit)
    parts = []
    if source.publisher:
        parts.append(f"**{escape(cut(source.publisher, 80))}** — ")
    parts.append(link(title, source.url))
    day = _day(source.published)
    if day:
        parts.append(f" · {day}")
    return "".join(parts)


def _display_ref(source: SourceInfo) -> str:
    """Uploads are stored as `upload:<attachment id>/<file name>`; readers want the name."""
    ref = source.ref
    if ref.startswith("upload:"):
        return ref.rsplit("/", 1)[-1]
    return ref


def marked_passage(hit: Hit, limit: int) -> str:
    """The escaped passage with its best sentence in bold, cut at a word to `limit`."""
    text = hit.text
    span = hit.best_sentence
    start = 0
    full = _render(text, span, 0, len(text))
    if len(full) <= limit:
        return full
    if span is not None and len(_render(text, span, 0, span[1])) > limit:
        start = span[0]  # the best sentence would be cut off: start the excerpt with it
    bounds = [m.start() for m in re.finditer(r"\s", text) if m.start() > start] + [len(text)]
    lo, hi, best = 0, len(bounds) - 1, ""
    while lo <= hi:  # the longest excerpt ending at a word boundary that fits
        mid = (lo + hi) // 2
        candidate = _render(text, span, start, bounds[mid])
        if len(candidate) <= limit:
            best, lo = candidate, mid + 1
        else:
            hi = mid - 1
    return best or cut(_render(text, None, start, len(text)), limit)


def _render(text: str, span: tuple[int, int] | None, start: int, end: int) -> str:
    before, strong, after = text[start:end], "", ""
    if span is not None:
        s, e = max(span[0], start), min(span[1], end)
        if s < e:
            before, strong, after = text[start:s], text[s:e], text[e:end]
    lead = len(strong) - len(strong.lstrip())
    trail = len(strong) - len(strong.rstrip())
    if strong.strip():
        before += strong[:lead]
        after = strong[len(strong) - trail :] + after
        strong = strong.strip()
    out = escape(before) + (f"**{escape(strong)}**" if strong else "") + escape(after)
    out = out.strip()
    if start > 0:
        out = f"{ELLIPSIS} {out}"
    if end < len(text):
        out = f"{out} {ELLIPSIS}"
    return out


def pages(answer: Answer, per_page: int) -> int:
    return max(1, -(-len(answer.hits) // per_page))


def answer_embed(answer: Answer, page: int = 0, per_page: int = 3) -> discord.Embed:
    """One page of an answer: ranked passages, best sentence bold, numbered citations."""
    total = pages(answer, per_page)
    page = min(max(page, 0), total - 1)
    numbers = citation_numbers(answer.hits)
    shown = answer.hits[page * per_page : (page + 1) * per_page]
    heads = [f"**{hit.rank}.** " for hit in shown]
    cites = [f"\n[{numbers[hit.source.id]}] {citation(hit.source)}" for hit in shown]
    separators = 2 * (len(shown) - 1)
    room = (
        Limits.DESCRIPTION
        - separators
        - sum(len(h) + len(c) for h, c in zip(heads, cites, strict=True))
    )
    each = max(room // max(len(shown), 1), 80)
    blocks = [
        f"{head}{marked_passage(hit, each)}{cite}"
        for head, hit, cite in zip(heads, shown, cites, strict=True)
    ]
    embed = discord.Embed(
        title=cut(escape(answer.question), Limits.TITLE),
        description="\n\n".join(blocks),
        colour=BLUE,
    )
    ms = answer.seconds * 1000
    footer = f"Searched {answer.searched:,} passages in {ms:.0f} ms"
    if total > 1:
        footer += f" · page {page + 1}/{total}"
    embed.set_footer(text=footer)
    return fit(embed)


def sources_embed(answer: Answer) -> discord.Embed:
    """Every article an answer cites, numbered as in the answer, with its id."""
    numbers = citation_numbers(answer.hits)
    sources = {hit.source.id: hit.source for hit in answer.hits}
    lines = [f"[{numbers[sid]}] {citation(src)} · `{sid}`" for sid, src in sources.items()]
    embed = discord.Embed(title="Sources cited", colour=GREY)
    embed.description = _fit_lines(lines, Limits.DESCRIPTION)
    embed.set_footer(text=f"{len(lines)} article{'s' if len(lines) != 1 else ''}")
    return fit(embed)


def _fit_lines(lines: Sequence[str], limit: int) -> str:
    """Whole lines while they fit, then `…and N more`."""
    out: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        more = f"{ELLIPSIS}and {len(lines) - i} more"
        if used + len(line) + 1 + len(more) > limit and i < len(lines) - 1:
            out.append(more)
            break
        if used + len(line) + 1 > limit:
            out.append(more)
            break
        out.append(line)
        used += len(line) + 1
    return "\n".join(out)


def no_match_text(answer: Answer) -> str:
    """The friendly reply when nothing matches: what was searched and what to try."""
    if answer.searched == 0:
        return (
            "There are no sources to search here yet. An admin can add articles or feeds "
            "with `/source add`."
        )
    return (
        f"No passage among {answer.searched:,} matches “{cut(escape(answer.question), 300)}”. "
        "Try other words: a name, a place or a date (e.g. `who attended the Miami talks`)."
    )


# --- source management ---------------------------------------------------------------

SOURCES_PER_PAGE = 10


def source_line(source: SourceInfo) -> str:
    title = escape(cut(source.title or _display_ref(source), 90))
    scope = "global" if source.guild is None else "this server"
    who = f" by <@{source.added_by}>" if source.added_by and source.added_by.isdigit() else ""
    return (
        f"`{source.id}` **{title}** — {source.passages} passage"
        f"{'s' if source.passages != 1 else ''} · {scope} · added{who} {timestamp(source.added_at)}"
    )


def feed_line(feed: FeedInfo) -> str:
    title = escape(cut(feed.title or feed.url, 90))
    who = f" by <@{feed.added_by}>" if feed.added_by and feed.added_by.isdigit() else ""
    status = f" · last error: {escape(cut(feed.last_error, 120))}" if feed.last_error else ""
    return f"`{feed.id}` feed **{title}** · added{who} {timestamp(feed.added_at)}{status}"


def source_list_embed(
    sources: Sequence[SourceInfo], feeds: Sequence[FeedInfo], page: int
) -> tuple[discord.Embed, int]:
    """One page of `/source list` (feeds first) and the number of pages."""
    lines = [feed_line(f) for f in feeds] + [source_line(s) for s in sources]
    total = max(1, -(-len(lines) // SOURCES_PER_PAGE))
    page = min(max(page, 0), total - 1)
    shown = lines[page * SOURCES_PER_PAGE : (page + 1) * SOURCES_PER_PAGE]
    embed = discord.Embed(title="Sources this server searches", colour=GREY)
    embed.description = (
        _fit_lines(shown, Limits.DESCRIPTION)
        if shown
        else "No sources yet. Add an article or feed with `/source add url:…` or a file with "
        "`/source add file:…`."
    )
    embed.set_footer(text=f"{len(sources)} sources · {len(feeds)} feeds · page {page + 1}/{total}")
    return fit(embed), total


def ingest_text(report: IngestReport, added: Sequence[SourceInfo], what: str) -> str:
    """What `/source add` or `/source refresh` did, in a few lines (≤ 2000 characters)."""
    lines: list[str] = []
    if added:
        for source in added[:5]:
            lines.append(
                f"Added {citation(source, title_limit=120)} (`{source.id}`, "
                f"{source.passages} passages)"
            )
        if len(added) > 5:
            lines.append(f"{ELLIPSIS}and {len(added) - 5} more articles")
    if report.unchanged and not added and not report.failed:
        lines.append(f"Nothing new: {escape(cut(what, 200))} is already indexed and unchanged.")
    elif report.unchanged:
        lines.append(f"{len(report.unchanged)} already indexed and unchanged.")
    for ref, reason in report.failed[:5]:
        lines.append(f"Could not add {escape(cut(ref, 200))}: {escape(cut(reason, 300))}")
    if len(report.failed) > 5:
        lines.append(f"{ELLIPSIS}and {len(report.failed) - 5} more failures")
    if not lines:
        lines.append(f"Nothing was found to add at {escape(cut(what, 200))}.")
    return cut("\n".join(lines), Limits.CONTENT)


# --- help and about ------------------------------------------------------------------

HELP = (
    (
        "/ask question:<text>",
        "Ranked passages from this server's sources, each with its "
        "citation. Options: `source` (search one article), `results` (1–10 per page), "
        "`private` (only you see the answer). ◀ ▶ page through more results.",
    ),
    (
        "@briefbot <question>",
        "Mention the bot in a channel or thread to ask there; it replies to your message.",
    ),
    (
        "/source add url:<link> | file:<upload>",
        "Admins: add a news article, an RSS/Atom "
        "feed (all its articles) or an HTML, PDF or text file.",
    ),
    (
        "/source list · remove · refresh",
        "Admins: see sources with their ids, remove one, "
        "or fetch URLs and feeds again (unchanged articles cost nothing).",
    ),
    ("/about", "Version and how much this server can search."),
)


def help_embed() -> discord.Embed:
    embed = discord.Embed(
        title="briefbot: answers from your news sources, with citations",
        description=(
            "Ask a question in plain words. briefbot finds the passages that answer it "
            "(BM25 search, no AI-generated text) and cites publisher, title, date and link "
            "so you can check every line."
        ),
        colour=BLUE,
    )
    for name, value in HELP:
        embed.add_field(name=name, value=value, inline=False)
    embed.set_footer(text="Admin commands need Manage Server or the configured admin role.")
    return fit(embed)


def about_embed(
    version: str, sources: int, passages: int, feeds: int, started: datetime
) -> discord.Embed:
    embed = discord.Embed(title="About briefbot", colour=GREY)
    embed.description = (
        "Answers questions about negotiations from the articles this server follows: "
        "ranked passages, each cited. Deterministic, no LLM."
    )
    embed.add_field(name="Version", value=version)
    embed.add_field(name="Sources", value=f"{sources:,}")
    embed.add_field(name="Passages", value=f"{passages:,}")
    embed.add_field(name="Feeds", value=f"{feeds:,}")
    embed.add_field(name="Up since", value=timestamp(started))
    return fit(embed)


def error_embed(message: str) -> discord.Embed:
    return fit(discord.Embed(description=cut(message, Limits.DESCRIPTION), colour=RED))
