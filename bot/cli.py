"""The `briefbot` command line: a thin caller of index.Library."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from bot import render
from bot.config import load_config, load_settings
from index import evaluate
from index.dates import parse_day
from index.errors import BriefbotError
from index.library import Library, preview
from index.settings import Settings
from index.types import Answer, IngestReport

T = TypeVar("T")
log = logging.getLogger("briefbot")


@dataclass(frozen=True, slots=True)
class Context:
    config: str | None
    db: str | None

    def settings(self) -> Settings:
        return load_settings(self.config, self.db)


def fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)


def run_async(func: Callable[..., Awaitable[int | None]]) -> Callable[..., None]:
    """Runs a command coroutine; our errors become one `error:` line and exit 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            code = asyncio.run(func(*args, **kwargs))
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
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not verbose:
        # trafilatura logs every page it finds too short; our errors already say so.
        logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    click_ctx.obj = Context(config, db)


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
            }
            for f in feeds
        ]
        click.echo(json.dumps(out, ensure_ascii=False))
    else:
        click.echo(render.sources_text(items))
        for f in feeds:
            scope = f"guild {f.guild}" if f.guild else "global"
            title = f"{f.title} " if f.title else ""
            click.echo(f"{f.id}  feed  {scope}  {title}{f.url}")
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


# --- run ----------------------------------------------------------------------------


@main.command()
@click.pass_obj
@run_async
async def run(ctx: Context) -> int:
    """Run the Discord bot (token from $BRIEFBOT_DISCORD_TOKEN or [discord] token)."""
    from bot.client import run_bot  # discord.py loads only for this command

    if logging.getLogger().level > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)
    await run_bot(load_config(ctx.config, ctx.db))
    return 0


if __name__ == "__main__":
    main()
