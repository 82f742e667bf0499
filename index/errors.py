"""Errors the library raises; each message names the input that was wrong."""

from __future__ import annotations


class BriefbotError(Exception):
    """Base: a problem with user input or a source, shown to the user as one line."""


class FetchError(BriefbotError):
    """A URL could not be fetched (refused, unreachable, too large, bad status)."""


class UnsafeURLError(FetchError):
    """A URL points somewhere we refuse to connect to (private network, bad scheme)."""


class ExtractError(BriefbotError):
    """A fetched or read body held no article text we could extract."""


class SourceNotFound(BriefbotError):
    """No stored source or feed has that id."""


class StoreError(BriefbotError):
    """The database is unreachable or refused the operation."""


class SettingError(BriefbotError):
    """A guild setting was given a value it cannot take; the message names the value."""
