"""One injected interaction and everything the bot did in answer to it."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import FakeDiscord

APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5

# Which callback types Discord accepts for each interaction type.
ALLOWED_CALLBACKS = {
    APPLICATION_COMMAND: {4, 5, 9, 12},
    MESSAGE_COMPONENT: {4, 5, 6, 7, 9, 12},
    AUTOCOMPLETE: {8},
    MODAL_SUBMIT: {4, 5, 6, 7},
}


class Interaction:
    """What the fake dispatched (INTERACTION_CREATE) and what the bot answered.

    `responses` holds every callback the bot attempted, accepted or not (each with the HTTP
    `status` the fake answered); `followups` and `edits` only hold accepted ones.
    """

    def __init__(
        self,
        fake: FakeDiscord,
        *,
        id: str,
        token: str,
        type: int,
        guild_id: int,
        channel_id: int,
        user_id: int,
        payload: dict[str, Any],
        source_message_id: str | None = None,
    ) -> None:
        self._fake = fake
        self.id = id
        self.token = token
        self.type = type
        self.guild_id = guild_id
        self.channel_id = channel_id
        self.user_id = user_id
        self.payload = payload  # the INTERACTION_CREATE `d`
        self.source_message_id = source_message_id  # the message a component was on
        self.dispatched_at: float = 0.0
        self.responses: list[dict[str, Any]] = []
        self.followups: list[dict[str, Any]] = []
        self.edits: list[dict[str, Any]] = []
        self.ack_seconds: float | None = None
        self.response_type: int | None = None  # the accepted callback's type
        self.original_id: str | None = None
        self.ephemeral: bool = False
        self.autocomplete_choices: list[dict[str, Any]] | None = None
        self.modal: dict[str, Any] | None = None
        self.deleted: list[str] = []  # ids of messages deleted through the webhook
        self._visible: list[dict[str, Any]] = []

    def __repr__(self) -> str:
        return (
            f"<Interaction id={self.id} type={self.type} response_type={self.response_type} "
            f"followups={len(self.followups)} edits={len(self.edits)}>"
        )

    @property
    def original(self) -> dict[str, Any] | None:
        """The @original message as it is now (after callback 4/5/6/7 and edits)."""
        if self.original_id is None:
            return None
        message = self._fake.message(self.original_id)
        return copy.deepcopy(message) if message is not None else None

    @property
    def visible_messages(self) -> list[dict[str, Any]]:
        """Snapshots of each visible message state, in order (see `wait_messages`)."""
        return list(self._visible)

    def _add_visible(self, message: dict[str, Any]) -> None:
        self._visible.append(copy.deepcopy(message))

    async def _wait(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        await self._fake._wait_until(check, timeout, f"interaction {self.id}: {what}", self)

    async def wait_response(self, timeout: float = 10) -> dict[str, Any]:
        """The first callback the bot attempted (also when the fake refused it)."""
        await self._wait(lambda: bool(self.responses), timeout, "a callback")
        return self.responses[0]

    async def wait_message(self, timeout: float = 10) -> dict[str, Any]:
        """The first message state the user can see: callback 4/7, a follow-up or an edit."""
        return (await self.wait_messages(1, timeout))[0]

    async def wait_messages(self, n: int, timeout: float = 10) -> list[dict[str, Any]]:
        """The first `n` visible message states, each a full message object snapshot.

        Counted: callback type 4 and 7 messages, every follow-up, and every edit of @original
        or of a follow-up. A deferral (type 5/6) alone shows nothing and is not counted.
        """
        await self._wait(lambda: len(self._visible) >= n, timeout, f"{n} visible message(s)")
        return self._visible[:n]

    def seconds_since_dispatch(self) -> float:
        return time.monotonic() - self.dispatched_at
