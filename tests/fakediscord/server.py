"""A strict fake Discord (REST API v10 + gateway) on 127.0.0.1 for end-to-end bot tests.

The real discord.py client connects to it when pointed there:

    discord.http.Route.BASE = fake.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)

The fake answers like Discord, including its errors, and records every rule the bot broke in
`violations` (tests assert it stays empty). See README.md for what is implemented.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import json
import logging
import re
import secrets
import time
import traceback
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import BodyPartReader, WSMsgType, web

from .interaction import (
    ALLOWED_CALLBACKS,
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    Interaction,
)
from .limits import (
    EPHEMERAL,
    IS_COMPONENTS_V2,
    LOADING,
    SUPPRESS_EMBEDS,
    Limits,
    Problem,
    check_autocomplete,
    check_commands,
    check_message_problems,
    check_modal,
    errors_tree,
    is_empty_message,
)
from .objects import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    ATTACH_FILES,
    CREATE_PUBLIC_THREADS,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    EMBED_LINKS,
    MANAGE_MESSAGES,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    THREAD_TYPES,
    VIEW_CHANNEL,
    FakeGuild,
    FakeMember,
    channel_payload,
    iso_now,
    role_payload,
    snowflake,
    user_payload,
)

log = logging.getLogger(__name__)

# "METHOD /path" of the request being handled, prefixed to the violations it causes.
_CURRENT_REQUEST: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "fake_discord_request", default=None
)


def _redact(path: str) -> str:
    """Interaction tokens are long and random; violations read better without them."""
    return re.sub(r"^/(interactions|webhooks)/(\d+)/[^/]+", r"/\1/\2/<token>", path)


# Gateway intents the fake honours when dispatching.
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_MESSAGE_CONTENT = 1 << 15

SNOWFLAKE_RE = r"\d+"
SELECT_TYPES = frozenset({3, 5, 6, 7, 8})
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024


class FakeDiscordError(Exception):
    """The test asked the fake for something a real Discord user could not do."""


class _Refused(Exception):
    """Ends a request with Discord's error answer (and optionally records a violation)."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        errors: dict[str, Any] | None = None,
        violation: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"code": code, "message": message}
        if errors:
            self.body["errors"] = errors
        self.violation = violation


@dataclass
class _File:
    field: str
    filename: str
    body: bytes
    content_type: str


@dataclass
class _Request:
    request: web.Request
    method: str
    path: str  # below /api/v10
    params: dict[str, str]

    @property
    def query(self) -> Mapping[str, str]:
        return self.request.query


_Handler = Callable[[_Request], Awaitable[web.Response]]


class _Connection:
    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.identified = False
        self.lock = asyncio.Lock()

    async def send(self, frame: dict[str, Any]) -> bool:
        if self.ws.closed:
            return False
        async with self.lock:
            try:
                await self.ws.send_str(json.dumps(frame))
            except (ConnectionError, RuntimeError):
                return False
        return True


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    # body= (not text=) so the Content-Type is exactly application/json, which discord.py
    # requires before it parses a body as JSON.
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _no_content() -> web.Response:
    return web.Response(status=204)


def _form_error(problems: list[Problem], where: str) -> _Refused:
    hard = [p for p in problems if p.hard]
    if any(p.code == "EMPTY_MESSAGE" for p in hard) and len(hard) == 1:
        return _Refused(
            400, 50006, "Cannot send an empty message", violation=f"{where}: empty message"
        )
    details = "; ".join(str(p) for p in hard)
    return _Refused(
        400,
        50035,
        "Invalid Form Body",
        errors=errors_tree(hard),
        violation=f"{where}: Invalid Form Body: {details}",
    )


def _as_id(value: Any) -> int:
    if isinstance(value, Mapping):
        value = value.get("id")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise FakeDiscordError(
            f"expected an id (int, digit string or dict with id), got {value!r}"
        ) from None


def _walk_components(components: Iterable[Any]) -> Iterable[dict[str, Any]]:
    for c in components or []:
        if isinstance(c, dict):
            yield c
            yield from _walk_components(c.get("components") or [])
            if isinstance(c.get("accessory"), dict):
                yield c["accessory"]


class FakeDiscord:
    """A fake Discord server for one bot; see the module docstring and README.md."""

    def __init__(
        self,
        *,
        app_id: int = 1300000000000000001,
        bot_id: int | None = None,
        bot_name: str = "briefbot",
        token: str = "fake-token",
        owner_id: int = 1300000000000000002,
        heartbeat_interval: int = 41250,
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
        everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS,
        callback_deadline: float = Limits.CALLBACK_DEADLINE,
    ) -> None:
        self.app_id = app_id
        self.bot_id = bot_id if bot_id is not None else app_id
        self.bot_name = bot_name
        self.token = token
        self.owner_id = owner_id
        self.heartbeat_interval = heartbeat_interval
        self.bot_permissions = bot_permissions
        self.everyone_permissions = everyone_permissions
        self.callback_deadline = callback_deadline

        self.violations: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self.messages: list[dict[str, Any]] = []
        self.interactions: list[Interaction] = []
        self._shown_to_everyone: set[tuple[int, str]] = set()
        self.typing: list[tuple[int, float]] = []
        self.reactions: list[tuple[str, str, str, str]] = []  # (method, channel, message, emoji)
        self.rate_limited: list[tuple[str, str]] = []
        self.gateway_log: list[dict[str, Any]] = []  # every op the bot sent except heartbeats
        self.presences: list[dict[str, Any]] = []
        self.dispatched: list[tuple[str, dict[str, Any]]] = []
        self.undelivered: list[tuple[str, str]] = []  # (event, why the bot did not get it)
        self.identify: dict[str, Any] | None = None
        self.intents: int = 0
        self.command_syncs: list[tuple[int | None, list[dict[str, Any]]]] = []

        self._guilds: dict[int, FakeGuild] = {}
        self._users: dict[int, dict[str, Any]] = {
            self.bot_id: user_payload(self.bot_id, bot_name, bot=True),
            owner_id: user_payload(owner_id, "owner"),
        }
        self._attachments: dict[str, tuple[dict[str, Any], bytes]] = {}
        self._messages: dict[str, dict[str, Any]] = {}
        self._deleted: set[str] = set()
        self._interactions: dict[str, Interaction] = {}
        self._by_token: dict[str, Interaction] = {}
        self._message_interaction: dict[str, Interaction] = {}
        self._commands: dict[int | None, list[dict[str, Any]]] = {}
        self._nonces: dict[tuple[int, str], str] = {}
        self._rate_limits: list[tuple[str, str, float]] = []
        self._crashes = 0

        self._conns: set[_Connection] = set()
        self._conn: _Connection | None = None
        self._session_id: str | None = None
        self._seq = 0
        self._sent: list[dict[str, Any]] = []  # dispatched frames, replayed on RESUME
        self._connected = False
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()

        self._runner: web.AppRunner | None = None
        self.port = 0
        self._routes = self._route_table()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> FakeDiscord:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"fake discord shutting down")
        for task in list(self._tasks):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def connected(self) -> bool:
        return self._connected

    # ------------------------------------------------------------------ world setup

    def add_guild(self, guild_id: int, name: str, *, channel_id: int | None = None) -> FakeGuild:
        """A guild with an @everyone role, a bot role, the bot member and a text channel."""
        if guild_id in self._guilds:
            raise FakeDiscordError(f"guild {guild_id} already exists")
        guild = FakeGuild(
            id=guild_id,
            name=name,
            channel_id=channel_id or snowflake(),
            owner_id=self.owner_id,
            bot_role_id=snowflake(),
        )
        guild.roles[guild_id] = role_payload(guild_id, "@everyone", self.everyone_permissions)
        guild.roles[guild.bot_role_id] = role_payload(
            guild.bot_role_id, self.bot_name, self.bot_permissions, position=1, bot_id=self.bot_id
        )
        guild.members[self.bot_id] = FakeMember(
            self.bot_id, self.bot_name, roles=[guild.bot_role_id], bot=True
        )
        guild.members[self.owner_id] = FakeMember(
            self.owner_id, "owner", permissions=ALL_PERMISSIONS
        )
        guild.channels[guild.channel_id] = channel_payload(guild_id, guild.channel_id, "general")
        self._guilds[guild_id] = guild
        if self._connected:
            self._spawn(self._dispatch("GUILD_CREATE", self._guild_create(guild)))
        return guild

    def add_channel(
        self,
        guild_id: int,
        channel_id: int,
        name: str,
        type: int = 0,
        parent_id: int | None = None,
    ) -> dict[str, Any]:
        """A text channel (type 0) or a thread (type 11, needs parent_id) in a known guild."""
        guild = self._guild(guild_id)
        if type in THREAD_TYPES:
            if parent_id is None or parent_id not in guild.channels:
                raise FakeDiscordError(f"thread {channel_id} needs a parent_id of a channel")
            data = channel_payload(
                guild_id, channel_id, name, type=type, parent_id=parent_id, owner_id=self.owner_id
            )
        else:
            data = channel_payload(
                guild_id,
                channel_id,
                name,
                type=type,
                parent_id=parent_id,
                position=len(guild.channels),
            )
        guild.channels[channel_id] = data
        if self._connected:
            event = "THREAD_CREATE" if type in THREAD_TYPES else "CHANNEL_CREATE"
            self._spawn(self._dispatch(event, copy.deepcopy(data)))
        return data

    def add_member(
        self,
        guild_id: int,
        user_id: int,
        name: str,
        *,
        permissions: int = 0,
        roles: list[int] | None = None,
        bot: bool = False,
    ) -> FakeMember:
        """A guild member; `permissions` is sent as the member's computed permissions."""
        guild = self._guild(guild_id)
        for role in roles or []:
            if role not in guild.roles:
                raise FakeDiscordError(f"role {role} is not in guild {guild_id}; add_role first")
        member = FakeMember(
            user_id, name, permissions=permissions, roles=list(roles or []), bot=bot
        )
        guild.members[user_id] = member
        self._users[user_id] = member.user()
        return member

    def add_role(
        self, guild_id: int, role_id: int, name: str, permissions: int = 0
    ) -> dict[str, Any]:
        guild = self._guild(guild_id)
        role = role_payload(role_id, name, permissions, position=len(guild.roles))
        guild.roles[role_id] = role
        return role

    def show_command_to_everyone(self, guild_id: int, name: str) -> None:
        """What a guild's admins can do in Server Settings → Integrations: override a
        command's default_member_permissions, so every member may run it."""
        self._shown_to_everyone.add((guild_id, name))

    def add_attachment(self, filename: str, body: bytes, content_type: str) -> dict[str, Any]:
        """An attachment a user uploads; the fake serves its bytes at its url."""
        return copy.deepcopy(self._store_attachment(filename, body, content_type))

    def guild(self, guild_id: int) -> FakeGuild:
        return self._guild(guild_id)

    # ------------------------------------------------------------------ inspection

    def message(self, message_id: int | str) -> dict[str, Any] | None:
        """The current state of a message (None when unknown or deleted)."""
        return self._messages.get(str(message_id))

    def channel_messages(self, channel_id: int) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(m) for m in self._messages.values() if m["channel_id"] == str(channel_id)
        ]

    def commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """Registered command payloads (with ids) for one scope (None = global)."""
        return copy.deepcopy(self._commands.get(guild_id, []))

    def replies_to(self, message_id: int | str) -> list[dict[str, Any]]:
        """Channel messages the bot posted as replies to `message_id` (current state)."""
        out = []
        for entry in self.messages:
            if entry["kind"] != "channel":
                continue
            ref = entry["payload"].get("message_reference") or {}
            if str(ref.get("message_id")) == str(message_id):
                current = self._messages.get(entry["id"])
                if current is not None:
                    out.append(copy.deepcopy(current))
        return out

    async def wait_reply(self, message_id: int | str, timeout: float = 10) -> dict[str, Any]:
        await self._wait_until(
            lambda: bool(self.replies_to(message_id)), timeout, f"a reply to {message_id}"
        )
        return self.replies_to(message_id)[0]

    async def wait_connected(self, timeout: float = 30) -> None:
        """Until the bot IDENTIFYed and got READY and every GUILD_CREATE."""
        await self._wait_until(lambda: self._connected, timeout, "the bot to connect")

    async def wait_commands(
        self, timeout: float = 30, guild_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Until a command sync (PUT) arrived for that scope; returns its commands."""
        scope = "global" if guild_id is None else f"guild {guild_id}"
        await self._wait_until(
            lambda: guild_id in self._commands, timeout, f"a command sync for {scope}"
        )
        return self.commands(guild_id)

    async def wait_for(
        self, check: Callable[[], bool], timeout: float = 10, what: str = "condition"
    ) -> None:
        """Until `check()` is true; re-checked whenever the fake records something."""
        await self._wait_until(check, timeout, what)

    def rate_limit_next(self, method: str, path_prefix: str, retry_after: float = 0.2) -> None:
        """The next request matching method and path (below /api/v10) answers 429."""
        prefix = path_prefix
        if prefix.startswith("/api/v10"):
            prefix = prefix[len("/api/v10") :]
        self._rate_limits.append((method.upper(), prefix, retry_after))

    async def drop_gateway(self, code: int = 4000) -> None:
        """Closes the bot's gateway connection (4000 lets discord.py RESUME)."""
        if self._conn is not None:
            await self._conn.ws.close(code=code)

    # ------------------------------------------------------------------ injection

    async def slash(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        guild_id: int,
        user_id: int,
        channel_id: int | None = None,
    ) -> Interaction:
        """A user runs /name (e.g. "ask" or "source add") with these option values."""
        data = self._command_data(name, dict(options or {}), guild_id, user_id, focused=None)
        return await self._interaction(
            APPLICATION_COMMAND, data, guild_id=guild_id, user_id=user_id, channel_id=channel_id
        )

    async def autocomplete(
        self,
        name: str,
        options: Mapping[str, Any] | None,
        focused: str,
        *,
        guild_id: int,
        user_id: int,
        channel_id: int | None = None,
    ) -> Interaction:
        """A user types into option `focused` of /name; the bot must answer with choices."""
        data = self._command_data(name, dict(options or {}), guild_id, user_id, focused=focused)
        return await self._interaction(
            AUTOCOMPLETE, data, guild_id=guild_id, user_id=user_id, channel_id=channel_id
        )

    async def click(
        self,
        message: Mapping[str, Any],
        custom_id: str,
        *,
        user_id: int,
        guild_id: int | None = None,
        channel_id: int | None = None,
        values: list[str] | None = None,
    ) -> Interaction:
        """A user clicks a button (or picks `values` in a select) on a message the bot sent."""
        mid = str(message.get("id"))
        stored = self._messages.get(mid)
        if stored is None:
            raise FakeDiscordError(f"message {mid} is unknown or deleted")
        component = None
        for comp in _walk_components(stored.get("components") or []):
            if comp.get("custom_id") == custom_id:
                component = comp
                break
        if component is None:
            known = [
                c.get("custom_id")
                for c in _walk_components(stored.get("components") or [])
                if c.get("custom_id")
            ]
            raise FakeDiscordError(f"message {mid} has no component {custom_id!r}; it has {known}")
        if component.get("disabled"):
            raise FakeDiscordError(f"component {custom_id!r} is disabled; users cannot use it")
        if stored.get("flags", 0) & EPHEMERAL:
            meta = stored.get("interaction_metadata") or {}
            owner = (meta.get("user") or {}).get("id")
            if owner is not None and owner != str(user_id):
                raise FakeDiscordError(f"message {mid} is ephemeral: only user {owner} sees it")
        data: dict[str, Any] = {
            "custom_id": custom_id,
            "component_type": component["type"],
        }
        if "id" in component:
            data["id"] = component["id"]
        if component["type"] in SELECT_TYPES:
            if values is None:
                raise FakeDiscordError(f"{custom_id!r} is a select menu: pass values=[...]")
            low, high = component.get("min_values", 1), component.get("max_values", 1)
            if not low <= len(values) <= high:
                raise FakeDiscordError(f"{custom_id!r} takes {low}..{high} values, got {values}")
            if component["type"] == 3:
                allowed = [o.get("value") for o in component.get("options") or []]
                bad = [v for v in values if v not in allowed]
                if bad:
                    raise FakeDiscordError(f"{custom_id!r} has no options {bad}; it has {allowed}")
            data["values"] = list(values)
        elif values is not None:
            raise FakeDiscordError(f"{custom_id!r} is a button; it takes no values")
        gid = guild_id if guild_id is not None else int(stored["guild_id"])
        cid = channel_id if channel_id is not None else int(stored["channel_id"])
        return await self._interaction(
            MESSAGE_COMPONENT,
            data,
            guild_id=gid,
            user_id=user_id,
            channel_id=cid,
            message=stored,
        )

    async def post_message(
        self,
        content: str,
        *,
        guild_id: int,
        channel_id: int | None = None,
        author_id: int,
        mention_bot: bool = True,
        attachments: list[Mapping[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """A user posts in a channel (MESSAGE_CREATE). With mention_bot the content starts
        with the bot's mention unless it already contains it, like a real @mention."""
        guild = self._guild(guild_id)
        cid = channel_id if channel_id is not None else guild.channel_id
        if cid not in guild.channels:
            raise FakeDiscordError(f"channel {cid} is not in guild {guild_id}")
        member = guild.members.get(author_id)
        if member is None:
            raise FakeDiscordError(f"user {author_id} is not a member of {guild_id}; add_member")
        mention = f"<@{self.bot_id}>"
        if mention_bot and mention not in content and f"<@!{self.bot_id}>" not in content:
            content = f"{mention} {content}"
        atts = []
        for att in attachments or []:
            stored = self._attachments.get(str(att.get("id")))
            if stored is None:
                raise FakeDiscordError("attachments must come from add_attachment()")
            atts.append(copy.deepcopy(stored[0]))
        msg = {
            "id": str(snowflake()),
            "type": 0,
            "channel_id": str(cid),
            "guild_id": str(guild_id),
            "author": member.user(),
            "content": content,
            "timestamp": iso_now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [
                {
                    **self._users[self.bot_id],
                    "member": guild.members[self.bot_id].payload(with_user=False),
                }
            ]
            if mention_bot
            else [],
            "mention_roles": [],
            "attachments": atts,
            "embeds": [],
            "components": [],
            "pinned": False,
            "flags": 0,
            "nonce": str(snowflake()),
        }
        self._require_connected()
        self._messages[msg["id"]] = msg
        await self._dispatch_message("MESSAGE_CREATE", msg, mentions_bot=mention_bot)
        return copy.deepcopy(msg)

    # ------------------------------------------------------------------ internals: helpers

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_until(
        self,
        check: Callable[[], bool],
        timeout: float,
        what: str,
        interaction: Interaction | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not check():
            if self._crashes:
                raise AssertionError(self._report("the fake crashed (a bug in tests/fakediscord)"))
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(self._report(f"timed out after {timeout} s waiting for {what}"))
            event = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(remaining, 0.5))

    def _report(self, headline: str) -> str:
        lines = [headline]
        lines.append(f"  connected: {self._connected}; violations: {self.violations}")
        lines.append(f"  last requests: {self.requests[-8:]}")
        if self.interactions:
            it = self.interactions[-1]
            lines.append(
                f"  last interaction: {it!r} responses={[r['type'] for r in it.responses]}"
            )
        return "\n".join(lines)

    def _violate(self, text: str) -> None:
        request = _CURRENT_REQUEST.get()
        if request is not None:
            text = f"{request}: {text}"
        log.warning("fake discord violation: %s", text)
        self.violations.append(text)
        self._notify()

    def _guild(self, guild_id: int) -> FakeGuild:
        try:
            return self._guilds[int(guild_id)]
        except KeyError:
            raise FakeDiscordError(f"guild {guild_id} is unknown; add_guild first") from None

    def _channel(self, channel_id: int) -> tuple[FakeGuild, dict[str, Any]] | None:
        for guild in self._guilds.values():
            channel = guild.channels.get(channel_id)
            if channel is not None:
                return guild, channel
        return None

    def _require_connected(self) -> None:
        if not self._connected:
            raise FakeDiscordError("the bot is not connected; await fake.wait_connected() first")

    def _bot_permissions(self, guild: FakeGuild) -> int:
        member = guild.members[self.bot_id]
        perms = int(guild.roles[guild.id]["permissions"])
        for role in member.roles:
            if role in guild.roles:
                perms |= int(guild.roles[role]["permissions"])
        if perms & ADMINISTRATOR:
            return ALL_PERMISSIONS
        return perms

    def _store_attachment(
        self, filename: str, body: bytes, content_type: str, *, description: str | None = None
    ) -> dict[str, Any]:
        aid = str(snowflake())
        quoted = urllib.parse.quote(filename)
        url = f"{self.base_url}/attachments/{aid}/{quoted}"
        att: dict[str, Any] = {
            "id": aid,
            "filename": filename,
            "size": len(body),
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
        }
        if description is not None:
            att["description"] = description
        self._attachments[aid] = (att, body)
        return att

    # ------------------------------------------------------------------ gateway

    def _ready(self, shard: list[int] | None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "v": 10,
            "user": {
                **self._users[self.bot_id],
                "verified": True,
                "mfa_enabled": False,
                "email": None,
            },
            "guilds": [{"id": str(g.id), "unavailable": True} for g in self._shard_guilds(shard)],
            "session_id": self._session_id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.app_id), "flags": self._application_flags()},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["fake"],
            "auth": {},
            "_trace": ["fake-discord"],
        }
        if shard is not None:
            data["shard"] = shard
        return data

    def _shard_guilds(self, shard: list[int] | None) -> list[FakeGuild]:
        if shard is None:
            return list(self._guilds.values())
        shard_id, count = shard
        return [g for g in self._guilds.values() if (g.id >> 22) % count == shard_id]

    def _guild_create(self, guild: FakeGuild) -> dict[str, Any]:
        channels = [c for c in guild.channels.values() if c["type"] not in THREAD_TYPES]
        threads = [c for c in guild.channels.values() if c["type"] in THREAD_TYPES]
        return copy.deepcopy(
            {
                "id": str(guild.id),
                "name": guild.name,
                "icon": None,
                "splash": None,
                "discovery_splash": None,
                "banner": None,
                "description": None,
                "owner_id": str(guild.owner_id),
                "afk_channel_id": None,
                "afk_timeout": 300,
                "verification_level": 0,
                "default_message_notifications": 0,
                "explicit_content_filter": 0,
                "mfa_level": 0,
                "nsfw_level": 0,
                "application_id": None,
                "system_channel_id": None,
                "system_channel_flags": 0,
                "rules_channel_id": None,
                "public_updates_channel_id": None,
                "safety_alerts_channel_id": None,
                "max_members": 500000,
                "vanity_url_code": None,
                "premium_tier": 0,
                "premium_subscription_count": 0,
                "premium_progress_bar_enabled": False,
                "preferred_locale": "en-US",
                "features": [],
                "emojis": [],
                "stickers": [],
                "roles": list(guild.roles.values()),
                "joined_at": guild.joined_at,
                "large": False,
                "unavailable": False,
                "lazy": True,
                "member_count": len(guild.members),
                "members": [m.payload() for m in guild.members.values()],
                "channels": channels,
                "threads": threads,
                "voice_states": [],
                "presences": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
                "incidents_data": None,
            }
        )

    @staticmethod
    def _application_flags() -> int:
        # GATEWAY_PRESENCE_LIMITED | GATEWAY_GUILD_MEMBERS_LIMITED |
        # GATEWAY_MESSAGE_CONTENT_LIMITED | APPLICATION_COMMAND_BADGE
        return (1 << 13) | (1 << 15) | (1 << 19) | (1 << 23)

    async def _dispatch(self, event: str, data: dict[str, Any]) -> bool:
        """Sends one DISPATCH frame; returns whether a live connection took it."""
        self._seq += 1
        frame = {"op": 0, "t": event, "s": self._seq, "d": data}
        self._sent.append(frame)
        del self._sent[:-2000]
        self.dispatched.append((event, data))
        conn = self._conn
        delivered = conn is not None and conn.identified and await conn.send(frame)
        self._notify()
        return delivered

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        conn = _Connection(ws)
        self._conns.add(conn)
        query = request.query
        if query.get("v") not in (None, "10"):
            self._violate(f"gateway: connected with v={query.get('v')} (expected 10)")
        if query.get("encoding") not in (None, "json"):
            self._violate(f"gateway: encoding={query.get('encoding')} is not supported by the fake")
            await ws.close(code=4002, message=b"Decode error")
            return ws
        await conn.send(
            {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval}, "s": None, "t": None}
        )
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    try:
                        frame = json.loads(msg.data)
                    except ValueError:
                        self._violate("gateway: a frame that is not JSON")
                        await ws.close(code=4002, message=b"Decode error")
                        break
                    await self._gateway_op(conn, frame)
                elif msg.type is WSMsgType.BINARY:
                    self._violate("gateway: a binary frame (the fake speaks JSON text)")
                    await ws.close(code=4002, message=b"Decode error")
                    break
        finally:
            self._conns.discard(conn)
            if self._conn is conn:
                self._conn = None
            self._notify()
        return ws

    async def _gateway_op(self, conn: _Connection, frame: dict[str, Any]) -> None:
        op, d = frame.get("op"), frame.get("d")
        if op == 1:
            await conn.send({"op": 11, "d": None, "s": None, "t": None})
            return
        self.gateway_log.append(frame)
        if op == 2:
            await self._on_identify(conn, d or {})
        elif op == 6:
            await self._on_resume(conn, d or {})
        elif op == 3:
            self.presences.append(d)
        elif op == 8:
            await self._on_request_members(conn, d or {})
        elif op in (4, 31, 37):  # voice state, request soundboard sounds, request channel info
            pass
        else:
            self._violate(f"gateway: unknown opcode {op}")
            await conn.ws.close(code=4001, message=b"Unknown opcode")

    async def _on_identify(self, conn: _Connection, d: dict[str, Any]) -> None:
        if conn.identified:
            self._violate("gateway: IDENTIFY sent twice on one connection")
            await conn.ws.close(code=4005, message=b"Already authenticated")
            return
        if d.get("token") != self.token:
            self._violate("gateway: IDENTIFY with the wrong token")
            await conn.ws.close(code=4004, message=b"Authentication failed")
            return
        if "intents" not in d or not isinstance(d.get("properties"), dict):
            self._violate("gateway: IDENTIFY without intents or properties")
            await conn.ws.close(code=4013, message=b"Invalid intent(s)")
            return
        shard = d.get("shard")
        if shard is not None and not (
            isinstance(shard, list) and len(shard) == 2 and 0 <= shard[0] < shard[1]
        ):
            self._violate(f"gateway: invalid shard {shard}")
            await conn.ws.close(code=4010, message=b"Invalid shard")
            return
        self.identify = d
        self.intents = int(d["intents"])
        if d.get("presence"):
            self.presences.append(d["presence"])
        self._session_id = secrets.token_hex(16)
        self._seq = 0
        self._sent = []
        self._conn = conn
        conn.identified = True
        await self._dispatch("READY", self._ready(shard))
        for guild in self._shard_guilds(shard):
            await self._dispatch("GUILD_CREATE", self._guild_create(guild))
        self._connected = True
        self._notify()

    async def _on_resume(self, conn: _Connection, d: dict[str, Any]) -> None:
        if d.get("token") != self.token:
            self._violate("gateway: RESUME with the wrong token")
            await conn.ws.close(code=4004, message=b"Authentication failed")
            return
        if self._session_id is None or d.get("session_id") != self._session_id:
            await conn.send({"op": 9, "d": False, "s": None, "t": None})
            return
        last = d.get("seq") or 0
        self._conn = conn
        conn.identified = True
        for frame in self._sent:
            if frame["s"] > last:
                await conn.send(frame)
        await self._dispatch("RESUMED", {"_trace": ["fake-discord"]})

    async def _on_request_members(self, conn: _Connection, d: dict[str, Any]) -> None:
        gid = int(d.get("guild_id", 0))
        guild = self._guilds.get(gid)
        members = [m.payload() for m in guild.members.values()] if guild else []
        wanted = d.get("user_ids")
        if wanted:
            wanted_ids = {str(u) for u in (wanted if isinstance(wanted, list) else [wanted])}
            members = [m for m in members if m["user"]["id"] in wanted_ids]
        elif d.get("query"):
            members = [m for m in members if m["user"]["username"].startswith(d["query"])]
        if d.get("limit"):
            members = members[: int(d["limit"])]
        chunk: dict[str, Any] = {
            "guild_id": str(gid),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if d.get("nonce") is not None:
            chunk["nonce"] = d["nonce"]
        await self._dispatch("GUILD_MEMBERS_CHUNK", chunk)

    async def _dispatch_message(
        self, event: str, message: dict[str, Any], *, mentions_bot: bool = False
    ) -> None:
        """MESSAGE_CREATE/UPDATE as Discord sends them: only with the GUILD_MESSAGES intent,
        and without content for a bot lacking MESSAGE_CONTENT unless the bot is mentioned."""
        if not self.intents & INTENT_GUILD_MESSAGES:
            self.undelivered.append((event, "the bot lacks the GUILD_MESSAGES intent"))
            return
        data = copy.deepcopy(message)
        guild = self._guilds.get(int(message["guild_id"]))
        author_id = int(message["author"]["id"])
        if guild is not None and author_id in guild.members:
            data["member"] = guild.members[author_id].payload(with_user=False)
        own = author_id == self.bot_id
        if not (self.intents & INTENT_MESSAGE_CONTENT) and not own and not mentions_bot:
            data.update(content="", embeds=[], attachments=[], components=[])
            self.undelivered.append((event, "content hidden: no MESSAGE_CONTENT intent"))
        await self._dispatch(event, data)

    async def _dispatch_delete(self, message: dict[str, Any]) -> None:
        if not self.intents & INTENT_GUILD_MESSAGES:
            self.undelivered.append(("MESSAGE_DELETE", "the bot lacks the GUILD_MESSAGES intent"))
            return
        ids = {k: message[k] for k in ("id", "channel_id", "guild_id")}
        await self._dispatch("MESSAGE_DELETE", ids)

    # ------------------------------------------------------------------ HTTP plumbing

    def _route_table(self) -> list[tuple[str, re.Pattern[str], _Handler, bool]]:
        """(method, path pattern, handler, needs the bot's Authorization header)."""
        channel_message = "/channels/{channel_id}/messages/{message_id}"
        webhook_message = "/webhooks/{webhook_id}/{token}/messages/{message_ref}"
        table: list[tuple[str, str, _Handler, bool]] = [
            ("GET", "/users/@me", self._get_me, True),
            ("GET", "/users/{user_id}", self._get_user, True),
            ("GET", "/oauth2/applications/@me", self._get_application, True),
            ("GET", "/applications/@me", self._get_application, True),
            ("GET", "/gateway", self._get_gateway, False),
            ("GET", "/gateway/bot", self._get_gateway_bot, True),
            ("GET", "/applications/{app_id}/commands", self._get_commands, True),
            ("PUT", "/applications/{app_id}/commands", self._put_commands, True),
            ("GET", "/applications/{app_id}/commands/{command_id}", self._get_command, True),
            ("GET", "/applications/{app_id}/guilds/{guild_id}/commands", self._get_commands, True),
            ("PUT", "/applications/{app_id}/guilds/{guild_id}/commands", self._put_commands, True),
            (
                "GET",
                "/applications/{app_id}/guilds/{guild_id}/commands/{command_id}",
                self._get_command,
                True,
            ),
            ("POST", "/interactions/{interaction_id}/{token}/callback", self._post_callback, False),
            ("POST", "/webhooks/{webhook_id}/{token}", self._post_webhook, False),
            ("GET", webhook_message, self._get_webhook_message, False),
            ("PATCH", webhook_message, self._patch_webhook_message, False),
            ("DELETE", webhook_message, self._delete_webhook_message, False),
            ("GET", "/channels/{channel_id}", self._get_channel, True),
            ("POST", "/channels/{channel_id}/messages", self._post_channel_message, True),
            ("GET", channel_message, self._get_channel_message, True),
            ("PATCH", channel_message, self._patch_channel_message, True),
            ("DELETE", channel_message, self._delete_channel_message, True),
            ("POST", "/channels/{channel_id}/typing", self._post_typing, True),
            ("POST", channel_message + "/threads", self._post_message_thread, True),
            ("PUT", channel_message + "/reactions/{emoji}/@me", self._reaction, True),
            ("DELETE", channel_message + "/reactions/{emoji}/@me", self._reaction, True),
            ("GET", "/guilds/{guild_id}", self._get_guild, True),
            ("GET", "/guilds/{guild_id}/channels", self._get_guild_channels, True),
            ("GET", "/guilds/{guild_id}/roles", self._get_guild_roles, True),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self._get_member, True),
        ]
        special = {"token": r"[^/]+", "emoji": r"[^/]+", "message_ref": r"@original|\d+"}

        def group(m: re.Match[str]) -> str:
            return f"(?P<{m.group(1)}>{special.get(m.group(1), SNOWFLAKE_RE)})"

        return [(m, re.compile(re.sub(r"\{(\w+)\}", group, p)), h, a) for m, p, h, a in table]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if request.headers.get("Upgrade", "").lower() == "websocket":
            self.requests.append(("GET", path))
            return await self._gateway(request)
        if path.startswith("/attachments/"):
            self.requests.append((request.method, path))
            return self._serve_attachment(request)
        match = re.fullmatch(r"/api/v(\d+)(/.*)", path)
        if match is None:
            self.requests.append((request.method, path))
            self._violate(f"{request.method} {path}: not an API path")
            return _json({"message": "404: Not Found", "code": 0}, 404)
        version, sub = match.group(1), match.group(2)
        method = request.method
        self.requests.append((method, sub))
        self._notify()
        _CURRENT_REQUEST.set(f"{method} {_redact(sub)}")
        if version != "10":
            self._violate(f"API v{version} (the fake speaks v10)")
            return _json({"message": "404: Not Found", "code": 0}, 404)
        route = None
        path_known = False
        for r_method, pattern, handler, auth in self._routes:
            m = pattern.fullmatch(sub)
            if m is None:
                continue
            path_known = True
            if r_method == method:
                route = (handler, auth, m.groupdict())
                break
        if route is None:
            if path_known:
                self._violate("method not allowed")
                return _json({"message": "405: Method Not Allowed", "code": 0}, 405)
            self._violate("unknown route (not implemented by the fake, or wrong)")
            return _json({"message": "404: Not Found", "code": 0}, 404)
        handler, auth, params = route
        if auth and request.headers.get("Authorization") != f"Bot {self.token}":
            self._violate("missing or wrong Authorization header")
            return _json({"message": "401: Unauthorized", "code": 0}, 401)
        for i, (rl_method, prefix, retry_after) in enumerate(self._rate_limits):
            if rl_method == method and sub.startswith(prefix):
                del self._rate_limits[i]
                self.rate_limited.append((method, sub))
                return self._too_many_requests(method, prefix, retry_after)
        try:
            return await handler(_Request(request, method, sub, params))
        except _Refused as refused:
            if refused.violation:
                self._violate(refused.violation)
            return _json(refused.body, refused.status)
        except FakeDiscordError as exc:
            self._violate(str(exc))
            return _json({"message": str(exc), "code": 0}, 400)
        except Exception as exc:  # a bug in the fake: make it loud, never a 5xx retry loop
            self._crashes += 1
            self._violate(f"the fake crashed: {exc!r}\n{traceback.format_exc()}")
            return _json({"message": f"fake discord crashed: {exc!r}", "code": 0}, 400)

    @staticmethod
    def _too_many_requests(method: str, prefix: str, retry_after: float) -> web.Response:
        headers = {
            "Via": "1.1 google",
            "Retry-After": str(max(1, round(retry_after + 0.5))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Bucket": f"fake-{abs(hash((method, prefix))):x}",
            "X-RateLimit-Scope": "user",
        }
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": False,
        }
        return _json(body, 429, headers)

    def _serve_attachment(self, request: web.Request) -> web.StreamResponse:
        parts = request.path.split("/")
        stored = self._attachments.get(parts[2]) if len(parts) > 2 else None
        if stored is None:
            self._violate(f"GET {request.path}: unknown attachment")
            return web.Response(status=404, text="Not Found")
        att, body = stored
        return web.Response(
            body=body, content_type=att.get("content_type") or "application/octet-stream"
        )

    async def _read_body(self, req: _Request) -> tuple[Any, list[_File]]:
        request = req.request
        if not request.can_read_body:
            return None, []
        ctype = request.content_type
        if ctype == "multipart/form-data":
            payload: Any = None
            files: list[_File] = []
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):  # nested multipart: not Discord's
                    raise _Refused(400, 50035, "Invalid Form Body", violation="nested multipart")
                name = part.name or ""
                if name == "payload_json":
                    try:
                        payload = json.loads(await part.text())
                    except ValueError:
                        raise _Refused(
                            400,
                            50109,
                            "The request body contains invalid JSON.",
                            violation="payload_json is not JSON",
                        ) from None
                elif name.startswith("file"):
                    files.append(
                        _File(
                            name,
                            part.filename or "file",
                            bytes(await part.read(decode=False)),
                            part.headers.get("Content-Type", "application/octet-stream"),
                        )
                    )
                else:
                    self._violate(f"{req.method} {req.path}: unexpected multipart field {name!r}")
            return payload, files
        raw = await request.read()
        if not raw:
            return None, []
        if ctype != "application/json":
            raise _Refused(
                400,
                50109,
                "The request body contains invalid JSON.",
                violation=f"body sent as {ctype!r}, not application/json",
            )
        try:
            return json.loads(raw), []
        except ValueError:
            raise _Refused(
                400, 50109, "The request body contains invalid JSON.", violation="invalid JSON"
            ) from None

    # ------------------------------------------------------------------ REST: users, app

    async def _get_me(self, req: _Request) -> web.Response:
        return _json(
            {**self._users[self.bot_id], "verified": True, "mfa_enabled": False, "email": None}
        )

    async def _get_user(self, req: _Request) -> web.Response:
        user = self._users.get(int(req.params["user_id"]))
        if user is None:
            raise _Refused(404, 10013, "Unknown User")
        return _json(user)

    async def _get_application(self, req: _Request) -> web.Response:
        return _json(
            {
                "id": str(self.app_id),
                "name": self.bot_name,
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": self._application_flags(),
                "owner": self._users[self.owner_id],
                "team": None,
                "bot": self._users[self.bot_id],
                "hook": True,
                "interactions_endpoint_url": None,
                "redirect_uris": [],
                "rpc_origins": [],
                "tags": [],
                "approximate_guild_count": len(self._guilds),
                "integration_types_config": {"0": {}},
            }
        )

    async def _get_gateway(self, req: _Request) -> web.Response:
        return _json({"url": self.gateway_url})

    async def _get_gateway_bot(self, req: _Request) -> web.Response:
        return _json(
            {
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 86400000,
                    "max_concurrency": 1,
                },
            }
        )

    # ------------------------------------------------------------------ REST: commands

    def _command_scope(self, req: _Request) -> int | None:
        if int(req.params["app_id"]) != self.app_id:
            raise _Refused(
                403,
                50001,
                "Missing Access",
                violation=f"application id {req.params['app_id']} is not the bot's {self.app_id}",
            )
        if "guild_id" not in req.params:
            return None
        gid = int(req.params["guild_id"])
        if gid not in self._guilds:
            raise _Refused(403, 50001, "Missing Access", violation=f"the bot is not in guild {gid}")
        return gid

    async def _get_commands(self, req: _Request) -> web.Response:
        return _json(self.commands(self._command_scope(req)))

    async def _get_command(self, req: _Request) -> web.Response:
        scope = self._command_scope(req)
        for cmd in self._commands.get(scope, []):
            if cmd["id"] == req.params["command_id"]:
                return _json(cmd)
        raise _Refused(404, 10063, "Unknown application command")

    async def _put_commands(self, req: _Request) -> web.Response:
        scope = self._command_scope(req)
        body, _ = await self._read_body(req)
        problems = check_commands(body)
        if problems:
            raise _form_error(problems, "command sync")
        previous = {(c["name"], c.get("type", 1)): c["id"] for c in self._commands.get(scope, [])}
        stored = []
        for cmd in body:
            kind = cmd.get("type", 1)
            data: dict[str, Any] = {
                "id": previous.get((cmd["name"], kind)) or str(snowflake()),
                "application_id": str(self.app_id),
                "version": str(snowflake()),
                "type": kind,
                "name": cmd["name"],
                "name_localizations": cmd.get("name_localizations"),
                "description": cmd.get("description", ""),
                "description_localizations": cmd.get("description_localizations"),
                "default_member_permissions": cmd.get("default_member_permissions"),
                "nsfw": cmd.get("nsfw", False),
                "contexts": cmd.get("contexts"),
                "integration_types": cmd.get("integration_types", [0]),
            }
            if cmd.get("options"):
                data["options"] = copy.deepcopy(cmd["options"])
            if scope is not None:
                data["guild_id"] = str(scope)
            else:
                data["dm_permission"] = cmd.get("dm_permission", True)
            stored.append(data)
        self._commands[scope] = stored
        self.command_syncs.append((scope, copy.deepcopy(stored)))
        self._notify()
        return _json(stored)

    def _find_command(self, name: str, guild_id: int) -> tuple[dict[str, Any], int | None]:
        for scope in (guild_id, None):
            for cmd in self._commands.get(scope, []):
                if cmd["name"] == name and cmd.get("type", 1) == 1:
                    return cmd, scope
        known = {
            "guild": [c["name"] for c in self._commands.get(guild_id, [])],
            "global": [c["name"] for c in self._commands.get(None, [])],
        }
        raise FakeDiscordError(
            f"/{name} is not registered for guild {guild_id} or globally (registered: {known}); "
            "did the bot sync its command tree?"
        )

    def _command_data(
        self,
        name: str,
        options: dict[str, Any],
        guild_id: int,
        user_id: int,
        *,
        focused: str | None,
    ) -> dict[str, Any]:
        parts = name.strip().lstrip("/").split()
        if not parts:
            raise FakeDiscordError("empty command name")
        cmd, scope = self._find_command(parts[0], guild_id)
        guild = self._guild(guild_id)
        member = guild.members.get(user_id)
        if member is None:
            raise FakeDiscordError(f"user {user_id} is not a member of {guild_id}; add_member")
        contexts = cmd.get("contexts")
        if contexts is not None and 0 not in contexts:
            raise FakeDiscordError(f"/{parts[0]} is not available in guilds (contexts={contexts})")
        required = cmd.get("default_member_permissions")
        if (guild_id, parts[0]) in self._shown_to_everyone:
            required = None
        admin = member.permissions & ADMINISTRATOR
        if required is not None and not admin and int(required) & ~member.permissions:
            raise FakeDiscordError(
                f"/{parts[0]} needs permissions {required}; user {user_id} has "
                f"{member.permissions}, so Discord does not show them the command"
            )
        defs = cmd.get("options") or []
        path = []
        for part in parts[1:]:
            sub = next((o for o in defs if o.get("name") == part and o.get("type") in (1, 2)), None)
            if sub is None:
                subs = [o["name"] for o in defs if o.get("type") in (1, 2)]
                raise FakeDiscordError(
                    f"/{' '.join(parts)}: no subcommand {part!r} (there are {subs})"
                )
            path.append(sub)
            defs = sub.get("options") or []
        subs = [o["name"] for o in defs if o.get("type") in (1, 2)]
        if subs:
            raise FakeDiscordError(
                f"/{' '.join(parts)} is a group; name a subcommand: "
                + ", ".join(f"{' '.join(parts)} {s}" for s in subs)
            )
        leaf, resolved = self._leaf_options(" ".join(parts), defs, options, guild, focused=focused)
        nested = leaf
        for sub in reversed(path):
            nested = [{"name": sub["name"], "type": sub["type"], "options": nested}]
        data: dict[str, Any] = {
            "id": cmd["id"],
            "name": cmd["name"],
            "type": 1,
            "options": nested,
        }
        if scope is not None:
            data["guild_id"] = str(scope)
        if any(resolved.values()):
            data["resolved"] = {k: v for k, v in resolved.items() if v}
        return data

    def _leaf_options(
        self,
        command: str,
        defs: list[dict[str, Any]],
        given: dict[str, Any],
        guild: FakeGuild,
        *,
        focused: str | None,
    ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        by_name = {d["name"]: d for d in defs}
        unknown = [n for n in given if n not in by_name]
        if unknown:
            raise FakeDiscordError(
                f"/{command}: unknown option(s) {unknown}; it takes {list(by_name)}"
            )
        if focused is not None:
            spec = by_name.get(focused)
            if spec is None:
                raise FakeDiscordError(f"/{command}: no option {focused!r} to focus")
            if not spec.get("autocomplete"):
                raise FakeDiscordError(f"/{command}: option {focused!r} has no autocomplete")
        else:
            missing = [d["name"] for d in defs if d.get("required") and d["name"] not in given]
            if missing:
                raise FakeDiscordError(f"/{command}: required option(s) {missing} not given")
        resolved: dict[str, dict[str, Any]] = {
            "users": {},
            "members": {},
            "roles": {},
            "channels": {},
            "attachments": {},
        }
        out = []
        for spec in defs:
            name = spec["name"]
            if name == focused:
                value = given.get(name, "")
                out.append(
                    {
                        "name": name,
                        "type": spec["type"],
                        "value": value if isinstance(value, str) else str(value),
                        "focused": True,
                    }
                )
                continue
            if name not in given:
                continue
            value = self._option_value(command, spec, given[name], guild, resolved)
            out.append({"name": name, "type": spec["type"], "value": value})
        return out, resolved

    def _option_value(
        self,
        command: str,
        spec: dict[str, Any],
        value: Any,
        guild: FakeGuild,
        resolved: dict[str, dict[str, Any]],
    ) -> Any:
        kind, name = spec["type"], spec["name"]
        where = f"/{command} option {name!r}"
        if kind == 3:
            if not isinstance(value, str):
                raise FakeDiscordError(f"{where} is a string, got {value!r}")
            low, high = spec.get("min_length", 0), spec.get("max_length", 6000)
            if not low <= len(value) <= high:
                raise FakeDiscordError(f"{where} takes {low}..{high} characters, got {len(value)}")
        elif kind == 4:
            if isinstance(value, bool) or not isinstance(value, int):
                raise FakeDiscordError(f"{where} is an integer, got {value!r}")
        elif kind == 10:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise FakeDiscordError(f"{where} is a number, got {value!r}")
        elif kind == 5 and not isinstance(value, bool):
            raise FakeDiscordError(f"{where} is a boolean, got {value!r}")
        if kind in (4, 10):
            low, high = spec.get("min_value"), spec.get("max_value")
            if (low is not None and value < low) or (high is not None and value > high):
                raise FakeDiscordError(f"{where} takes {low}..{high}, got {value}")
        if kind in (3, 4, 10) and spec.get("choices"):
            allowed = [c["value"] for c in spec["choices"]]
            if value not in allowed:
                raise FakeDiscordError(f"{where} must be one of {allowed}, got {value!r}")
            return value
        if kind in (3, 4, 5, 10):
            return value
        if kind == 11:
            aid = str(_as_id(value))
            stored = self._attachments.get(aid)
            if stored is None:
                raise FakeDiscordError(f"{where}: pass an attachment from add_attachment()")
            resolved["attachments"][aid] = copy.deepcopy(stored[0])
            return aid
        snowflake_id = _as_id(value)
        if kind in (6, 9) and snowflake_id in self._users:
            resolved["users"][str(snowflake_id)] = copy.deepcopy(self._users[snowflake_id])
            member = guild.members.get(snowflake_id)
            if member is not None:
                resolved["members"][str(snowflake_id)] = {
                    **member.payload(with_user=False),
                    "permissions": str(member.permissions),
                }
            return str(snowflake_id)
        if kind in (8, 9) and snowflake_id in guild.roles:
            resolved["roles"][str(snowflake_id)] = copy.deepcopy(guild.roles[snowflake_id])
            return str(snowflake_id)
        if kind == 7 and snowflake_id in guild.channels:
            channel = guild.channels[snowflake_id]
            types = spec.get("channel_types")
            if types and channel["type"] not in types:
                raise FakeDiscordError(f"{where} takes channel types {types}")
            partial = {
                k: channel[k]
                for k in ("id", "name", "type", "parent_id", "thread_metadata")
                if k in channel
            }
            partial["permissions"] = str(self._bot_permissions(guild))
            resolved["channels"][str(snowflake_id)] = partial
            return str(snowflake_id)
        raise FakeDiscordError(f"{where}: {value!r} is not a known user/role/channel of {guild.id}")

    # ------------------------------------------------------------------ interactions

    async def _interaction(
        self,
        type: int,
        data: dict[str, Any],
        *,
        guild_id: int,
        user_id: int,
        channel_id: int | None,
        message: dict[str, Any] | None = None,
    ) -> Interaction:
        self._require_connected()
        guild = self._guild(guild_id)
        member = guild.members.get(user_id)
        if member is None:
            raise FakeDiscordError(f"user {user_id} is not a member of {guild_id}; add_member")
        cid = channel_id if channel_id is not None else guild.channel_id
        channel = guild.channels.get(cid)
        if channel is None:
            raise FakeDiscordError(f"channel {cid} is not in guild {guild_id}")
        iid = str(snowflake())
        token = "fake-" + secrets.token_urlsafe(60)
        payload: dict[str, Any] = {
            "id": iid,
            "application_id": str(self.app_id),
            "type": type,
            "data": data,
            "guild_id": str(guild_id),
            "guild": {"id": str(guild_id), "locale": "en-US", "features": []},
            "channel_id": str(cid),
            "channel": {**copy.deepcopy(channel), "permissions": str(member.permissions)},
            "member": {**member.payload(), "permissions": str(member.permissions)},
            "token": token,
            "version": 1,
            "app_permissions": str(self._bot_permissions(guild)),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": str(guild_id)},
            "context": 0,
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        if message is not None:
            payload["message"] = copy.deepcopy(message)
        it = Interaction(
            self,
            id=iid,
            token=token,
            type=type,
            guild_id=guild_id,
            channel_id=cid,
            user_id=user_id,
            payload=payload,
            source_message_id=message["id"] if message is not None else None,
        )
        self._interactions[iid] = it
        self._by_token[token] = it
        self.interactions.append(it)
        it.dispatched_at = time.monotonic()
        delivered = await self._dispatch("INTERACTION_CREATE", payload)
        if not delivered:
            raise FakeDiscordError("the gateway connection is gone; INTERACTION_CREATE was lost")
        return it

    def _interaction_message(
        self, it: Interaction, payload: dict[str, Any], files: list[_File], *, flags: int
    ) -> dict[str, Any]:
        guild = self._guilds[it.guild_id]
        member = guild.members[it.user_id]
        msg = self._new_message(
            channel_id=it.channel_id,
            guild_id=it.guild_id,
            payload=payload,
            files=files,
            type=20 if it.type == APPLICATION_COMMAND else 0,
            flags=flags,
        )
        msg["webhook_id"] = str(self.app_id)
        msg["application_id"] = str(self.app_id)
        msg["interaction_metadata"] = {
            "id": it.id,
            "type": it.type,
            "user": member.user(),
            "authorizing_integration_owners": {"0": str(it.guild_id)},
        }
        if it.type == APPLICATION_COMMAND:
            msg["interaction_metadata"]["name"] = it.payload["data"]["name"]
            msg["interaction_metadata"]["command_type"] = 1
        self._message_interaction[msg["id"]] = it
        return msg

    def _new_message(
        self,
        *,
        channel_id: int,
        guild_id: int,
        payload: dict[str, Any],
        files: list[_File],
        type: int,
        flags: int,
    ) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "id": str(snowflake()),
            "type": type,
            "channel_id": str(channel_id),
            "guild_id": str(guild_id),
            "author": copy.deepcopy(self._users[self.bot_id]),
            "content": payload.get("content") or "",
            "timestamp": iso_now(),
            "edited_timestamp": None,
            "tts": bool(payload.get("tts")),
            "mention_everyone": False,
            "mentions": self._mentions(payload, guild_id),
            "mention_roles": [],
            "attachments": self._attachments_for(payload, files, []),
            "embeds": self._embeds(payload.get("embeds")),
            "components": self._components(payload.get("components")),
            "pinned": False,
            "flags": flags,
        }
        if payload.get("nonce") is not None:
            msg["nonce"] = payload["nonce"]
        return msg

    def _mentions(self, payload: Mapping[str, Any], guild_id: int) -> list[dict[str, Any]]:
        """Users the message really pings (mentioned in content AND allowed to be pinged)."""
        am = payload.get("allowed_mentions")
        content = payload.get("content") or ""
        mentioned = [int(u) for u in re.findall(r"<@!?(\d+)>", content)]
        if am is None:
            allowed = set(mentioned)
        else:
            allowed = set(mentioned) if "users" in (am.get("parse") or []) else set()
            allowed |= {int(u) for u in am.get("users") or []}
        guild = self._guilds.get(guild_id)
        out = []
        for uid in dict.fromkeys(mentioned):
            if uid in allowed and uid in self._users:
                user = copy.deepcopy(self._users[uid])
                if guild is not None and uid in guild.members:
                    user["member"] = guild.members[uid].payload(with_user=False)
                out.append(user)
        return out

    @staticmethod
    def _embeds(embeds: Any) -> list[dict[str, Any]]:
        out = []
        for embed in embeds or []:
            e = copy.deepcopy(embed)
            e.setdefault("type", "rich")
            e.setdefault("content_scan_version", 0)
            out.append(e)
        return out

    @staticmethod
    def _components(components: Any) -> list[dict[str, Any]]:
        comps = copy.deepcopy(components or [])
        for counter, comp in enumerate(_walk_components(comps), start=1):
            comp.setdefault("id", counter)
        return comps

    def _attachments_for(
        self, payload: Mapping[str, Any], files: list[_File], existing: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        by_index: dict[int, _File] = {}
        for i, f in enumerate(files):
            m = re.fullmatch(r"files?\[(\d+)\]", f.field)
            by_index[int(m.group(1)) if m else i] = f
        if "attachments" not in payload or payload.get("attachments") is None:
            new = [self._store_attachment(f.filename, f.body, f.content_type) for f in files]
            return [*copy.deepcopy(existing), *new] if files else copy.deepcopy(existing)
        old = {a["id"]: a for a in existing}
        out = []
        used: set[int] = set()
        for i, a in enumerate(payload["attachments"]):
            aid = str(a.get("id"))
            if aid in old:
                out.append(copy.deepcopy(old[aid]))
            elif aid.isdigit() and int(aid) in by_index:
                f = by_index[int(aid)]
                used.add(int(aid))
                out.append(
                    self._store_attachment(
                        a.get("filename") or f.filename,
                        f.body,
                        f.content_type,
                        description=a.get("description"),
                    )
                )
            else:
                raise _Refused(
                    400,
                    50035,
                    "Invalid Form Body",
                    errors=errors_tree(
                        [Problem(("attachments", i, "id"), "ATTACHMENT_NOT_FOUND", "Unknown")]
                    ),
                    violation=f"attachments.{i}: id {aid} is neither a new file nor kept",
                )
        unused = sorted(set(by_index) - used)
        if unused:
            self._violate(f"uploaded files {unused} are not listed in attachments (dropped)")
        return out

    def _apply_edit(
        self, message: dict[str, Any], payload: dict[str, Any], files: list[_File], where: str
    ) -> dict[str, Any]:
        new = copy.deepcopy(message)
        if "content" in payload:
            new["content"] = payload["content"] or ""
            new["mentions"] = self._mentions(payload, int(message["guild_id"]))
        if "embeds" in payload:
            new["embeds"] = self._embeds(payload["embeds"])
        if "components" in payload:
            new["components"] = self._components(payload["components"])
        if "attachments" in payload or files:
            new["attachments"] = self._attachments_for(payload, files, message["attachments"])
        if payload.get("flags") is not None:
            keep = new.get("flags", 0) & ~SUPPRESS_EMBEDS
            new["flags"] = keep | (payload["flags"] & SUPPRESS_EMBEDS)
            if payload["flags"] & IS_COMPONENTS_V2:
                new["flags"] |= IS_COMPONENTS_V2
        new["flags"] = new.get("flags", 0) & ~LOADING
        new["edited_timestamp"] = iso_now()
        if is_empty_message(new):
            raise _Refused(
                400, 50006, "Cannot send an empty message", violation=f"{where}: edit empties it"
            )
        return new

    def _record(
        self,
        kind: str,
        message: dict[str, Any],
        payload: Any,
        interaction: Interaction | None = None,
    ) -> None:
        self.messages.append(
            {
                "kind": kind,
                "channel_id": int(message["channel_id"]),
                "payload": copy.deepcopy(payload),
                "at": time.monotonic(),
                "id": message["id"],
                "message": copy.deepcopy(message),
                "interaction_id": interaction.id if interaction is not None else None,
            }
        )

    def _check_payload(
        self, payload: Any, where: str, *, edit: bool = False, files: int = 0
    ) -> None:
        problems = check_message_problems(payload, edit=edit, files=files)
        for p in problems:
            if not p.hard:
                self._violate(f"{where}: {p}")
        if any(p.hard for p in problems):
            raise _form_error(problems, where)

    async def _post_callback(self, req: _Request) -> web.Response:
        now = time.monotonic()
        it = self._interactions.get(req.params["interaction_id"])
        if it is None or it.token != req.params["token"]:
            raise _Refused(404, 10062, "Unknown interaction", violation="unknown interaction")
        body, files = await self._read_body(req)
        if not isinstance(body, dict) or not isinstance(body.get("type"), int):
            raise _Refused(
                400, 50035, "Invalid Form Body", violation="callback without an integer type"
            )
        kind, data = body["type"], body.get("data")
        record: dict[str, Any] = {"type": kind, "data": copy.deepcopy(data), "at": now}
        it.responses.append(record)
        elapsed = now - it.dispatched_at
        if it.ack_seconds is None:
            it.ack_seconds = elapsed
        self._notify()
        where = f"interaction {it.id} callback type {kind}"
        try:
            response = await self._callback(it, kind, data or {}, files, elapsed, where)
        except _Refused as refused:
            record["status"] = refused.status
            raise
        record["status"] = 200
        it.response_type = kind
        self._notify()
        return response

    async def _callback(
        self,
        it: Interaction,
        kind: int,
        data: dict[str, Any],
        files: list[_File],
        elapsed: float,
        where: str,
    ) -> web.Response:
        if it.response_type is not None:
            raise _Refused(
                400,
                40060,
                "Interaction has already been acknowledged.",
                violation=f"{where}: second callback (first was type {it.response_type})",
            )
        if elapsed > self.callback_deadline:
            raise _Refused(
                404,
                10062,
                "Unknown interaction",
                violation=f"{where}: first callback {elapsed:.2f} s after dispatch "
                f"(Discord allows {self.callback_deadline:.1f} s)",
            )
        if kind not in ALLOWED_CALLBACKS.get(it.type, set()):
            raise _Refused(
                400,
                50035,
                "Invalid Form Body",
                errors=errors_tree([Problem(("type",), "INTERACTION_CALLBACK_TYPE", "Invalid")]),
                violation=f"{where}: not a valid answer to interaction type {it.type}",
            )
        message: dict[str, Any] | None = None
        if kind == 4:
            self._check_payload(data, where, files=len(files))
            flags = int(data.get("flags") or 0)
            message = self._interaction_message(it, data, files, flags=flags)
            self._messages[message["id"]] = message
            it.original_id = message["id"]
            it.ephemeral = bool(flags & EPHEMERAL)
            self._record("callback", message, data, it)
            it._add_visible(message)
            if not it.ephemeral:
                await self._dispatch_message("MESSAGE_CREATE", message)
        elif kind == 5:
            flags = int(data.get("flags") or 0) & EPHEMERAL
            message = self._interaction_message(it, {}, [], flags=flags | LOADING)
            self._messages[message["id"]] = message
            it.original_id = message["id"]
            it.ephemeral = bool(flags & EPHEMERAL)
            if not it.ephemeral:
                await self._dispatch_message("MESSAGE_CREATE", message)
        elif kind in (6, 7):
            source = self._messages.get(it.source_message_id or "")
            if source is None:
                raise _Refused(404, 10008, "Unknown Message", violation=f"{where}: message gone")
            it.original_id = source["id"]
            it.ephemeral = bool(source.get("flags", 0) & EPHEMERAL)
            if kind == 7:
                self._check_payload(data, where, edit=True, files=len(files))
                message = self._apply_edit(source, data, files, where)
                self._messages[message["id"]] = message
                self._record("callback", message, data, it)
                it._add_visible(message)
                if not it.ephemeral:
                    await self._dispatch_message("MESSAGE_UPDATE", message)
            else:
                message = source
        elif kind == 8:
            problems = check_autocomplete(data)
            if problems:
                raise _form_error(problems, where)
            it.autocomplete_choices = copy.deepcopy(data["choices"])
        elif kind == 9:
            problems = check_modal(data)
            if problems:
                raise _form_error(problems, where)
            it.modal = copy.deepcopy(data)
        interaction = {
            "id": it.id,
            "type": it.type,
            "response_message_id": message["id"] if message is not None else None,
            "response_message_loading": kind == 5,
            "response_message_ephemeral": it.ephemeral,
        }
        resource: dict[str, Any] = {"type": kind}
        if message is not None and kind in (4, 5, 7):
            resource["message"] = copy.deepcopy(message)
        return _json({"interaction": interaction, "resource": resource})

    def _webhook_interaction(self, req: _Request, where: str) -> Interaction:
        if int(req.params["webhook_id"]) != self.app_id:
            raise _Refused(
                404, 10015, "Unknown Webhook", violation=f"{where}: webhook id is not the app id"
            )
        it = self._by_token.get(req.params["token"])
        if it is None:
            raise _Refused(404, 10015, "Unknown Webhook", violation=f"{where}: unknown token")
        if it.seconds_since_dispatch() > Limits.TOKEN_LIFETIME:
            raise _Refused(
                401, 50027, "Invalid Webhook Token", violation=f"{where}: token expired (15 min)"
            )
        if it.response_type is None:
            raise _Refused(
                404,
                10015,
                "Unknown Webhook",
                violation=f"{where}: interaction {it.id} has no accepted callback yet",
            )
        if it.response_type in (8, 9):
            raise _Refused(
                404,
                10015,
                "Unknown Webhook",
                violation=f"{where}: interaction answered with type {it.response_type} has no "
                "messages",
            )
        return it

    def _webhook_message_id(self, it: Interaction, raw: str, where: str) -> str:
        mid = it.original_id if raw == "@original" else raw
        own = {it.original_id, *(f["id"] for f in it.followups)}
        if mid is None or mid not in own or mid not in self._messages:
            raise _Refused(
                404, 10008, "Unknown Message", violation=f"{where}: no message {raw} for it"
            )
        return mid

    async def _post_webhook(self, req: _Request) -> web.Response:
        it = self._webhook_interaction(req, "follow-up")
        where = f"follow-up to interaction {it.id}"
        payload, files = await self._read_body(req)
        payload = payload or {}
        self._check_payload(payload, where, files=len(files))
        original = self._messages.get(it.original_id or "")
        if it.response_type == 5 and original is not None and original["flags"] & LOADING:
            # Discord (documented, deprecated): the first follow-up after a deferral edits the
            # loading message instead, keeping the deferral's ephemeral flag.
            if int(payload.get("flags") or 0) & EPHEMERAL and not original["flags"] & EPHEMERAL:
                self._violate(
                    f"{where}: asks to be ephemeral but replaces a public deferral, so "
                    "everyone sees it (defer with ephemeral=True instead)"
                )
            message = self._apply_edit(original, {**payload, "flags": None}, files, where)
        else:
            flags = int(payload.get("flags") or 0)
            message = self._interaction_message(it, payload, files, flags=flags)
        self._messages[message["id"]] = message
        followup = copy.deepcopy(message)
        it.followups.append(followup)
        self._record("followup", message, payload, it)
        it._add_visible(message)
        self._notify()
        if not message["flags"] & EPHEMERAL:
            event = "MESSAGE_UPDATE" if message["id"] == it.original_id else "MESSAGE_CREATE"
            await self._dispatch_message(event, message)
        if req.query.get("wait") in ("true", "True", "1"):
            return _json(message)
        return _no_content()

    async def _get_webhook_message(self, req: _Request) -> web.Response:
        where = "fetch of an interaction message"
        it = self._webhook_interaction(req, where)
        mid = self._webhook_message_id(it, req.params["message_ref"], where)
        return _json(self._messages[mid])

    async def _patch_webhook_message(self, req: _Request) -> web.Response:
        raw = req.params["message_ref"]
        where = f"edit of {raw}"
        it = self._webhook_interaction(req, where)
        where = f"interaction {it.id} edit of {raw}"
        mid = self._webhook_message_id(it, raw, where)
        payload, files = await self._read_body(req)
        payload = payload or {}
        self._check_payload(payload, where, edit=True, files=len(files))
        message = self._apply_edit(self._messages[mid], payload, files, where)
        self._messages[mid] = message
        it.edits.append({**copy.deepcopy(payload), "id": mid, "at": time.monotonic()})
        self._record("edit", message, payload, it)
        it._add_visible(message)
        self._notify()
        if not message["flags"] & EPHEMERAL:
            await self._dispatch_message("MESSAGE_UPDATE", message)
        return _json(message)

    async def _delete_webhook_message(self, req: _Request) -> web.Response:
        raw = req.params["message_ref"]
        where = f"delete of {raw}"
        it = self._webhook_interaction(req, where)
        mid = self._webhook_message_id(it, raw, where)
        message = self._messages.pop(mid)
        self._deleted.add(mid)
        it.deleted.append(mid)
        self._notify()
        if not message["flags"] & EPHEMERAL:
            await self._dispatch_delete(message)
        return _no_content()

    # ------------------------------------------------------------------ REST: channels

    def _channel_or_404(self, req: _Request) -> tuple[FakeGuild, dict[str, Any]]:
        found = self._channel(int(req.params["channel_id"]))
        if found is None:
            raise _Refused(
                404,
                10003,
                "Unknown Channel",
                violation=f"channel {req.params['channel_id']} is unknown",
            )
        return found

    def _message_or_404(self, req: _Request) -> dict[str, Any]:
        message = self._messages.get(req.params["message_id"])
        if (
            message is None
            or message["channel_id"] != req.params["channel_id"]
            or message.get("flags", 0) & EPHEMERAL  # ephemeral: only reachable via the webhook
        ):
            raise _Refused(
                404,
                10008,
                "Unknown Message",
                violation=f"message {req.params['message_id']} is not in that channel",
            )
        return message

    def _require(self, guild: FakeGuild, channel: dict[str, Any], needed: int, what: str) -> None:
        perms = self._bot_permissions(guild)
        if needed & ~perms:
            raise _Refused(
                403,
                50013,
                "Missing Permissions",
                violation=f"the bot lacks permission {needed & ~perms} to {what} in "
                f"{channel['id']}",
            )

    async def _get_channel(self, req: _Request) -> web.Response:
        return _json(self._channel_or_404(req)[1])

    async def _post_channel_message(self, req: _Request) -> web.Response:
        guild, channel = self._channel_or_404(req)
        cid = int(channel["id"])
        where = f"message in channel {cid}"
        send = SEND_MESSAGES_IN_THREADS if channel["type"] in THREAD_TYPES else SEND_MESSAGES
        self._require(guild, channel, VIEW_CHANNEL | send, "send messages")
        payload, files = await self._read_body(req)
        payload = payload or {}
        self._check_payload(payload, where, files=len(files))
        if files or payload.get("attachments"):
            self._require(guild, channel, ATTACH_FILES, "attach files")
        if payload.get("embeds") and not self._bot_permissions(guild) & EMBED_LINKS:
            self._violate(f"{where}: embeds without EMBED_LINKS permission are not shown")
        if payload.get("flags", 0) & EPHEMERAL:
            raise _form_error(
                [
                    Problem(
                        ("flags",), "MESSAGE_FLAGS_INVALID", "Channel messages cannot be ephemeral"
                    )
                ],
                where,
            )
        nonce = payload.get("nonce")
        if nonce is not None and payload.get("enforce_nonce"):
            seen = self._nonces.get((cid, str(nonce)))
            if seen is not None and seen in self._messages:
                return _json(self._messages[seen])
        ref = payload.get("message_reference")
        referenced = None
        if ref:
            self._require(guild, channel, READ_MESSAGE_HISTORY, "reply")
            ref_channel = str(ref.get("channel_id") or cid)
            referenced = self._messages.get(str(ref.get("message_id")))
            if referenced is None or referenced["channel_id"] != ref_channel:
                referenced = None
                if ref.get("fail_if_not_exists", True):
                    raise _Refused(
                        400,
                        50035,
                        "Invalid Form Body",
                        errors=errors_tree(
                            [
                                Problem(
                                    ("message_reference",),
                                    "REPLIES_UNKNOWN_MESSAGE",
                                    "Unknown message",
                                )
                            ]
                        ),
                        violation=f"{where}: replies to unknown message {ref.get('message_id')}",
                    )
        message = self._new_message(
            channel_id=cid,
            guild_id=guild.id,
            payload=payload,
            files=files,
            type=19 if referenced is not None else 0,
            flags=int(payload.get("flags") or 0),
        )
        if referenced is not None:
            message["message_reference"] = {
                "type": 0,
                "message_id": referenced["id"],
                "channel_id": referenced["channel_id"],
                "guild_id": referenced["guild_id"],
            }
            message["referenced_message"] = {
                k: v for k, v in referenced.items() if k != "referenced_message"
            }
            am = payload.get("allowed_mentions")
            if am is None or am.get("replied_user"):
                author = copy.deepcopy(referenced["author"])
                if author["id"] not in {m["id"] for m in message["mentions"]}:
                    message["mentions"].append(author)
        if nonce is not None:
            self._nonces[(cid, str(nonce))] = message["id"]
        self._messages[message["id"]] = message
        channel["last_message_id"] = message["id"]
        self._record("channel", message, payload)
        self._notify()
        await self._dispatch_message("MESSAGE_CREATE", message)
        return _json(message)

    async def _get_channel_message(self, req: _Request) -> web.Response:
        guild, channel = self._channel_or_404(req)
        self._require(guild, channel, VIEW_CHANNEL | READ_MESSAGE_HISTORY, "read history")
        return _json(self._message_or_404(req))

    async def _patch_channel_message(self, req: _Request) -> web.Response:
        self._channel_or_404(req)
        message = self._message_or_404(req)
        where = f"edit of message {message['id']}"
        if message["author"]["id"] != str(self.bot_id):
            raise _Refused(
                403,
                50005,
                "Cannot edit a message authored by another user",
                violation=f"{where}: not the bot's own message",
            )
        payload, files = await self._read_body(req)
        payload = payload or {}
        self._check_payload(payload, where, edit=True, files=len(files))
        new = self._apply_edit(message, payload, files, where)
        self._messages[new["id"]] = new
        self._record("edit", new, payload)
        self._notify()
        await self._dispatch_message("MESSAGE_UPDATE", new)
        return _json(new)

    async def _delete_channel_message(self, req: _Request) -> web.Response:
        guild, channel = self._channel_or_404(req)
        message = self._message_or_404(req)
        if message["author"]["id"] != str(self.bot_id):
            self._require(guild, channel, MANAGE_MESSAGES, "delete others' messages")
        del self._messages[message["id"]]
        self._deleted.add(message["id"])
        self._notify()
        await self._dispatch_delete(message)
        return _no_content()

    async def _post_typing(self, req: _Request) -> web.Response:
        guild, channel = self._channel_or_404(req)
        send = SEND_MESSAGES_IN_THREADS if channel["type"] in THREAD_TYPES else SEND_MESSAGES
        self._require(guild, channel, VIEW_CHANNEL | send, "type")
        self.typing.append((int(channel["id"]), time.monotonic()))
        self._notify()
        return _no_content()

    async def _post_message_thread(self, req: _Request) -> web.Response:
        """Starts a public thread from a message: the thread takes the message's id."""
        guild, channel = self._channel_or_404(req)
        message = self._message_or_404(req)
        where = f"thread from message {message['id']}"
        if channel["type"] not in (0, 5):
            raise _Refused(
                400,
                50024,
                "Cannot execute action on this channel type",
                violation=f"{where}: channel {channel['id']} (type {channel['type']}) "
                "cannot have threads",
            )
        self._require(guild, channel, VIEW_CHANNEL | CREATE_PUBLIC_THREADS, "create threads")
        payload, files = await self._read_body(req)
        payload = payload if isinstance(payload, dict) else {}
        problems = []
        unknown = sorted(set(payload) - {"name", "auto_archive_duration", "rate_limit_per_user"})
        if unknown or files:
            self._violate(f"{where}: unknown fields {unknown or ['files']}")
        name = payload.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            problems.append(Problem(("name",), "BASE_TYPE_BAD_LENGTH", "Must be 1-100 long."))
        archive = payload.get("auto_archive_duration", 1440)
        if archive not in (60, 1440, 4320, 10080):
            problems.append(
                Problem(("auto_archive_duration",), "BASE_TYPE_CHOICES", "Value must be one of.")
            )
        slowmode = payload.get("rate_limit_per_user")
        if slowmode is not None and not (
            isinstance(slowmode, int) and not isinstance(slowmode, bool) and 0 <= slowmode <= 21600
        ):
            problems.append(
                Problem(("rate_limit_per_user",), "NUMBER_TYPE_MAX", "Must be 0-21600.")
            )
        if problems:
            raise _form_error(problems, where)
        thread_id = int(message["id"])
        if thread_id in guild.channels:
            raise _Refused(
                400,
                160004,
                "A thread has already been created for this message",
                violation=f"{where}: it already has a thread",
            )
        thread = channel_payload(
            guild.id,
            thread_id,
            name,
            type=11,
            parent_id=int(channel["id"]),
            owner_id=self.bot_id,
        )
        thread["thread_metadata"]["auto_archive_duration"] = archive
        thread["rate_limit_per_user"] = slowmode or 0
        guild.channels[thread_id] = thread
        message["thread"] = copy.deepcopy(thread)
        message["flags"] = int(message.get("flags") or 0) | 1 << 5  # HAS_THREAD
        self._notify()
        await self._dispatch("THREAD_CREATE", {**copy.deepcopy(thread), "newly_created": True})
        return _json(copy.deepcopy(thread), 201)

    async def _reaction(self, req: _Request) -> web.Response:
        guild, channel = self._channel_or_404(req)
        message = self._message_or_404(req)
        emoji = urllib.parse.unquote(req.params["emoji"])
        if req.method == "PUT":
            self._require(guild, channel, READ_MESSAGE_HISTORY, "react")
        self.reactions.append((req.method, channel["id"], message["id"], emoji))
        self._notify()
        return _no_content()

    # ------------------------------------------------------------------ REST: guilds

    def _guild_or_404(self, req: _Request) -> FakeGuild:
        guild = self._guilds.get(int(req.params["guild_id"]))
        if guild is None:
            raise _Refused(
                404, 10004, "Unknown Guild", violation=f"guild {req.params['guild_id']} unknown"
            )
        return guild

    async def _get_guild(self, req: _Request) -> web.Response:
        data = self._guild_create(self._guild_or_404(req))
        for key in ("channels", "threads", "members", "voice_states", "presences", "joined_at"):
            data.pop(key, None)
        return _json(data)

    async def _get_guild_channels(self, req: _Request) -> web.Response:
        guild = self._guild_or_404(req)
        return _json([c for c in guild.channels.values() if c["type"] not in THREAD_TYPES])

    async def _get_guild_roles(self, req: _Request) -> web.Response:
        return _json(list(self._guild_or_404(req).roles.values()))

    async def _get_member(self, req: _Request) -> web.Response:
        guild = self._guild_or_404(req)
        member = guild.members.get(int(req.params["user_id"]))
        if member is None:
            raise _Refused(404, 10007, "Unknown Member")
        return _json(member.payload())
