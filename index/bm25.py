"""In-memory BM25 postings index whose scores equal rank_bm25.BM25Okapi over what the asker sees.

rank-bm25 rescores every passage for every query; here a query touches only the postings of its
terms. Passages live in segments, Lucene style: each holds term-major postings (CSC) only; what
a doc-major copy would serve (a removed row's terms, merging) reads them instead, at half the
memory. An add writes a small
segment (or rebuilds the newest small one), so it costs O(the article), never O(the index);
segments of one size tier merge once there are MERGE_FACTOR of them, small merges in the writer,
big ones in a background thread that swaps its result in when done. Removal tombstones rows and
corrects the statistics at once; the merge that rewrites a segment purges them. The statistics
(N, avgdl, df) are kept per partition, apart from the segments, so scores never depend on how
the passages happen to be split.

Writers serialise on a lock and publish an immutable snapshot; readers take whatever snapshot is
current without locking, so a search never sees half of a change. `save` writes a snapshot to
disk and `load` maps it back (numpy memory maps), so a restart does not re-read every passage.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

log = logging.getLogger(__name__)

K1 = 1.5
B = 0.75
EPSILON = 0.25

# Merge policy, read at write time so tests can shrink it; sizes are postings (a row of the
# article index holds twenty times a passage's). An add folds into the newest segment while
# it stays under DELTA_POSTINGS (cost O(DELTA_POSTINGS)); tier t holds segments of
# DELTA_POSTINGS × F^t to × F^(t+1) postings, and F segments of one tier merge into one of
# the next. Merges up to INLINE_MERGE_POSTINGS run in the writer (bounded add time), bigger
# ones in the background.
DELTA_POSTINGS = 100_000
MERGE_FACTOR = 8
INLINE_MERGE_POSTINGS = 1_500_000
MAX_DEAD_FRACTION = 0.25  # a segment with this share of tombstoned rows is rewritten
# A merge holding more than 1/COMPACT_SHARE of all terms gets dense columns: an index per
# term (8 bytes each) is then no bigger than a list of its terms (16 bytes each).
COMPACT_SHARE = 2
ENCODE_ROWS = 50_000  # a bulk load encodes this many passages at a time (bounded memory)

# Touched postings per segment row above which one dense bincount beats sorting the touched rows.
DENSE_RATIO = 1 / 4

_GLOBAL = 0  # partition code of guild-less passages; guilds get 1, 2, ...
_DEAD = -1  # partition code of tombstoned rows
_IDF_CACHE_SIZE = 1024
_SLICE = 8192  # tokens looked up per C call while encoding
FORMAT = 3  # of saved snapshots; a different number is not loaded

SourceItem = tuple[str, str | None, Sequence[int], Sequence[Sequence[str]]]

_EMPTY_I64: NDArray[np.int64] = np.zeros(0, dtype=np.int64)


class IndexFileError(Exception):
    """A saved index that cannot be used (missing, partial, another format): rebuild instead."""


@dataclass(frozen=True, slots=True)
class _Segment:
    """Passages stored together: row-aligned passage arrays plus postings both ways."""

    sid: int  # stable id: a tombstoned copy keeps it, a merge makes a new one
    pids: NDArray[np.int64]
    part: NDArray[np.int32]  # partition code per row, _DEAD once tombstoned
    src: NDArray[np.int32]  # source code per row; a replaced source gets a new code
    lens: NDArray[np.float64]  # tokens per passage
    # Term-major postings (CSC). Column c holds rows indices[indptr[c]:indptr[c + 1]];
    # columns are term ids (dense), or the sorted term ids in `cols` (compact): a small
    # segment lists only its own terms, so its size never grows with the vocabulary.
    indptr: NDArray[Any]
    indices: NDArray[Any]
    tfs: NDArray[Any]
    dead: int = 0
    cols: NDArray[np.int64] | None = None

    def span(self, tid: int) -> tuple[int, int]:
        """Where term `tid`'s postings are in indices/tfs ((0, 0): none here)."""
        cols = self.cols
        if cols is None:
            if tid >= len(self.indptr) - 1:
                return 0, 0
            return int(self.indptr[tid]), int(self.indptr[tid + 1])
        i = int(np.searchsorted(cols, tid))
        if i < len(cols) and cols[i] == tid:
            return int(self.indptr[i]), int(self.indptr[i + 1])
        return 0, 0

    def column_terms(self) -> NDArray[Any]:
        """The term id of each column."""
        if self.cols is not None:
            return self.cols
        return np.arange(len(self.indptr) - 1, dtype=np.int64)

    @property
    def n_rows(self) -> int:
        return len(self.pids)

    @property
    def n_live(self) -> int:
        return len(self.pids) - self.dead

    @property
    def nnz(self) -> int:
        return len(self.indices)


@dataclass(frozen=True, slots=True)
class _Stats:
    """Live statistics of one partition: df dense for global, sparse for a (small) guild."""

    n_docs: int
    total_len: int
    df: NDArray[np.int64]  # dense: indexed by term id; sparse: aligned with `terms`
    terms: NDArray[np.int64] | None  # sorted term ids of a sparse df; None when dense
    stamp: int  # version that made it: keys the average-idf cache

    def df_of(self, tid: int) -> int:
        """Document frequency of one term id in this partition."""
        if self.terms is None:
            return int(self.df[tid]) if tid < len(self.df) else 0
        i = int(np.searchsorted(self.terms, tid))
        return int(self.df[i]) if i < len(self.terms) and self.terms[i] == tid else 0


@dataclass(frozen=True, slots=True)
class _Source:
    """Where a source's passages are: its row code, partition and passage ids."""

    code: int
    guild: str | None
    pids: NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """Everything a search reads; never mutated once published."""

    version: int
    segments: tuple[_Segment, ...]
    global_stats: _Stats
    guild_stats: Mapping[str, _Stats]
    sources: Mapping[str, _Source]
    n_live: int


def _tf_dtype(max_tf: int) -> type[np.unsignedinteger[Any]] | type[np.signedinteger[Any]]:
    """Smallest exact dtype for term frequencies: postings dominate memory."""
    return np.uint16 if max_tf < 2**16 else np.int32


def _build_segment(
    sid: int,
    pids: NDArray[np.int64],
    part: NDArray[np.int32],
    src: NDArray[np.int32],
    lens: NDArray[np.float64],
    by_doc: sp.csr_matrix,
    cols: NDArray[np.int64],
) -> _Segment:
    """Keep only the term-major postings (scipy's linear-time transpose) of new rows.

    `by_doc`'s columns are `cols` (the rows' distinct terms). No doc-major copy is kept:
    it would double the memory, and what needs it (removal, merging) reads the postings.
    """
    by_term = by_doc.tocsc()
    by_term.sort_indices()
    return _Segment(
        sid, pids, part, src, lens, by_term.indptr, by_term.indices, by_term.data, cols=cols
    )


def _empty_segment(sid: int) -> _Segment:
    by_doc = sp.csr_matrix((0, 0), dtype=np.uint16)
    empty = np.zeros(0, np.int32)
    return _build_segment(sid, _EMPTY_I64, empty, empty, np.zeros(0), by_doc, _EMPTY_I64)


def _union_sorted(a: NDArray[Any], b: NDArray[Any]) -> NDArray[Any]:
    """Union of two sorted unique arrays: a stable sort merges two runs in linear time."""
    both = np.concatenate([a, b])
    both.sort(kind="stable")
    if len(both) < 2:
        return both
    return both[np.concatenate([[True], both[1:] != both[:-1]])]


def _present_terms(seg: _Segment) -> NDArray[Any]:
    """Sorted term ids with at least one posting in `seg`."""
    nonempty = np.flatnonzero(np.diff(seg.indptr))
    return nonempty if seg.cols is None else seg.cols[nonempty]


def _posting_terms(seg: _Segment) -> NDArray[np.int32]:
    """The term id of every posting (the column of each entry of `indices`)."""
    return np.repeat(seg.column_terms(), np.diff(seg.indptr))


def _concat(segments: Sequence[_Segment], n_terms: int, sid: int) -> _Segment:
    """One segment with the live rows of `segments`, in order: tombstones are purged here.

    Merged column by column without a doc-major copy: a term's postings are its postings
    in each segment, rows renumbered, segment after segment (so rows stay sorted).
    """
    live = [seg for seg in segments if seg.n_live]
    if not live:
        return _empty_segment(sid)
    present = functools.reduce(_union_sorted, (_present_terms(seg) for seg in live))
    # Dense columns once the merge holds a good share of the vocabulary, else compact.
    cols = None if len(present) * COMPACT_SHARE > n_terms else present
    n_out = n_terms if cols is None else len(cols)
    totals = np.zeros(n_out, dtype=np.int64)
    kept: list[tuple[_Segment, NDArray[Any] | None, NDArray[Any], NDArray[np.int64]]] = []
    offset = 0
    for seg in live:
        keep = seg.part != _DEAD
        postings = np.flatnonzero(keep[seg.indices]) if seg.dead else None
        terms = _posting_terms(seg) if postings is None else _posting_terms(seg)[postings]
        out = terms if cols is None else np.searchsorted(cols, terms)
        counts = np.bincount(out, minlength=n_out)
        kept.append((seg, postings, out, counts))
        totals += counts
        offset += seg.n_live
    indptr = np.zeros(n_out + 1, dtype=np.int64)
    np.cumsum(totals, out=indptr[1:])
    nnz = int(indptr[-1])
    max_row = max(offset - 1, 0)
    indices = np.empty(nnz, dtype=np.int32 if max_row < 2**31 else np.int64)
    max_tf = max((int(seg.tfs.max()) for seg in live if len(seg.tfs)), default=0)
    tfs = np.empty(nnz, dtype=_tf_dtype(max_tf))
    filled = indptr[:-1].copy()  # next free slot of each column
    offset = 0  # rows before this segment's, in the merge
    for seg, postings, out, counts in kept:
        keep = seg.part != _DEAD
        renumber = np.cumsum(keep, dtype=np.int64) - 1 + offset
        # A segment's postings come column by column: slot = column's next free + rank.
        first = np.zeros(n_out + 1, dtype=np.int64)
        np.cumsum(counts, out=first[1:])
        rank = np.arange(len(out), dtype=np.int64) - first[out]
        slots = filled[out] + rank
        rows = seg.indices if postings is None else seg.indices[postings]
        indices[slots] = renumber[rows]
        tfs[slots] = seg.tfs if postings is None else seg.tfs[postings]
        filled += counts
        offset += seg.n_live
    pick = [seg.part != _DEAD for seg in live]
    return _Segment(
        sid,
        np.concatenate([seg.pids[m] for seg, m in zip(live, pick, strict=True)]),
        np.concatenate([seg.part[m] for seg, m in zip(live, pick, strict=True)]),
        np.concatenate([seg.src[m] for seg, m in zip(live, pick, strict=True)]),
        np.concatenate([seg.lens[m] for seg, m in zip(live, pick, strict=True)]),
        indptr,
        indices,
        tfs,
        cols=cols,
    )


def _tier(seg: _Segment) -> int:
    postings = max(seg.nnz, DELTA_POSTINGS, 1)
    return int(math.log(postings / max(DELTA_POSTINGS, 1), MERGE_FACTOR) + 1e-9)


def _merge_jobs(segments: Sequence[_Segment], busy: Collection[int]) -> list[list[_Segment]]:
    """Merges the policy wants now, smallest first: full tiers and rotten segments."""
    jobs: list[list[_Segment]] = []
    tiers: dict[int, list[_Segment]] = {}
    for seg in segments:
        if seg.sid in busy:
            continue
        if seg.dead and seg.dead > MAX_DEAD_FRACTION * seg.n_rows:
            jobs.append([seg])  # rewritten alone (dropped if nothing is left)
            continue
        tiers.setdefault(_tier(seg), []).append(seg)
    for _, group in sorted(tiers.items()):
        if len(group) >= MERGE_FACTOR:
            jobs.append(group)
    jobs.sort(key=lambda job: sum(s.n_rows for s in job))
    return jobs


class _Vocabulary(dict[str, int]):
    """Term → id, only growing; indexing a new term gives it the next id (first-seen order).

    Readers use .get(), which never adds, and ignore ids beyond their snapshot's arrays.
    """

    def __missing__(self, term: str) -> int:
        self[term] = tid = len(self)
        return tid


class _Edit:
    """One writer's change: built from a snapshot, published as the next one."""

    def __init__(self, snap: _Snapshot, vocab: _Vocabulary) -> None:
        self.snap = snap
        self.vocab = vocab
        self.version = snap.version + 1
        self.segments = list(snap.segments)
        self.sources = dict(snap.sources)
        # partition → ([docs, tokens], [(unique term ids, signed dfs), ...])
        self.changes: dict[str | None, tuple[list[int], list[tuple[NDArray[Any], NDArray[Any]]]]]
        self.changes = {}

    def count(
        self, guild: str | None, docs: int, tokens: int, terms: NDArray[Any], dfs: NDArray[Any]
    ) -> None:
        """Record a statistics change of one partition (terms unique, dfs signed)."""
        sizes, dfs_list = self.changes.setdefault(guild, ([0, 0], []))
        sizes[0] += docs
        sizes[1] += tokens
        dfs_list.append((terms.astype(np.int64, copy=False), dfs.astype(np.int64, copy=False)))

    def drop_sources(self, source_ids: Iterable[str]) -> None:
        """Tombstone sources' rows and take them out of the statistics.

        One pass over each segment's postings for all of them: without a doc-major copy,
        a row's terms are found by scanning the postings.
        """
        sources = [self.sources.pop(sid) for sid in source_ids if sid in self.sources]
        if not sources:
            return
        guild_of = {s.code: s.guild for s in sources}
        codes = np.fromiter(guild_of, np.int32, len(guild_of))
        for i, seg in enumerate(self.segments):
            rows = np.flatnonzero(np.isin(seg.src, codes) & (seg.part != _DEAD))
            if rows.size == 0:
                continue
            removed = np.zeros(seg.n_rows, dtype=bool)
            removed[rows] = True
            hits = np.flatnonzero(removed[seg.indices])
            hit_terms = seg.column_terms()[np.searchsorted(seg.indptr, hits, side="right") - 1]
            hit_src = seg.src[seg.indices[hits]]
            guilds: dict[str | None, list[int]] = {}
            for code in np.unique(seg.src[rows]).tolist():
                guilds.setdefault(guild_of[code], []).append(code)
            for guild, group in guilds.items():
                mine = rows[np.isin(seg.src[rows], group)]
                terms, dfs = np.unique(hit_terms[np.isin(hit_src, group)], return_counts=True)
                self.count(guild, -mine.size, -int(seg.lens[mine].sum()), terms, -dfs)
            part = np.array(seg.part)  # copy-on-write: published snapshots keep theirs
            part[rows] = _DEAD
            self.segments[i] = replace(seg, part=part, dead=seg.dead + rows.size)

    def encode(
        self, batch: Sequence[SourceItem], guild_codes: dict[str, int], next_code: int, sid: int
    ) -> _Segment:
        """Turn sources into one segment (registering them) and count their statistics."""
        token_lists = [tokens for item in batch for tokens in item[3]]
        sizes = np.fromiter((len(item[2]) for item in batch), dtype=np.int64, count=len(batch))
        part_of: dict[int, str | None] = {}
        codes = []
        for i, (source_id, guild, passage_ids, _) in enumerate(batch):
            code = _GLOBAL if guild is None else guild_codes.setdefault(guild, len(guild_codes) + 1)
            part_of[code] = guild
            codes.append(code)
            pids = np.fromiter(passage_ids, dtype=np.int64, count=len(passage_ids))
            self.sources[source_id] = _Source(next_code + i, guild, pids)

        lens = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
        flat = list(chain.from_iterable(token_lists))
        vocab = self.vocab
        # Slices, so a searching thread gets the GIL between them: one fromiter over a big
        # batch is one C call that never lets go.
        lookup = vocab.__getitem__
        term_ids = np.concatenate(
            [np.zeros(0, np.int32)]
            + [
                np.fromiter(map(lookup, flat[i : i + _SLICE]), dtype=np.int32)
                for i in range(0, len(flat), _SLICE)
            ]
        )
        row_ids = np.repeat(np.arange(len(token_lists), dtype=np.int32), lens)
        cols, columns = np.unique(term_ids, return_inverse=True)  # the rows' own terms
        by_doc = sp.csr_matrix(  # coo → csr sums duplicate (row, term) pairs into tfs
            (np.ones(len(flat), np.int32), (row_ids, columns.astype(np.int32))),
            shape=(len(token_lists), len(cols)),
        )
        by_doc.sum_duplicates()
        max_tf = int(by_doc.data.max()) if by_doc.nnz else 0
        by_doc.data = by_doc.data.astype(_tf_dtype(max_tf))

        part = np.repeat(np.asarray(codes, dtype=np.int32), sizes)
        src = np.repeat(np.arange(next_code, next_code + len(batch), dtype=np.int32), sizes)
        pids = np.concatenate(
            [s.pids for s in (self.sources[item[0]] for item in batch)] or [_EMPTY_I64]
        )
        cols = cols.astype(np.int64)
        self._count_rows(by_doc, cols, part, lens, part_of)
        return _build_segment(sid, pids, part, src, lens.astype(np.float64), by_doc, cols)

    def _count_rows(
        self,
        by_doc: sp.csr_matrix,
        cols: NDArray[np.int64],
        part: NDArray[np.int32],
        lens: NDArray[np.int64],
        part_of: dict[int, str | None],
    ) -> None:
        """Add new rows to their partitions' statistics, one sort for all partitions.

        `by_doc`'s columns are the term ids in `cols`.
        """
        codes = sorted(part_of)
        if not codes:
            return
        if len(codes) == 1:
            groups = [(codes[0], by_doc.indices)]
        else:
            entry_part = np.repeat(part, np.diff(by_doc.indptr))
            order = np.argsort(entry_part, kind="stable")
            bounds = np.searchsorted(entry_part, [*codes, codes[-1] + 1], sorter=order).tolist()
            groups = [
                (code, by_doc.indices[order[lo:hi]])
                for code, lo, hi in zip(codes, bounds[:-1], bounds[1:], strict=True)
            ]
        docs = np.bincount(part, minlength=codes[-1] + 1)
        tokens = np.bincount(part, weights=lens, minlength=len(docs))
        for code, ids in groups:  # ids are column numbers: cols maps them to term ids
            if code == _GLOBAL:  # usually most rows: a dense count beats a sort
                dense = np.bincount(ids, minlength=len(cols))
                present = np.flatnonzero(dense)
                terms, dfs = cols[present], dense[present]
            else:
                columns, dfs = np.unique(ids, return_counts=True)
                terms = cols[columns]
            self.count(part_of[code], int(docs[code]), int(tokens[code]), terms, dfs)

    def publish(self) -> _Snapshot:
        """The next snapshot: untouched partitions keep their stats (and cached idfs)."""
        snap = self.snap
        n_terms = len(self.vocab)
        global_stats = snap.global_stats
        guild_stats = dict(snap.guild_stats)
        for guild, ((docs, tokens), dfs) in self.changes.items():
            if guild is None:
                df = np.zeros(n_terms, np.int64)
                df[: len(global_stats.df)] = global_stats.df
                for terms, counts in dfs:
                    df[terms] += counts
                global_stats = _Stats(
                    global_stats.n_docs + docs,
                    global_stats.total_len + tokens,
                    df,
                    None,
                    self.version,
                )
                continue
            old = guild_stats.get(guild)
            old_terms = old.terms if old is not None and old.terms is not None else _EMPTY_I64
            old_df = old.df if old is not None else _EMPTY_I64
            all_terms = np.concatenate([old_terms, *(t for t, _ in dfs)])
            all_dfs = np.concatenate([old_df, *(c for _, c in dfs)])
            terms, inverse = np.unique(all_terms, return_inverse=True)
            df = np.zeros(len(terms), np.int64)
            np.add.at(df, inverse, all_dfs)
            keep = df != 0
            n_docs = (old.n_docs if old else 0) + docs
            total = (old.total_len if old else 0) + tokens
            if n_docs == 0:
                guild_stats.pop(guild, None)
            else:
                guild_stats[guild] = _Stats(n_docs, total, df[keep], terms[keep], self.version)
        n_live = global_stats.n_docs + sum(s.n_docs for s in guild_stats.values())
        segments = tuple(seg for seg in self.segments if seg.n_rows)
        return _Snapshot(self.version, segments, global_stats, guild_stats, self.sources, n_live)


def _check_source(item: SourceItem) -> None:
    source_id, _, passage_ids, token_lists = item
    if len(passage_ids) != len(token_lists):
        raise ValueError(
            f"source {source_id!r}: {len(passage_ids)} passage ids, {len(token_lists)} token lists"
        )
    if len(set(passage_ids)) != len(passage_ids):
        raise ValueError(f"source {source_id!r}: duplicate passage ids")
    if any(isinstance(tokens, str) for tokens in token_lists):
        raise TypeError(f"source {source_id!r}: token lists must be sequences of tokens, not str")


class PassageIndex:
    """BM25Okapi (k1=1.5, b=0.75, epsilon=0.25) over global passages plus the asker's guild.

    `background=False` runs every merge in the writer: for tests that count segments.
    """

    def __init__(self, *, background: bool = True) -> None:
        self._lock = threading.Lock()
        self._background = background
        self._vocab = _Vocabulary()  # only grows: ids stay valid in every snapshot
        self._guild_codes: dict[str, int] = {}  # only grows
        self._next_source_code = 0
        self._next_sid = 1
        self._busy: set[int] = set()  # segments a background merge is rewriting
        self._merger: threading.Thread | None = None
        self._merge_error: BaseException | None = None
        self._idle = threading.Condition(self._lock)
        self._idf_cache: dict[tuple[str | None, int, int], float] = {}
        self._code_names: dict[int, str] = {}  # source code → id, for every code ever given
        self._terms: tuple[str, ...] = ()  # vocabulary() cache, rebuilt when the vocabulary grows
        stats = _Stats(0, 0, _EMPTY_I64, None, 0)
        self._snap = _Snapshot(0, (), stats, {}, {}, 0)

    # -- writing ---------------------------------------------------------------------------------

    def add(
        self,
        source_id: str,
        guild: str | None,
        passage_ids: Sequence[int],
        token_lists: Sequence[Sequence[str]],
    ) -> None:
        """Add one source's passages; an existing source_id is replaced in the same swap."""
        self.update([(source_id, guild, passage_ids, token_lists)])

    def add_many(self, items: Iterable[SourceItem]) -> None:
        """Bulk load in one swap; a source_id given twice keeps its last passages."""
        self.update(items)

    def remove_source(self, source_id: str) -> int:
        """Remove a source's passages; how many (0 if the source is unknown)."""
        return self.update((), [source_id])

    def update(self, adds: Iterable[SourceItem], removes: Iterable[str] = ()) -> int:
        """Remove sources and add (or replace) others, published as one change.

        Returns the passages removed (replaced ones excluded). Sources are encoded
        ENCODE_ROWS passages at a time, so a bulk load never holds all its token ids at once.
        Nothing changes if any item is malformed.
        """
        batch: dict[str, SourceItem] = {}
        for item in adds:
            _check_source(item)
            batch.pop(item[0], None)
            batch[item[0]] = item
        gone = [sid for sid in dict.fromkeys(removes) if sid not in batch]
        with self._lock:
            snap = self._snap
            if not batch and not any(sid in snap.sources for sid in gone):
                return 0
            edit = _Edit(snap, self._vocab)
            removed = sum(len(snap.sources[sid].pids) for sid in gone if sid in snap.sources)
            edit.drop_sources([*gone, *batch])
            chunk: list[SourceItem] = []
            rows = 0
            for item in batch.values():
                chunk.append(item)
                rows += len(item[2])
                if rows >= ENCODE_ROWS:
                    self._append(edit, chunk)
                    chunk, rows = [], 0
            if chunk:
                self._append(edit, chunk)
            self._maintain(edit)
            self._snap = edit.publish()
        return removed

    def _append(self, edit: _Edit, chunk: Sequence[SourceItem]) -> None:
        """Encode a chunk as a segment; a small one is folded into the newest small segment."""
        new = edit.encode(chunk, self._guild_codes, self._next_source_code, self._new_sid())
        self._code_names.update(
            (self._next_source_code + i, item[0]) for i, item in enumerate(chunk)
        )
        self._next_source_code += len(chunk)
        last = edit.segments[-1] if edit.segments else None
        if last is not None and last.sid not in self._busy and last.nnz + new.nnz <= DELTA_POSTINGS:
            edit.segments[-1] = _concat([last, new], len(self._vocab), self._new_sid())
        else:
            edit.segments.append(new)

    def _new_sid(self) -> int:
        self._next_sid += 1
        return self._next_sid

    def _maintain(self, edit: _Edit) -> None:
        """Run the merges small enough for the writer; start the background merger for the rest."""
        while True:
            jobs = _merge_jobs(edit.segments, self._busy)
            inline = [
                job
                for job in jobs
                if not self._background or sum(s.nnz for s in job) <= INLINE_MERGE_POSTINGS
            ]
            if not inline:
                break
            job = inline[0]
            merged = _concat(job, len(self._vocab), self._new_sid())
            _swap_in(edit.segments, job, merged)
        if len(inline) != len(jobs) and self._merger is None:
            self._merger = threading.Thread(target=self._merge_loop, name="bm25-merge", daemon=True)
            self._merger.start()

    def _merge_loop(self) -> None:
        """Background merges, one at a time, until the policy wants none."""
        while True:
            with self._lock:
                jobs = _merge_jobs(self._snap.segments, self._busy)
                if not jobs:
                    self._merger = None
                    self._idle.notify_all()
                    return
                job = jobs[0]
                self._busy.update(s.sid for s in job)
                n_terms = len(self._vocab)
                sid = self._new_sid()
            try:
                merged = _concat(job, n_terms, sid)
                with self._lock:
                    self._publish_merge(job, merged)
                    self._busy.difference_update(s.sid for s in job)
            except BaseException as exc:  # surfaced by wait_merged, never lost
                log.exception("index: a background merge failed; it is retried on the next change")
                with self._lock:
                    self._busy.difference_update(s.sid for s in job)
                    self._merge_error = exc
                    self._merger = None
                    self._idle.notify_all()
                return

    def _publish_merge(self, job: Sequence[_Segment], merged: _Segment) -> None:
        """Swap a finished merge in, re-tombstoning rows whose source went while it ran."""
        snap = self._snap
        current = {seg.sid: seg for seg in snap.segments}
        if any(current.get(seg.sid) is None for seg in job):
            return  # cannot happen (busy segments are only tombstoned); never lose rows
        if any(current[seg.sid].dead != seg.dead for seg in job) and merged.n_rows:
            live = np.fromiter((s.code for s in snap.sources.values()), np.int32)
            dead = ~np.isin(merged.src, live)
            if dead.any():
                part = np.array(merged.part)
                part[dead] = _DEAD
                merged = replace(merged, part=part, dead=int(dead.sum()))
        segments = list(snap.segments)
        _swap_in(segments, [current[seg.sid] for seg in job], merged)
        self._snap = replace(
            snap, version=snap.version + 1, segments=tuple(s for s in segments if s.n_rows)
        )

    def wait_merged(self, timeout: float | None = None) -> bool:
        """Until no background merge runs (False on timeout); re-raises a merge's failure."""
        with self._lock:
            done = self._idle.wait_for(lambda: self._merger is None, timeout)
            error, self._merge_error = self._merge_error, None
        if error is not None:
            raise error
        return done

    @property
    def segment_count(self) -> int:
        """Segments a search visits: for benchmarks and tests."""
        return len(self._snap.segments)

    # -- persistence -----------------------------------------------------------------------------

    def save(self, path: Path, stamp: Mapping[str, Any] | None = None) -> None:
        """Write the current snapshot under `path` (a directory), replacing an older one."""
        self.capture()(path, stamp)

    def capture(self) -> Callable[[Path, Mapping[str, Any] | None], None]:
        """Take the current snapshot now (cheap) and return what writes it, at leisure.

        The copy is complete on disk before `CURRENT` names it, so a crash mid-write leaves
        the previous copy in use. `stamp` is the caller's: what the copy is of.
        """
        with self._lock:
            snap = self._snap
            terms = list(self._vocab)
            meta: dict[str, Any] = {
                "format": FORMAT,
                "version": snap.version,
                "next_source_code": self._next_source_code,
                "next_sid": self._next_sid,
                "guild_codes": dict(self._guild_codes),
            }

        def write(path: Path, stamp: Mapping[str, Any] | None = None) -> None:
            path.mkdir(parents=True, exist_ok=True)
            name = f"snap-{uuid.uuid4().hex[:12]}"
            tmp = path / name
            tmp.mkdir()
            try:
                _write_snapshot(tmp, snap, terms, meta | {"stamp": dict(stamp or {})})
                pointer = path / f"CURRENT.{name}"
                pointer.write_text(name, encoding="utf-8")
                os.replace(pointer, path / "CURRENT")
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            for old in path.glob("snap-*"):
                if old.name != name:
                    shutil.rmtree(old, ignore_errors=True)

        return write

    @classmethod
    def load(cls, path: Path, *, background: bool = True) -> tuple[PassageIndex, dict[str, Any]]:
        """The index saved under `path` (arrays memory-mapped) and the stamp it was saved with."""
        try:
            name = (path / "CURRENT").read_text(encoding="utf-8").strip()
            return _read_snapshot(cls(background=background), path / name)
        except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
            raise IndexFileError(f"{path}: {exc}") from exc

    # -- reading ---------------------------------------------------------------------------------

    @property
    def version(self) -> int:
        """Increments on every change."""
        return self._snap.version

    def __len__(self) -> int:
        return self._snap.n_live

    def visible_count(self, guild: str | None) -> int:
        """Passages a query for `guild` searches: global ones plus the guild's."""
        snap = self._snap
        own = snap.guild_stats.get(guild) if guild is not None else None
        return snap.global_stats.n_docs + (own.n_docs if own is not None else 0)

    def source_ids(self) -> set[str]:
        return set(self._snap.sources)

    def passage_count(self, source_id: str) -> int:
        source = self._snap.sources.get(source_id)
        return len(source.pids) if source is not None else 0

    def document_frequency(self, term: str, guild: str | None) -> int:
        """Passages holding `term` among those `guild` sees (0 if unknown or invisible)."""
        tid = self._vocab.get(term)
        if tid is None:
            return 0
        snap = self._snap
        own = snap.guild_stats.get(guild) if guild is not None else None
        return snap.global_stats.df_of(tid) + (own.df_of(tid) if own is not None else 0)

    def example(self, term: str, guild: str | None) -> int | None:
        """A visible passage holding `term`, the lowest id: shows how a term is written."""
        tid = self._vocab.get(term)
        if tid is None:
            return None
        snap = self._snap
        code = self._guild_codes.get(guild) if guild is not None else None
        best: int | None = None
        for seg in snap.segments:
            lo, hi = seg.span(tid)
            rows = seg.indices[lo:hi]
            rows = rows[_visible(seg.part[rows], code)]
            if rows.size:
                pid = int(seg.pids[rows].min())
                best = pid if best is None else min(best, pid)
        return best

    def vocabulary(self) -> Sequence[str]:
        """Every term ever indexed, in id order; some may no longer be visible to anyone.

        For spelling suggestions: callers check `document_frequency` before showing one.
        """
        with self._lock:
            cached = self._terms
            if len(cached) != len(self._vocab):
                cached = self._terms = tuple(self._vocab)
        return cached

    def passage_ids(self, source_id: str) -> list[int]:
        """Passage ids of a source, in the order added ([] if unknown)."""
        source = self._snap.sources.get(source_id)
        return source.pids.tolist() if source is not None else []

    def search(
        self,
        terms: Sequence[tuple[str, float]],
        guild: str | None,
        k: int,
        *,
        allowed_sources: Collection[str] | None = None,
    ) -> list[tuple[int, float]]:
        """Top-k (passage_id, score) of passages holding a query term, best first.

        Scores can be negative: BM25Okapi floors the idf of terms in over half the
        passages at epsilon × mean idf, which is negative in a corpus of one or two
        passages; such a passage still matches, it just ranks below positive ones.
        Passages whose score is exactly 0 (terms of idf 0) are left out. Ties go by
        passage id. allowed_sources filters results only: statistics stay those of
        everything visible.
        """
        return [(pid, score) for pid, score, _ in self.hits(terms, guild, k, allowed_sources)]

    def hits(
        self,
        terms: Sequence[tuple[str, float]],
        guild: str | None,
        k: int,
        allowed_sources: Collection[str] | None = None,
    ) -> list[tuple[int, float, str]]:
        """As `search`, with each passage's source id: callers that fuse evidence per source."""
        snap = self._snap
        plan = self._plan(snap, terms, guild)
        if plan is None or k <= 0:
            return []
        coefs, avgdl, code = plan
        allowed = None
        if allowed_sources is not None:
            codes = [snap.sources[s].code for s in allowed_sources if s in snap.sources]
            if not codes:
                return []
            allowed = np.asarray(codes, dtype=np.int32)

        found_pids, found_scores, found_src = [], [], []
        for seg in snap.segments:
            rows, scores = _score_segment(seg, coefs, avgdl)
            if rows.size == 0:
                continue
            keep = _visible(seg.part[rows], code) & (scores != 0)
            if allowed is not None:
                keep &= np.isin(seg.src[rows], allowed)
            found_pids.append(seg.pids[rows[keep]])
            found_scores.append(scores[keep])
            found_src.append(seg.src[rows[keep]])
        if not found_pids:
            return []
        pids = np.concatenate(found_pids)
        scores = np.concatenate(found_scores)
        src = np.concatenate(found_src)
        if scores.size > k:
            # Keep everything tied with the k-th score so the passage-id tie-break is exact.
            kth = scores[np.argpartition(-scores, k - 1)[k - 1]]
            sel = np.flatnonzero(scores >= kth)
            pids, scores, src = pids[sel], scores[sel], src[sel]
        order = np.lexsort((pids, -scores))[:k]
        names = self._code_names  # codes are never reused: one map serves every snapshot
        return [
            (pid, score, names[c])
            for pid, score, c in zip(
                pids[order].tolist(), scores[order].tolist(), src[order].tolist(), strict=True
            )
        ]

    def sources_with_all(self, terms: Collection[str], guild: str | None) -> set[str]:
        """Ids of visible sources with one row holding every term (postings intersected).

        For required phrases: on the article index (one row per source, adjacent pairs
        included) this finds the articles that can hold the phrase, without scoring.
        """
        snap = self._snap
        tids = [self._vocab.get(t) for t in set(terms)]
        if not tids or any(t is None for t in tids):
            return set()
        code = self._guild_codes.get(guild) if guild is not None else None
        found: set[int] = set()
        for seg in snap.segments:
            rows: NDArray[Any] | None = None
            for tid in tids:
                assert tid is not None
                lo, hi = seg.span(tid)
                got = seg.indices[lo:hi]
                rows = got if rows is None else np.intersect1d(rows, got, assume_unique=True)
                if rows.size == 0:
                    break
            if rows is None or rows.size == 0:
                continue
            rows = rows[_visible(seg.part[rows], code)]
            found.update(seg.src[rows].tolist())
        names = self._code_names  # codes are never reused: one map serves every snapshot
        return {names[c] for c in found if c in names}

    def scores(self, terms: Sequence[tuple[str, float]], guild: str | None) -> dict[int, float]:
        """Every visible passage's score, zeros included: O(N), for tests and evaluation."""
        snap = self._snap
        plan = self._plan(snap, terms, guild)
        out: dict[int, float] = {}
        code = self._guild_codes.get(guild) if guild is not None else None
        for seg in snap.segments:
            out.update(dict.fromkeys(seg.pids[_visible(seg.part, code)].tolist(), 0.0))
        if plan is None:
            return out
        coefs, avgdl, code = plan
        for seg in snap.segments:
            rows, scores = _score_segment(seg, coefs, avgdl)
            keep = _visible(seg.part[rows], code)
            out.update(zip(seg.pids[rows[keep]].tolist(), scores[keep].tolist(), strict=True))
        return out

    def _plan(
        self, snap: _Snapshot, terms: Sequence[tuple[str, float]], guild: str | None
    ) -> tuple[dict[int, float], float, int | None] | None:
        """Per-term coefficients (Σ weight × idf), avgdl and guild code of the visible set."""
        glob = snap.global_stats
        own = snap.guild_stats.get(guild) if guild is not None else None
        n_docs = glob.n_docs + (own.n_docs if own is not None else 0)
        if n_docs == 0:
            return None
        total_len = glob.total_len + (own.total_len if own is not None else 0)
        coefs: dict[int, float] = {}
        for token, weight in terms:
            tid = self._vocab.get(token)
            if tid is None:
                continue
            df = glob.df_of(tid) + (own.df_of(tid) if own is not None else 0)
            if df == 0:
                continue
            idf = math.log(n_docs - df + 0.5) - math.log(df + 0.5)
            if idf < 0:  # rank-bm25 floors only strictly negative idfs
                idf = EPSILON * self._average_idf(glob, own, guild, n_docs)
            # Duplicate terms add up, as rank-bm25 adds each occurrence.
            coefs[tid] = coefs.get(tid, 0.0) + weight * idf
        if not coefs:
            return None
        code = self._guild_codes.get(guild) if own is not None and guild is not None else None
        return coefs, total_len / n_docs, code

    def _average_idf(
        self, glob: _Stats, own: _Stats | None, guild: str | None, n_docs: int
    ) -> float:
        """Mean raw idf over the visible vocabulary, negatives included (rank-bm25's floor base)."""
        key = (guild, glob.stamp, own.stamp) if own is not None else (None, glob.stamp, -1)
        cached = self._idf_cache.get(key)
        if cached is not None:
            return cached
        if own is None or own.terms is None:
            df = glob.df[glob.df > 0]
        else:
            size = max(len(glob.df), int(own.terms[-1]) + 1 if len(own.terms) else 0)
            full = np.zeros(size, np.int64)
            full[: len(glob.df)] = glob.df
            full[own.terms] += own.df
            df = full[full > 0]
        idf = np.log(n_docs - df + 0.5) - np.log(df + 0.5)
        average = float(idf.sum()) / len(df)
        if len(self._idf_cache) >= _IDF_CACHE_SIZE:
            self._idf_cache.clear()
        self._idf_cache[key] = average
        return average


def _swap_in(segments: list[_Segment], job: Sequence[_Segment], merged: _Segment) -> None:
    """Replace the job's segments by their merge, where the first of them was."""
    sids = {seg.sid for seg in job}
    at = next(i for i, seg in enumerate(segments) if seg.sid in sids)
    kept = [merged] if merged.n_rows else []
    segments[:] = [
        *(seg for seg in segments[:at] if seg.sid not in sids),
        *kept,
        *(seg for seg in segments[at:] if seg.sid not in sids),
    ]


_SEGMENT_ARRAYS = ("pids", "part", "src", "lens", "indptr", "indices", "tfs")


def _save(folder: Path, name: str, array: NDArray[Any]) -> None:
    np.save(folder / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)


def _write_snapshot(
    folder: Path, snap: _Snapshot, terms: Sequence[str], meta: dict[str, Any]
) -> None:
    """Plain .npy files (memory-mappable) plus one JSON file of what they are."""
    (folder / "vocab.txt").write_text("\n".join(terms), encoding="utf-8")
    _save(folder, "global.df", snap.global_stats.df)
    guilds = []
    for i, (guild, stats) in enumerate(sorted(snap.guild_stats.items())):
        assert stats.terms is not None
        _save(folder, f"guild{i}.terms", stats.terms)
        _save(folder, f"guild{i}.df", stats.df)
        guilds.append({"guild": guild, "n_docs": stats.n_docs, "total_len": stats.total_len})
    segments = []
    for i, seg in enumerate(snap.segments):
        for field in _SEGMENT_ARRAYS:
            _save(folder, f"seg{i}.{field}", getattr(seg, field))
        if seg.cols is not None:
            _save(folder, f"seg{i}.cols", seg.cols)
        segments.append({"sid": seg.sid, "dead": seg.dead, "compact": seg.cols is not None})
    ids = list(snap.sources)
    if any("\n" in sid for sid in ids):
        raise ValueError("a source id holds a newline")
    sources = [snap.sources[sid] for sid in ids]
    (folder / "sources.txt").write_text("\n".join(ids), encoding="utf-8")
    guild_names = {guild: n for n, guild in enumerate(sorted(snap.guild_stats), start=1)}
    for source in sources:
        if source.guild is not None and source.guild not in guild_names:
            guild_names[source.guild] = len(guild_names) + 1
    _save(folder, "sources.code", np.fromiter((s.code for s in sources), np.int64, len(sources)))
    _save(
        folder,
        "sources.guild",
        np.fromiter((guild_names.get(s.guild, 0) for s in sources), np.int64, len(sources)),
    )
    sizes = np.fromiter((len(s.pids) for s in sources), np.int64, len(sources))
    _save(folder, "sources.offsets", np.concatenate([np.zeros(1, np.int64), np.cumsum(sizes)]))
    _save(folder, "sources.pids", np.concatenate([s.pids for s in sources] or [_EMPTY_I64]))
    meta |= {
        "global": {
            "n_docs": snap.global_stats.n_docs,
            "total_len": snap.global_stats.total_len,
        },
        "guilds": guilds,
        "segments": segments,
        "source_guilds": sorted(guild_names, key=guild_names.__getitem__),
        "n_terms": len(terms),
    }
    with (folder / "index.json").open("w", encoding="utf-8") as fh:
        json.dump(meta, fh)
        fh.flush()
        os.fsync(fh.fileno())


def _read_snapshot(index: PassageIndex, folder: Path) -> tuple[PassageIndex, dict[str, Any]]:
    meta = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise ValueError(f"format {meta.get('format')!r}, not {FORMAT}")

    def load(name: str) -> NDArray[Any]:
        return np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)

    text = (folder / "vocab.txt").read_text(encoding="utf-8")
    terms = text.split("\n") if text else []
    if len(terms) != meta["n_terms"]:
        raise ValueError(f"vocabulary of {len(terms)} terms, expected {meta['n_terms']}")
    index._vocab.update(zip(terms, range(len(terms)), strict=True))
    index._guild_codes.update(meta["guild_codes"])
    index._next_source_code = meta["next_source_code"]
    index._next_sid = meta["next_sid"]
    version = meta["version"]
    g = meta["global"]
    global_stats = _Stats(g["n_docs"], g["total_len"], load("global.df"), None, version)
    guild_stats = {
        entry["guild"]: _Stats(
            entry["n_docs"],
            entry["total_len"],
            load(f"guild{i}.df"),
            load(f"guild{i}.terms"),
            version,
        )
        for i, entry in enumerate(meta["guilds"])
    }
    segments = []
    for i, entry in enumerate(meta["segments"]):
        arrays = {field: load(f"seg{i}.{field}") for field in _SEGMENT_ARRAYS}
        cols = load(f"seg{i}.cols") if entry["compact"] else None
        segments.append(_Segment(entry["sid"], dead=entry["dead"], cols=cols, **arrays))
    ids_text = (folder / "sources.txt").read_text(encoding="utf-8")
    ids = ids_text.split("\n") if ids_text else []
    # Small arrays are read whole: slicing a memory map per source is ten times slower.
    codes, guild_of = load("sources.code").tolist(), load("sources.guild").tolist()
    offsets = load("sources.offsets").tolist()
    pids = np.load(folder / "sources.pids.npy", allow_pickle=False)
    names = [None, *meta["source_guilds"]]
    sources = {
        sid: _Source(code, names[g], pids[offsets[n] : offsets[n + 1]])
        for n, (sid, code, g) in enumerate(zip(ids, codes, guild_of, strict=True))
    }
    index._code_names.update((source.code, sid) for sid, source in sources.items())
    n_live = global_stats.n_docs + sum(s.n_docs for s in guild_stats.values())
    index._snap = _Snapshot(version, tuple(segments), global_stats, guild_stats, sources, n_live)
    return index, meta["stamp"]


def _visible(part: NDArray[np.int32], code: int | None) -> NDArray[np.bool_]:
    """Rows a query sees: global ones and its guild's (tombstones have code _DEAD)."""
    if code is None:
        return part == _GLOBAL
    return (part == _GLOBAL) | (part == code)


def _score_segment(
    seg: _Segment, coefs: dict[int, float], avgdl: float
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Rows of `seg` touched by the query (unique, any partition) and their scores."""
    base = K1 * (1 - B)
    per_len = K1 * B / avgdl
    row_parts, score_parts = [], []
    for tid, coef in coefs.items():
        lo, hi = seg.span(tid)
        if lo == hi:
            continue
        rows = seg.indices[lo:hi]
        tf = seg.tfs[lo:hi]
        row_parts.append(rows)
        score_parts.append((coef * (K1 + 1)) * tf / (tf + (base + per_len * seg.lens[rows])))
    if not row_parts:
        return np.zeros(0, np.intp), np.zeros(0)
    if len(row_parts) == 1:  # postings rows are unique within a term
        return row_parts[0].astype(np.intp), score_parts[0]
    rows = np.concatenate(row_parts)
    contributions = np.concatenate(score_parts)
    if rows.size >= DENSE_RATIO * seg.n_rows:
        summed = np.bincount(rows, weights=contributions, minlength=seg.n_rows)
        touched = np.flatnonzero(summed)
        return touched, summed[touched]
    touched, inverse = np.unique(rows, return_inverse=True)
    return touched.astype(np.intp), np.bincount(inverse, weights=contributions)
