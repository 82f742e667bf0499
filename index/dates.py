"""Days as people type them in filters: `2025-12-21`, `7d`, `2w`, `3m`, `today`, `yesterday`."""

from __future__ import annotations

import re
from datetime import date, timedelta

from index.errors import BriefbotError

_AGE = re.compile(r"^(\d{1,4})\s*(d|w|m|y)$")
_UNIT_DAYS = {"d": 1, "w": 7, "m": 30, "y": 365}


def parse_day(text: str, today: date, *, what: str = "date") -> date:
    """A calendar day, or that many days/weeks/months/years before `today`.

    `what` names the option in the error, e.g. "since: '7x' is not …".
    """
    value = text.strip().lower()
    if value == "today":
        return today
    if value == "yesterday":
        return today - timedelta(days=1)
    try:
        m = _AGE.match(value)
        if m:
            return today - timedelta(days=int(m.group(1)) * _UNIT_DAYS[m.group(2)])
        return date.fromisoformat(value)
    except (ValueError, OverflowError):  # OverflowError: an age before year 1 ("9999y")
        raise BriefbotError(
            f"{what}: {text.strip()!r} is not a date (YYYY-MM-DD) or an age such as 7d, 2w, 3m"
        ) from None
