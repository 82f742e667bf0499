"""Prometheus metrics: `briefbot run` with a metrics port, scraped before and after it
answers questions, adds sources and meets a broken feed."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot import logs
from bot.config import MetricsSettings, load_config
from bot.metrics import Metrics, question_source
from index.types import IngestReport
from tests.bot.test_config import assert_refused
from tests.bot.test_discord import (
    ADMIN,
    FIXTURES,
    GUILD_A,
    KESTREL,
    MIAMI,
    add_guilds,
    make_fake,
    seed,
    start_bot,
    stop_bot,
)
from tests.conftest import LoopbackServer

ASKER = 1300000000000000701
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(port: int) -> tuple[str, Samples]:
    def get() -> tuple[str, str]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            return response.headers["Content-Type"], response.read().decode()

    content_type, text = await asyncio.to_thread(get)  # the fake Discord keeps serving
    assert content_type.startswith("text/plain; version=0.0.4")
    return text, parse(text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.mark.parametrize(
    ("command", "source"), [("ask", "slash"), ("mention", "mention"), (None, "resume")]
)
def test_a_questions_source_comes_from_the_log_context(command: str | None, source: str) -> None:
    """/ask is slash, a mention is mention, no event at all is a resumed job."""
    with logs.context(command=command):
        assert question_source() == source


def test_other_commands_are_not_questions() -> None:
    with logs.context(command="brief"):
        assert question_source() is None


def test_every_series_starts_at_zero() -> None:
    """Questions, latency and ingestion series exist before anything happened."""
    samples = parse(Metrics("1.2.3").exposition().decode())
    assert value(samples, "briefbot_questions_total", source="mention", outcome="throttled") == 0
    assert ("briefbot_answer_seconds_count", frozenset({("source", "slash")})) in samples
    assert value(samples, "briefbot_ingest_sources_total", via="feeds", outcome="failed") == 0
    assert value(samples, "briefbot_info", version="1.2.3") == 1


def test_feed_failures_count_as_feed_errors() -> None:
    """A failed input that is a feed's URL is a feed error; its entries are not."""
    metrics = Metrics()
    report = IngestReport(failed=[("http://x/feed.xml", "500"), ("http://x/entry.html", "404")])
    metrics.ingest("refresh", report, {"http://x/feed.xml"})
    samples = parse(metrics.exposition().decode())
    assert value(samples, "briefbot_feed_errors_total") == 1
    assert value(samples, "briefbot_ingest_sources_total", via="refresh", outcome="failed") == 2


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ("[metrics]\nport = 70000\n", {}, "[metrics] port must be 0 (off) to 65535"),
        ('[metrics]\nport = "9100"\n', {}, "[metrics] port must be int"),
        ("", {"BRIEFBOT_METRICS_PORT": "ninety"}, "BRIEFBOT_METRICS_PORT must be a port"),
    ],
)
def test_bad_metrics_settings_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toml: str, env: dict[str, str], message: str
) -> None:
    for key, val in env.items():
        monkeypatch.setenv(key, val)
    assert_refused(tmp_path, toml, message)


def test_metrics_are_off_unless_a_port_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Port 0 by default, on 127.0.0.1; the environment sets both."""
    assert load_config().metrics == MetricsSettings(0, "127.0.0.1")
    monkeypatch.setenv("BRIEFBOT_METRICS_PORT", "9100")
    monkeypatch.setenv("BRIEFBOT_METRICS_HOST", "0.0.0.0")
    assert load_config().metrics == MetricsSettings(9100, "0.0.0.0")


@pytest.mark.asyncio
async def test_questions_ingestion_and_feed_errors_move_the_counters(tmp_path: Path) -> None:
    """Answered, unanswered and invalid /asks, a mention, an added and a failed URL and a
    feed that breaks: each moves its counter; the latency histogram and gauges follow."""
    web = LoopbackServer()
    web.start()
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'briefbot.db'}"
    await seed(db_url)
    fake = make_fake()
    add_guilds(fake)
    fake.add_member(GUILD_A, ASKER, "asker")
    await fake.start()
    port = free_port()
    process, log = await start_bot(fake, tmp_path, db_url, {"BRIEFBOT_METRICS_PORT": str(port)})
    try:
        text, before = await scrape(port)
        assert "process_resident_memory_bytes" in text
        assert value(before, "briefbot_index_passages") > 0

        async def ask(question: str, **options: str) -> None:
            it = await fake.slash(
                "ask", {"question": question, **options}, guild_id=GUILD_A, user_id=ASKER
            )
            await it.wait_message(timeout=30)

        await ask(MIAMI)
        await ask("zzyzx qwertyuiop")
        await ask(MIAMI, source="Nobody Press")  # the library refuses it
        message = await fake.post_message(MIAMI, guild_id=GUILD_A, author_id=ASKER)
        await fake.wait_reply(message["id"], timeout=30)

        async def add(url: str, done: str) -> None:
            it = await fake.slash("source add", {"url": url}, guild_id=GUILD_A, user_id=ADMIN)
            await fake.wait_for(lambda: done in (it.original or {}).get("content", ""), timeout=30)

        article = (FIXTURES / "agency-article.html").read_bytes()
        web.route("/story.html", article, content_type="text/html")
        web.route("/gone.html", b"no", status=404)
        web.route("/kestrel.html", KESTREL, content_type="text/html")
        web.route(
            "/kestrel.xml",
            "<?xml version='1.0'?><rss version='2.0'><channel><title>Kestrel Gazette</title>"
            f"<item><title>Kestrel ferry talks</title><link>{web.url('/kestrel.html')}</link>"
            "</item></channel></rss>",
            content_type="application/rss+xml",
        )
        await add(web.url("/story.html"), "Added")
        await add(web.url("/gone.html"), "Could not add")
        await add(web.url("/kestrel.xml"), "Added")
        web.route("/kestrel.xml", b"broken", status=500)
        it = await fake.slash("source refresh", {}, guild_id=GUILD_A, user_id=ADMIN)
        await fake.wait_for(
            lambda: "Refreshed" in (it.original or {}).get("content", ""), timeout=30
        )
        _, after = await scrape(port)
    finally:
        code = stop_bot(process)
        await fake.close()
        web.stop()
    assert code == 0, log.read_text()[-3000:]

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    questions = "briefbot_questions_total"
    assert moved(questions, source="slash", outcome="answered") == 1
    assert moved(questions, source="slash", outcome="no_match") == 1
    assert moved(questions, source="slash", outcome="invalid") == 1
    assert moved(questions, source="mention", outcome="answered") == 1
    assert moved("briefbot_answer_seconds_count", source="slash") == 2
    assert moved("briefbot_answer_seconds_count", source="mention") == 1
    assert 0 < moved("briefbot_answer_seconds_sum", source="slash") < 10
    ingest = "briefbot_ingest_sources_total"
    assert moved(ingest, via="add", outcome="added") == 2  # the story and the feed's entry
    assert moved(ingest, via="add", outcome="failed") == 1
    assert moved("briefbot_ingest_passages_total", via="add") > 0
    assert moved(ingest, via="refresh", outcome="failed") >= 1
    assert moved("briefbot_feed_errors_total") >= 1
    assert value(after, "briefbot_feeds_failing") == 1
    assert value(after, "briefbot_index_passages") > value(before, "briefbot_index_passages")
    assert fake.violations == []
