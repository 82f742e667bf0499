"""Discord's documented payload limits and the checks the fake applies to what the bot sends.

Every check returns `Problem`s; `check_message` renders them as strings. A problem is *hard*
when real Discord rejects the request (400 Invalid Form Body / 50006 empty message) and *soft*
when Discord accepts it but the bot is wrong anyway (it may ping someone): the server answers
hard problems with the error Discord would send and records both kinds as violations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class Limits:
    """Limits from the Discord API reference (message, embed, component, command, interaction)."""

    CONTENT = 2000
    EMBEDS = 10
    EMBED_TITLE = 256
    EMBED_DESCRIPTION = 4096
    EMBED_FIELDS = 25
    FIELD_NAME = 256
    FIELD_VALUE = 1024
    FOOTER_TEXT = 2048
    AUTHOR_NAME = 256
    EMBED_TOTAL = 6000  # title + description + field names/values + footer text + author name
    ATTACHMENTS = 10
    STICKERS = 3

    ACTION_ROWS = 5
    ROW_BUTTONS = 5
    CUSTOM_ID = 100
    BUTTON_LABEL = 80
    SELECT_OPTIONS = 25
    SELECT_PLACEHOLDER = 150
    SELECT_VALUES = 25
    OPTION_LABEL = 100
    OPTION_VALUE = 100
    OPTION_DESCRIPTION = 100
    V2_COMPONENTS = 40  # total (nested) components of a components-v2 message
    MODAL_TITLE = 45
    MODAL_ROWS = 5

    AUTOCOMPLETE_CHOICES = 25
    CHOICE_NAME = 100
    CHOICE_VALUE = 100

    COMMAND_NAME = 32
    COMMAND_DESCRIPTION = 100
    COMMAND_OPTIONS = 25
    COMMAND_CHOICES = 25
    COMMAND_TOTAL = 4000  # name + description + every option's name/description/choices
    CHAT_INPUT_COMMANDS = 100  # per scope
    USER_COMMANDS = 15
    MESSAGE_COMMANDS = 15

    CALLBACK_DEADLINE = 3.0  # seconds from INTERACTION_CREATE to the first callback
    TOKEN_LIFETIME = 15 * 60.0  # seconds an interaction token accepts follow-ups and edits


EPHEMERAL = 1 << 6
SUPPRESS_EMBEDS = 1 << 2
LOADING = 1 << 7
SUPPRESS_NOTIFICATIONS = 1 << 12
IS_COMPONENTS_V2 = 1 << 15
SENDABLE_FLAGS = EPHEMERAL | SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2

BUTTON = 2
TEXT_INPUT = 4
SELECTS = frozenset({3, 5, 6, 7, 8})
V2_ONLY = frozenset({9, 10, 11, 12, 13, 14, 17})


@dataclass(frozen=True)
class Problem:
    """One reason a payload is wrong; `path` is the field path Discord would report."""

    path: tuple[str | int, ...]
    code: str
    message: str
    hard: bool = True

    def __str__(self) -> str:
        where = ".".join(str(p) for p in self.path) or "<body>"
        return f"{where}: {self.message}"


def _max_len(
    out: list[Problem], value: Any, limit: int, path: tuple[str | int, ...], *, required: bool
) -> None:
    if value is None:
        if required:
            out.append(Problem(path, "BASE_TYPE_REQUIRED", "This field is required"))
        return
    if not isinstance(value, str):
        out.append(Problem(path, "STRING_TYPE_CONVERT", f"Must be a string, got {value!r}"))
        return
    if required and not value.strip():
        out.append(Problem(path, "BASE_TYPE_REQUIRED", "This field is required (empty)"))
    if len(value) > limit:
        out.append(
            Problem(
                path,
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {limit} or fewer in length (got {len(value)}).",
            )
        )


def check_embeds(embeds: Any) -> list[Problem]:
    """Embed count, per-field lengths and the 6000-character total across all embeds."""
    out: list[Problem] = []
    if embeds is None:
        return out
    if not isinstance(embeds, list):
        return [Problem(("embeds",), "LIST_TYPE_CONVERT", "Must be an array")]
    if len(embeds) > Limits.EMBEDS:
        out.append(
            Problem(
                ("embeds",),
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {Limits.EMBEDS} or fewer in length (got {len(embeds)}).",
            )
        )
    total = 0
    for i, embed in enumerate(embeds):
        at: tuple[str | int, ...] = ("embeds", i)
        if not isinstance(embed, Mapping):
            out.append(Problem(at, "DICT_TYPE_CONVERT", "Must be an object"))
            continue
        for key, limit in (
            ("title", Limits.EMBED_TITLE),
            ("description", Limits.EMBED_DESCRIPTION),
        ):
            value = embed.get(key)
            _max_len(out, value, limit, (*at, key), required=False)
            total += len(value) if isinstance(value, str) else 0
        fields = embed.get("fields") or []
        if len(fields) > Limits.EMBED_FIELDS:
            out.append(
                Problem(
                    (*at, "fields"),
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {Limits.EMBED_FIELDS} or fewer in length (got {len(fields)}).",
                )
            )
        for j, field in enumerate(fields):
            fat = (*at, "fields", j)
            name, value = field.get("name"), field.get("value")
            _max_len(out, name, Limits.FIELD_NAME, (*fat, "name"), required=True)
            _max_len(out, value, Limits.FIELD_VALUE, (*fat, "value"), required=True)
            total += sum(len(v) for v in (name, value) if isinstance(v, str))
        footer = embed.get("footer")
        if footer is not None:
            text = footer.get("text")
            _max_len(out, text, Limits.FOOTER_TEXT, (*at, "footer", "text"), required=True)
            total += len(text) if isinstance(text, str) else 0
        author = embed.get("author")
        if author is not None:
            name = author.get("name")
            _max_len(out, name, Limits.AUTHOR_NAME, (*at, "author", "name"), required=True)
            total += len(name) if isinstance(name, str) else 0
    if total > Limits.EMBED_TOTAL:
        out.append(
            Problem(
                ("embeds",),
                "MAX_EMBED_SIZE_EXCEEDED",
                f"Embed size exceeds maximum size of {Limits.EMBED_TOTAL} (got {total}).",
            )
        )
    return out


def _walk(components: Iterable[Any]) -> Iterable[Mapping[str, Any]]:
    for c in components:
        if isinstance(c, Mapping):
            yield c
            yield from _walk(c.get("components") or [])
            if isinstance(c.get("accessory"), Mapping):
                yield from _walk([c["accessory"]])
            if isinstance(c.get("component"), Mapping):
                yield from _walk([c["component"]])


def _check_button(out: list[Problem], b: Mapping[str, Any], at: tuple[str | int, ...]) -> None:
    style = b.get("style")
    if style not in (1, 2, 3, 4, 5, 6):
        out.append(Problem((*at, "style"), "BASE_TYPE_CHOICES", f"Invalid button style {style!r}"))
    if style == 5:
        if not b.get("url"):
            out.append(Problem((*at, "url"), "BASE_TYPE_REQUIRED", "A link button needs a url"))
        if b.get("custom_id") is not None:
            out.append(
                Problem((*at, "custom_id"), "BUTTON_COMPONENT_CUSTOM_ID_NOT_ALLOWED", "Link button")
            )
    elif style == 6:
        if not b.get("sku_id"):
            out.append(Problem((*at, "sku_id"), "BASE_TYPE_REQUIRED", "Premium needs sku_id"))
    elif not b.get("custom_id"):
        out.append(Problem((*at, "custom_id"), "BASE_TYPE_REQUIRED", "This field is required"))
    if style != 6 and not b.get("label") and not b.get("emoji"):
        out.append(
            Problem(at, "BUTTON_COMPONENT_LABEL_OR_EMOJI", "A button needs a label or emoji")
        )
    _max_len(out, b.get("label"), Limits.BUTTON_LABEL, (*at, "label"), required=False)


def _check_select(out: list[Problem], s: Mapping[str, Any], at: tuple[str | int, ...]) -> None:
    if not s.get("custom_id"):
        out.append(Problem((*at, "custom_id"), "BASE_TYPE_REQUIRED", "This field is required"))
    _max_len(
        out, s.get("placeholder"), Limits.SELECT_PLACEHOLDER, (*at, "placeholder"), required=False
    )
    for key, low in (("min_values", 0), ("max_values", 1)):
        value = s.get(key)
        if value is not None and not low <= value <= Limits.SELECT_VALUES:
            out.append(
                Problem((*at, key), "NUMBER_TYPE_MAX", f"Must be {low}..{Limits.SELECT_VALUES}")
            )
    if s.get("type") == 3:
        options = s.get("options") or []
        if not 1 <= len(options) <= Limits.SELECT_OPTIONS:
            out.append(
                Problem(
                    (*at, "options"),
                    "BASE_TYPE_BAD_LENGTH",
                    f"Must be 1 to {Limits.SELECT_OPTIONS} in length (got {len(options)}).",
                )
            )
        values = set()
        for k, opt in enumerate(options):
            oat = (*at, "options", k)
            _max_len(out, opt.get("label"), Limits.OPTION_LABEL, (*oat, "label"), required=True)
            _max_len(out, opt.get("value"), Limits.OPTION_VALUE, (*oat, "value"), required=True)
            _max_len(
                out,
                opt.get("description"),
                Limits.OPTION_DESCRIPTION,
                (*oat, "description"),
                required=False,
            )
            if opt.get("value") in values:
                out.append(
                    Problem((*oat, "value"), "SELECT_COMPONENT_OPTION_VALUE_DUPLICATED", "dup")
                )
            values.add(opt.get("value"))


def check_components(components: Any, *, flags: int = 0) -> list[Problem]:
    """Action rows, buttons and selects (and a coarse check of components-v2 layouts)."""
    out: list[Problem] = []
    if components is None:
        return out
    if not isinstance(components, list):
        return [Problem(("components",), "LIST_TYPE_CONVERT", "Must be an array")]
    v2 = bool(flags & IS_COMPONENTS_V2)
    if v2:
        count = sum(1 for _ in _walk(components))
        if count > Limits.V2_COMPONENTS:
            out.append(
                Problem(
                    ("components",),
                    "BASE_TYPE_MAX_LENGTH",
                    f"At most {Limits.V2_COMPONENTS} components in total (got {count}).",
                )
            )
    else:
        if len(components) > Limits.ACTION_ROWS:
            out.append(
                Problem(
                    ("components",),
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {Limits.ACTION_ROWS} or fewer in length (got {len(components)}).",
                )
            )
        for i, row in enumerate(components):
            at: tuple[str | int, ...] = ("components", i)
            if not isinstance(row, Mapping) or row.get("type") != 1:
                kind = row.get("type") if isinstance(row, Mapping) else row
                hint = " (set the IS_COMPONENTS_V2 flag)" if kind in V2_ONLY else ""
                out.append(
                    Problem(
                        (*at, "type"),
                        "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                        f"Top-level components must be action rows, got type {kind!r}{hint}",
                    )
                )
                continue
            children = row.get("components") or []
            if not children:
                out.append(Problem((*at, "components"), "BASE_TYPE_MIN_LENGTH", "Empty action row"))
            kinds = [c.get("type") for c in children]
            if any(k in SELECTS for k in kinds) and len(children) > 1:
                out.append(
                    Problem(
                        (*at, "components"),
                        "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                        "A select menu must be alone in its action row",
                    )
                )
            if len(children) > Limits.ROW_BUTTONS:
                out.append(
                    Problem(
                        (*at, "components"),
                        "BASE_TYPE_MAX_LENGTH",
                        f"Must be {Limits.ROW_BUTTONS} or fewer in length (got {len(children)}).",
                    )
                )
            for j, child in enumerate(children):
                cat = (*at, "components", j)
                kind = child.get("type")
                if kind == BUTTON:
                    _check_button(out, child, cat)
                elif kind in SELECTS:
                    _check_select(out, child, cat)
                elif kind == TEXT_INPUT:
                    out.append(
                        Problem((*cat, "type"), "COMPONENT_TYPE_INVALID", "Text inputs: modals")
                    )
                else:
                    out.append(
                        Problem((*cat, "type"), "COMPONENT_TYPE_INVALID", f"Invalid type {kind!r}")
                    )
    seen: set[str] = set()
    for comp in _walk(components):
        custom_id = comp.get("custom_id")
        if custom_id is None:
            continue
        _max_len(out, custom_id, Limits.CUSTOM_ID, ("components", "custom_id"), required=True)
        if custom_id in seen:
            out.append(
                Problem(
                    ("components", "custom_id"),
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    f"Component custom id cannot be duplicated ({custom_id!r})",
                )
            )
        seen.add(custom_id)
    return out


def check_allowed_mentions(payload: Mapping[str, Any]) -> list[Problem]:
    """The bot must always say who may be pinged, and it must be no one."""
    if "allowed_mentions" not in payload or payload["allowed_mentions"] is None:
        return [
            Problem(
                ("allowed_mentions",),
                "MISSING",
                "missing: without it the message pings whatever it mentions",
                hard=False,
            )
        ]
    am = payload["allowed_mentions"]
    if not isinstance(am, Mapping):
        return [Problem(("allowed_mentions",), "DICT_TYPE_CONVERT", "Must be an object")]
    out: list[Problem] = []
    parse = am.get("parse")
    users, roles = am.get("users"), am.get("roles")
    if parse is None and (users is None and roles is None):
        out.append(
            Problem(
                ("allowed_mentions", "parse"),
                "PINGS",
                "absent with no users/roles lists: Discord then parses every mention",
                hard=False,
            )
        )
    for item in parse or []:
        if item not in ("users", "roles", "everyone"):
            out.append(Problem(("allowed_mentions", "parse"), "BASE_TYPE_CHOICES", f"{item!r}"))
    for name, listed in (("users", users), ("roles", roles)):
        if listed and name in (parse or []):
            out.append(
                Problem(
                    ("allowed_mentions", name),
                    "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                    f'parse:["{name}"] and {name}: [...] are mutually exclusive',
                )
            )
    if parse:
        out.append(
            Problem(("allowed_mentions", "parse"), "PINGS", f"pings {sorted(parse)}", hard=False)
        )
    for name, listed in (("users", users), ("roles", roles)):
        if listed:
            out.append(
                Problem(("allowed_mentions", name), "PINGS", f"pings {name} {listed}", hard=False)
            )
    if am.get("replied_user"):
        out.append(
            Problem(
                ("allowed_mentions", "replied_user"),
                "PINGS",
                "replied_user is true: pings the author of the replied-to message",
                hard=False,
            )
        )
    return out


def is_empty_message(message: Mapping[str, Any]) -> bool:
    """Discord refuses (50006) a message with nothing visible in it."""
    content = message.get("content") or ""
    return not (
        content.strip()
        or message.get("embeds")
        or message.get("components")
        or message.get("attachments")
        or message.get("sticker_ids")
        or message.get("poll")
    )


def check_message_problems(
    payload: Mapping[str, Any], *, edit: bool = False, files: int = 0
) -> list[Problem]:
    """All problems of one message payload (create or, with edit=True, a partial edit)."""
    if not isinstance(payload, Mapping):
        return [Problem((), "DICT_TYPE_CONVERT", "The message payload must be a JSON object")]
    out: list[Problem] = []
    content = payload.get("content")
    if content is not None:
        if not isinstance(content, str):
            out.append(Problem(("content",), "STRING_TYPE_CONVERT", "Must be a string"))
        elif len(content) > Limits.CONTENT:
            out.append(
                Problem(
                    ("content",),
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {Limits.CONTENT} or fewer in length (got {len(content)}).",
                )
            )
    flags = payload.get("flags") or 0
    if not isinstance(flags, int):
        out.append(Problem(("flags",), "NUMBER_TYPE_COERCE", "Must be an integer"))
        flags = 0
    elif flags & ~SENDABLE_FLAGS:
        out.append(
            Problem(
                ("flags",), "MESSAGE_FLAGS_INVALID", f"Flags {flags & ~SENDABLE_FLAGS} not sendable"
            )
        )
    out += check_embeds(payload.get("embeds"))
    out += check_components(payload.get("components"), flags=flags)
    if flags & IS_COMPONENTS_V2 and (content or payload.get("embeds")):
        out.append(
            Problem(
                ("content",),
                "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                "content and embeds cannot be used with the IS_COMPONENTS_V2 flag",
            )
        )
    attachments = payload.get("attachments") or []
    if len(attachments) > Limits.ATTACHMENTS or files > Limits.ATTACHMENTS:
        out.append(
            Problem(
                ("attachments",),
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {Limits.ATTACHMENTS} or fewer in length.",
            )
        )
    if len(payload.get("sticker_ids") or []) > Limits.STICKERS:
        out.append(Problem(("sticker_ids",), "BASE_TYPE_MAX_LENGTH", "At most 3 stickers"))
    if not edit and not files and is_empty_message(payload):
        out.append(Problem((), "EMPTY_MESSAGE", "Cannot send an empty message"))
    out += check_allowed_mentions(payload)
    return out


def check_message(payload: Mapping[str, Any], *, edit: bool = False, files: int = 0) -> list[str]:
    """Every reason Discord would refuse this message payload, or the bot would ping someone.

    `edit=True` checks a partial edit (an edit may omit content); `files` counts attached
    multipart files (a message that only carries files is not empty).
    """
    return [str(p) for p in check_message_problems(payload, edit=edit, files=files)]


def check_autocomplete(data: Any) -> list[Problem]:
    """An autocomplete result (callback type 8): at most 25 choices, names 1–100 characters."""
    if not isinstance(data, Mapping) or not isinstance(data.get("choices"), list):
        return [Problem(("data", "choices"), "BASE_TYPE_REQUIRED", "This field is required")]
    choices = data["choices"]
    out: list[Problem] = []
    if len(choices) > Limits.AUTOCOMPLETE_CHOICES:
        out.append(
            Problem(
                ("data", "choices"),
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {Limits.AUTOCOMPLETE_CHOICES} or fewer in length (got {len(choices)}).",
            )
        )
    for i, choice in enumerate(choices):
        at = ("data", "choices", i)
        name = choice.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= Limits.CHOICE_NAME:
            got = len(name) if isinstance(name, str) else name
            out.append(
                Problem(
                    (*at, "name"),
                    "BASE_TYPE_BAD_LENGTH",
                    f"Must be between 1 and {Limits.CHOICE_NAME} in length (got {got}).",
                )
            )
        value = choice.get("value")
        if value is None:
            out.append(Problem((*at, "value"), "BASE_TYPE_REQUIRED", "This field is required"))
        elif isinstance(value, str) and len(value) > Limits.CHOICE_VALUE:
            out.append(
                Problem(
                    (*at, "value"),
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {Limits.CHOICE_VALUE} or fewer in length (got {len(value)}).",
                )
            )
    return out


def check_modal(data: Any) -> list[Problem]:
    """A modal (callback type 9): title, custom_id and 1–5 rows."""
    if not isinstance(data, Mapping):
        return [Problem(("data",), "BASE_TYPE_REQUIRED", "This field is required")]
    out: list[Problem] = []
    _max_len(out, data.get("title"), Limits.MODAL_TITLE, ("data", "title"), required=True)
    _max_len(out, data.get("custom_id"), Limits.CUSTOM_ID, ("data", "custom_id"), required=True)
    rows = data.get("components") or []
    if not 1 <= len(rows) <= Limits.MODAL_ROWS:
        out.append(
            Problem(("data", "components"), "BASE_TYPE_BAD_LENGTH", f"1..{Limits.MODAL_ROWS} rows")
        )
    return out


_NAME_OK = frozenset("-_")


def _valid_command_name(name: Any, *, chat_input: bool) -> bool:
    if not isinstance(name, str) or not 1 <= len(name) <= Limits.COMMAND_NAME:
        return False
    if not chat_input:
        return True
    return all(ch.isalnum() or ch in _NAME_OK for ch in name) and name == name.lower()


def _check_options(
    out: list[Problem], options: Sequence[Mapping[str, Any]], at: tuple[str | int, ...]
) -> int:
    """Checks one options level; returns the characters it adds to the command's total size."""
    size = 0
    if len(options) > Limits.COMMAND_OPTIONS:
        out.append(Problem(at, "BASE_TYPE_MAX_LENGTH", f"At most {Limits.COMMAND_OPTIONS} options"))
    names: set[str] = set()
    optional_seen = False
    for i, opt in enumerate(options):
        oat = (*at, i)
        name = opt.get("name")
        if not _valid_command_name(name, chat_input=True):
            out.append(Problem((*oat, "name"), "APPLICATION_COMMAND_INVALID_NAME", f"{name!r}"))
        if name in names:
            out.append(
                Problem((*oat, "name"), "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", name)
            )
        names.add(name)
        desc = opt.get("description")
        _max_len(out, desc, Limits.COMMAND_DESCRIPTION, (*oat, "description"), required=True)
        size += len(name or "") + len(desc or "")
        kind = opt.get("type")
        if kind in (1, 2):
            size += _check_options(out, opt.get("options") or [], (*oat, "options"))
            continue
        if opt.get("required"):
            if optional_seen:
                out.append(
                    Problem(
                        (*oat, "required"),
                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                        "Required options must be placed before non-required options",
                    )
                )
        else:
            optional_seen = True
        choices = opt.get("choices") or []
        if len(choices) > Limits.COMMAND_CHOICES:
            out.append(Problem((*oat, "choices"), "BASE_TYPE_MAX_LENGTH", "At most 25 choices"))
        if choices and opt.get("autocomplete"):
            out.append(
                Problem(
                    (*oat, "autocomplete"),
                    "APPLICATION_COMMAND_OPTION_CHOICES_AUTOCOMPLETE",
                    "Autocomplete cannot be set with choices",
                )
            )
        for choice in choices:
            size += len(str(choice.get("name", ""))) + len(str(choice.get("value", "")))
    return size


def check_commands(commands: Any) -> list[Problem]:
    """A bulk overwrite (PUT .../commands) body, validated like Discord does."""
    if not isinstance(commands, list):
        return [Problem((), "LIST_TYPE_CONVERT", "Must be an array of commands")]
    out: list[Problem] = []
    seen: set[tuple[str, int]] = set()
    counts = {1: 0, 2: 0, 3: 0}
    for i, cmd in enumerate(commands):
        at: tuple[str | int, ...] = (i,)
        kind = cmd.get("type", 1)
        counts[kind] = counts.get(kind, 0) + 1
        name = cmd.get("name")
        if not _valid_command_name(name, chat_input=kind == 1):
            out.append(Problem((*at, "name"), "APPLICATION_COMMAND_INVALID_NAME", f"{name!r}"))
        if (name, kind) in seen:
            out.append(Problem((*at, "name"), "APPLICATION_COMMANDS_DUPLICATE_NAME", f"{name!r}"))
        seen.add((name, kind))
        size = len(name or "")
        if kind == 1:
            desc = cmd.get("description")
            _max_len(out, desc, Limits.COMMAND_DESCRIPTION, (*at, "description"), required=True)
            size += len(desc or "")
            size += _check_options(out, cmd.get("options") or [], (*at, "options"))
        if size > Limits.COMMAND_TOTAL:
            out.append(Problem(at, "APPLICATION_COMMAND_TOO_LARGE", f"Command too large ({size})"))
    for kind, limit in (
        (1, Limits.CHAT_INPUT_COMMANDS),
        (2, Limits.USER_COMMANDS),
        (3, Limits.MESSAGE_COMMANDS),
    ):
        if counts.get(kind, 0) > limit:
            out.append(
                Problem((), "BASE_TYPE_MAX_LENGTH", f"At most {limit} commands of type {kind}")
            )
    return out


def errors_tree(problems: Iterable[Problem]) -> dict[str, Any]:
    """Discord's nested `errors` object: {"embeds": {"0": {"title": {"_errors": [...]}}}}."""
    tree: dict[str, Any] = {}
    for p in problems:
        node = tree
        for part in p.path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": p.code, "message": p.message})
    return tree
