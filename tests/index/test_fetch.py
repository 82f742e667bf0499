"""Fetcher: limits on a real loopback server, and refusals that happen before any connection."""

from __future__ import annotations

import errno
import gzip
import ipaddress
import re
import socket
import time
import tracemalloc
import zlib
from collections.abc import Iterator

import httpx
import pytest

from index.errors import FetchError, UnsafeURLError
from index.fetch import DEFAULT_ACCEPT, Fetcher, NotModified, check_url, is_public_address
from index.settings import FetchSettings
from index.types import Fetched

PUBLIC_IP = "93.184.216.34"
NAMES = {
    "public.test": [PUBLIC_IP],
    "v6.test": ["2606:4700::1111"],
    "localhost": ["127.0.0.1", "::1"],
    "loopback.test": ["127.0.0.1"],
    "mixed.test": [PUBLIC_IP, "10.0.0.1"],
    "mapped.test": ["::ffff:192.168.0.1"],
    "metadata.test": ["169.254.169.254"],
    "private.test": ["192.168.1.1"],
    "cgnat.test": ["100.64.0.1"],
    "sixtofour.test": ["2002:c0a8:101::"],  # 6to4 around 192.168.1.1
    "nat64.test": ["64:ff9b::a9fe:a9fe"],  # NAT64 around 169.254.169.254
    "mixed6.test": ["2606:4700::1111", "fe80::1"],
    "garbage.test": ["evil.example"],  # a resolver answering a name, not an address
}
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


class NetworkGuard:
    """Connections outside 127.0.0.0/8 and name lookups are stopped before a packet leaves.

    A stopped attempt is refused like a closed port; unless the test expected it, the test fails.
    """

    def __init__(self) -> None:
        self.connects: list[tuple[str, int]] = []  # outside 127.0.0.0/8, all stopped
        self.lookups: list[str] = []
        self.expected: set[str] = set()

    def unexpected(self) -> list[str]:
        bad = [f"connect {h}:{p}" for h, p in self.connects if not _tolerated(h, self.expected)]
        return bad + [f"lookup {name}" for name in self.lookups if name != "localhost"]


def _tolerated(host: str, expected: set[str]) -> bool:
    # ::1 is loopback but not 127.0.0.0/8: "localhost" may offer it; it is stopped all the same.
    return host in expected or host == "::1"


@pytest.fixture(autouse=True)
def network_guard(monkeypatch) -> Iterator[NetworkGuard]:
    """Every test here may send traffic to 127.0.0.0/8 only, whatever the code under test does."""
    guard = NetworkGuard()
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def stopped(sock: socket.socket, address: object) -> bool:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return False
        host, port = address[0], address[1]  # type: ignore[index]
        if ipaddress.ip_address(host.split("%", 1)[0]) in LOOPBACK:
            return False
        guard.connects.append((host, port))
        return True

    def connect(sock: socket.socket, address: object) -> None:
        if stopped(sock, address):
            raise ConnectionRefusedError(errno.ECONNREFUSED, "stopped by the test's network guard")
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: object) -> int:
        return errno.ECONNREFUSED if stopped(sock, address) else real_connect_ex(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        try:
            ipaddress.ip_address(name.split("%", 1)[0])
        except (ValueError, AttributeError):
            guard.lookups.append(name)
            if name != "localhost":  # /etc/hosts; anything else could go to a DNS server
                raise socket.gaierror(
                    socket.EAI_NONAME, "stopped by the test's network guard"
                ) from None
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield guard
    if guard.unexpected():
        pytest.fail(f"traffic outside 127.0.0.0/8 was attempted: {guard.unexpected()}")


class FakeResolver:
    """Answers from NAMES (or a given table) and records every lookup."""

    def __init__(self, names: dict[str, list[str]] | None = None) -> None:
        self.names = NAMES if names is None else names
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.names[host]


class ForbiddenTransport(httpx.AsyncBaseTransport):
    """Fails the test if anything reaches the connection layer."""

    def __init__(self) -> None:
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        pytest.fail(f"request reached the transport: {request.method} {request.url}")


class Recorder:
    """httpx.MockTransport handler that records requests and answers from a route table."""

    def __init__(self, routes: dict[str, httpx.Response] | None = None) -> None:
        self.routes = routes or {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.routes.get(request.url.path, httpx.Response(200, content=b"<p>public</p>"))


class LoopbackAsPublic(httpx.AsyncBaseTransport):
    """The real HTTP transport, but PUBLIC_IP is the loopback server: a public site under test.

    Any other address reaching the connection layer fails the test.
    """

    def __init__(self, server) -> None:
        self.server = server
        self.urls: list[str] = []
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        if request.url.host != PUBLIC_IP:
            pytest.fail(f"request reached the transport: {request.method} {request.url}")
        request.url = request.url.copy_with(host=self.server.host, port=self.server.port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def private_ok(**kw) -> FetchSettings:
    return FetchSettings(allow_private_networks=True, **kw)


# --- fetching from the loopback server (allow_private_networks=True) ---


async def test_fetches_page_with_metadata(http_server):
    """A 200 page comes back with body, final URL, content type, ETag and Last-Modified."""
    lm = "Wed, 21 Oct 2015 07:28:00 GMT"
    http_server.route("/page", "<p>hello</p>", headers={"ETag": '"v1"', "Last-Modified": lm})
    async with Fetcher(private_ok()) as fetcher:
        got = await fetcher.get(http_server.url("/page"))
    assert got == Fetched(
        url=http_server.url("/page"),
        status=200,
        content_type="text/html; charset=utf-8",
        body=b"<p>hello</p>",
        etag='"v1"',
        last_modified=lm,
    )


async def test_sends_user_agent_and_default_accept(http_server):
    """Requests carry the configured User-Agent and the default Accept header."""
    http_server.route("/page", "x")
    async with Fetcher(private_ok(user_agent="testbot/1")) as fetcher:
        await fetcher.get(http_server.url("/page"))
    headers = http_server.requests[0].headers
    assert headers["user-agent"] == "testbot/1"
    assert headers["accept"] == DEFAULT_ACCEPT


async def test_sends_custom_accept(http_server):
    """An explicit accept argument replaces the default Accept header."""
    http_server.route("/feed", "x")
    async with Fetcher(private_ok()) as fetcher:
        await fetcher.get(http_server.url("/feed"), accept="application/rss+xml")
    assert http_server.requests[0].headers["accept"] == "application/rss+xml"


async def test_host_header_keeps_name_when_connecting_to_address(http_server):
    """Fetching by name sends Host name:port and reports the URL with the name."""
    http_server.route("/page", "x")
    url = f"http://localhost:{http_server.port}/page"
    async with Fetcher(private_ok()) as fetcher:
        got = await fetcher.get(url)
    assert isinstance(got, Fetched)
    assert got.url == url
    assert http_server.requests[0].headers["host"] == f"localhost:{http_server.port}"


async def test_proxy_environment_is_ignored(http_server, monkeypatch):
    """HTTP(S)_PROXY cannot route requests around the address checks."""
    http_server.route("/page", "x")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, http_server.base_url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with Fetcher(private_ok()) as fetcher:
        await fetcher.get(f"http://localhost:{http_server.port}/page")
    # A proxied request would arrive in absolute form (GET http://host/page).
    assert [r.path for r in http_server.requests] == ["/page"]


async def test_follows_relative_redirect(http_server):
    """A relative Location is resolved against the current URL and the final URL reported."""
    http_server.redirect("/old/a", "../new/b", status=301)
    http_server.route("/new/b", "moved")
    async with Fetcher(private_ok()) as fetcher:
        got = await fetcher.get(http_server.url("/old/a"))
    assert isinstance(got, Fetched)
    assert (got.url, got.body) == (http_server.url("/new/b"), b"moved")


async def test_follows_redirects_up_to_limit(http_server):
    """Exactly max_redirects redirects are followed."""
    for i in range(3):
        http_server.redirect(f"/r{i}", f"/r{i + 1}")
    http_server.redirect("/r3", http_server.url("/end"), status=307)
    http_server.route("/end", "end")
    async with Fetcher(private_ok(max_redirects=4)) as fetcher:
        got = await fetcher.get(http_server.url("/r0"))
    assert isinstance(got, Fetched)
    assert got.url == http_server.url("/end")


async def test_redirect_loop_stops_at_limit(http_server):
    """A redirect loop raises FetchError after max_redirects hops."""
    http_server.redirect("/loop", "/loop")
    url = http_server.url("/loop")
    async with Fetcher(private_ok(max_redirects=3)) as fetcher:
        with pytest.raises(FetchError, match="more than 3 redirects") as caught:
            await fetcher.get(url)
    assert str(caught.value) == f"{url}: more than 3 redirects"
    assert http_server.hits("/loop") == 4


@pytest.mark.parametrize("status", [400, 403, 404, 410, 500, 503])
async def test_error_status_raises(http_server, status):
    """A non-2xx final status raises FetchError naming the URL and the status."""
    http_server.route("/page", "nope", status=status)
    url = http_server.url("/page")
    async with Fetcher(private_ok()) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.get(url)
    assert str(caught.value) == f"{url}: HTTP {status}"
    assert not isinstance(caught.value, UnsafeURLError)


async def test_redirect_without_location_is_an_error(http_server):
    """A 302 with no Location is a bad status, not a redirect."""
    http_server.route("/page", status=302)
    url = http_server.url("/page")
    async with Fetcher(private_ok()) as fetcher:
        with pytest.raises(FetchError, match="HTTP 302"):
            await fetcher.get(url)


async def test_error_after_redirect_names_both_urls(http_server):
    """An error status after a redirect names the requested URL and where it led."""
    http_server.redirect("/old", "/gone")
    url, gone = http_server.url("/old"), http_server.url("/gone")
    async with Fetcher(private_ok()) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.get(url)
    assert str(caught.value) == f"{url} (redirected to {gone}): HTTP 404"


async def test_not_modified_with_conditional_headers(http_server):
    """A 304 answer to a conditional GET returns NotModified; both validators are sent."""
    lm = "Wed, 21 Oct 2015 07:28:00 GMT"
    http_server.handle(
        "/page",
        lambda req: http_server.Reply(304 if req.headers.get("if-none-match") == '"v1"' else 200),
    )
    url = http_server.url("/page")
    async with Fetcher(private_ok()) as fetcher:
        got = await fetcher.get(url, etag='"v1"', last_modified=lm)
    assert got == NotModified(url=url)
    headers = http_server.requests[0].headers
    assert (headers["if-none-match"], headers["if-modified-since"]) == ('"v1"', lm)


async def test_not_modified_with_last_modified_only(http_server):
    """If-Modified-Since alone is a conditional GET too."""
    http_server.route("/page", status=304)
    async with Fetcher(private_ok()) as fetcher:
        got = await fetcher.get(http_server.url("/page"), last_modified="x")
    assert isinstance(got, NotModified)
    assert "if-none-match" not in http_server.requests[0].headers


async def test_unconditional_304_is_an_error(http_server):
    """A 304 nobody asked for is a bad status."""
    http_server.route("/page", status=304)
    async with Fetcher(private_ok()) as fetcher:
        with pytest.raises(FetchError, match="HTTP 304"):
            await fetcher.get(http_server.url("/page"))


@pytest.mark.parametrize("send_length", [True, False], ids=["content-length", "streamed"])
async def test_oversized_body_refused(http_server, send_length):
    """A body past max_bytes raises FetchError, with or without Content-Length."""
    http_server.route("/big", b"x" * 5000, send_length=send_length)
    url = http_server.url("/big")
    async with Fetcher(private_ok(max_bytes=4096)) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.get(url)
    assert str(caught.value) == f"{url}: response larger than 4096 bytes"


async def test_body_at_limit_accepted(http_server):
    """A body of exactly max_bytes is accepted."""
    http_server.route("/page", b"x" * 4096, send_length=False)
    async with Fetcher(private_ok(max_bytes=4096)) as fetcher:
        got = await fetcher.get(http_server.url("/page"))
    assert isinstance(got, Fetched)
    assert len(got.body) == 4096


async def test_gzip_body_decoded(http_server):
    """A gzip Content-Encoding is decoded."""
    http_server.route("/page", "<p>zipped</p>" * 100, gzip=True)
    async with Fetcher(private_ok()) as fetcher:
        got = await fetcher.get(http_server.url("/page"))
    assert isinstance(got, Fetched)
    assert got.body == b"<p>zipped</p>" * 100


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
async def test_deflate_body_decoded(http_server, wbits):
    """deflate is decoded both with and without the zlib wrapper."""
    packer = zlib.compressobj(wbits=wbits)
    body = packer.compress(b"<p>deflated</p>" * 100) + packer.flush()
    http_server.route("/page", body, headers={"Content-Encoding": "deflate"})
    async with Fetcher(private_ok()) as fetcher:
        got = await fetcher.get(http_server.url("/page"))
    assert isinstance(got, Fetched)
    assert got.body == b"<p>deflated</p>" * 100


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    return gzip.compress(bytes(50_000_000), compresslevel=9)


async def test_gzip_bomb_refused_by_decoded_size(http_server, gzip_bomb):
    """50 MB of gzipped zeros (a small download) is cut at max_bytes decoded bytes."""
    http_server.route("/bomb", gzip_bomb, headers={"Content-Encoding": "gzip"})
    url = http_server.url("/bomb")
    assert len(gzip_bomb) < 1_000_000
    async with Fetcher(private_ok(max_bytes=1_000_000)) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.get(url)
    assert str(caught.value) == f"{url}: response larger than 1000000 bytes"


async def test_stacked_encodings_refused(http_server):
    """gzip inside gzip (a bomb's ratio squared) is refused rather than decoded."""
    body = gzip.compress(gzip.compress(b"x" * 1000))
    http_server.route("/page", body, headers={"Content-Encoding": "gzip, gzip"})
    async with Fetcher(private_ok()) as fetcher:
        with pytest.raises(FetchError, match="unsupported content encoding"):
            await fetcher.get(http_server.url("/page"))


async def test_corrupt_gzip_is_fetch_error(http_server):
    """A body that is not the gzip it claims raises FetchError."""
    http_server.route("/page", b"not gzip at all", headers={"Content-Encoding": "gzip"})
    async with Fetcher(private_ok()) as fetcher:
        with pytest.raises(FetchError, match="bad gzip body"):
            await fetcher.get(http_server.url("/page"))


@pytest.mark.parametrize(
    "reply",
    [{"delay": 5.0}, {"trickle": 0.2, "chunk_size": 1}],
    ids=["slow-headers", "slow-body"],
)
async def test_slow_response_times_out(http_server, reply):
    """The whole fetch, body included, stops at settings.timeout."""
    http_server.route("/slow", "0123456789" * 10, **reply)
    url = http_server.url("/slow")
    started = time.monotonic()
    async with Fetcher(private_ok(timeout=0.5)) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.get(url)
    assert str(caught.value) == f"{url}: timed out after 0.5 s"
    assert time.monotonic() - started < 3


async def test_timeout_covers_redirects(http_server):
    """Time spent on earlier hops counts against the same limit."""
    http_server.route("/a", status=302, headers={"Location": "/b"}, delay=0.3)
    http_server.route("/b", "late", delay=0.3)
    async with Fetcher(private_ok(timeout=0.5)) as fetcher:
        with pytest.raises(FetchError, match=r"timed out after 0\.5 s"):
            await fetcher.get(http_server.url("/a"))


async def test_connection_refused_is_one_line_fetch_error():
    """A closed port raises FetchError naming the URL, in one line."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    async with Fetcher(private_ok()) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.get(url)
    message = str(caught.value)
    assert message.startswith(f"{url}: cannot connect (")
    assert "\n" not in message
    assert not isinstance(caught.value, UnsafeURLError)


async def test_unresolvable_name_is_fetch_error():
    """A name the resolver does not know raises FetchError naming it."""
    async with Fetcher(
        FetchSettings(), resolver=FakeResolver(), transport=ForbiddenTransport()
    ) as fetcher:
        with pytest.raises(FetchError, match=r"cannot resolve nowhere\.test"):
            await fetcher.get("http://nowhere.test/")


# --- refusals (allow_private_networks=False) ---

HOSTILE = [
    "http://127.0.0.1:{port}/",
    "http://localhost:{port}/",
    "http://LOCALHOST:{port}/",
    "http://0.0.0.0:{port}/",
    "http://[::]:{port}/",
    "http://[::1]:{port}/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://198.18.0.1/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://2130706433:{port}/",
    "http://0177.0.0.1:{port}/",
    "http://0x7f000001:{port}/",
    "http://0x7f.1:{port}/",
    "http://127.1:{port}/",
    "http://127.0.0.1.:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://[::ffff:7f00:1]:{port}/",
    "http://[::127.0.0.1]:{port}/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2002:7f00:1::]/",
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://loopback.test:{port}/",
    "http://mixed.test/",
    "http://mapped.test/",
    "http://metadata.test/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:{port}/_x",
    "ftp://public.test/",
    "javascript:alert(1)",
    "//public.test/",
    "http://example.com@127.0.0.1:{port}/",
    "http://user:pass@public.test/",
    "http://public.test:22/",
    "https://public.test:6379/",
    "http://:80/",
    "http://public.test:99999/",
    "http://private.test/",
    "http://cgnat.test/",
    "http://sixtofour.test/",
    "http://nat64.test/",
    "http://mixed6.test/",
    "http://garbage.test/",
    "http://0:{port}/",
    "http://017700000001:{port}/",
    "http://0x7f.0x0.0x0.0x1:{port}/",
    "http://0x7f000001.:{port}/",
    "http://[0:0:0:0:0:ffff:127.0.0.1]:{port}/",
    "http://[::ffff:0:127.0.0.1]:{port}/",
    "http://[0::1]:{port}/",
    "http://[::1%25lo]:{port}/",
    "https://127.0.0.1:{port}/",
    "HTTP://127.0.0.1:{port}/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::ffff:100.64.0.1]/",
    "http://[2002:a9fe:a9fe::]/",
    "http://[2002:c0a8:101::]/",
    "http://[64:ff9b::a00:1]/",
    "http://[fe80::1%25eth0]/",
    "http://[100::1]/",
    "http://[ff02::1]/",
    "http://4294967295/",
    "http://169.254.1.1/",
    "http://192.0.2.1/",
    "http://240.0.0.1/",
    "ws://127.0.0.1:{port}/",
    "dict://127.0.0.1:{port}/",
    "data:text/html,<p>x</p>",
    "http:/127.0.0.1:{port}/",
    "http:\\\\127.0.0.1:{port}/",
    "http://127.0.0.1%2f@public.test/",
    "http://public.test\\@127.0.0.1:{port}/",
    "http://127.0.0.1:{port}#@public.test/",
    "http://%31%32%37.0.0.1:{port}/",
    "http://\u2460\u2461\u2466.0.0.1:{port}/",  # circled digits 127
    "http://\u24dbocalhost:{port}/",  # circled l
]
# Every refusal names the URL, then one of these reasons.
REASON = re.compile(
    r"(address \S+ is .+|scheme '\w+'; .+|no scheme; .+|no host|credentials .+"
    r"|port \d+ is not allowed .+|invalid .+|\S+ resolved to .+, not an IP address)"
)


@pytest.mark.parametrize("template", HOSTILE)
async def test_hostile_url_refused_before_connecting(http_server, template):
    """Private, loopback, odd-spelled and non-http URLs raise UnsafeURLError; nothing is sent."""
    http_server.route("/", "secret")
    url = template.format(port=http_server.port)
    transport = ForbiddenTransport()
    # The loopback server's port is allowed, so 127.0.0.1:port is refused for its address.
    settings = FetchSettings(allowed_ports=(http_server.port,))
    async with Fetcher(settings, resolver=FakeResolver(), transport=transport) as fetcher:
        with pytest.raises(UnsafeURLError) as caught:
            await fetcher.get(url)
    message = str(caught.value)
    assert message.startswith(f"refused {url}: ")
    assert REASON.fullmatch(message.removeprefix(f"refused {url}: "))
    assert "\n" not in message
    assert transport.calls == 0
    assert http_server.hits() == 0


@pytest.mark.parametrize(
    "template",
    [
        "http://127.0.0.1:{port}/",
        "http://localhost:{port}/",
        "http://2130706433:{port}/",
        "http://127.1:{port}/",
        "http://[::ffff:127.0.0.1]:{port}/",
    ],
)
async def test_loopback_refused_with_real_resolver_and_transport(http_server, template):
    """With the default resolver and transport, loopback URLs never reach the server."""
    http_server.route("/", "secret")
    url = template.format(port=http_server.port)
    async with Fetcher(FetchSettings(allowed_ports=(http_server.port,))) as fetcher:
        with pytest.raises(UnsafeURLError):
            await fetcher.get(url)
    assert http_server.hits() == 0


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "http://10.0.0.1/",
            "refused http://10.0.0.1/: address 10.0.0.1 is private "
            "(set [fetch] allow_private_networks to allow)",
        ),
        (
            "http://loopback.test/x",
            "refused http://loopback.test/x: address 127.0.0.1 is loopback "
            "(set [fetch] allow_private_networks to allow)",
        ),
        (
            "http://[::ffff:7f00:1]/",
            "refused http://[::ffff:7f00:1]/: address ::ffff:7f00:1 is an IPv4-mapped form of "
            "127.0.0.1, which is loopback (set [fetch] allow_private_networks to allow)",
        ),
        (
            "http://mapped.test/",
            "refused http://mapped.test/: address ::ffff:192.168.0.1 is an IPv4-mapped form of "
            "192.168.0.1, which is private (set [fetch] allow_private_networks to allow)",
        ),
        (
            "http://public.test:22/",
            "refused http://public.test:22/: port 22 is not allowed "
            "(add it to [fetch] allowed_ports)",
        ),
        (
            "file:///etc/passwd",
            "refused file:///etc/passwd: scheme 'file'; only http and https are fetched",
        ),
        (
            "http://example.com@127.0.0.1/",
            "refused http://example.com@127.0.0.1/: credentials (user@) in URLs are not allowed",
        ),
    ],
)
async def test_refusal_message_names_url_and_reason(url, message):
    """Refusals are one line naming the URL and why."""
    async with Fetcher(
        FetchSettings(), resolver=FakeResolver(), transport=ForbiddenTransport()
    ) as fetcher:
        with pytest.raises(UnsafeURLError) as caught:
            await fetcher.get(url)
    assert str(caught.value) == message


async def test_public_address_is_connected_to_directly():
    """The checked address is what gets connected to; Host and SNI keep the name."""
    recorder = Recorder()
    resolver = FakeResolver()
    async with Fetcher(
        FetchSettings(), resolver=resolver, transport=httpx.MockTransport(recorder)
    ) as fetcher:
        got = await fetcher.get("https://public.test/page?q=1#frag")
    assert isinstance(got, Fetched)
    assert got.url == "https://public.test/page?q=1#frag"
    assert got.body == b"<p>public</p>"
    (request,) = recorder.requests
    assert str(request.url) == f"https://{PUBLIC_IP}/page?q=1"
    assert request.headers["host"] == "public.test"
    assert request.extensions["sni_hostname"] == "public.test"
    assert resolver.calls == [("public.test", 443)]


async def test_public_ipv6_address_is_bracketed_and_port_kept():
    """An IPv6 address goes in brackets; a non-default port stays in URL and Host."""
    recorder = Recorder()
    async with Fetcher(
        FetchSettings(allowed_ports=(8443,)),
        resolver=FakeResolver(),
        transport=httpx.MockTransport(recorder),
    ) as fetcher:
        await fetcher.get("https://v6.test:8443/")
    (request,) = recorder.requests
    assert str(request.url) == "https://[2606:4700::1111]:8443/"
    assert request.headers["host"] == "v6.test:8443"


async def test_plain_http_has_no_sni_extension():
    """SNI is only set for https."""
    recorder = Recorder()
    async with Fetcher(
        FetchSettings(), resolver=FakeResolver(), transport=httpx.MockTransport(recorder)
    ) as fetcher:
        await fetcher.get("http://public.test/")
    assert "sni_hostname" not in recorder.requests[0].extensions


async def test_each_hop_resolved_exactly_once():
    """Every URL in a redirect chain is resolved once, and never again for the connection."""
    recorder = Recorder({"/a": httpx.Response(302, headers={"Location": "https://v6.test/b"})})
    resolver = FakeResolver()
    async with Fetcher(
        FetchSettings(), resolver=resolver, transport=httpx.MockTransport(recorder)
    ) as fetcher:
        got = await fetcher.get("http://public.test/a")
    assert isinstance(got, Fetched)
    assert got.url == "https://v6.test/b"
    assert resolver.calls == [("public.test", 80), ("v6.test", 443)]


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:{port}/",
        "http://localhost:{port}/",
        "http://[::1]:{port}/",
        "http://2130706433:{port}/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "file:///etc/passwd",
        "gopher://127.0.0.1:{port}/",
        "http://public.test:22/",
    ],
)
async def test_redirect_to_private_address_refused(http_server, location):
    """A public server redirecting to a private target is refused before connecting."""
    http_server.route("/", "secret")
    target = location.format(port=http_server.port)
    recorder = Recorder({"/": httpx.Response(302, headers={"Location": target})})
    settings = FetchSettings(allowed_ports=(http_server.port,))
    async with Fetcher(
        settings, resolver=FakeResolver(), transport=httpx.MockTransport(recorder)
    ) as fetcher:
        with pytest.raises(UnsafeURLError):
            await fetcher.get("http://public.test/")
    assert len(recorder.requests) == 1
    assert http_server.hits() == 0


async def test_allowed_ports_setting_permits_port():
    """A port listed in allowed_ports is fetched."""
    recorder = Recorder()
    async with Fetcher(
        FetchSettings(allowed_ports=(8080,)),
        resolver=FakeResolver(),
        transport=httpx.MockTransport(recorder),
    ) as fetcher:
        got = await fetcher.get("http://public.test:8080/")
    assert isinstance(got, Fetched)
    assert recorder.requests[0].headers["host"] == "public.test:8080"


PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")


def point_proxies_at(monkeypatch, server) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.setenv(name, server.base_url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)


LOOPBACK_SPELLINGS = [t for t in HOSTILE if "{port}" in t and t.startswith("http")]


@pytest.mark.parametrize("template", LOOPBACK_SPELLINGS)
async def test_hostile_url_refused_with_proxy_variables_set(http_server, monkeypatch, template):
    """With HTTP(S)_PROXY set to a listener, the real transport still refuses; it hears nothing."""
    http_server.route("/", "secret")
    point_proxies_at(monkeypatch, http_server)
    settings = FetchSettings(allowed_ports=(http_server.port,))
    async with Fetcher(settings, resolver=FakeResolver()) as fetcher:
        with pytest.raises(UnsafeURLError):
            await fetcher.get(template.format(port=http_server.port))
    assert http_server.hits() == 0


class RebindingResolver:
    """A DNS answer that changes: public on the first lookup, loopback on any later one."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls += 1
        return [PUBLIC_IP] if self.calls == 1 else ["127.0.0.1"]


async def test_real_connection_goes_to_the_checked_address(http_server, monkeypatch, network_guard):
    """The real connection layer dials the checked address: not a proxy, not a second lookup."""
    http_server.route("/", "secret")
    point_proxies_at(monkeypatch, http_server)
    network_guard.expected.add(PUBLIC_IP)  # stopped by the guard, as a closed port would be
    resolver = RebindingResolver()
    async with Fetcher(FetchSettings(), resolver=resolver) as fetcher:
        with pytest.raises(FetchError, match="cannot connect"):
            await fetcher.get("http://rebind.test/")
    assert network_guard.connects == [(PUBLIC_IP, 80)]
    assert resolver.calls == 1
    assert http_server.hits() == 0


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:{port}/secret",
        "http://localhost:{port}/secret",
        "http://[::1]:{port}/secret",
        "http://[::ffff:127.0.0.1]:{port}/secret",
        "http://[64:ff9b::7f00:1]:{port}/secret",
        "http://2130706433:{port}/secret",
        "http://0x7f000001:{port}/secret",
        "http://0177.0.0.1:{port}/secret",
        "http://127.1:{port}/secret",
        "http://loopback.test:{port}/secret",
        "http://private.test:{port}/secret",
        "//127.0.0.1:{port}/secret",
        "http://example.com@127.0.0.1:{port}/secret",
        "http://169.254.169.254/latest/meta-data/",
        "http://public.test:22/secret",
        "gopher://127.0.0.1:{port}/secret",
        "file:///etc/passwd",
    ],
)
async def test_redirect_from_a_real_public_server_to_loopback_refused(http_server, location):
    """A real server playing a public site redirects to loopback: refused, nothing sent there."""
    http_server.redirect("/", location.format(port=http_server.port))
    http_server.route("/secret", "secret")
    transport = LoopbackAsPublic(http_server)
    settings = FetchSettings(allowed_ports=(http_server.port,))
    async with Fetcher(settings, resolver=FakeResolver(), transport=transport) as fetcher:
        with pytest.raises(UnsafeURLError) as caught:
            await fetcher.get("http://public.test/")
    assert "\n" not in str(caught.value)
    assert transport.urls == [f"http://{PUBLIC_IP}/"]
    assert (http_server.hits("/"), http_server.hits("/secret")) == (1, 0)


@pytest.mark.parametrize(("hops", "followed"), [(5, True), (6, False)])
async def test_default_settings_follow_five_redirects_not_six(http_server, hops, followed):
    """With the default limit a chain of 5 redirects is followed and one of 6 is refused."""
    for i in range(hops):
        http_server.redirect(f"/r{i}", f"/r{i + 1}")
    http_server.route(f"/r{hops}", "end")
    transport = LoopbackAsPublic(http_server)
    async with Fetcher(FetchSettings(), resolver=FakeResolver(), transport=transport) as fetcher:
        if followed:
            got = await fetcher.get("http://public.test/r0")
            assert isinstance(got, Fetched)
            assert (got.url, got.body) == (f"http://public.test/r{hops}", b"end")
        else:
            with pytest.raises(FetchError) as caught:
                await fetcher.get("http://public.test/r0")
            assert str(caught.value) == "http://public.test/r0: more than 5 redirects"
    assert http_server.hits(f"/r{hops}") == (1 if followed else 0)


async def test_allow_private_networks_keeps_the_port_rule_for_public_addresses():
    """allow_private_networks opens odd ports on private addresses only, never on public ones."""
    async with Fetcher(
        private_ok(), resolver=FakeResolver(), transport=ForbiddenTransport()
    ) as fetcher:
        with pytest.raises(UnsafeURLError) as caught:
            await fetcher.get("http://public.test:6379/")
    assert str(caught.value) == (
        "refused http://public.test:6379/: port 6379 is not allowed "
        "(add it to [fetch] allowed_ports)"
    )


async def test_allow_private_networks_fetches_a_private_address_on_any_port():
    """With allow_private_networks a private host on an odd port is fetched (closed networks)."""
    recorder = Recorder()
    async with Fetcher(
        private_ok(), resolver=FakeResolver(), transport=httpx.MockTransport(recorder)
    ) as fetcher:
        got = await fetcher.get("http://private.test:8080/")
    assert isinstance(got, Fetched)
    assert str(recorder.requests[0].url) == "http://192.168.1.1:8080/"


async def test_resolver_answering_a_name_refused_even_with_private_networks_allowed():
    """A resolver answer that is not an IP address is refused: connecting would look it up again."""
    async with Fetcher(
        private_ok(), resolver=FakeResolver(), transport=ForbiddenTransport()
    ) as fetcher:
        with pytest.raises(UnsafeURLError) as caught:
            await fetcher.get("http://garbage.test/")
    assert str(caught.value) == (
        "refused http://garbage.test/: garbage.test resolved to 'evil.example', not an IP address"
    )


@pytest.mark.parametrize(
    "content_type",
    [
        "text/html; charset=utf-8",
        "application/xhtml+xml",
        "application/rss+xml",
        "application/atom+xml",
        "application/xml",
        "text/xml",
        "application/vnd.example+xml",
        "text/plain",
        "text/markdown",
        "application/pdf",
        "application/json",
        "application/ld+json",
        "application/x-ndjson",
        "application/octet-stream",  # S3 and CMSes label PDFs so; the bytes decide
        "binary/octet-stream",
        None,
    ],
)
async def test_readable_content_types_fetched(http_server, content_type):
    """Pages, feeds, text, PDF, JSON and an unlabelled body are fetched."""
    http_server.route("/doc", b"body", content_type=content_type)
    async with Fetcher(private_ok()) as fetcher:
        got = await fetcher.get(http_server.url("/doc"))
    assert isinstance(got, Fetched)
    assert got.body == b"body"


@pytest.mark.parametrize(
    "content_type",
    [
        "image/png",
        "image/svg+xml",
        "application/zip",
        "application/gzip",
        "video/mp4",
        "audio/mpeg",
        "application/x-msdownload",
        "font/woff2",
    ],
)
async def test_other_content_types_refused_before_the_body_is_read(http_server, content_type):
    """Images, archives, binaries and media are refused in one line, before their body is read."""
    http_server.route("/file", b"x" * 5000, content_type=content_type, send_length=False)
    url = http_server.url("/file")
    async with Fetcher(private_ok(max_bytes=4096)) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.get(url)
    # The body is past max_bytes: the content type, not the size, is what was refused.
    assert str(caught.value) == (
        f"{url}: content type {content_type!r} is not fetched "
        "(only HTML, XML/RSS/Atom, text, PDF or JSON)"
    )
    assert not isinstance(caught.value, UnsafeURLError)


def deflate(data: bytes, wbits: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return packer.compress(data) + packer.flush()


@pytest.fixture(scope="module")
def zeros() -> bytes:
    return bytes(50_000_000)


@pytest.mark.parametrize(
    ("coding", "wbits"),
    [("gzip", 16 + zlib.MAX_WBITS), ("deflate", zlib.MAX_WBITS), ("deflate", -zlib.MAX_WBITS)],
    ids=["gzip", "deflate-zlib", "deflate-raw"],
)
async def test_bomb_is_cut_while_streaming_never_inflated(http_server, zeros, coding, wbits):
    """50 MB of compressed zeros is cut at max_bytes; memory never holds more than a few MB."""
    bomb = deflate(zeros, wbits)
    http_server.route("/bomb", bomb, headers={"Content-Encoding": coding}, send_length=False)
    url = http_server.url("/bomb")
    async with Fetcher(private_ok(max_bytes=1_000_000)) as fetcher:
        tracemalloc.start()
        try:
            with pytest.raises(FetchError) as caught:
                await fetcher.get(url)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert str(caught.value) == f"{url}: response larger than 1000000 bytes"
    assert peak < 8_000_000


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        # A small gzip member, then padding the decoder would keep as unused data.
        ("gzip", gzip.compress(b"<p>hi</p>") + bytes(3_000_000)),
        # Empty stored deflate blocks: bytes on the wire that inflate to nothing.
        ("deflate", b"\x78\x9c" + b"\x00\x00\x00\xff\xff" * 600_000 + b"\x03\x00"),
    ],
    ids=["gzip-trailer-padding", "empty-deflate-blocks"],
)
async def test_raw_bytes_count_against_the_limit(http_server, coding, body):
    """Compressed bytes that inflate to little still stop the download at max_bytes."""
    http_server.route("/pad", body, headers={"Content-Encoding": coding}, send_length=False)
    url = http_server.url("/pad")
    async with Fetcher(private_ok(max_bytes=1_000_000)) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.get(url)
    assert str(caught.value) == f"{url}: response larger than 1000000 bytes"


async def test_data_after_the_gzip_trailer_is_dropped(http_server):
    """Bytes after the end of a gzip stream (within the limit) are ignored, not decoded."""
    body = gzip.compress(b"<p>hi</p>") + b"trailing junk"
    http_server.route("/page", body, headers={"Content-Encoding": "gzip"})
    async with Fetcher(private_ok()) as fetcher:
        got = await fetcher.get(http_server.url("/page"))
    assert isinstance(got, Fetched)
    assert got.body == b"<p>hi</p>"


# --- pure functions ---


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://Example.COM/x", ("http", "example.com", 80)),
        ("HTTPS://example.com/", ("https", "example.com", 443)),
        ("https://example.com:8443/", ("https", "example.com", 8443)),
        ("http://[2606:4700::1111]/", ("http", "2606:4700::1111", 80)),
        ("https://bücher.de/", ("https", "xn--bcher-kva.de", 443)),
        ("http://2130706433/", ("http", "2130706433", 80)),
    ],
)
def test_check_url_accepts(url, expected):
    """check_url returns scheme, ASCII host and effective port."""
    assert check_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/",
        "data:text/html,hi",
        "example.com/page",
        "http://user@example.com/",
        "http://:pw@example.com/",
        "http:///path",
        "http://example.com:99999/",
        "http://exa mple.com/",
        "http://0177.0.0.1/",
        "http://[::1/",
        "http://x\n.com/",
    ],
)
def test_check_url_refuses(url):
    """check_url raises UnsafeURLError for bad schemes, credentials, hosts and ports."""
    with pytest.raises(UnsafeURLError, match=r"^refused "):
        check_url(url)


@pytest.mark.parametrize(
    ("ip", "public"),
    [
        ("8.8.8.8", True),
        ("93.184.216.34", True),
        ("1.1.1.1", True),
        ("2606:4700::1111", True),
        ("2a00:1450:4001:82a::200e", True),
        ("::ffff:8.8.8.8", True),
        ("64:ff9b::808:808", True),
        ("2002:808:808::", True),
        ("127.0.0.1", False),
        ("127.255.255.254", False),
        ("10.0.0.1", False),
        ("172.16.0.1", False),
        ("172.31.255.255", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),
        ("100.127.255.255", False),
        ("169.254.169.254", False),
        ("169.254.1.1", False),
        ("0.0.0.0", False),
        ("0.1.2.3", False),
        ("224.0.0.1", False),
        ("239.255.255.250", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("192.0.2.1", False),
        ("198.18.0.1", False),
        ("::", False),
        ("::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("::127.0.0.1", False),
        ("64:ff9b::7f00:1", False),
        ("64:ff9b::a9fe:a9fe", False),
        ("64:ff9b:1::a00:1", False),
        ("2002:7f00:1::", False),
        ("2002:a00:1::", False),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),
        ("fd00:ec2::254", False),
        ("fc00::1", False),
        ("fe80::1", False),
        ("fe80::1%eth0", False),
        ("fec0::1", False),
        ("ff02::1", False),
        ("2001:db8::1", False),
        ("not an ip", False),
        ("", False),
    ],
)
def test_is_public_address(ip, public):
    """Only globally routable unicast addresses, in any embedding, count as public."""
    assert is_public_address(ip) is public
