"""Extraction worker processes: where hostile input is parsed, under a time and memory limit.

A parser that loops or balloons on a crafted file (a PDF with millions of operators, a
decompression bomb, pathological markup) must cost one source, not the process answering
questions. So every document is extracted in a spawned worker that runs at low priority
with a bounded address space, and each call is stopped after its time limit: first by an
alarm inside the worker (a clean typed error), and if C code never gives the alarm a chance,
by the parent killing the worker (see `Library._cpu`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

from index.errors import ExtractError

T = TypeVar("T")

_limit_note = ""  # the memory limit in force, for the error message


def setup(
    nice: int, memory_limit: int, level: int, fmt: str | None, levels: dict[str, int]
) -> None:
    """Runs once in each worker: priority, memory limit, and logging like the parent's."""
    with contextlib.suppress(OSError):
        os.nice(nice)
    logging.basicConfig(level=level, format=fmt or logging.BASIC_FORMAT)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)
    # Everything extraction imports is loaded first, so the limit is on the parsing alone.
    import charset_normalizer  # noqa: F401
    import feedparser  # noqa: F401
    import pypdf  # noqa: F401
    import trafilatura  # noqa: F401

    # The limit is on what extraction adds to the worker's size at start-up (interpreter,
    # numpy, lxml mapped in); without /proc (not Linux) the worker runs unlimited.
    global _limit_note
    if memory_limit > 0:
        with contextlib.suppress(ValueError, OSError):
            limit = _vm_bytes() + memory_limit
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            _limit_note = f"{memory_limit // 1_000_000} MB"


class _Timeout(BaseException):
    """Raised by the alarm; a BaseException so parsers' `except Exception` cannot eat it."""


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise _Timeout


def limited(time_limit: float, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Calls fn in the worker; past time_limit seconds, or out of memory, an ExtractError."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, time_limit)
    try:
        return fn(*args, **kwargs)
    except _Timeout:
        raise ExtractError(
            f"extraction took longer than {time_limit:g} s ([extract] time_limit)"
        ) from None
    except MemoryError:
        raise ExtractError(
            f"extraction needed more than {_limit_note or 'the available'} memory "
            "([extract] memory_limit)"
        ) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _vm_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss() -> int:
    """The worker's peak resident memory so far, in bytes (for tests and benchmarks)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0
