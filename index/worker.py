"""Extraction worker processes: where hostile input is parsed, under a time and memory limit.

A parser that loops or balloons on a crafted file (a PDF with millions of operators, a
decompression bomb, pathological markup) must cost one source, not the process answering
questions. So every document is extracted in a spawned worker that runs at low priority
with a bounded address space, and each call is stopped after its time limit: first by an
alarm inside the worker (a clean typed error), and if C code never gives the alarm a chance,
by the parent killing the worker (`Workers.extract`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import multiprocessing
import os
import resource
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from types import FrameType
from typing import Any, TypeVar

from index.errors import ExtractError
from index.settings import ExtractSettings

log = logging.getLogger(__name__)
T = TypeVar("T")
KILL_GRACE = 5.0  # seconds past the time limit before a worker deaf to its alarm is killed

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
    try:
        try:
            signal.setitimer(signal.ITIMER_REAL, time_limit)
            return fn(*args, **kwargs)
        finally:  # an alarm firing here, after fn returned, is still caught below
            signal.setitimer(signal.ITIMER_REAL, 0)
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


class Workers:
    """The pool of extraction processes one Library (or `briefbot extract`) uses.

    Created on first use; `resize` sets how many (ingest --workers). `run` is plain CPU
    work off the event loop (in the pool once it exists, else a thread); `extract` is
    one hostile input under the time and memory limits.
    """

    def __init__(self, limits: ExtractSettings, *, nice: int = 10) -> None:
        self.limits = limits
        self.nice = nice
        self._pool: ProcessPoolExecutor | None = None
        self._size = 0
        self._quarantine: ProcessPoolExecutor | None = None  # retries, one at a time
        self._alone = asyncio.Lock()
        # One call per worker at a time: a call's time limit starts when a worker is free
        # for it, not while it queues behind a batch.
        self._slots = asyncio.Semaphore(1)
        self._warm: dict[int, asyncio.Future[Any]] = {}  # id(pool) → its workers started

    def resize(self, workers: int) -> None:
        if self._pool is not None and self._size != workers:
            self._pool.shutdown()
            self._warm.pop(id(self._pool), None)
            self._pool = None
        if self._pool is None:
            self._pool = self._new(workers)
            self._size = workers
            self._slots = asyncio.Semaphore(workers)

    def close(self) -> None:
        """Stops the workers now: one stuck in C code must not hold the process's exit."""
        for pool in (self._pool, self._quarantine):
            if pool is not None:
                _kill(pool)
        self._pool = self._quarantine = None
        self._warm.clear()
        self._size = 0

    def _new(self, workers: int) -> ProcessPoolExecutor:
        # spawn, not fork: the event loop's threads must not be copied into workers.
        context = multiprocessing.get_context("spawn")
        root = logging.getLogger()
        formatter = root.handlers[0].formatter if root.handlers else None
        fmt = formatter._fmt if formatter is not None else None
        levels = {
            name: logger.level
            for name, logger in logging.Logger.manager.loggerDict.items()
            if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET
        }
        return ProcessPoolExecutor(
            workers,
            mp_context=context,
            initializer=setup,
            initargs=(self.nice, self.limits.memory_limit, root.level, fmt, levels),
        )

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Our own CPU work (passages, tokens) off the event loop, in the worker processes
        once they exist. If another input broke the pool meanwhile, it runs in a thread:
        this work is not hostile, and must not fail for someone else's upload."""
        if self._pool is None and self._size:
            self.resize(self._size)  # a worker died earlier: a new pool
        if self._pool is None:
            return await asyncio.to_thread(fn, *args)
        pool = self._pool
        try:
            async with self._slots:
                return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
        except BrokenProcessPool:
            self._drop(pool)
        except MemoryError:
            log.warning("a worker ran out of memory preparing passages; retrying in a thread")
        return await asyncio.to_thread(fn, *args)

    async def extract(self, fn: Callable[..., T], *args: Any) -> T:
        """One input in a worker process, under [extract] time and memory limits.

        A worker killed for overrunning the time limit, or dead (a crash in C code), breaks
        its pool and fails every input queued there. Those are retried one at a time in a
        pool of their own, so the input that broke it fails alone and the rest extract.
        """
        if self._pool is None:
            self.resize(self._size or 1)
        assert self._pool is not None
        pool = self._pool
        try:
            async with self._slots:
                return await self._limited(pool, fn, *args)
        except BrokenProcessPool:
            self._drop(pool)
        async with self._alone:
            if self._quarantine is None:
                self._quarantine = self._new(1)
            pool = self._quarantine
            try:
                return await self._limited(pool, fn, *args)
            except BrokenProcessPool as exc:
                self._drop(pool)
                raise ExtractError(
                    "the worker process died while extracting it (out of memory?)"
                ) from exc

    async def _started(self, pool: ProcessPoolExecutor) -> None:
        """Waits until the pool's workers are up: start-up (imports) is not the input's time."""
        ready = self._warm.get(id(pool))
        if ready is None:
            loop = asyncio.get_running_loop()
            workers = getattr(pool, "_max_workers", 1)
            ready = asyncio.gather(*(loop.run_in_executor(pool, _ready) for _ in range(workers)))
            self._warm[id(pool)] = ready
        await asyncio.shield(ready)

    async def _limited(self, pool: ProcessPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        await self._started(pool)
        seconds = self.limits.time_limit
        call = functools.partial(limited, seconds, fn)
        future = asyncio.get_running_loop().run_in_executor(pool, call, *args)
        try:
            return await asyncio.wait_for(future, seconds + KILL_GRACE)
        except TimeoutError:
            _kill(pool)
            self._drop(pool)
            raise ExtractError(
                f"extraction took longer than {seconds:g} s; its worker was stopped "
                "([extract] time_limit)"
            ) from None

    def _drop(self, pool: ProcessPoolExecutor) -> None:
        # Not cancel_futures: work queued in a broken pool fails as BrokenProcessPool, which
        # extract() retries; a cancelled future would escape callers as CancelledError.
        pool.shutdown(wait=False)
        self._warm.pop(id(pool), None)
        if pool is self._pool:
            self._pool = None
        if pool is self._quarantine:
            self._quarantine = None


def _ready() -> None:
    """A no-op: run once per worker to know it has started."""


def _kill(pool: ProcessPoolExecutor) -> None:
    """Stops a pool whose worker is stuck in C code the alarm cannot interrupt."""
    processes = getattr(pool, "_processes", None) or {}  # None once shut down
    for process in list(processes.values()):
        with contextlib.suppress(OSError):
            process.kill()
    pool.shutdown(wait=False)
