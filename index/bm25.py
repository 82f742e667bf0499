"""In-memory BM25 postings index whose scores equal rank_bm25.BM25Okapi over what the asker sees.

rank-bm25 rescores every passage for every query; here a query touches only the postings of its
terms. Passages live in a large main segment and a small delta segment, each holding term-major
postings (CSC) for search and a doc-major copy (CSR) to undo statistics on removal and to rebuild.
The delta is rebuilt on every add and merged into main once it outgrows a fraction of it, so adding
a source never rebuilds everything. Removal tombstones rows and corrects the statistics at once; the
next rebuild purges them.

Writers serialise on a lock and publish an immutable snapshot; readers take whatever snapshot is
current without locking, so a search never sees half of a change.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import chain
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

K1 = 1.5
B = 0.75
EPSILON = 0.25

# Merge policy (read at write time, so tests can shrink them): the delta is rebuilt on every add,
# which costs O(delta), and merging costs O(main): a delta of max(10k, 10 % of main) bounds both.
MIN_DELTA_DOCS = 10_000
DELTA_FRACTION = 0.10
MAX_DEAD_FRACTION = 0.25  # tombstoned share of main's rows that makes a removal purge main

# Touched postings per segment row above which one dense bincount beats sorting the touched rows.
DENSE_RATIO = 1 / 4

_GLOBAL = 0  # partition code of guild-less passages; guilds get 1, 2, ...
_DEAD = -1  # partition code of tombstoned rows
_IDF_CACHE_SIZE = 1024

SourceItem = tuple[str, str | None, Sequence[int], Sequence[Sequence[str]]]

_EMPTY_I64: NDArray[np.int64] = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class _Segment:
    """Passages stored together: row-aligned passage arrays plus postings both ways."""

    pids: NDArray[np.int64]
    part: NDArray[np.int32]  # partition code per row, _DEAD once tombstoned
    src: NDArray[np.int32]  # source code per row; a replaced source gets a new code
    lens: NDArray[np.float64]  # tokens per passage
    by_doc: sp.csr_matrix  # rows: term ids and tfs, to decrement df and to rebuild
    indptr: NDArray[Any]  # term-major postings (CSC): rows of term t are indices[indptr[t]:...]
    indices: NDArray[Any]
    tfs: NDArray[Any]
    dead: int = 0

    @property
    def n_rows(self) -> int:
        return len(self.pids)

    @property
    def n_live(self) -> int:
        return len(self.pids) - self.dead


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
    main: _Segment
    delta: _Segment
    global_stats: _Stats
    guild_stats: Mapping[str, _Stats]
    sources: Mapping[str, _Source]
    n_live: int


def _tf_dtype(max_tf: int) -> type[np.unsignedinteger[Any]] | type[np.signedinteger[Any]]:
    """Smallest exact dtype for term frequencies: postings dominate memory."""
    return np.uint16 if max_tf < 2**16 else np.int32


def _build_segment(
    pids: NDArray[np.int64],
    part: NDArray[np.int32],
    src: NDArray[np.int32],
    lens: NDArray[np.float64],
    by_doc: sp.csr_matrix,
) -> _Segment:
    """Derive the term-major postings (scipy's linear-time transpose) and wrap it all up."""
    by_term = by_doc.tocsc()
    return _Segment(pids, part, src, lens, by_doc, by_term.indptr, by_term.indices, by_term.data)


def _empty_segment() -> _Segment:
    by_doc = sp.csr_matrix((0, 0), dtype=np.uint16)
    return _build_segment(
        _EMPTY_I64, np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0), by_doc
    )


def _concat(segments: Sequence[_Segment], n_terms: int) -> _Segment:
    """One segment with the live rows of `segments`, in order: tombstones are purged here."""
    live = [seg for seg in segments if seg.n_live]
    if len(live) == 1 and not live[0].dead:
        return live[0]  # nothing to purge or join: keep its postings (fewer columns is fine)
    blocks: list[sp.csr_matrix] = []
    pids, part, src, lens = [], [], [], []
    for seg in live:
        if seg.dead:
            rows = np.flatnonzero(seg.part != _DEAD)
            seg = replace(
                seg,
                pids=seg.pids[rows],
                part=seg.part[rows],
                src=seg.src[rows],
                lens=seg.lens[rows],
                by_doc=seg.by_doc[rows],
            )
        blocks.append(seg.by_doc)
        pids.append(seg.pids)
        part.append(seg.part)
        src.append(seg.src)
        lens.append(seg.lens)
    if not blocks:
        return _empty_segment()
    # Stack by hand: the blocks may have been built with fewer columns (a smaller vocabulary).
    offsets = np.cumsum([0] + [m.nnz for m in blocks])
    indptr = np.concatenate(
        [np.zeros(1, np.int64)]
        + [m.indptr[1:] + off for m, off in zip(blocks, offsets, strict=False)]
    )
    data = np.concatenate([m.data for m in blocks])
    indices = np.concatenate([m.indices for m in blocks])
    n_rows = len(indptr) - 1
    by_doc = sp.csr_matrix((data, indices, indptr), shape=(n_rows, n_terms))
    return _build_segment(
        np.concatenate(pids),
        np.concatenate(part),
        np.concatenate(src),
        np.concatenate(lens),
        by_doc,
    )


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
        self.main = snap.main
        self.delta = snap.delta
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

    def drop_source(self, source_id: str) -> int:
        """Tombstone a source's rows and take them out of the statistics; passages dropped."""
        source = self.sources.pop(source_id, None)
        if source is None:
            return 0
        dropped = 0
        for name in ("main", "delta"):
            seg: _Segment = getattr(self, name)
            rows = np.flatnonzero((seg.src == source.code) & (seg.part != _DEAD))
            if rows.size == 0:
                continue
            terms, dfs = np.unique(seg.by_doc[rows].indices, return_counts=True)
            self.count(source.guild, -rows.size, -int(seg.lens[rows].sum()), terms, -dfs)
            part = seg.part.copy()  # copy-on-write: published snapshots keep theirs
            part[rows] = _DEAD
            setattr(self, name, replace(seg, part=part, dead=seg.dead + rows.size))
            dropped += rows.size
        return dropped

    def encode(
        self, batch: Sequence[SourceItem], guild_codes: dict[str, int], next_code: int
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
        term_ids = np.fromiter(map(vocab.__getitem__, flat), dtype=np.int32, count=len(flat))
        row_ids = np.repeat(np.arange(len(token_lists), dtype=np.int32), lens)
        by_doc = sp.csr_matrix(  # coo → csr sums duplicate (row, term) pairs into tfs
            (np.ones(len(flat), np.int32), (row_ids, term_ids)),
            shape=(len(token_lists), len(vocab)),
        )
        by_doc.sum_duplicates()
        max_tf = int(by_doc.data.max()) if by_doc.nnz else 0
        by_doc.data = by_doc.data.astype(_tf_dtype(max_tf))

        part = np.repeat(np.asarray(codes, dtype=np.int32), sizes)
        src = np.repeat(np.arange(next_code, next_code + len(batch), dtype=np.int32), sizes)
        pids = np.concatenate(
            [s.pids for s in (self.sources[item[0]] for item in batch)] or [_EMPTY_I64]
        )
        self._count_rows(by_doc, part, lens, part_of)
        return _build_segment(pids, part, src, lens.astype(np.float64), by_doc)

    def _count_rows(
        self,
        by_doc: sp.csr_matrix,
        part: NDArray[np.int32],
        lens: NDArray[np.int64],
        part_of: dict[int, str | None],
    ) -> None:
        """Add new rows to their partitions' statistics, one sort for all partitions."""
        codes = sorted(part_of)
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
        for code, ids in groups:
            if code == _GLOBAL:  # usually most rows: a dense count beats a sort
                dense = np.bincount(ids, minlength=0)
                terms = np.flatnonzero(dense)
                dfs = dense[terms]
            else:
                terms, dfs = np.unique(ids, return_counts=True)
            self.count(part_of[code], int(docs[code]), int(tokens[code]), terms, dfs)

    def maybe_merge(self) -> None:
        """Fold the delta into main once it is big, or main once it is full of tombstones."""
        main, delta = self.main, self.delta
        big_delta = delta.n_live > max(MIN_DELTA_DOCS, DELTA_FRACTION * main.n_live)
        rotten_main = main.dead > 0 and main.dead > MAX_DEAD_FRACTION * main.n_rows
        if big_delta or rotten_main:
            self.main = _concat([main, delta], len(self.vocab))
            self.delta = _empty_segment()

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
        return _Snapshot(
            self.version, self.main, self.delta, global_stats, guild_stats, self.sources, n_live
        )


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
    """BM25Okapi (k1=1.5, b=0.75, epsilon=0.25) over global passages plus the asker's guild."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._vocab = _Vocabulary()  # only grows: ids stay valid in every snapshot
        self._guild_codes: dict[str, int] = {}  # only grows
        self._next_source_code = 0
        self._idf_cache: dict[tuple[str | None, int, int], float] = {}
        self._names: tuple[int, dict[int, str]] | None = None
        self._terms: tuple[str, ...] = ()  # vocabulary() cache, rebuilt when the vocabulary grows
        empty = _empty_segment()
        stats = _Stats(0, 0, _EMPTY_I64, None, 0)
        self._snap = _Snapshot(0, empty, empty, stats, {}, {}, 0)

    # -- writing ---------------------------------------------------------------------------------

    def add(
        self,
        source_id: str,
        guild: str | None,
        passage_ids: Sequence[int],
        token_lists: Sequence[Sequence[str]],
    ) -> None:
        """Add one source's passages; an existing source_id is replaced in the same swap."""
        item = (source_id, guild, passage_ids, token_lists)
        _check_source(item)
        with self._lock:
            edit = _Edit(self._snap, self._vocab)
            edit.drop_source(source_id)
            new = edit.encode([item], self._guild_codes, self._next_source_code)
            self._next_source_code += 1
            edit.delta = _concat([edit.delta, new], len(self._vocab))
            edit.maybe_merge()
            self._snap = edit.publish()

    def add_many(self, items: Iterable[SourceItem]) -> None:
        """Bulk load: everything (old and new) becomes one main segment, one swap.

        A source_id given twice keeps its last passages, as two add() calls would.
        """
        batch: dict[str, SourceItem] = {}
        for item in items:
            _check_source(item)
            batch.pop(item[0], None)
            batch[item[0]] = item
        if not batch:
            return
        with self._lock:
            edit = _Edit(self._snap, self._vocab)
            for source_id in batch:
                edit.drop_source(source_id)
            new = edit.encode(list(batch.values()), self._guild_codes, self._next_source_code)
            self._next_source_code += len(batch)
            edit.main = _concat([edit.main, edit.delta, new], len(self._vocab))
            edit.delta = _empty_segment()
            self._snap = edit.publish()

    def remove_source(self, source_id: str) -> int:
        """Remove a source's passages; how many (0 if the source is unknown)."""
        with self._lock:
            if source_id not in self._snap.sources:
                return 0
            edit = _Edit(self._snap, self._vocab)
            removed = edit.drop_source(source_id)
            edit.maybe_merge()
            self._snap = edit.publish()
            return removed

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
        for seg in (snap.main, snap.delta):
            if tid >= len(seg.indptr) - 1:
                continue
            rows = seg.indices[seg.indptr[tid] : seg.indptr[tid + 1]]
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
        for seg in (snap.main, snap.delta):
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
        names = self._source_names(snap)
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
        for seg in (snap.main, snap.delta):
            n_terms = len(seg.indptr) - 1
            rows: NDArray[Any] | None = None
            for tid in tids:
                assert tid is not None
                if tid >= n_terms:
                    rows = None
                    break
                got = seg.indices[seg.indptr[tid] : seg.indptr[tid + 1]]
                rows = got if rows is None else np.intersect1d(rows, got, assume_unique=True)
                if rows.size == 0:
                    break
            if rows is None or rows.size == 0:
                continue
            rows = rows[_visible(seg.part[rows], code)]
            found.update(seg.src[rows].tolist())
        names = self._source_names(snap)
        return {names[c] for c in found if c in names}

    def _source_names(self, snap: _Snapshot) -> dict[int, str]:
        """Source code → source id for a snapshot, built once per snapshot version."""
        cached = self._names
        if cached is not None and cached[0] == snap.version:
            return cached[1]
        names = {source.code: sid for sid, source in snap.sources.items()}
        self._names = (snap.version, names)
        return names

    def scores(self, terms: Sequence[tuple[str, float]], guild: str | None) -> dict[int, float]:
        """Every visible passage's score, zeros included: O(N), for tests and evaluation."""
        snap = self._snap
        plan = self._plan(snap, terms, guild)
        out: dict[int, float] = {}
        code = self._guild_codes.get(guild) if guild is not None else None
        for seg in (snap.main, snap.delta):
            out.update(dict.fromkeys(seg.pids[_visible(seg.part, code)].tolist(), 0.0))
        if plan is None:
            return out
        coefs, avgdl, code = plan
        for seg in (snap.main, snap.delta):
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
    n_terms = len(seg.indptr) - 1
    row_parts, score_parts = [], []
    for tid, coef in coefs.items():
        if tid >= n_terms:
            continue
        lo, hi = seg.indptr[tid], seg.indptr[tid + 1]
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
