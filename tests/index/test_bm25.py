"""PassageIndex against rank_bm25.BM25Okapi, the oracle, on real SciFact text."""

from __future__ import annotations

import json
import math
import os
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from rank_bm25 import BM25Okapi

from index import bm25
from index.bm25 import PassageIndex

N_DOCS = 3000
PER_SOURCE = 10
FIRST_PID = 100_000  # passage ids differ from row numbers, to catch mix-ups
TOL = 1e-6


def _shared_dir() -> Path:
    override = os.environ.get("BRIEFBOT_SHARED_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2].parent / "shared"


SCIFACT = _shared_dir() / "data/beir/scifact"


def tokenize(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _read_jsonl(name: str, limit: int) -> list[dict]:
    path = SCIFACT / name
    if not path.exists():
        pytest.skip(f"SciFact not found at {path} (set BRIEFBOT_SHARED_DIR to the shared/ folder)")
    rows = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            rows.append(json.loads(line))
            if len(rows) >= limit:
                break
    return rows


@pytest.fixture(scope="module")
def corpus() -> list[list[str]]:
    """Token lists of the first SciFact documents."""
    docs = _read_jsonl("corpus.jsonl", N_DOCS)
    return [tokenize(f"{d['title']} {d['text']}") for d in docs]


# Very common words (raw idf < 0: floored at epsilon × average idf) and duplicated terms.
EXTRA_QUERIES = [
    "the of and in",
    "the cancer of the cell",
    "cancer cancer cancer cells",
    "protein the protein expression of the protein",
    "a is with for patients",
]


@pytest.fixture(scope="module")
def queries() -> list[list[str]]:
    """45 SciFact claims plus hand-written ones with common and repeated words."""
    claims = [tokenize(q["text"]) for q in _read_jsonl("queries.jsonl", 45)]
    return claims + [tokenize(q) for q in EXTRA_QUERIES]


def sources_of(
    corpus: Sequence[Sequence[str]], guilds: Sequence[str | None] = (None,)
) -> list[tuple[str, str | None, list[int], list[Sequence[str]]]]:
    """Split the corpus into sources of PER_SOURCE passages, guilds assigned round-robin."""
    out = []
    for j, start in enumerate(range(0, len(corpus), PER_SOURCE)):
        pids = list(range(FIRST_PID + start, FIRST_PID + min(start + PER_SOURCE, len(corpus))))
        out.append(
            (f"s{j}", guilds[j % len(guilds)], pids, list(corpus[start : start + PER_SOURCE]))
        )
    return out


class Oracle:
    """rank-bm25 over exactly `docs`: scores by passage id."""

    def __init__(self, docs: dict[int, Sequence[str]]) -> None:
        self.pids = sorted(docs)
        self.model = BM25Okapi(
            [docs[p] for p in self.pids], k1=bm25.K1, b=bm25.B, epsilon=bm25.EPSILON
        )

    def __call__(self, query: Sequence[str]) -> dict[int, float]:
        return dict(zip(self.pids, self.model.get_scores(list(query)).tolist(), strict=True))


def oracle(docs: dict[int, Sequence[str]], query: Sequence[str]) -> dict[int, float]:
    return Oracle(docs)(query)


def as_terms(query: Sequence[str]) -> list[tuple[str, float]]:
    return [(t, 1.0) for t in query]


def assert_scores_match(index: PassageIndex, expect: Oracle, query, guild=None):
    ours = index.scores(as_terms(query), guild)
    expected = expect(query)
    assert ours.keys() == expected.keys()
    assert max(abs(ours[p] - expected[p]) for p in expected) < TOL


def ranking_error(ours: list[tuple[int, float]], expected: dict[int, float], k: int) -> str | None:
    """Why `ours` is not `expected`'s top k (score desc, id asc), or None; near-ties may swap."""
    want = sorted(((p, s) for p, s in expected.items() if s != 0), key=lambda x: (-x[1], x[0]))[:k]
    if len(ours) != len(want):
        return f"{len(ours)} results, expected {len(want)}"
    if ours != sorted(ours, key=lambda x: (-x[1], x[0])):
        return "not sorted by score desc, passage id asc"
    for (pid, score), (_, want_score) in zip(ours, want, strict=True):
        if pid not in expected or abs(expected[pid] - score) > TOL:
            return f"passage {pid} scored {score}, oracle says {expected.get(pid)}"
        if abs(score - want_score) > TOL:
            return f"passage {pid} at a rank whose oracle score is {want_score}"
    return None


@pytest.fixture(scope="module")
def loaded(corpus) -> PassageIndex:
    """The whole corpus bulk-loaded as global sources (read-only: tests must not change it)."""
    index = PassageIndex()
    index.add_many(sources_of(corpus))
    return index


@pytest.fixture(scope="module")
def all_docs(corpus) -> dict[int, Sequence[str]]:
    return {FIRST_PID + i: tokens for i, tokens in enumerate(corpus)}


@pytest.fixture(scope="module")
def full_oracle(all_docs) -> Oracle:
    return Oracle(all_docs)


@pytest.fixture
def small_segments(monkeypatch) -> Iterator[None]:
    """Merge after a few hundred passages, so a 3000-passage corpus goes through several merges."""
    monkeypatch.setattr(bm25, "DELTA_POSTINGS", 3000)  # about five sources
    monkeypatch.setattr(bm25, "MERGE_FACTOR", 3)
    yield


def segment_rows(index: PassageIndex) -> list[int]:
    """Rows per segment, oldest first, tombstones included: white-box, to know which path ran."""
    return [seg.n_rows for seg in index._snap.segments]


def segment_dead(index: PassageIndex) -> list[int]:
    return [seg.dead for seg in index._snap.segments]


def test_hand_checked_example():
    """Scores of a three-passage corpus equal the formula worked out by hand."""
    index = PassageIndex()
    index.add("s", None, [1, 2, 3], [["a", "b"], ["b", "c", "c"], ["d"]])
    # N=3, avgdl=2; df(c)=1, df(b)=2 (raw idf < 0, floored at 0.25 × mean of all raw idfs).
    idf_rare = math.log(3 - 1 + 0.5) - math.log(1 + 0.5)
    idf_b = 0.25 * (3 * idf_rare + (math.log(3 - 2 + 0.5) - math.log(2 + 0.5))) / 4

    def tf_part(tf: int, length: int) -> float:
        return tf * 2.5 / (tf + 1.5 * (0.25 + 0.75 * length / 2))

    c_in_2 = idf_rare * tf_part(2, 3)
    assert index.search([("c", 1.0)], None, 5) == [(2, pytest.approx(c_in_2, abs=1e-12))]
    got = dict(index.search([("b", 1.0), ("c", 1.0)], None, 5))
    assert got == {
        1: pytest.approx(idf_b * tf_part(1, 2), abs=1e-12),
        2: pytest.approx(idf_b * tf_part(1, 3) + c_in_2, abs=1e-12),
    }


def test_queries_exercise_negative_idf_floor(corpus, queries):
    """The query set contains terms in more than half the passages (rank-bm25's epsilon floor)."""
    model = BM25Okapi(corpus)
    raw = {t: math.log(len(corpus) - f + 0.5) - math.log(f + 0.5) for t, f in _df(corpus).items()}
    floored = {t for q in queries for t in q if raw.get(t, 0) < 0}
    assert floored, "no query term has a negative idf"
    assert all(model.idf[t] == pytest.approx(0.25 * model.average_idf) for t in floored)


def _df(corpus: Sequence[Sequence[str]]) -> dict[str, int]:
    df: dict[str, int] = {}
    for tokens in corpus:
        for t in set(tokens):
            df[t] = df.get(t, 0) + 1
    return df


@pytest.mark.parametrize("qi", range(50))
def test_scores_equal_rank_bm25(loaded, full_oracle, queries, qi):
    """Every passage's score equals BM25Okapi.get_scores."""
    assert_scores_match(loaded, full_oracle, queries[qi])


@pytest.mark.parametrize("ratio", [0.0, 1e9], ids=["dense-bincount", "sorted-unique"])
def test_both_accumulation_paths_equal_rank_bm25(loaded, full_oracle, queries, monkeypatch, ratio):
    """Summing postings densely or over sorted touched rows gives rank-bm25's scores."""
    monkeypatch.setattr(bm25, "DENSE_RATIO", ratio)
    for query in queries[::7]:
        assert_scores_match(loaded, full_oracle, query)
        assert (
            ranking_error(loaded.search(as_terms(query), None, 10), full_oracle(query), 10) is None
        )


@pytest.mark.parametrize("qi", range(50))
@pytest.mark.parametrize("k", [1, 10, 100])
def test_top_k_is_sorted_rank_bm25(loaded, full_oracle, queries, qi, k):
    """search() returns rank-bm25's top k, score desc then passage id asc."""
    expected = full_oracle(queries[qi])
    assert ranking_error(loaded.search(as_terms(queries[qi]), None, k), expected, k) is None


def test_incremental_adds_use_delta_and_match(corpus, queries):
    """Sources added one by one after a bulk load (delta segment) score like a fresh rank-bm25."""
    index = PassageIndex()
    items = sources_of(corpus)
    index.add_many(items[:250])
    for item in items[250:]:
        index.add(*item)
    assert segment_rows(index) == [2500, 500]  # the adds went into one small segment
    expect = Oracle({p: t for item in items for p, t in zip(item[2], item[3], strict=True)})
    for query in queries[::5]:
        assert_scores_match(index, expect, query)
        assert ranking_error(index.search(as_terms(query), None, 10), expect(query), 10) is None


def test_merges_keep_scores_exact(corpus, queries, small_segments):
    """Adding source by source through several merges keeps scores equal to rank-bm25."""
    index = PassageIndex(background=False)
    docs: dict[int, Sequence[str]] = {}
    merges = 0
    for n, item in enumerate(sources_of(corpus), start=1):
        before = len(segment_rows(index))
        index.add(*item)
        docs.update(zip(item[2], item[3], strict=True))
        merges += len(segment_rows(index)) < before + (before == 0)
        if n % 60 == 0:
            expect = Oracle(docs)
            for query in queries[n // 60 :: 10]:
                assert_scores_match(index, expect, query)
    assert merges >= 3
    assert len(index) == len(corpus)


@pytest.mark.parametrize("bulk", [True, False], ids=["removed-from-main", "removed-from-delta"])
def test_remove_source_matches_rank_bm25_on_the_rest(corpus, queries, bulk):
    """After remove_source, scores equal BM25Okapi over the remaining passages only."""
    index = PassageIndex()
    items = sources_of(corpus)
    if bulk:
        index.add_many(items)
    else:
        index.add_many(items[:200])
        for item in items[200:]:
            index.add(*item)
    removed = [items[j] for j in (0, 7, 150, 210, 299)]
    for item in removed:
        assert index.remove_source(item[0]) == len(item[2])
    gone = {p for item in removed for p in item[2]}
    docs = {FIRST_PID + i: t for i, t in enumerate(corpus) if FIRST_PID + i not in gone}
    assert len(index) == len(docs)
    expect = Oracle(docs)
    for query in queries[::4]:
        assert_scores_match(index, expect, query)
        assert ranking_error(index.search(as_terms(query), None, 20), expect(query), 20) is None


def test_remove_unknown_source_changes_nothing(loaded):
    """Removing an unknown source returns 0 and does not bump the version."""
    version = loaded.version
    assert loaded.remove_source("nope") == 0
    assert loaded.version == version


def test_tombstones_are_purged_at_merge(corpus, queries, monkeypatch):
    """Removing most of main triggers a merge that drops the dead rows; scores stay exact."""
    monkeypatch.setattr(bm25, "MAX_DEAD_FRACTION", 0.25)
    index = PassageIndex()
    items = sources_of(corpus[:1000])
    index.add_many(items)
    for item in items[:25]:
        index.remove_source(item[0])
    assert (segment_rows(index), segment_dead(index)) == ([1000], [250])
    index.remove_source(items[25][0])  # 260 dead rows > 25 % of 1000
    assert (segment_rows(index), segment_dead(index)) == ([740], [0])
    expect = Oracle({p: t for item in items[26:] for p, t in zip(item[2], item[3], strict=True)})
    for query in queries[::10]:
        assert_scores_match(index, expect, query)


@pytest.mark.parametrize("bulk", [True, False], ids=["replace-in-main", "replace-in-delta"])
def test_replacing_a_source_swaps_its_passages(corpus, queries, bulk):
    """Re-adding a source id replaces its passages; scores equal rank-bm25 over the new set."""
    index = PassageIndex()
    items = sources_of(corpus[:1000])
    if bulk:
        index.add_many(items)
    else:
        for item in items:
            index.add(*item)
    version = index.version
    new_pids = list(range(1, 21))
    new_tokens = [list(t) for t in corpus[2000:2020]]
    index.add("s3", None, new_pids, new_tokens)
    assert index.version == version + 1
    assert index.passage_ids("s3") == new_pids
    docs = {
        p: t for item in items if item[0] != "s3" for p, t in zip(item[2], item[3], strict=True)
    }
    docs.update(zip(new_pids, new_tokens, strict=True))
    assert len(index) == len(docs)
    expect = Oracle(docs)
    for query in queries[::5]:
        assert_scores_match(index, expect, query)


GUILDS = (None, "A", "B")


@pytest.fixture(scope="module")
def guild_items(corpus):
    return sources_of(corpus, guilds=GUILDS)


@pytest.fixture(scope="module")
def guild_index(guild_items) -> PassageIndex:
    index = PassageIndex()
    index.add_many(guild_items)
    return index


def docs_visible(items, guild: str | None) -> dict[int, Sequence[str]]:
    return {
        p: t
        for item in items
        if item[1] is None or item[1] == guild
        for p, t in zip(item[2], item[3], strict=True)
    }


@pytest.mark.parametrize("guild", [None, "A", "B"])
def test_guild_sees_global_plus_own_statistics(guild_index, guild_items, queries, guild):
    """A guild's query scores like BM25Okapi over global + that guild's passages (None: global)."""
    docs = docs_visible(guild_items, guild)
    assert guild_index.visible_count(guild) == len(docs)
    expect = Oracle(docs)
    for query in queries[::3]:
        assert_scores_match(guild_index, expect, query, guild)
        ours = guild_index.search(as_terms(query), guild, 50)
        assert ranking_error(ours, expect(query), 50) is None


@pytest.mark.parametrize(("guild", "hidden"), [("A", "B"), ("B", "A"), (None, "A"), (None, "B")])
def test_guild_never_sees_other_guilds(guild_index, guild_items, queries, guild, hidden):
    """No result of one guild's query is another guild's passage."""
    hidden_pids = {p for item in guild_items if item[1] == hidden for p in item[2]}
    for query in queries:
        assert not {p for p, _ in guild_index.search(as_terms(query), guild, 200)} & hidden_pids


def test_unknown_guild_sees_global_only(guild_index, guild_items, queries):
    """A guild with no passages gets the global statistics and passages."""
    docs = docs_visible(guild_items, None)
    assert guild_index.visible_count("never-added") == len(docs)
    assert_scores_match(guild_index, Oracle(docs), queries[0], "never-added")


def test_guild_changes_after_add_and_remove(guild_items, queries):
    """Guild statistics follow adds into the delta and removals of guild sources."""
    index = PassageIndex()
    index.add_many(guild_items[:200])
    for item in guild_items[200:]:
        index.add(*item)
    for item in guild_items[::7]:
        index.remove_source(item[0])
    kept = [item for i, item in enumerate(guild_items) if i % 7]
    for guild in GUILDS:
        expect = Oracle(docs_visible(kept, guild))
        for query in queries[::9]:
            assert_scores_match(index, expect, query, guild)


def test_guild_emptied_falls_back_to_global(corpus, queries):
    """Removing a guild's only source leaves it the global statistics."""
    index = PassageIndex()
    index.add_many(sources_of(corpus[:500]))
    index.add("g", "A", [1, 2], [list(corpus[600]), list(corpus[601])])
    assert index.visible_count("A") == 502
    index.remove_source("g")
    assert index.visible_count("A") == 500
    assert index.scores(as_terms(queries[0]), "A") == index.scores(as_terms(queries[0]), None)


@pytest.mark.parametrize(
    "weighted",
    [
        [("cancer", 2.0), ("cells", 0.5)],
        [("the", 1.5), ("protein", 1.0), ("protein", 0.25)],
        [("brain", 0.3), ("unknownterm", 5.0), ("of", 1.0)],
    ],
)
def test_weights_scale_each_term(loaded, all_docs, full_oracle, weighted):
    """A weighted query scores Σ weight × rank-bm25 score of the term alone."""
    expected = dict.fromkeys(all_docs, 0.0)
    for token, weight in weighted:
        for p, s in full_oracle([token]).items():
            expected[p] += weight * s
    ours = loaded.scores(weighted, None)
    assert max(abs(ours[p] - expected[p]) for p in all_docs) < TOL
    assert ranking_error(loaded.search(weighted, None, 10), expected, 10) is None


def test_allowed_sources_filters_results_not_statistics(loaded, full_oracle, queries):
    """allowed_sources keeps only those sources' passages, scored with full statistics."""
    allowed = {f"s{j}" for j in range(0, 300, 3)} | {"unknown"}
    allowed_pids = {p for j in range(0, 300, 3) for p in loaded.passage_ids(f"s{j}")}
    for query in queries[::5]:
        expected = {p: s for p, s in full_oracle(query).items() if p in allowed_pids}
        ours = loaded.search(as_terms(query), None, 10, allowed_sources=allowed)
        assert ranking_error(ours, expected, 10) is None


@pytest.mark.parametrize("allowed", [set(), {"unknown"}])
def test_allowed_sources_without_known_sources_returns_nothing(loaded, queries, allowed):
    """An allowed set with no known source returns no results."""
    assert loaded.search(as_terms(queries[0]), None, 10, allowed_sources=allowed) == []


@pytest.mark.parametrize(
    ("terms", "k"),
    [([], 10), ([("zzzunknownzzz", 1.0)], 10), ([("cancer", 1.0)], 0), ([("cancer", 0.0)], 10)],
    ids=["no-terms", "unknown-term", "k-zero", "zero-weight"],
)
def test_queries_that_match_nothing(loaded, terms, k):
    """No terms, unknown terms, k=0 or zero weight return []."""
    assert loaded.search(terms, None, k) == []


def test_empty_index():
    """An empty index answers every question with nothing."""
    index = PassageIndex()
    assert index.search([("cancer", 1.0)], None, 10) == []
    assert index.search([("cancer", 1.0)], "A", 10) == []
    assert index.scores([("cancer", 1.0)], None) == {}
    assert (len(index), index.version, index.visible_count(None)) == (0, 0, 0)
    assert index.source_ids() == set()
    assert index.passage_ids("x") == []


def test_empty_passages_count_in_statistics():
    """Passages without tokens count in N and avgdl, as in rank-bm25."""
    index = PassageIndex()
    docs = {1: ["a", "b"], 2: [], 3: ["b", "c"], 4: ["c", "c", "d"]}
    index.add("s", None, list(docs), list(docs.values()))
    for query in (["a"], ["b", "c"], ["c", "d", "a"]):
        assert_scores_match(index, Oracle(docs), query)


def test_bookkeeping(corpus):
    """len, source_ids, passage_ids and version follow adds and removals."""
    index = PassageIndex()
    items = sources_of(corpus[:100])
    index.add_many(items[:5])
    index.add(*items[5])
    assert index.version == 2
    assert len(index) == 60
    assert index.source_ids() == {f"s{j}" for j in range(6)}
    assert index.passage_ids("s5") == items[5][2]
    index.remove_source("s0")
    assert (index.version, len(index), "s0" in index.source_ids()) == (3, 50, False)


def test_add_many_keeps_the_last_copy_of_a_source(corpus):
    """A source given twice to add_many ends up with its last passages only."""
    index = PassageIndex()
    index.add_many([("s", None, [1, 2], corpus[:2]), ("s", None, [3], corpus[2:3])])
    assert (len(index), index.passage_ids("s"), index.version) == (1, [3], 1)


@pytest.mark.parametrize(
    ("pids", "tokens", "error"),
    [([1, 2], [["a"]], ValueError), ([1, 1], [["a"], ["b"]], ValueError), ([1], ["ab"], TypeError)],
    ids=["length-mismatch", "duplicate-ids", "string-not-tokens"],
)
def test_add_rejects_malformed_sources(pids, tokens, error):
    """Malformed sources raise before anything changes."""
    index = PassageIndex()
    with pytest.raises(error):
        index.add("s", None, pids, tokens)
    assert (len(index), index.version) == (0, 0)


def test_concurrent_writes_and_searches_see_whole_snapshots(corpus, queries, monkeypatch):
    """Searches racing add/replace/remove never fail and always match one whole state."""
    # Replacements go through merges, all of them in the background thread.
    monkeypatch.setattr(bm25, "DELTA_POSTINGS", 1)
    monkeypatch.setattr(bm25, "MERGE_FACTOR", 2)
    monkeypatch.setattr(bm25, "INLINE_MERGE_POSTINGS", 0)
    base = sources_of(corpus[:1000])
    query = ["cancer", "cells", "the", "tumor"]
    matching = [i for i, t in enumerate(corpus) if "cancer" in t or "tumor" in t]
    v1 = (list(range(1, 11)), [corpus[i] for i in matching[:10]])
    v2 = (list(range(11, 21)), [corpus[i] for i in matching[10:20]])
    base_docs = {p: t for item in base for p, t in zip(item[2], item[3], strict=True)}
    states = [
        base_docs,
        base_docs | dict(zip(*v1, strict=True)),
        base_docs | dict(zip(*v2, strict=True)),
    ]
    expected = [oracle(docs, query) for docs in states]

    index = PassageIndex()
    index.add_many(base)
    done = threading.Event()
    errors: list[BaseException] = []
    seen: list[list[tuple[int, float]]] = []

    def write() -> None:
        try:
            for _ in range(40):
                index.add("x", None, *v1)
                index.add("x", None, *v2)
                index.remove_source("x")
        except BaseException as e:  # reported by the main thread
            errors.append(e)
        finally:
            done.set()

    def read() -> None:
        try:
            while not done.is_set():
                seen.append(index.search(as_terms(query), None, 15))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=write), *(threading.Thread(target=read) for _ in range(2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert seen
    bad = [r for r in seen if all(ranking_error(r, e, 15) for e in expected)]
    assert not bad, f"{len(bad)} of {len(seen)} results match no state, e.g. {bad[0]}"


def test_tiny_corpus_still_matches_with_negative_scores():
    """In a one-passage corpus BM25Okapi scores are negative; the passage is still found."""
    index = PassageIndex()
    index.add("s", None, [1], [["peace", "talks", "miami"]])
    oracle = BM25Okapi([["peace", "talks", "miami"]])
    ((pid, score),) = index.search(as_terms(["miami"]), None, 5)
    assert pid == 1 and score < 0
    assert score == pytest.approx(oracle.get_scores(["miami"])[0], abs=TOL)
    assert index.search(as_terms(["absent"]), None, 5) == []


def test_background_merge_keeps_removals_made_while_it_ran(corpus, queries, monkeypatch):
    """A source removed while a background merge copies its rows stays removed after the swap."""
    monkeypatch.setattr(bm25, "DELTA_POSTINGS", 1)  # every add its own segment
    monkeypatch.setattr(bm25, "MERGE_FACTOR", 3)
    monkeypatch.setattr(bm25, "INLINE_MERGE_POSTINGS", 0)  # every merge in the background
    started, release = threading.Event(), threading.Event()
    real_concat = bm25._concat

    def slow_concat(segments, n_terms, sid):
        if threading.current_thread().name == "bm25-merge":
            started.set()
            assert release.wait(10)
        return real_concat(segments, n_terms, sid)

    monkeypatch.setattr(bm25, "_concat", slow_concat)
    index = PassageIndex()
    items = sources_of(corpus[:90])  # 9 sources of 10 passages
    for item in items[:6]:
        index.add(*item)  # 3 segments make a full tier, merged in the background
    assert started.wait(10)
    assert index.remove_source(items[1][0]) == 10  # its rows are being copied right now
    index.add(*items[6])
    release.set()
    index.wait_merged(10)
    assert len(segment_rows(index)) < 4
    live = [item for j, item in enumerate(items[:7]) if j != 1]
    expect = Oracle({p: t for item in live for p, t in zip(item[2], item[3], strict=True)})
    assert len(index) == 60
    for query in queries[::3]:
        assert_scores_match(index, expect, query)
        assert ranking_error(index.search(as_terms(query), None, 10), expect(query), 10) is None
    assert not set(items[1][2]) & {pid for pid, _ in index.search(as_terms(queries[0]), None, 90)}


def test_saved_index_loads_with_the_same_scores(guild_items, queries, tmp_path):
    """save → load gives every guild the same scores, and the loaded index keeps changing."""
    index = PassageIndex()
    index.add_many(guild_items[:200])
    for item in guild_items[200:260]:
        index.add(*item)
    index.remove_source(guild_items[5][0])
    index.save(tmp_path / "idx", {"seq": 7})
    loaded, stamp = PassageIndex.load(tmp_path / "idx")
    assert stamp == {"seq": 7}
    assert len(loaded) == len(index) and loaded.version == index.version
    for guild in GUILDS:
        for query in queries[::6]:
            assert loaded.scores(as_terms(query), guild) == index.scores(as_terms(query), guild)
    for target in (index, loaded):  # the mapped arrays are read-only: changes copy them
        target.remove_source(guild_items[6][0])
        for item in guild_items[260:]:
            target.add(*item)
    for guild in GUILDS:
        for query in queries[::6]:
            assert loaded.search(as_terms(query), guild, 10) == index.search(
                as_terms(query), guild, 10
            )
    assert loaded.passage_ids(guild_items[100][0]) == list(guild_items[100][2])


def test_a_second_save_replaces_the_first_and_a_broken_one_is_refused(corpus, tmp_path):
    """Only the copy CURRENT names is read; a missing or foreign copy is an IndexFileError."""
    index = PassageIndex()
    index.add_many(sources_of(corpus[:100]))
    index.save(tmp_path, {"n": 1})
    index.add(*sources_of(corpus[100:110])[0])
    index.save(tmp_path, {"n": 2})
    assert len(list(tmp_path.glob("snap-*"))) == 1
    loaded, stamp = PassageIndex.load(tmp_path)
    assert stamp == {"n": 2} and len(loaded) == 100  # source s0 was replaced by 10 passages
    (tmp_path / "snap-leftover").mkdir()  # a save that crashed before naming its copy
    assert PassageIndex.load(tmp_path)[1] == {"n": 2}
    current = tmp_path / (tmp_path / "CURRENT").read_text()
    meta = json.loads((current / "index.json").read_text())
    (current / "index.json").write_text(json.dumps(meta | {"format": 0}))
    with pytest.raises(bm25.IndexFileError, match="format"):
        PassageIndex.load(tmp_path)
    with pytest.raises(bm25.IndexFileError):
        PassageIndex.load(tmp_path / "nothing-here")
