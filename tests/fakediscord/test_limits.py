"""The payload checks on their own: each Discord limit is enforced at its exact boundary."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakediscord import Limits, check_message
from tests.fakediscord.limits import check_autocomplete, check_commands

QUIET = {"parse": []}


def message(**fields: Any) -> dict[str, Any]:
    return {"allowed_mentions": QUIET, **fields}


def test_a_plain_quiet_message_passes() -> None:
    """The shape discord.py sends with AllowedMentions.none() is clean."""
    assert check_message(message(content="hi", tts=False)) == []


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"content": "x" * (Limits.CONTENT + 1)}, "content"),
        ({"embeds": [{"title": "t"}] * (Limits.EMBEDS + 1)}, "embeds"),
        ({"embeds": [{"title": "x" * 257}]}, "embeds.0.title"),
        ({"embeds": [{"description": "x" * 4097}]}, "embeds.0.description"),
        ({"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]}, "embeds.0.fields"),
        ({"embeds": [{"fields": [{"name": "x" * 257, "value": "v"}]}]}, "fields.0.name"),
        ({"embeds": [{"fields": [{"name": "n", "value": "x" * 1025}]}]}, "fields.0.value"),
        ({"embeds": [{"fields": [{"name": "n", "value": ""}]}]}, "fields.0.value"),
        ({"embeds": [{"footer": {"text": "x" * 2049}}]}, "footer.text"),
        ({"embeds": [{"author": {"name": "x" * 257}}]}, "author.name"),
        ({"embeds": [{"description": "x" * 4000}, {"description": "x" * 2001}]}, "6000"),
        ({}, "empty message"),
        ({"content": "   "}, "empty message"),
    ],
)
def test_message_limits(fields: dict[str, Any], needle: str) -> None:
    """Each over-limit payload yields exactly one problem naming the field."""
    problems = check_message(message(**fields))
    assert len(problems) == 1 and needle in problems[0]


def test_limits_are_inclusive() -> None:
    """Exactly at the limit is fine (Discord counts 'or fewer')."""
    first = {"title": "t" * Limits.EMBED_TITLE, "description": "d" * Limits.EMBED_DESCRIPTION}
    rest = Limits.EMBED_TOTAL - Limits.EMBED_TITLE - Limits.EMBED_DESCRIPTION
    embeds = [first, {"description": "d" * rest}]
    assert check_message(message(content="x" * Limits.CONTENT, embeds=embeds)) == []
    embeds[1]["description"] += "d"
    assert len(check_message(message(content="x", embeds=embeds))) == 1


def button(custom_id: str, label: str = "go") -> dict[str, Any]:
    return {"type": 2, "style": 1, "label": label, "custom_id": custom_id}


@pytest.mark.parametrize(
    ("components", "needle"),
    [
        ([{"type": 1, "components": [button(f"b{i}")]} for i in range(6)], "components"),
        ([{"type": 1, "components": [button(f"b{i}") for i in range(6)]}], "components.0"),
        ([{"type": 1, "components": [button("x" * 101)]}], "custom_id"),
        ([{"type": 1, "components": [button("a", "x" * 81)]}], "label"),
        ([{"type": 1, "components": [button("a"), button("a")]}], "duplicated"),
        ([button("a")], "action rows"),
    ],
)
def test_component_limits(components: list[dict[str, Any]], needle: str) -> None:
    problems = check_message(message(content="c", components=components))
    assert problems and any(needle in p for p in problems), problems


@pytest.mark.parametrize(
    ("allowed", "needle"),
    [
        (None, "missing"),
        ({}, "absent"),
        ({"parse": ["users"]}, "pings"),
        ({"parse": ["everyone"]}, "pings"),
        ({"parse": [], "users": ["1"]}, "pings users"),
        ({"parse": [], "roles": ["1"]}, "pings roles"),
        ({"parse": [], "replied_user": True}, "replied_user"),
    ],
)
def test_allowed_mentions_must_ping_no_one(allowed: dict[str, Any] | None, needle: str) -> None:
    """Missing or permissive allowed_mentions is a problem even though Discord accepts it."""
    payload: dict[str, Any] = {"content": "<@1> hi"}
    if allowed is not None:
        payload["allowed_mentions"] = allowed
    problems = check_message(payload)
    assert len(problems) == 1 and needle in problems[0], problems


def test_quiet_allowed_mentions_variants_pass() -> None:
    for allowed in ({"parse": []}, {"parse": [], "replied_user": False}, {"users": []}):
        assert check_message({"content": "x", "allowed_mentions": allowed}) == []


def test_edits_may_omit_content() -> None:
    assert check_message({"allowed_mentions": QUIET, "components": []}, edit=True) == []


def test_autocomplete_limits() -> None:
    ok = {"choices": [{"name": "a", "value": "a"}] * Limits.AUTOCOMPLETE_CHOICES}
    assert check_autocomplete(ok) == []
    assert check_autocomplete({"choices": ok["choices"] + [{"name": "b", "value": "b"}]})
    assert check_autocomplete({"choices": [{"name": "", "value": "a"}]})
    assert check_autocomplete({"choices": [{"name": "x" * 101, "value": "a"}]})


def test_command_validation() -> None:
    good = [{"name": "ask", "description": "Ask", "type": 1, "options": []}]
    assert check_commands(good) == []
    bad_name = [{"name": "Ask Me", "description": "Ask", "type": 1}]
    assert check_commands(bad_name)
    order = [
        {
            "name": "ask",
            "description": "Ask",
            "options": [
                {"name": "a", "description": "a", "type": 3},
                {"name": "b", "description": "b", "type": 3, "required": True},
            ],
        }
    ]
    assert "before non-required" in str(check_commands(order)[0])
