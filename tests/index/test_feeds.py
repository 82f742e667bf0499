"""Feeds that stay fresh: a loopback feed server whose feed changes between polls.

`Library.poll_feeds(now=…)` runs on the test's clock, so "31 minutes later" takes no time.
The server honours conditional GETs like a real one (ETag → 304) and counts requests.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta
from pathlib import Path

import pytest

from index import Library, Settings
from index.settings import FeedSettings, FetchSettings, IndexSettings

ALLOW = FetchSettings(allow_private_networks=True)

STORIES = {
    "Geneva": (
        "Negotiators met in Geneva on Saturday for a third round of talks on prisoner "
        "exchanges. The Swiss mediator said both delegations brought lists of names and "
        "agreed to swap the wounded first. A second session on Sunday will cover civilians "
        "held since the spring, officials said, and the Red Cross will verify each release."
    ),
    "Istanbul": (
        "Turkish officials hosted a grain corridor meeting in Istanbul, where shipping "
        "insurers asked for guarantees for vessels leaving Odesa. The ministers discussed "
        "mine clearance, inspection times at the Bosphorus and a joint coordination centre, "
        "and promised a written framework before the end of the month."
    ),
    "Doha": (
        "In Doha, Qatari mediators brokered the return of eleven children separated from "
        "their families. The envoy thanked both sides and said further reunifications were "
        "planned, while aid groups pressed for access to detention sites near the front line "
        "and for a list of those still missing."
    ),
}


def page(title: str, city: str, *, canonical: str | None = None, date: str = "2025-12-21") -> str:
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    first, _, rest = STORIES[city].partition(". ")
    return (
        f"<!doctype html><html><head><title>{title}</title>{link}"
        f'<meta property="article:published_time" content="{date}"></head><body><article>'
        f"<h1>{title}</h1><p>{first}.</p><p>{rest}</p></article></body></html>"
    )


class FeedServer:
    """A feed at /feed whose entries the test sets; ETag and If-None-Match as on the web."""

    def __init__(self, http_server) -> None:
        self.http = http_server
        self.links: list[str] = []
        self.status = 200
        self.not_modified = 0
        http_server.handle("/feed", self._feed)

    def body(self) -> str:
        items = "".join(
            f"<item><title>{path.strip('/')}</title><link>{self.http.url(path)}</link></item>"
            for path in self.links
        )
        return (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Desk</title>'
            f"<link>{self.http.url('/')}</link>{items}</channel></rss>"
        )

    def _feed(self, request):
        Reply = self.http.Reply
        if self.status != 200:
            return Reply(status=self.status, body=b"down", content_type="text/plain")
        body = self.body()
        etag = '"' + hashlib.sha1(body.encode()).hexdigest()[:16] + '"'
        if request.headers.get("if-none-match") == etag:
            self.not_modified += 1
            return Reply(status=304, body=b"", headers={"ETag": etag}, content_type=None)
        return Reply(body=body, headers={"ETag": etag}, content_type="application/rss+xml")


def library_settings(tmp_path: Path, **feeds: float) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'feeds.db'}",
        fetch=ALLOW,
        feeds=FeedSettings(**feeds),
        index=IndexSettings(path=""),
    )


async def test_a_feed_is_polled_on_schedule_fetching_only_new_entries(tmp_path, http_server):
    feed = FeedServer(http_server)
    for city in ("Geneva", "Istanbul", "Doha"):
        http_server.route(f"/{city}", page(f"Talks in {city}", city), content_type="text/html")
    feed.links = ["/Geneva", "/Istanbul"]
    async with await Library.open(library_settings(tmp_path)) as library:
        first = await library.ingest([http_server.url("/feed")])
        assert len(first.added) == 2 and not first.failed
        (info,) = await library.feeds()
        assert info.next_check is not None and info.last_success is not None
        due = info.next_check

        early = await library.poll_feeds(now=due - timedelta(minutes=1))
        assert not early.added and not early.unchanged
        assert http_server.hits("/feed") == 1  # not due: not asked

        same = await library.poll_feeds(now=due)
        assert not same.added and feed.not_modified == 1  # 304 honoured: nothing refetched
        assert http_server.hits("/Geneva") == 1 and http_server.hits("/Istanbul") == 1

        feed.links = ["/Doha", "/Geneva", "/Istanbul"]
        (info,) = await library.feeds()
        later = await library.poll_feeds(now=info.next_check)
        assert len(later.added) == 1 and not later.failed
        assert http_server.hits("/Doha") == 1
        assert http_server.hits("/Geneva") == 1 and http_server.hits("/Istanbul") == 1
        answer = await library.ask("talks in Doha")
        assert answer.hits[0].source.title == "Talks in Doha"
        (info,) = await library.feeds()
        assert info.last_success == info.last_checked and info.failures == 0
        assert info.next_check - info.last_checked == timedelta(seconds=1800)
    assert http_server.hits("/feed") == 3


async def test_failures_back_off_and_show_until_the_feed_recovers(tmp_path, http_server):
    feed = FeedServer(http_server)
    http_server.route("/Geneva", page("Talks in Geneva", "Geneva"), content_type="text/html")
    feed.links = ["/Geneva"]
    async with await Library.open(library_settings(tmp_path, interval=600)) as library:
        await library.ingest([http_server.url("/feed")])
        feed.status = 503
        waits = []
        for _ in range(3):
            (info,) = await library.feeds()
            report = await library.poll_feeds(now=info.next_check)
            assert report.failed and "HTTP 503" in report.failed[0][1]
            (after,) = await library.feeds()
            waits.append((after.next_check - info.next_check).total_seconds())
        assert waits == [1200, 2400, 4800]  # interval × 2^failures
        assert after.failures == 3 and "HTTP 503" in (after.last_error or "")
        assert after.last_success is not None and after.last_success < after.last_checked
        feed.status = 200
        await library.poll_feeds(now=after.next_check)
        (healed,) = await library.feeds()
        assert healed.failures == 0 and healed.last_error is None
        assert healed.last_success == healed.last_checked


async def test_back_off_stops_at_max_backoff(tmp_path, http_server):
    feed = FeedServer(http_server)
    feed.status = 500
    settings = library_settings(tmp_path, interval=600, max_backoff=3000)
    async with await Library.open(settings) as library:
        await library.ingest([http_server.url("/feed")])  # fails: no feed stored
        assert not await library.feeds()
        feed.status = 200
        http_server.route("/Geneva", page("Talks in Geneva", "Geneva"), content_type="text/html")
        feed.links = ["/Geneva"]
        await library.ingest([http_server.url("/feed")])
        feed.status = 500
        for _ in range(4):
            (info,) = await library.feeds()
            await library.poll_feeds(now=info.next_check)
        (info,) = await library.feeds()
        assert (info.next_check - info.last_checked).total_seconds() == 3000


async def test_a_story_reposted_under_a_new_url_or_date_is_not_a_new_source(tmp_path, http_server):
    """Same canonical URL, or the same text re-dated or lightly edited: not stored again;
    a different story is."""
    feed = FeedServer(http_server)
    canonical = "https://news.example/2025/12/21/talks-in-geneva"
    http_server.route(
        "/geneva", page("Talks in Geneva", "Geneva", canonical=canonical), content_type="text/html"
    )
    feed.links = ["/geneva"]
    async with await Library.open(library_settings(tmp_path)) as library:
        assert len((await library.ingest([http_server.url("/feed")])).added) == 1
        http_server.route(
            "/geneva-updated",
            page("Talks in Geneva (updated)", "Geneva", canonical=canonical + "?utm_source=rss"),
            content_type="text/html",
        )
        http_server.route(
            "/geneva-redated",
            page("Talks in Geneva", "Geneva", date="2025-12-22"),
            content_type="text/html",
        )
        edited = page("Talks in Geneva", "Geneva").replace("third round", "3rd round", 1)
        http_server.route("/geneva-edited", edited, content_type="text/html")
        http_server.route("/doha", page("Talks in Doha", "Doha"), content_type="text/html")
        # A templated story: the same words but one name, under its own headline: kept.
        vienna = page("Talks in Vienna", "Geneva").replace("Geneva", "Vienna")
        http_server.route("/vienna", vienna, content_type="text/html")
        feed.links = [
            "/doha",
            "/vienna",
            "/geneva-edited",
            "/geneva-redated",
            "/geneva-updated",
            "/geneva",
        ]
        (info,) = await library.feeds()
        report = await library.poll_feeds(now=info.next_check)
        assert not report.failed
        titles = sorted(s.title for s in await library.sources())
        assert titles == ["Talks in Doha", "Talks in Geneva", "Talks in Vienna"], titles
        assert len(report.added) == 2  # Doha and Vienna; the three re-posts are unchanged
        assert len(report.unchanged) >= 3


async def test_two_processes_polling_check_each_feed_once(tmp_path, http_server):
    feed = FeedServer(http_server)
    http_server.route("/Geneva", page("Talks in Geneva", "Geneva"), content_type="text/html")
    feed.links = ["/Geneva"]
    settings = library_settings(tmp_path)
    async with await Library.open(settings) as one, await Library.open(settings) as two:
        await one.ingest([http_server.url("/feed")])
        (info,) = await one.feeds()
        await asyncio.gather(
            one.poll_feeds(now=info.next_check), two.poll_feeds(now=info.next_check)
        )
    assert http_server.hits("/feed") == 2  # the ingest, then one poll between the two


async def test_a_feed_interval_of_its_own(tmp_path, http_server):
    feed = FeedServer(http_server)
    http_server.route("/Geneva", page("Talks in Geneva", "Geneva"), content_type="text/html")
    feed.links = ["/Geneva"]
    async with await Library.open(library_settings(tmp_path)) as library:
        await library.ingest([http_server.url("/feed")])
        (info,) = await library.feeds()
        assert info.next_check - info.last_checked == timedelta(seconds=1800)
        changed = await library.set_feed_interval(info.id, 300)
        assert changed.interval == 300  # due 5 minutes after its last check, not 30
        assert changed.next_check - info.last_checked == timedelta(seconds=300)
        report = await library.poll_feeds(now=changed.next_check)
        assert report.unchanged == [info.id]  # checked: 304
        (info,) = await library.feeds()
        assert info.next_check - info.last_checked == timedelta(seconds=300)
        default = await library.set_feed_interval(info.id, None)
        assert default.next_check - info.last_checked == timedelta(seconds=1800)
        with pytest.raises(Exception, match="no feed"):
            await library.set_feed_interval(info.id, 300, guild="123")


async def test_a_canonical_url_that_names_no_article_is_not_believed(tmp_path, http_server):
    """Sites that declare their home page (or another site) canonical everywhere keep
    their articles apart."""
    home = http_server.url("/")
    http_server.route(
        "/a", page("Talks in Geneva", "Geneva", canonical=home), content_type="text/html"
    )
    http_server.route("/b", page("Talks in Doha", "Doha", canonical=home), content_type="text/html")
    http_server.route(
        "/c",
        page("Talks in Istanbul", "Istanbul", canonical="https://elsewhere.example/x"),
        content_type="text/html",
    )
    async with await Library.open(library_settings(tmp_path)) as library:
        report = await library.ingest([http_server.url(p) for p in ("/a", "/b", "/c")])
        assert len(report.added) == 3, report


async def test_a_feed_removed_while_it_is_checked_stays_removed(tmp_path, http_server):
    feed = FeedServer(http_server)
    http_server.route("/Geneva", page("Talks in Geneva", "Geneva"), content_type="text/html")
    feed.links = ["/Geneva"]
    async with await Library.open(library_settings(tmp_path)) as library:
        await library.ingest([http_server.url("/feed")])
        (info,) = await library.feeds()
        http_server.route("/Doha", page("Talks in Doha", "Doha"), content_type="text/html")
        feed.links = ["/Doha", "/Geneva"]
        removed = asyncio.Event()

        def slow_feed(request):
            # The admin removes the feed while this check is fetching it.
            asyncio.run_coroutine_threadsafe(library.remove(info.id), loop).result(5)
            removed.set()
            return feed._feed(request)

        loop = asyncio.get_running_loop()
        http_server.handle("/feed", slow_feed)
        report = await library.poll_feeds(now=info.next_check)
        assert removed.is_set() and not report.added
        assert await library.feeds() == []
        assert http_server.hits("/Doha") == 0
