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

from index.types import (
    Answer,
    Brief,
    FeedInfo,
    HiddenItem,
    Hit,
    IngestReport,
    SourceInfo,
    SourceStats,
    Stats,
)

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
    """Source id → citation number, in order of first appearance (stable across pages).

    A hit's `also` sources (wire copy carried by other outlets) are numbered right after
    its own source, so every outlet keeps one number on every page.
    """
    numbers: dict[str, int] = {}
    for hit in hits:
        for src in _hit_sources(hit):
            numbers.setdefault(src.id, len(numbers) + 1)
    return numbers


def _hit_sources(hit: Hit) -> tuple[SourceInfo, ...]:
    return (hit.source, *hit.also)


def citation(
    source: SourceInfo,
    *,
    title_limit: int = 200,
    publisher_limit: int = 80,
    linked: bool = True,
) -> str:
    """`Publisher — [Title](link) · 2025-12-21`: what a reader needs to check the passage."""
    title = cut(source.title or _display_ref(source), title_limit)
    parts = []
    if source.publisher:
        parts.append(f"**{escape(cut(source.publisher, publisher_limit))}** — ")
    parts.append(link(title, source.url if linked else None))
    day = _day(source.published)
    if day:
        parts.append(f" · {day}")
    return "".join(parts)


def _citation_lines(sources: Sequence[SourceInfo], numbers: dict[str, int], room: int) -> str:
    """One `[n] citation` line per source within `room` characters; the rest are counted.

    Long titles and links are shortened before a line is dropped. The first source's
    line is always kept: its most compact form (~170 characters) fits the smallest room
    `answer_embed` gives.
    """
    out: list[str] = []
    used = 0
    for i, src in enumerate(sources):
        left = len(sources) - i - 1
        more = len(_more_outlets(left)) if left else 0
        variants = [
            f"\n[{numbers[src.id]}] {text}"
            for text in (
                citation(src),
                citation(src, title_limit=60),
                citation(src, title_limit=40, publisher_limit=30, linked=False),
            )
        ]
        line = next((v for v in variants if used + len(v) + more <= room), None)
        if line is None and i == 0:
            line = variants[-1]
        if line is None:
            out.append(_more_outlets(len(sources) - i))
            break
        out.append(line)
        used += len(line)
    return "".join(out)


def _more_outlets(count: int) -> str:
    return f"\n{ELLIPSIS}and {count} more outlet{'s' if count != 1 else ''} (see Sources)"


def _display_ref(source: SourceInfo) -> str:
    """Uploads are stored as `upload:<attachment id>/<file name>`; readers want the name."""
    ref = source.ref
    if ref.startswith("upload:"):
        return ref.rsplit("/", 1)[-1]
    return ref


def marked_passage(hit: Hit, limit: int) -> str:
    """The escaped passage, best sentence in bold, query words underlined, cut to `limit`.

    Every candidate is rendered whole (markers around each escaped segment), so a cut
    can never leave a `**` or `__` open; when not even one word fits with its markers,
    the excerpt is plain escaped text.
    """
    text = hit.text
    span = hit.best_sentence
    marks = hit.highlights
    start = 0
    full = _render(text, span, marks, 0, len(text))
    if len(full) <= limit:
        return full
    if span is not None and len(_render(text, span, marks, 0, span[1])) > limit:
        start = span[0]  # the best sentence would be cut off: start the excerpt with it
    bounds = [m.start() for m in re.finditer(r"\s", text) if m.start() > start] + [len(text)]
    lo, hi, best = 0, len(bounds) - 1, ""
    while lo <= hi:  # the longest excerpt ending at a word boundary that fits
        mid = (lo + hi) // 2
        candidate = _render(text, span, marks, start, bounds[mid])
        if len(candidate) <= limit:
            best, lo = candidate, mid + 1
        else:
            hi = mid - 1
    return best or cut(_render(text, None, (), start, len(text)), limit)


_MARKED_MASS = re.compile(r"@(?=(?:\*\*|__)+(?:everyone|here))", re.IGNORECASE)


def _render(
    text: str,
    span: tuple[int, int] | None,
    highlights: Sequence[tuple[int, int]],
    start: int,
    end: int,
) -> str:
    """`text[start:end]` escaped, `span` in bold and `highlights` underlined."""
    s = e = start  # the bold zone, empty unless the span has text inside the excerpt
    if span is not None:
        a, b = max(span[0], start), min(span[1], end)
        strong = text[a:b] if a < b else ""
        if strong.strip():  # "** x**" is not bold: the markers hug the text
            s = a + len(strong) - len(strong.lstrip())
            e = b - (len(strong) - len(strong.rstrip()))
    under = _merged(highlights, start, end)
    out = _underlined(text, under, start, s)
    if s < e:
        out += f"**{_underlined(text, under, s, e)}**"
    out += _underlined(text, under, e, end)
    # Splitting "@everyone" around a marker would dodge escape()'s zero-width space.
    out = _MARKED_MASS.sub("@\u200b", out).strip()
    if start > 0:
        out = f"{ELLIPSIS} {out}"
    if end < len(text):
        out = f"{out} {ELLIPSIS}"
    return out


def _merged(spans: Sequence[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """Spans clipped to [start, end), sorted, with overlapping or touching ones joined.

    Touching spans must be joined: `__a____b__` would not read as two underlines.
    """
    out: list[tuple[int, int]] = []
    for a, b in sorted((max(a, start), min(b, end)) for a, b in spans):
        if a >= b:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _underlined(text: str, spans: Sequence[tuple[int, int]], start: int, end: int) -> str:
    """`text[start:end]` escaped, with the parts inside `spans` wrapped in `__`."""
    out: list[str] = []
    at = start
    for a, b in spans:
        a, b = max(a, start), min(b, end)
        if a >= b:
            continue
        out.append(escape(text[at:a]))
        out.append(f"__{escape(text[a:b])}__")
        at = b
    out.append(escape(text[at:end]))
    return "".join(out)


def pages(answer: Answer, per_page: int) -> int:
    return max(1, -(-len(answer.hits) // per_page))


def answer_embed(answer: Answer, page: int = 0, per_page: int = 3) -> discord.Embed:
    """One page of an answer: ranked passages, best sentence bold, numbered citations
    (laid out by `ranked_description`)."""
    total = pages(answer, per_page)
    page = min(max(page, 0), total - 1)
    shown = answer.hits[page * per_page : (page + 1) * per_page]
    heads = [f"**{hit.rank}.** " for hit in shown]
    embed = discord.Embed(
        title=cut(escape(answer.question), Limits.TITLE),
        description=ranked_description(answer, answer.hits, shown, heads),
        colour=BLUE,
    )
    ms = answer.seconds * 1000
    within = " within your filters" if answer.filtered else ""
    footer = f"Searched {answer.searched:,} passages{within} in {ms:.0f} ms"
    if total > 1:
        footer += f" · page {page + 1}/{total}"
    embed.set_footer(text=footer)
    return fit(embed)


def ranked_description(
    result: Answer | Brief, numbered: Sequence[Hit], shown: Sequence[Hit], heads: Sequence[str]
) -> str:
    """The corrections note, then each shown passage after its head with its citations.

    Budgeted here rather than cut by `fit`, which could split a marker or a link:
    citations get at most half of the room, passages the rest. `numbered` are all the
    hits whose sources are numbered (the whole answer, so numbers hold across pages).
    """
    numbers = citation_numbers(numbered)
    note = corrections_note(result)
    lead = f"{note}\n\n" if note else ""
    room = Limits.DESCRIPTION - len(lead) - 2 * (len(shown) - 1) - sum(map(len, heads))
    cite_room = room // 2 // max(len(shown), 1)
    cites = [_citation_lines(_hit_sources(hit), numbers, cite_room) for hit in shown]
    each = (room - sum(map(len, cites))) // max(len(shown), 1)
    return lead + "\n\n".join(
        f"{head}{marked_passage(hit, each)}{cite}"
        for head, hit, cite in zip(heads, shown, cites, strict=True)
    )


NOTE_LIMIT = 300  # the corrections note, so passages keep nearly all of the room


def corrections_note(answer: Answer | Brief) -> str:
    """`Searched for Witkoff (you typed Witkof)`, or "" when nothing was corrected."""
    parts = [
        f"{escape(cut(c.used, 40))} (you typed {escape(cut(c.typed, 40))})"
        for c in answer.corrections
    ]
    if not parts:
        return ""
    note = f"Searched for {', '.join(parts)}"
    while len(note) > NOTE_LIMIT and len(parts) > 1:  # one part is at most ~175 characters
        parts.pop()
        note = f"Searched for {', '.join(parts)}, {ELLIPSIS}"
    return note


def sources_embed(answer: Answer) -> discord.Embed:
    """Every article an answer cites (wire copies too), numbered as in the answer, with its id."""
    numbers = citation_numbers(answer.hits)
    sources = {src.id: src for hit in answer.hits for src in _hit_sources(hit)}
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


FILTERS = "`since`, `until` or `source`"


def no_match_text(answer: Answer) -> str:
    """The friendly reply when nothing matches: what was searched and what to try."""
    question = escape(cut(answer.question, 300))
    if answer.filtered and answer.searched == 0:
        return (
            f"No article here falls within your filters ({FILTERS}). Widen the dates, pick "
            "another source or leave the filters out to search everything."
        )
    if answer.searched == 0 and answer.hidden:
        return (
            "Nothing is left to search here: this server's admins hid every passage it "
            "sees. `/stats` lists what is hidden and `/source unhide` shows it again."
        )
    if answer.searched == 0:
        return (
            "There are no sources to search here yet. An admin can add articles or feeds "
            "with `/source add`."
        )
    if answer.filtered:
        text = (
            f"No passage among the {answer.searched:,} within your filters ({FILTERS}) "
            f"matches “{question}”."
        )
    else:
        text = f"No passage among {answer.searched:,} matches “{question}”."
    if answer.suggestion:
        text += f" Did you mean “{escape(cut(answer.suggestion, 300))}”?"
    if answer.filtered:
        return text + " Widen the dates or the source, or try other words."
    return text + (
        " Try other words: a name, a place or a date (e.g. `who attended the Miami talks`)."
    )


# --- briefs ----------------------------------------------------------------------------


def brief_title(brief: Brief) -> str:
    since = brief.since.isoformat()
    if brief.topic:
        return cut(f"Since {since}: {escape(brief.topic)}", Limits.TITLE)
    return f"Since {since}: the latest stories"


def brief_embed(brief: Brief) -> discord.Embed:
    """A brief: per story, newest first, its day, its passage and every outlet carrying it.

    Laid out and budgeted as `answer_embed` (`ranked_description`: passages escaped, best
    sentence bold, topic words underlined, citations numbered across the brief).
    """
    stories = brief.stories
    hits = [story.hit for story in stories]
    heads = [
        f"**{story.rank}.** {story.day.isoformat() if story.day else 'undated'} · "
        for story in stories
    ]
    embed = discord.Embed(
        title=brief_title(brief),
        description=ranked_description(brief, hits, hits, heads),
        colour=BLUE,
    )
    n = len(stories)
    within = " within your source" if brief.source else ""
    embed.set_footer(
        text=f"{n} stor{'y' if n == 1 else 'ies'}, newest first, from {brief.articles:,} "
        f"article{'s' if brief.articles != 1 else ''}{within} published or added since "
        f"{brief.since.isoformat()} · {brief.seconds * 1000:.0f} ms"
    )
    return fit(embed)


def brief_no_match_text(brief: Brief) -> str:
    """The private reply when a brief holds no story: what was looked at, what to try."""
    if brief.visible == 0:
        return (
            "There are no sources to brief from here yet. An admin can add articles or feeds "
            "with `/source add`."
        )
    since = brief.since.isoformat()
    within = " from that source" if brief.source else ""
    if brief.articles == 0:
        other = ", or another `source`" if brief.source else ""
        return (
            f"No article{within} was published or added since {since}. Try an earlier "
            f"`since` (e.g. `30d` or `2025-12-01`){other}."
        )
    topic = escape(cut(brief.topic or "", 300))
    text = (
        f"No story among the {brief.articles:,} article{'s' if brief.articles != 1 else ''}"
        f"{within} since {since} is about “{topic}”."
    )
    if brief.suggestion:
        text += f" Did you mean “{escape(cut(brief.suggestion, 300))}”?"
    return text + " Try other words, an earlier `since`, or no topic for the latest stories."


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
    checked = (
        f" · updated {timestamp(feed.last_success)}" if feed.last_success else " · never updated"
    )
    status = (
        f" · {feed.failures} failed, last error: {escape(cut(feed.last_error, 120))}"
        if feed.last_error
        else ""
    )
    return f"`{feed.id}` feed **{title}** · added{who} {timestamp(feed.added_at)}{checked}{status}"


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
        "Ranked passages from this server's sources, each with its citation; the best "
        "sentence is bold, your words are underlined. Options: `source` (one article, or "
        "every article of a publisher such as ANI), `since` / `until` (published on or "
        "after / before: `2025-12-01`, `7d`, `2w`, `3m`, `yesterday`), `results` (1–10 per "
        "page), `private` (only you see the answer). ◀ ▶ page through more results.",
    ),
    (
        "/brief [topic]",
        "What happened lately: one passage per story, newest first, each cited; copies of "
        "one wire story are one item naming every outlet. With a topic, the stories about "
        "it; without, the latest. Options: `since` (default `7d`; `1d`, `2w`, `2025-12-01`), "
        "`source` (one article or a publisher).",
    ),
    (
        "Search tips",
        'Put a phrase in quotes, e.g. `"peace plan"`, and every answer contains it. Small '
        "typos are forgiven: `Witkof` finds Witkoff, and the answer says what it searched.",
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
    (
        "👍 / 👎 on an answer",
        "Say whether a passage answered the question: votes nudge this server's answers "
        "to like questions. A manager's 👎 can hide the passage or its source here.",
    ),
    (
        "/settings · /stats · /source unhide",
        "Manage Server: where mentions are answered, inline or in a thread, default "
        "results and privacy of /ask, and the role that may manage sources. Admins: "
        "questions asked, unanswered ones, top sources and votes; show hidden items again.",
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


# --- feedback and /stats ---------------------------------------------------------------


def source_label(source: SourceInfo) -> str:
    """`Publisher: Title`, plain text (select options and buttons show no markdown)."""
    title = " ".join((source.title or _display_ref(source)).split())
    return f"{source.publisher}: {title}" if source.publisher else title


def hidden_label(item: HiddenItem) -> str:
    """Plain text for a hidden item: `passage of Publisher: Title: “text…”` or `source …`."""
    if item.kind == "source":
        return f"source {source_label(item.source)}"
    text = f": “{cut(' '.join(item.text.split()), 60)}”" if item.text else " (no longer stored)"
    return f"passage of {source_label(item.source)}{text}"


def hidden_line(item: HiddenItem) -> str:
    return escape(cut(hidden_label(item), 300))


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "0%"


WAYS = {"ask": "/ask", "mention": "mentions", "brief": "/brief"}


def _source_stats_line(rank: int, row: SourceStats, *, votes_first: bool = False) -> str:
    name = escape(cut(source_label(row.source), 90))
    cited = f"{row.answers} answer{'s' if row.answers != 1 else ''}, first in {row.first}"
    votes = f"👍 {row.up} · 👎 {row.down}"
    parts = (votes, cited) if votes_first else (cited, votes)
    return f"{rank}. {name} `{row.source.id}`: " + " · ".join(parts)


def stats_embed(stats: Stats, days: int) -> discord.Embed:
    """`/stats`: what a server asked and how its answers fared, for its admins."""
    embed = discord.Embed(title=f"briefbot in this server: the last {days} days", colour=GREY)
    ways = ", ".join(f"{WAYS.get(way, way)} {n:,}" for way, n in sorted(stats.by_way.items()) if n)
    embed.add_field(
        name="Questions",
        value=(
            f"{stats.questions:,} asked" + (f" ({ways})" if ways else "") + f" · "
            f"{stats.unanswered:,} with no result ({_percent(stats.unanswered, stats.questions)})"
        ),
        inline=False,
    )
    if stats.recent_unanswered:
        lines = [f"• {escape(cut(' '.join(q.split()), 150))}" for q in stats.recent_unanswered]
        embed.add_field(
            name="Lately with no result",
            value=_fit_lines(lines, Limits.FIELD_VALUE),
            inline=False,
        )
    top = [_source_stats_line(i, row) for i, row in enumerate(stats.top_sources, start=1)]
    embed.add_field(
        name="Top sources (cited on an answer's first page)",
        value=_fit_lines(top, Limits.FIELD_VALUE) if top else "None yet.",
        inline=False,
    )
    voted = [
        _source_stats_line(i, row, votes_first=True)
        for i, row in enumerate(stats.feedback, start=1)
    ]
    embed.add_field(
        name=f"Feedback: 👍 {stats.up:,} · 👎 {stats.down:,}",
        value=_fit_lines(voted, Limits.FIELD_VALUE) if voted else "No votes yet.",
        inline=False,
    )
    hidden = [f"• {hidden_line(item)}" for item in stats.hidden]
    embed.add_field(
        name=f"Hidden from this server ({len(stats.hidden)})",
        value=(_fit_lines(hidden, Limits.FIELD_VALUE - 40) + "\nShow one again: `/source unhide`.")
        if hidden
        else "Nothing.",
        inline=False,
    )
    embed.set_footer(text=f"Since {stats.since:%Y-%m-%d %H:%M} UTC")
    return fit(embed)
