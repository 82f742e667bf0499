"""Fetch admin-supplied URLs without letting them reach into the network briefbot runs in.

Every URL (and every redirect target) is parsed with httpx's own parser, its host is resolved
once, every resolved address must be public, and the connection goes to the checked address
(Host header and TLS SNI keep the name), so a second DNS answer cannot rebind it elsewhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType

import httpx

from index.errors import FetchError, UnsafeURLError
from index.settings import FetchSettings
from index.types import Fetched

log = logging.getLogger(__name__)

Resolver = Callable[[str, int], Awaitable[list[str]]]

DEFAULT_ACCEPT = (
    "text/html,application/xhtml+xml,application/rss+xml,application/atom+xml,"
    "application/xml;q=0.9,text/plain;q=0.8,*/*;q=0.5"
)
DEFAULT_PORTS = {"http": 80, "https": 443}
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
BAD_LOCATION = "Invalid URL in location header"  # how httpx words an unparsable Location
# Only encodings we can inflate with a bound on the output; we never ask for anything else.
ACCEPT_ENCODING = "gzip, deflate"
ALLOW_HINT = "(set [fetch] allow_private_networks to allow)"
# What extraction reads: web pages, feeds, plain text, PDF and JSON records. Anything else
# (images, archives, media) is refused before its body is read. A missing Content-Type and
# the generic binary ones are let through: many servers (S3, CMSes) label PDFs and pages
# that way, and the extractor goes by the bytes first.
ACCEPTED_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "application/xml",
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/pdf",
        "application/x-pdf",
        "application/json",
        "application/x-ndjson",
        "application/jsonl",
        "application/octet-stream",
        "binary/octet-stream",
    }
)
ACCEPTED_TYPES_SHOWN = "HTML, XML/RSS/Atom, text, PDF or JSON"
HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-._")
IPV4_LITERAL_CHARS = frozenset("0123456789abcdefx.")

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
# Checked explicitly: Python 3.11's ipaddress flags miss some of these (CGNAT, 6to4, NAT64).
NON_PUBLIC_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("169.254.169.254/32"), "a cloud metadata address"),
    (_V4("0.0.0.0/8"), "unspecified (0.0.0.0/8)"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.168.0.0/16"), "private"),
    (_V4("100.64.0.0/10"), "shared address space (CGNAT)"),
    (_V4("169.254.0.0/16"), "link-local"),
    (_V4("192.0.0.0/24"), "reserved (IETF protocol assignments)"),
    (_V4("192.0.2.0/24"), "reserved (documentation)"),
    (_V4("198.51.100.0/24"), "reserved (documentation)"),
    (_V4("203.0.113.0/24"), "reserved (documentation)"),
    (_V4("192.88.99.0/24"), "reserved (6to4 relay)"),
    (_V4("198.18.0.0/15"), "reserved (benchmarking)"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("240.0.0.0/4"), "reserved"),
)
NON_PUBLIC_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("fd00:ec2::254/128"), "a cloud metadata address"),
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("::/96"), "IPv4-compatible (deprecated)"),
    (_V6("64:ff9b:1::/48"), "local-use NAT64"),
    (_V6("2001::/32"), "a Teredo tunnel address"),
    (_V6("fc00::/7"), "private (unique local)"),
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "site-local (deprecated)"),
    (_V6("ff00::/8"), "multicast"),
    (_V6("100::/64"), "reserved (discard)"),
    (_V6("2001:db8::/32"), "reserved (documentation)"),
    (_V6("3fff::/20"), "reserved (documentation)"),
)
NAT64 = _V6("64:ff9b::/96")
NOT_AN_ADDRESS = "not an IP address"


@dataclass(frozen=True, slots=True)
class NotModified:
    """A conditional GET answered 304: the copy the caller holds is current."""

    url: str


@dataclass(frozen=True, slots=True)
class _Target:
    """A URL that passed the checks, with the addresses it may be fetched from."""

    url: httpx.URL
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def check_url(url: str) -> tuple[str, str, int]:
    """Parse url as httpx will fetch it; return (scheme, host, port) or raise UnsafeURLError.

    host is ASCII (IDNA-encoded), lower case, IPv6 without brackets.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise UnsafeURLError(f"refused {_shown(url)}: invalid URL ({_one_line(exc)})") from None
    scheme = parsed.scheme
    if scheme not in DEFAULT_PORTS:
        what = f"scheme {scheme!r}" if scheme else "no scheme"
        raise UnsafeURLError(f"refused {_shown(url)}: {what}; only http and https are fetched")
    if parsed.userinfo:
        raise UnsafeURLError(f"refused {_shown(url)}: credentials (user@) in URLs are not allowed")
    host = parsed.raw_host.decode("ascii", errors="replace").lower()
    if not host:
        raise UnsafeURLError(f"refused {_shown(url)}: no host")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise UnsafeURLError(f"refused {_shown(url)}: invalid IPv6 host {host!r}") from None
    elif not set(host) <= HOST_CHARS:
        raise UnsafeURLError(f"refused {_shown(url)}: invalid host {host!r}")
    port = parsed.port if parsed.port is not None else DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise UnsafeURLError(f"refused {_shown(url)}: invalid port {port}")
    return scheme, host, port


def is_public_address(ip: str) -> bool:
    """True if ip is a globally routable unicast address we may connect to."""
    return _refusal_reason(ip) is None


def _refusal_reason(ip: str) -> str | None:
    """Why an address is not public (e.g. "loopback"), or None if it is."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return NOT_AN_ADDRESS
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = _embedded_v4(addr)
        if embedded is not None:
            inner, form = embedded
            inner_reason = _refusal_reason(str(inner))
            return None if inner_reason is None else f"{form} {inner}, which is {inner_reason}"
        reason = next((why for net, why in NON_PUBLIC_V6 if addr in net), None)
    else:
        reason = next((why for net, why in NON_PUBLIC_V4 if addr in net), None)
    if reason is not None:
        return reason
    # Belt and braces for anything the tables miss; is_global covers IANA's special registry.
    if addr.is_multicast:
        return "multicast"
    if addr.is_private or addr.is_reserved or not addr.is_global:
        return "reserved"
    return None


def _embedded_v4(addr: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv4-mapped, NAT64 or 6to4 address leads to, and which form it is."""
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped, "an IPv4-mapped form of"
    if addr in NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF), "a NAT64 form of"
    if addr.sixtofour is not None:
        return addr.sixtofour, "a 6to4 form of"
    return None


def _ip_literal(host: str) -> str | None:
    """The address host spells, in any form getaddrinfo would accept (127.1, 0x7f000001...)."""
    bare = host[:-1] if host.endswith(".") else host
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    # inet_aton takes decimal, octal, hex and short forms, as the C resolver does.
    if bare and set(bare) <= IPV4_LITERAL_CHARS:
        try:
            return socket.inet_ntoa(socket.inet_aton(bare))
        except OSError:
            return None
    return None


async def _getaddrinfo(host: str, port: int) -> list[str]:
    """Resolve host with the system resolver."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class Fetcher:
    """GETs public http(s) URLs with size, time and redirect limits; one per process is enough."""

    def __init__(
        self,
        settings: FetchSettings,
        *,
        resolver: Resolver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._resolver = resolver or _getaddrinfo
        self._client = httpx.AsyncClient(
            transport=transport,
            trust_env=False,  # HTTP(S)_PROXY must not route around the address checks
            follow_redirects=False,
            verify=True,
            timeout=settings.timeout,
            # Connections are keyed by IP, not name: a kept-alive TLS connection verified for
            # one name must not carry a request for another name on the same address.
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the underlying HTTP client."""
        await self._client.aclose()

    async def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str | None = None,
    ) -> Fetched | NotModified:
        """GET url, following safe redirects; NotModified if a conditional GET got 304."""
        timeout = self._settings.timeout
        try:
            async with asyncio.timeout(timeout):
                return await self._get(url, etag, last_modified, accept)
        except (TimeoutError, httpx.TimeoutException):
            raise FetchError(f"{_shown(url)}: timed out after {timeout:g} s") from None

    async def _get(
        self, url: str, etag: str | None, last_modified: str | None, accept: str | None
    ) -> Fetched | NotModified:
        headers = {
            "User-Agent": self._settings.user_agent,
            "Accept": accept or DEFAULT_ACCEPT,
            "Accept-Encoding": ACCEPT_ENCODING,
        }
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current = url
        for hop in range(self._settings.max_redirects + 1):
            target = await self._check(current)
            response = await self._send(target, headers, _where(url, current))
            try:
                location = response.headers.get("location")
                if response.status_code in REDIRECT_STATUSES and location:
                    if hop == self._settings.max_redirects:
                        break
                    current = self._join(target.url, location, url)
                    log.debug("%s redirects to %s", _shown(url), _shown(current))
                    continue
                if response.status_code == 304 and (etag or last_modified):
                    return NotModified(url=current)
                if not 200 <= response.status_code < 300:
                    raise FetchError(f"{_where(url, current)}: HTTP {response.status_code}")
                mime = _mime(response.headers.get("content-type"))
                if mime and not _accepted_type(mime):
                    raise FetchError(
                        f"{_where(url, current)}: content type {_shown(mime)!r} is not fetched "
                        f"(only {ACCEPTED_TYPES_SHOWN})"
                    )
                body = await self._read(response, _where(url, current))
                return Fetched(
                    url=current,
                    status=response.status_code,
                    content_type=response.headers.get("content-type"),
                    body=body,
                    etag=response.headers.get("etag"),
                    last_modified=response.headers.get("last-modified"),
                )
            finally:
                await response.aclose()
        raise FetchError(f"{_shown(url)}: more than {self._settings.max_redirects} redirects")

    async def _check(self, url: str) -> _Target:
        """Check scheme, port and every resolved address of url; resolve exactly once."""
        scheme, host, port = check_url(url)
        settings = self._settings
        port_allowed = port in {80, 443, *settings.allowed_ports}
        if not port_allowed and not settings.allow_private_networks:
            raise UnsafeURLError(_port_refusal(url, port))
        literal = _ip_literal(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                addresses = list(dict.fromkeys(await self._resolver(host, port)))
            except (OSError, UnicodeError) as exc:
                raise FetchError(
                    f"{_shown(url)}: cannot resolve {host} ({_one_line(exc)})"
                ) from None
            if not addresses:
                raise FetchError(f"{_shown(url)}: cannot resolve {host} (no addresses)")
        reasons = {address: _refusal_reason(address) for address in addresses}
        for address, reason in reasons.items():
            if reason == NOT_AN_ADDRESS:
                # Whatever the settings: a name here would be looked up again when connecting.
                raise UnsafeURLError(
                    f"refused {_shown(url)}: {host} resolved to {_shown(address)!r}, "
                    "not an IP address"
                )
            if reason is not None and not settings.allow_private_networks:
                raise UnsafeURLError(
                    f"refused {_shown(url)}: address {address} is {reason} {ALLOW_HINT}"
                )
        # allow_private_networks opens any port on private addresses (closed networks, the
        # tests' loopback servers), never on public ones.
        if not port_allowed and any(reason is None for reason in reasons.values()):
            raise UnsafeURLError(_port_refusal(url, port))
        return _Target(httpx.URL(url), scheme, host, port, tuple(addresses))

    async def _send(self, target: _Target, headers: dict[str, str], where: str) -> httpx.Response:
        """Send the request to the checked addresses in turn, never to the name."""
        default_port = DEFAULT_PORTS[target.scheme]
        host = f"[{target.host}]" if ":" in target.host else target.host
        host_header = host if target.port == default_port else f"{host}:{target.port}"
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        failure: httpx.TransportError | None = None
        for address in target.addresses:
            request = self._client.build_request(
                "GET",
                target.url.copy_with(host=address, port=target.port, fragment=None),
                headers={**headers, "Host": host_header},
                extensions=extensions,
            )
            try:
                return await self._client.send(request, stream=True)
            except httpx.ConnectError as exc:
                failure = exc  # try the next checked address, as a browser would
            except httpx.TimeoutException:
                raise
            except httpx.RemoteProtocolError as exc:
                # httpx parses a redirect's Location before handing the response back; one
                # it cannot parse (http://0177.0.0.1/) is a refused redirect like any other.
                if str(exc).startswith(BAD_LOCATION):
                    raise UnsafeURLError(
                        f"refused {where}: bad redirect ({_one_line(exc)})"
                    ) from None
                raise FetchError(f"{where}: {_one_line(exc)}") from None
            except httpx.HTTPError as exc:
                raise FetchError(f"{where}: {_one_line(exc)}") from None
        raise FetchError(f"{where}: cannot connect ({_one_line(failure)})") from None

    async def _read(self, response: httpx.Response, where: str) -> bytes:
        """Read the body, inflating gzip/deflate, refusing it past max_bytes (raw or decoded)."""
        limit = self._settings.max_bytes
        too_large = FetchError(f"{where}: response larger than {limit} bytes")
        if response.is_stream_consumed:
            # A response built in memory by a custom transport (tests): httpx already read it.
            if len(response.content) > limit:
                raise too_large
            return response.content
        length = response.headers.get("content-length", "").strip()
        if length.isdigit() and int(length) > limit:
            raise too_large
        codings = [
            c.strip().lower()
            for c in response.headers.get("content-encoding", "").split(",")
            if c.strip() and c.strip().lower() != "identity"
        ]
        if len(codings) > 1 or (codings and codings[0] not in _Inflater.CODINGS):
            # Stacked encodings multiply a bomb's ratio; we never ask for them.
            raise FetchError(f"{where}: unsupported content encoding {', '.join(codings)!r}")
        inflater = _Inflater(codings[0]) if codings else None
        chunks: list[bytes] = []
        size = 0
        # Raw bytes count too: padding that inflates to nothing (data after the gzip trailer,
        # empty deflate blocks) must not make the download unbounded.
        raw_size = 0
        try:
            async for raw in response.aiter_raw():
                raw_size += len(raw)
                if raw_size > limit:
                    raise too_large
                chunk = inflater.feed(raw, limit - size + 1) if inflater else raw
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
            if inflater:
                chunk = inflater.flush()
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
        except zlib.error as exc:
            raise FetchError(f"{where}: bad {codings[0]} body ({_one_line(exc)})") from None
        except httpx.TimeoutException:
            raise
        except httpx.HTTPError as exc:
            raise FetchError(f"{where}: {_one_line(exc)}") from None
        return b"".join(chunks)

    @staticmethod
    def _join(base: httpx.URL, location: str, original: str) -> str:
        """Resolve a Location header against the URL that sent it."""
        try:
            return str(base.join(location))
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise UnsafeURLError(
                f"refused {_shown(original)}: bad redirect {_shown(location)} ({_one_line(exc)})"
            ) from None


class _Inflater:
    """Incremental gzip/deflate decoder whose output per call is capped, so bombs stay small."""

    CODINGS = frozenset({"gzip", "x-gzip", "deflate"})

    def __init__(self, coding: str) -> None:
        self._deflate = coding == "deflate"
        self._started = False
        wbits = zlib.MAX_WBITS if self._deflate else 16 + zlib.MAX_WBITS
        self._decoder = zlib.decompressobj(wbits)

    def feed(self, data: bytes, max_length: int) -> bytes:
        """Decode data, returning at most max_length (> 0) bytes; more means "too large"."""
        if self._decoder.eof:
            return b""  # after the end of the stream: dropped, not kept in unused_data
        if self._deflate and not self._started and data:
            self._started = True
            try:
                return self._decoder.decompress(data, max_length)
            except zlib.error:
                # "deflate" is often sent raw, without the zlib wrapper; httpx retries the same.
                self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
        self._started = True
        return self._decoder.decompress(data, max_length)

    def flush(self) -> bytes:
        return self._decoder.flush()


def _mime(content_type: str | None) -> str:
    """The media type of a Content-Type header, lower case, without parameters."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _accepted_type(mime: str) -> bool:
    """True for the media types extraction reads (see ACCEPTED_TYPES)."""
    if mime in ACCEPTED_TYPES or mime.startswith("text/"):
        return True
    # Feeds and records under vendor names: application/vnd.x+xml, application/ld+json.
    return mime.startswith("application/") and mime.endswith(("+xml", "+json"))


def _port_refusal(url: str, port: int) -> str:
    return f"refused {_shown(url)}: port {port} is not allowed (add it to [fetch] allowed_ports)"


def _where(url: str, current: str) -> str:
    """Name the requested URL, and where redirects led if elsewhere."""
    if current == url:
        return _shown(url)
    return f"{_shown(url)} (redirected to {_shown(current)})"


def _shown(url: str) -> str:
    """A URL fit for a one-line message."""
    text = url.encode("unicode_escape").decode("ascii") if not url.isprintable() else url
    return text if len(text) <= 300 else text[:297] + "..."


def _one_line(exc: BaseException | None) -> str:
    """An exception as one short line, without traceback text."""
    if exc is None:
        return "no address to try"
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__
