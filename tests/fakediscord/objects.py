"""Snowflakes, timestamps and the JSON objects Discord sends (users, members, roles, channels)."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

DISCORD_EPOCH_MS = 1420070400000

# Permission bits (https://discord.com/developers/docs/topics/permissions).
ADMINISTRATOR = 1 << 3
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_EXTERNAL_EMOJIS = 1 << 18
USE_APPLICATION_COMMANDS = 1 << 31
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 51) - 1

DEFAULT_EVERYONE_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | READ_MESSAGE_HISTORY
    | ADD_REACTIONS
    | EMBED_LINKS
    | ATTACH_FILES
    | USE_EXTERNAL_EMOJIS
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS
)
DEFAULT_BOT_PERMISSIONS = DEFAULT_EVERYONE_PERMISSIONS

THREAD_TYPES = frozenset({10, 11, 12})

_lock = threading.Lock()
_last = 0
_counter = itertools.count()


def snowflake() -> int:
    """A fresh, strictly increasing snowflake whose timestamp is now."""
    global _last
    with _lock:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        value = (ms << 22) | (1 << 17) | (next(_counter) & 0xFFF)
        if value <= _last:
            value = _last + 1
        _last = value
        return value


def iso_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def user_payload(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(user_id),
        "username": name,
        "discriminator": "0",
        "global_name": None if bot else name,
        "avatar": None,
        "banner": None,
        "accent_color": None,
        "public_flags": 0,
        "flags": 0,
        "avatar_decoration_data": None,
        "primary_guild": None,
        "collectibles": None,
    }
    if bot:
        data["bot"] = True
    return data


@dataclass
class FakeMember:
    user_id: int
    name: str
    permissions: int = 0  # computed permissions sent in interactions
    roles: list[int] = field(default_factory=list)
    bot: bool = False
    joined_at: str = field(default_factory=iso_now)

    def user(self) -> dict[str, Any]:
        return user_payload(self.user_id, self.name, bot=self.bot)

    def payload(self, *, with_user: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roles": [str(r) for r in self.roles],
            "joined_at": self.joined_at,
            "nick": None,
            "avatar": None,
            "banner": None,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user()
        return data


@dataclass
class FakeGuild:
    """A guild the bot is in; `channel_id` is its default text channel."""

    id: int
    name: str
    channel_id: int
    owner_id: int
    bot_role_id: int
    channels: dict[int, dict[str, Any]] = field(default_factory=dict)
    roles: dict[int, dict[str, Any]] = field(default_factory=dict)
    members: dict[int, FakeMember] = field(default_factory=dict)
    joined_at: str = field(default_factory=iso_now)


def role_payload(
    role_id: int, name: str, permissions: int, *, position: int = 0, bot_id: int | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(role_id),
        "name": name,
        "permissions": str(permissions),
        "position": position,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "managed": bot_id is not None,
        "mentionable": False,
        "flags": 0,
    }
    if bot_id is not None:
        data["tags"] = {"bot_id": str(bot_id)}
    return data


def channel_payload(
    guild_id: int,
    channel_id: int,
    name: str,
    *,
    type: int = 0,
    parent_id: int | None = None,
    position: int = 0,
    owner_id: int | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(channel_id),
        "type": type,
        "guild_id": str(guild_id),
        "name": name,
        "parent_id": str(parent_id) if parent_id is not None else None,
        "nsfw": False,
        "rate_limit_per_user": 0,
        "last_message_id": None,
        "flags": 0,
    }
    if type in THREAD_TYPES:
        now = iso_now()
        data.update(
            owner_id=str(owner_id) if owner_id is not None else None,
            message_count=0,
            member_count=1,
            total_message_sent=0,
            thread_metadata={
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": now,
                "locked": False,
                "invitable": True,
                "create_timestamp": now,
            },
        )
    else:
        data.update(
            position=position,
            permission_overwrites=[],
            topic=None,
            default_thread_rate_limit_per_user=0,
            default_auto_archive_duration=1440,
        )
    return data
