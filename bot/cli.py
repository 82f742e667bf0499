"""The `briefbot` command line: a thin caller of index.Library."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from bot import logs, render
from bot.config import Config, ConfigError, load_config, load_settings, logging_from_env
from index import evaluate
from index.dates import parse_day
from index.errors import BriefbotError
from index.feedback import parse_item
from index.library import Library, preview
from index.settings import Settings
from index.types import Answer, GuildSettings, IngestReport

T = TypeVar("T")
log = logging.getLogger("briefbot")


@dataclass(frozen=True, slots=True)
class Context:
    config: str | None
    db: str | None
    verbose: bool = False

    def load(self, default_level: int = logging.WARNING) -> Config:
        """The config; the log on stderr is then set up as its [logging] says."""
        config = load_config(self.config, self.db)
        logs.configure(config.logging, verbose=self.verbose, default=default_level)
        return config

    def settings(self) -> Settings:
        return self.load().settings


def fail(message: str) -> None:
    click.echo(logs.error_line(message), err=True)


SIGTERM_EXIT = 128 + signal.SIGTERM  # 143, as a shell reports a process ended by SIGTERM


def run_async(func: Callable[..., Awaitable[int | None]]) -> Callable[..., None]:
    """Runs a command coroutine; our errors become one `error:` line and exit 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        terminated: list[bool] = []

        async def stoppable() -> int | None:
            # SIGTERM cancels the command like Ctrl-C does: a write in progress rolls back,
            # the library closes (saving its index). `briefbot run` sets its own handler.
            task = asyncio.current_task()
            loop = asyncio.get_running_loop()

            def terminate() -> None:
                terminated.append(True)
                if task is not None:
                    task.cancel()

            with suppress(NotImplementedError, RuntimeError):  # Windows; not the main thread
                loop.add_signal_handler(signal.SIGTERM, terminate)
            return await func(*args, **kwargs)

        try:
            code = asyncio.run(stoppable())
        except asyncio.CancelledError:
            if not terminated:
                raise
            fail("stopped by SIGTERM (nothing half-written is kept; run it again to finish)")
            sys.exit(SIGTERM_EXIT)
        except BriefbotError as exc:
            fail(str(exc))
            sys.exit(1)
        except click.ClickException:  # usage errors: click prints them, exit status 2
            raise
        except KeyboardInterrupt:
            fail("interrupted")
            sys.exit(130)
        except Exception as exc:  # the user gets one line; the traceback goes to the log
            log.debug("unexpected error", exc_info=True)
            fail(f"unexpected {type(exc).__name__}: {exc} (run with -v for details)")
            sys.exit(1)
        sys.exit(code or 0)

    return wrapper


async def open_library(ctx: Context) -> Library:
    return await Library.open(ctx.settings())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML config file (default: ./briefbot.toml if present).",
)
@click.option(
    "--db",
    default=None,
    help="SQLAlchemy async database URL (else $BRIEFBOT_DATABASE_URL, else config).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log details (and tracebacks) to stderr.")
@click.version_option(package_name="briefbot")
@click.pass_context
def main(click_ctx: click.Context, config: str | None, db: str | None, verbose: bool) -> None:
    """briefbot: answers questions about negotiations with cited news passages."""
    try:  # until a command reads its config file: the environment's [logging]
        early = logging_from_env()
    except ConfigError:
        early = None  # the command's config load reports it
    logs.configure(early, verbose=verbose)
    if not verbose:
        # trafilatura logs every page it finds too short; our errors already say so.
        logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    click_ctx.obj = Context(config, db, verbose)


# --- ingest -------------------------------------------------------------------------


class _Bar:
    """A progress bar on a terminal; nothing when stderr is a file or pipe."""

    def __init__(self) -> None:
        self.bar: Any = None
        self._cm: AbstractContextManager[Any] = nullcontext()

    def start(self, total: int) -> None:
        if sys.stderr.isatty() and total > 1:
            self._cm = click.progressbar(
                length=total, label="ingesting", file=sys.stderr, show_pos=True, width=30
            )
            self.bar = self._cm.__enter__()

    def advance(self, units: int, label: str) -> None:
        if self.bar is not None:
            self.bar.update(units)

    def close(self) -> None:
        if self.bar is not None:
            self._cm.__exit__(None, None, None)
            self.bar = None


def report_summary(report: IngestReport) -> str:
    return (
        f"{len(report.added)} added, {len(report.unchanged)} unchanged, "
        f"{len(report.failed)} failed; {report.passages} passages in {report.seconds:.1f} s"
    )


def print_report(report: IngestReport) -> int:
    for what, why in report.failed:
        fail(f"{what}: {why}")
    click.echo(report_summary(report))
    return 1 if report.failed else 0


@main.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--guild", default=None, help="Make the sources visible to this guild only.")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Processes extracting files (HTML, PDF) and splitting passages.",
)
@click.pass_obj
@run_async
async def ingest(ctx: Context, sources: tuple[str, ...], guild: str | None, workers: int) -> int:
    """Add files, directories, article URLs, RSS/Atom feed URLs or BEIR corpus.jsonl files."""
    bar = _Bar()
    async with await open_library(ctx) as library:
        try:
            report = await library.ingest(
                list(sources),
                guild=guild,
                progress=bar.advance,
                on_plan=bar.start,
                workers=workers,
            )
        finally:
            bar.close()
    return print_report(report)


@main.command("extract")
@click.argument("sources", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per document.")
@click.pass_obj
@run_async
async def extract_command(ctx: Context, sources: tuple[str, ...], as_json: bool) -> int:
    """Show what ingest would extract from files, directories or URLs; stores nothing.

    Files may be gzip-compressed (story.html.gz); a feed URL shows each of its entries.
    """
    failed = 0
    async for item in preview(list(sources), ctx.settings()):
        if isinstance(item, tuple):
            failed += 1
            fail(f"{item[0]}: {item[1]}")
            continue
        if as_json:
            click.echo(json.dumps(render.extracted_json(item), ensure_ascii=False))
        else:
            click.echo(render.extracted_text(item))
    return 1 if failed else 0


# --- ask ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AskOptions:
    """How `ask` searches: the asking guild, result count and filters."""

    guild: str | None
    k: int | None
    since: date | None = None
    until: date | None = None
    source: str | None = None

    async def ask(self, library: Library, question: str) -> Answer:
        return await library.ask(
            question,
            guild=self.guild,
            k=self.k,
            since=self.since,
            until=self.until,
            source=self.source,
        )


def _day_option(name: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return parse_day(value, datetime.now(UTC).date(), what=f"--{name}")
    except BriefbotError as exc:
        raise click.BadParameter(str(exc).split(": ", 1)[1], param_hint=f"--{name}") from None


@main.command()
@click.argument("question", required=False)
@click.option("--guild", default=None, help="Answer as this guild (its sources and global ones).")
@click.option("-k", "k", type=click.IntRange(1, 1000), default=None, help="Passages to return.")
@click.option(
    "--since", default=None, help="Only sources published on or after: YYYY-MM-DD, 7d, 2w, 3m."
)
@click.option("--until", default=None, help="Only sources published on or before (same forms).")
@click.option("--source", default=None, help="Only this source id, or one publisher's sources.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--batch",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True),
    default=None,
    help='JSONL file of {"id", "question"}; prints one JSON object per line.',
)
@click.pass_obj
def ask(
    ctx: Context,
    question: str | None,
    guild: str | None,
    k: int | None,
    since: str | None,
    until: str | None,
    source: str | None,
    as_json: bool,
    batch: str | None,
) -> None:
    """Answer QUESTION with the top passages and their citations.

    Put words in double quotes to require that phrase in every answer.
    """
    if (question is None) == (batch is None):
        raise click.UsageError("give either a QUESTION or --batch FILE")
    options = AskOptions(guild, k, _day_option("since", since), _day_option("until", until), source)
    if batch is not None:
        _ask_batch(ctx, batch, options)
    else:
        assert question is not None
        _ask_one(ctx, question, options, as_json)


@run_async
async def _ask_one(ctx: Context, question: str, options: AskOptions, as_json: bool) -> int:
    async with await open_library(ctx) as library:
        answer = await options.ask(library, question)
    if as_json:
        click.echo(json.dumps(render.answer_json(answer), ensure_ascii=False))
    else:
        click.echo(render.answer_text(answer, ansi=sys.stdout.isatty()))
    return 0


@run_async
async def _ask_batch(ctx: Context, path: str, options: AskOptions) -> int:
    status = 0
    async with await open_library(ctx) as library:
        with click.open_file(path, encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                    if not isinstance(item, dict) or not isinstance(item.get("question"), str):
                        raise ValueError('expected an object with a "question" string')
                except ValueError as exc:
                    fail(f"{path} line {line_no}: {exc}")
                    status = 1
                    continue
                try:
                    answer = await options.ask(library, item["question"])
                except BriefbotError as exc:
                    fail(f"{path} line {line_no}: {exc}")
                    status = 1
                    continue
                out = {"id": item.get("id"), **render.answer_json(answer)}
                click.echo(json.dumps(out, ensure_ascii=False))
    return status


# --- brief --------------------------------------------------------------------------


@main.command()
@click.argument("topic", required=False)
@click.option(
    "--since",
    default=None,
    help="Articles published (or added) on or after: 1d, 7d (default), 2w, YYYY-MM-DD.",
)
@click.option("--source", default=None, help="Only this source id, or one publisher's sources.")
@click.option("--guild", default=None, help="Brief as this guild (its sources and global ones).")
@click.option("-k", "k", type=click.IntRange(1, 100), default=None, help="Stories (default 5).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def brief(
    ctx: Context,
    topic: str | None,
    since: str | None,
    source: str | None,
    guild: str | None,
    k: int | None,
    as_json: bool,
) -> None:
    """What happened since a day: one passage per story, newest stories first.

    With TOPIC, the stories about it (each with its best-matching passage); without, the
    latest stories (each with its lead). Copies of one wire story are one story citing
    every outlet.
    """
    _brief(ctx, topic, _day_option("since", since), source, guild, k, as_json)


@run_async
async def _brief(
    ctx: Context,
    topic: str | None,
    since: date | None,
    source: str | None,
    guild: str | None,
    k: int | None,
    as_json: bool,
) -> int:
    async with await open_library(ctx) as library:
        result = await library.brief(topic, guild=guild, since=since, source=source, k=k)
    if as_json:
        click.echo(json.dumps(render.brief_json(result), ensure_ascii=False))
    else:
        click.echo(render.brief_text(result, ansi=sys.stdout.isatty()))
    return 0


# --- sources ------------------------------------------------------------------------


@main.group()
def sources() -> None:
    """List, remove and refresh sources."""


@sources.command("list")
@click.option("--guild", default=None, help="Only what this guild sees (global and its own).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
@run_async
async def sources_list(ctx: Context, guild: str | None, as_json: bool) -> int:
    """List sources (all of them, or those a guild sees)."""
    async with await open_library(ctx) as library:
        items = await library.sources(guild, all_guilds=guild is None)
        feeds = await library.feeds(guild, all_guilds=guild is None)
    if as_json:
        out = render.sources_json(items)
        out["feeds"] = [
            {
                "id": f.id,
                "url": f.url,
                "title": f.title,
                "guild": f.guild,
                "added_at": render.iso(f.added_at),
                "last_checked": render.iso(f.last_checked),
                "last_success": render.iso(f.last_success),
                "last_error": f.last_error,
                "next_check": render.iso(f.next_check),
                "failures": f.failures,
                "interval": f.interval,
            }
            for f in feeds
        ]
        click.echo(json.dumps(out, ensure_ascii=False))
    else:
        click.echo(render.sources_text(items))
        for f in feeds:
            click.echo(render.feed_text(f))
    return 0


DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$", re.IGNORECASE)
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """90, 90s, 30m, 2h, 1d → seconds."""
    m = DURATION.match(text)
    if not m:
        raise click.BadParameter(f"{text!r} is not a duration: give e.g. 90s, 30m, 2h or 1d")
    return float(m[1]) * UNIT_SECONDS[(m[2] or "s").lower()]


@sources.command("interval")
@click.argument("feed_id")
@click.argument("every")
@click.pass_obj
@run_async
async def sources_interval(ctx: Context, feed_id: str, every: str) -> int:
    """How often `briefbot run` checks one feed: 30m, 2h, 1d, or `default` ([feeds] interval)."""
    seconds = None if every.strip().lower() == "default" else parse_duration(every)
    async with await open_library(ctx) as library:
        feed = await library.set_feed_interval(feed_id, seconds)
    click.echo(render.feed_text(feed))
    return 0


@sources.command("remove")
@click.argument("source_id")
@click.pass_obj
@run_async
async def sources_remove(ctx: Context, source_id: str) -> int:
    """Remove a source (and its passages) or a feed subscription."""
    async with await open_library(ctx) as library:
        kind = await library.remove(source_id)
    click.echo(f"removed {kind} {source_id}")
    return 0


@sources.command("refresh")
@click.argument("source_id", required=False)
@click.pass_obj
@run_async
async def sources_refresh(ctx: Context, source_id: str | None) -> int:
    """Re-fetch URL sources and feeds (all, or one); unchanged content is a no-op."""
    async with await open_library(ctx) as library:
        report = await library.refresh(source_id)
    return print_report(report)


@main.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
@run_async
async def backup(ctx: Context, path: Path) -> int:
    """Copy the live SQLite database to PATH, consistently (VACUUM INTO)."""
    async with await open_library(ctx) as library:
        sources, passages = await library.backup(path)
    size = path.stat().st_size / 1_000_000
    click.echo(f"backed up {sources} sources, {passages} passages to {path} ({size:.1f} MB)")
    return 0


# --- settings -----------------------------------------------------------------------


@main.command("settings")
@click.option("--guild", required=True, help="The Discord server id.")
@click.option("--mention-channels", default=None, help="all, or channel ids: ID,ID.")
@click.option("--reply", default=None, help="Answer mentions inline or in a thread.")
@click.option("--results", type=int, default=None, help="/ask passages per page (1-10).")
@click.option("--private/--public", "private", default=None, help="/ask answers' default.")
@click.option("--manager-role", default=None, help="Role (name or id) to manage sources, or none.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
@run_async
async def settings_command(
    ctx: Context,
    guild: str,
    mention_channels: str | None,
    reply: str | None,
    results: int | None,
    private: bool | None,
    manager_role: str | None,
    as_json: bool,
) -> int:
    """Show a guild's bot settings (/settings), changing those given first."""
    config = ctx.load()
    async with await Library.open(config.settings) as library:
        changes = (mention_channels, reply, results, private, manager_role)
        if all(change is None for change in changes):
            current = await library.guild_settings(guild)
        else:
            current = await library.set_guild_settings(
                guild,
                mention_channels=mention_channels,
                reply=reply,
                results=results,
                private=private,
                manager_role=manager_role,
                updated_by="cli",
            )
    data = settings_json(current, config.discord.results, config.discord.admin_role)
    if as_json:
        click.echo(json.dumps(data))
        return 0
    channels = data["mention_channels"]
    from_config = data["from_config"]
    lines = [
        f"guild {data['guild']}",
        f"mention channels: {channels if channels == 'all' else ', '.join(channels)}",
        f"reply: {data['reply']}",
        f"results: {data['results']}" + (" (config default)" if "results" in from_config else ""),
        f"private: {'yes' if data['private'] else 'no'}",
        f"manager role: {data['manager_role'] or 'none'}"
        + (" (config default)" if "manager_role" in from_config else ""),
        f"updated: {data['updated_at'] or 'never'}"
        + (f" by {data['updated_by']}" if data["updated_by"] else ""),
    ]
    click.echo("\n".join(lines))
    return 0


def settings_json(settings: GuildSettings, results: int, admin_role: str) -> dict[str, Any]:
    """`briefbot settings --json`: the values in force, and which come from the config."""
    return {
        "guild": settings.guild,
        "mention_channels": list(settings.mention_channels) if settings.mention_channels else "all",
        "reply": settings.reply,
        "results": settings.results or results,
        "private": settings.private,
        "manager_role": settings.manager_role or admin_role or None,
        "from_config": [
            name
            for name, unset in (
                ("results", settings.results is None),
                ("manager_role", settings.manager_role is None),
            )
            if unset
        ],
        "updated_at": settings.updated_at.isoformat() if settings.updated_at else None,
        "updated_by": settings.updated_by,
    }


# --- stats and hidden items -----------------------------------------------------------


@main.command("stats")
@click.option("--guild", required=True, help="The Discord server id.")
@click.option(
    "--days", type=click.IntRange(1, 3650), default=30, show_default=True, help="How far back."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
@run_async
async def stats_command(ctx: Context, guild: str, days: int, as_json: bool) -> int:
    """A guild's questions, unanswered questions, top sources, votes and hidden items (/stats)."""
    async with await open_library(ctx) as library:
        stats = await library.stats(guild, since=datetime.now(UTC) - timedelta(days=days))
    click.echo(json.dumps(render.stats_json(stats)) if as_json else render.stats_text(stats))
    return 0


def _hidden_target(item: str) -> tuple[str, str]:
    try:
        return parse_item(item)
    except BriefbotError as exc:
        raise click.BadParameter(str(exc), param_hint="ITEM") from None


@main.command()
@click.argument("item")
@click.option("--guild", required=True, help="The Discord server id.")
@click.pass_obj
@run_async
async def hide(ctx: Context, item: str, guild: str) -> int:
    """Hide ITEM (passage:ID or source:ID) from one guild's answers and briefs."""
    kind, target = _hidden_target(item)
    async with await open_library(ctx) as library:
        hidden = await library.hide(kind, target, guild=guild, by="cli")
    click.echo(f"hidden from guild {guild}:" + render.hidden_text(hidden)[1:])
    return 0


@main.command()
@click.argument("item")
@click.option("--guild", required=True, help="The Discord server id.")
@click.pass_obj
@run_async
async def unhide(ctx: Context, item: str, guild: str) -> int:
    """Show ITEM (passage:ID or source:ID) in one guild's answers again."""
    kind, target = _hidden_target(item)
    async with await open_library(ctx) as library:
        shown = await library.unhide(kind, target, guild=guild)
    if not shown:
        fail(f"{kind} {target} is not hidden in guild {guild}")
        return 1
    click.echo(f"{kind} {target} shows in guild {guild}'s answers again")
    return 0


# --- eval ---------------------------------------------------------------------------


def _search_overrides(settings: Settings, pairs: tuple[str, ...]) -> Settings:
    """`--set key=value` over [search]: one eval run per setting, no config file needed."""
    search = settings.search
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip().removeprefix("search.")
        if not sep or key not in {f.name for f in fields(search)}:
            names = ", ".join(f.name for f in fields(search))
            raise click.BadParameter(f"{pair!r}: expected KEY=VALUE with KEY one of {names}")
        kind = type(getattr(search, key))
        try:
            value = _parse_setting(kind, raw.strip())
        except ValueError:
            raise click.BadParameter(f"{pair!r}: {key} takes a {kind.__name__}") from None
        search = replace(search, **{key: value})
    return replace(settings, search=search)


def _parse_setting(kind: type, raw: str) -> Any:
    """`bool("false")` is True, so booleans are spelled out; numbers parse as their type."""
    if kind is bool:
        lowered = raw.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(raw)
    return kind(raw)


@contextmanager
def _eval_settings(ctx: Context, db: str | None, overrides: tuple[str, ...]) -> Iterator[Settings]:
    """The database to evaluate in: the one given, else a fresh temporary SQLite file.

    The environment's BRIEFBOT_DATABASE_URL is not used: an eval must not fill a
    production database with benchmark documents.
    """
    url = db or ctx.db
    with tempfile.TemporaryDirectory(prefix="briefbot-eval-") as tmp:
        settings = load_settings(ctx.config, url or f"sqlite+aiosqlite:///{tmp}/eval.db")
        yield _search_overrides(settings, overrides)


_eval_options = [
    click.option(
        "--db",
        "db",
        default=None,
        help="Evaluate in this database (kept) instead of a temporary one.",
    ),
    click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a [search] setting for this run (repeatable).",
    ),
    click.option("--json", "as_json", is_flag=True, help="Print one JSON object."),
]


def eval_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_eval_options):
        func = option(func)
    return func


@main.group("eval")
def eval_group() -> None:
    """Measure answer quality: BEIR datasets and question/answer-term sets."""


@eval_group.command("beir")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--split", default="test", show_default=True, help="qrels/<split>.tsv to score.")
@click.option(
    "-k",
    "k",
    type=click.IntRange(10, 1000),
    default=100,
    show_default=True,
    help="Documents ranked per query.",
)
@eval_options
@click.pass_obj
@run_async
async def eval_beir(
    ctx: Context,
    directory: str,
    split: str,
    k: int,
    db: str | None,
    overrides: tuple[str, ...],
    as_json: bool,
) -> int:
    """Ingest a BEIR dataset and print nDCG@10, MRR@10, recall@10 and recall@100."""
    dataset = evaluate.load_beir(directory, split)
    bar = _Bar()
    with _eval_settings(ctx, db, overrides) as settings:
        async with await Library.open(settings) as library:
            bar.start(len(dataset.queries))
            try:
                result = await evaluate.run_beir(
                    library,
                    dataset,
                    name=directory,
                    split=split,
                    k=k,
                    progress=bar.advance,
                )
            finally:
                bar.close()
    for what, why in result.failed:
        fail(f"{what}: {why}")
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False))
        return 0
    click.echo(
        f"{directory} ({split}): {result.queries} queries, {result.documents:,} documents, "
        f"{result.passages:,} passages, top {k}"
    )
    for name, value in result.metrics.items():
        click.echo(f"  {name:<11} {value:.4f}")
    per_query = 1000 * result.search_seconds / max(result.queries, 1)
    click.echo(
        f"ingest {result.ingest_seconds:.1f} s, search {result.search_seconds:.1f} s "
        f"({per_query:.1f} ms per query)"
    )
    return 0


@eval_group.command("qa")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--corpus", multiple=True, help="File, directory or URL to ingest first (repeatable)."
)
@click.option(
    "-k",
    "k",
    type=click.IntRange(5, 100),
    default=10,
    show_default=True,
    help="Passages ranked per question.",
)
@click.option("--guild", default=None, help="Ask as this guild.")
@eval_options
@click.pass_obj
@run_async
async def eval_qa(
    ctx: Context,
    file: str,
    corpus: tuple[str, ...],
    k: int,
    guild: str | None,
    db: str | None,
    overrides: tuple[str, ...],
    as_json: bool,
) -> int:
    """Ask every {"q", "answer_terms"} of FILE; print recall@1, recall@5 and MRR.

    A passage answers when it holds all the answer terms (whole words, any case).
    """
    items = evaluate.load_qa(file)
    if not corpus and not (db or ctx.db):
        raise click.UsageError("give --corpus PATH (to ingest) or --db URL (already ingested)")
    with _eval_settings(ctx, db, overrides) as settings:
        async with await Library.open(settings) as library:
            if corpus:
                report = await library.ingest(list(corpus))
                for what, why in report.failed:
                    fail(f"{what}: {why}")
            result = await evaluate.run_qa(library, items, k=k, guild=guild)
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False))
        return 0
    for outcome in result.outcomes:
        where = f"rank {outcome.rank}" if outcome.rank else f"not in top {k}"
        click.echo(f"{where:>14}  {outcome.item.question}")
    click.echo(f"{len(result.outcomes)} questions")
    for name, value in result.metrics.items():
        click.echo(f"  {name:<9} {value:.4f}")
    return 0


# --- doctor -------------------------------------------------------------------------


@main.command()
@click.option("--offline", is_flag=True, help="Do not contact Discord (that check is skipped).")
@click.pass_obj
@run_async
async def doctor(ctx: Context, offline: bool) -> int:
    """Check the config, token, database, migrations, index and Discord; one line each.

    Exit status 0 when nothing failed, else 1. Changes nothing: the database is only read.
    """
    from bot.doctor import FAIL, checks

    failed = False
    async for check in checks(ctx.config, ctx.db, offline=offline):
        click.echo(check.line())
        failed = failed or check.status == FAIL
    return 1 if failed else 0


# --- run ----------------------------------------------------------------------------


@main.command()
@click.pass_obj
@run_async
async def run(ctx: Context) -> int:
    """Run the Discord bot (token from $BRIEFBOT_DISCORD_TOKEN or [discord] token)."""
    from bot.client import run_bot  # discord.py loads only for this command

    await run_bot(ctx.load(default_level=logging.INFO))
    return 0


if __name__ == "__main__":
    main()
