"""Prometheus metrics of `briefbot run`, served at http://[metrics] host:port/metrics.

Counted where the work happens without the cogs knowing: questions, ingestion and feed
checks through `MeteredLibrary` (the library `run_bot` opens), refused questions through
`CountedCooldowns`. Whether a question came from `/ask` or a mention is read from the
log context (`bot.logs`), which the gateway sets for every event.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any, cast

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import choose_encoder

from bot import logs
from bot.config import ConfigError, MetricsSettings
from bot.views import Cooldowns, Throttled
from index import Library
from index.errors import BriefbotError
from index.settings import Settings
from index.types import Answer, IngestReport

log = logging.getLogger(__name__)

SOURCES = ("slash", "mention", "resume")  # where a question came from
OUTCOMES = ("answered", "no_match", "invalid", "error", "throttled")
INGEST_VIA = ("add", "refresh", "feeds")  # /source add (or upload), /source refresh, polling
INGEST_OUTCOMES = ("added", "unchanged", "failed")
# Seconds; an answer is ~10 ms on a quiet index and ~2 s when 50 askers queue (README).
ANSWER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_COMMAND_SOURCES = {"ask": "slash", "mention": "mention"}


def question_source() -> str | None:
    """slash, mention, or resume (a question a previous process owed: no event context).

    None for other commands that ask the library (they are not questions a user typed).
    """
    command = logs.current().get("command")
    if command is None:
        return "resume"
    return _COMMAND_SOURCES.get(str(command))


class Metrics:
    """briefbot's metrics in a registry of their own (plus the process's CPU and memory)."""

    def __init__(self, version: str = "unknown") -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        Info("briefbot", "The running briefbot", registry=registry).info({"version": version})
        self.questions = Counter(
            "briefbot_questions",
            "Questions asked by /ask (slash) or a mention, or owed by a previous process "
            "(resume), by outcome",
            ["source", "outcome"],
            registry=registry,
        )
        self.answer_seconds = Histogram(
            "briefbot_answer_seconds",
            "Seconds from a question's arrival to its answer being ready to post",
            ["source"],
            buckets=ANSWER_BUCKETS,
            registry=registry,
        )
        self.ingested = Counter(
            "briefbot_ingest_sources",
            "Sources this process ingested, by how (add, refresh, feeds) and outcome",
            ["via", "outcome"],
            registry=registry,
        )
        self.ingested_passages = Counter(
            "briefbot_ingest_passages",
            "Passages of the sources this process added",
            ["via"],
            registry=registry,
        )
        self.feed_errors = Counter(
            "briefbot_feed_errors",
            "Feed checks by this process that failed (fetch or parse)",
            registry=registry,
        )
        self.feeds_failing = Gauge(
            "briefbot_feeds_failing",
            "Feeds whose last check failed (any process)",
            registry=registry,
        )
        self.index_passages = Gauge(
            "briefbot_index_passages", "Passages in this process's index", registry=registry
        )
        self.gateway_latency = Gauge(
            "briefbot_gateway_latency_seconds",
            "Discord gateway heartbeat latency (NaN before the first heartbeat)",
            registry=registry,
        )
        # Every series exists from the start at 0, so rate() and alerts see the first one.
        for source in SOURCES:
            self.answer_seconds.labels(source)
            for outcome in OUTCOMES:
                self.questions.labels(source, outcome)
        for via in INGEST_VIA:
            self.ingested_passages.labels(via)
            for outcome in INGEST_OUTCOMES:
                self.ingested.labels(via, outcome)

    def question(self, source: str, outcome: str, seconds: float | None = None) -> None:
        self.questions.labels(source, outcome).inc()
        if seconds is not None:
            self.answer_seconds.labels(source).observe(seconds)

    def ingest(self, via: str, report: IngestReport, feed_urls: Collection[str] = ()) -> None:
        """Counts a report; its failures whose input is a feed's URL are feed errors too."""
        self.ingested.labels(via, "added").inc(len(report.added))
        self.ingested.labels(via, "unchanged").inc(len(report.unchanged))
        self.ingested.labels(via, "failed").inc(len(report.failed))
        self.ingested_passages.labels(via).inc(report.passages)
        self.feed_errors.inc(sum(1 for ref, _ in report.failed if ref in feed_urls))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MeteredLibrary(Library):
    """The library `briefbot run` uses: every question, ingest and feed check is counted."""

    metrics: Metrics | None = None

    @classmethod
    async def open_metered(cls, settings: Settings, metrics: Metrics) -> MeteredLibrary:
        library = cast(MeteredLibrary, await cls.open(settings))
        library.metrics = metrics
        return library

    async def ask(self, question: str, **options: Any) -> Answer:
        source = question_source() if self.metrics is not None else None
        if source is None or self.metrics is None:
            return await super().ask(question, **options)
        # From the event's arrival when known (time queued behind other work counts).
        started = logs.current().get("started") or time.monotonic()
        try:
            answer = await super().ask(question, **options)
        except BriefbotError:  # a bad filter or day: the asker is told what was wrong
            self.metrics.question(source, "invalid")
            raise
        except Exception:
            self.metrics.question(source, "error")
            raise
        outcome = "answered" if answer.hits else "no_match"
        self.metrics.question(source, outcome, time.monotonic() - started)
        return answer

    async def ingest(self, inputs: Any, **options: Any) -> IngestReport:
        report = await super().ingest(inputs, **options)
        if self.metrics is not None:
            self.metrics.ingest("add", report, await self._feed_urls())
        return report

    async def ingest_bytes(self, body: bytes, **options: Any) -> IngestReport:
        report = await super().ingest_bytes(body, **options)
        if self.metrics is not None:
            self.metrics.ingest("add", report)
        return report

    async def refresh(self, *args: Any, **options: Any) -> IngestReport:
        report = await super().refresh(*args, **options)
        if self.metrics is not None:
            self.metrics.ingest("refresh", report, await self._feed_urls())
        return report

    async def poll_feeds(self, *args: Any, **options: Any) -> IngestReport:
        report: IngestReport = await super().poll_feeds(*args, **options)
        if self.metrics is not None:
            self.metrics.ingest("feeds", report, await self._feed_urls())
        return report

    async def _feed_urls(self) -> set[str]:
        return {feed.url for feed in await self.feeds(None, all_guilds=True)}


class CountedCooldowns(Cooldowns):
    """Cooldowns that count each refused question as outcome `throttled`."""

    def __init__(self, metrics: Metrics, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.metrics = metrics

    def hit(
        self, user_id: int, guild_id: int | None = None, now: float | None = None
    ) -> Throttled | None:
        throttled = super().hit(user_id, guild_id, now)
        source = question_source()
        if throttled is not None and source is not None:
            self.metrics.question(source, "throttled")
        return throttled


class MetricsServer:
    """`GET /metrics` on [metrics] host:port, served by the bot's own event loop.

    Gauges read from the database and the client are refreshed at each scrape.
    """

    def __init__(
        self,
        metrics: Metrics,
        settings: MetricsSettings,
        refresh: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.metrics = metrics
        self.settings = settings
        self.refresh = refresh
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._serve)
        app.router.add_get("/", self._serve)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.host, self.settings.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            where = f"{self.settings.host}:{self.settings.port}"
            raise ConfigError(
                f"[metrics] cannot listen on {where}: {exc.strerror or exc}"
            ) from None
        self._runner = runner
        log.info("metrics: serving http://%s:%d/metrics", self.settings.host, self.settings.port)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _serve(self, request: web.Request) -> web.Response:
        if self.refresh is not None:
            try:
                await self.refresh()
            except Exception as exc:  # a scrape still gets the counters
                log.warning("metrics: could not refresh the gauges: %s", logs.one_line(exc))
        # The format the scraper asks for: OpenMetrics, else Prometheus text 0.0.4.
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(
            body=encode(self.metrics.registry), headers={"Content-Type": content_type}
        )


def gauges(
    metrics: Metrics, library: Library, latency: Callable[[], float]
) -> Callable[[], Awaitable[None]]:
    """The scrape-time refresh: index size, failing feeds, gateway latency."""

    async def refresh() -> None:
        metrics.index_passages.set(len(library.index))
        value = latency()
        metrics.gateway_latency.set(value if math.isfinite(value) else math.nan)
        feeds = await library.feeds(None, all_guilds=True)
        metrics.feeds_failing.set(sum(1 for feed in feeds if feed.last_error))

    return refresh
