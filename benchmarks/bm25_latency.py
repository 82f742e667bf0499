"""Search latency of PassageIndex against rank-bm25 on resampled SciFact passages.

    python -m benchmarks.bm25_latency --sizes 10000,100000

SciFact abstracts are cut into ~80-token passages and resampled (with replacement) to each size;
queries are SciFact claims without stopwords. rank-bm25 is O(N) per query, so at large sizes it
only runs a subset of the queries; the score check compares every passage's score on that subset.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path

import numpy as np
from rank_bm25 import BM25Okapi

from index.bm25 import EPSILON, K1, B, PassageIndex

PASSAGE_TOKENS = 80
PER_SOURCE = 20
K = 10
# Short on purpose: the project's own stopword list belongs to index/tokenize.py.
_STOPWORD_TEXT = (
    "a an and are as at be by can do does for from has have in into is it its of on or than that "
    "the their there these this to was were which with not no"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def shared_dir() -> Path:
    override = os.environ.get("BRIEFBOT_SHARED_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1].parent / "shared"


def tokenize(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def load_passages(path: Path) -> list[list[str]]:
    """SciFact abstracts cut into PASSAGE_TOKENS-token passages (short tails dropped)."""
    out = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            tokens = tokenize(f"{doc['title']} {doc['text']}")
            for i in range(0, len(tokens), PASSAGE_TOKENS):
                chunk = tokens[i : i + PASSAGE_TOKENS]
                if len(chunk) >= 20:
                    out.append(chunk)
    return out


def load_queries(path: Path, n: int) -> list[list[str]]:
    out = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            terms = [t for t in tokenize(json.loads(line)["text"]) if t not in STOPWORDS]
            if terms:
                out.append(terms)
            if len(out) == n:
                break
    return out


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return (time.perf_counter() - start) * 1000, result


def run_size(passages, queries, size: int, bm25_queries: int, rng) -> list[tuple]:
    corpus = [passages[i] for i in rng.integers(0, len(passages), size)]
    items = [
        (
            f"s{j}",
            None,
            list(range(start, min(start + PER_SOURCE, size))),
            corpus[start : start + PER_SOURCE],
        )
        for j, start in enumerate(range(0, size, PER_SOURCE))
    ]
    index = PassageIndex()
    build_ours, _ = timed(index.add_many, items)
    ours_ms = []
    for query in queries:
        ms, _ = timed(index.search, [(t, 1.0) for t in query], None, K)
        ours_ms.append(ms)

    build_ref, model = timed(BM25Okapi, corpus, k1=K1, b=B, epsilon=EPSILON)
    ref_ms, max_diff = [], 0.0
    for query in queries[:bm25_queries]:
        start = time.perf_counter()
        scores = model.get_scores(query)
        np.argsort(-scores, kind="stable")[:K]  # the top-k step rank-bm25 users pay too
        ref_ms.append((time.perf_counter() - start) * 1000)
        ours = index.scores([(t, 1.0) for t in query], None)
        max_diff = max(
            max_diff, float(np.max(np.abs(np.array([ours[i] for i in range(size)]) - scores)))
        )

    add_ms, _ = timed(
        index.add, "extra", None, list(range(size, size + PER_SOURCE)), corpus[:PER_SOURCE]
    )
    remove_ms, _ = timed(index.remove_source, "s1")

    p50_ours, p95_ours = np.percentile(ours_ms, [50, 95])
    p50_ref, p95_ref = np.percentile(ref_ms, [50, 95])
    return [
        (
            size,
            "PassageIndex",
            len(ours_ms),
            p50_ours,
            p95_ours,
            "",
            f"{max_diff:.1e}",
            build_ours / 1000,
            add_ms,
            remove_ms,
        ),
        (
            size,
            "rank-bm25",
            len(ref_ms),
            p50_ref,
            p95_ref,
            f"{p50_ref / np.percentile(ours_ms[:bm25_queries], 50):.0f}x",  # same queries
            "",
            build_ref / 1000,
            None,
            None,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated passage counts")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--bm25-budget",
        type=int,
        default=2_000_000,
        help="rank-bm25 runs budget/size queries (all if small)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    scifact = shared_dir() / "data/beir/scifact"
    if not (scifact / "corpus.jsonl").exists():
        raise SystemExit(f"SciFact not found under {scifact} (set BRIEFBOT_SHARED_DIR)")
    passages = load_passages(scifact / "corpus.jsonl")
    queries = load_queries(scifact / "queries.jsonl", args.queries)
    rng = np.random.default_rng(args.seed)
    distinct = np.mean([len(set(p)) for p in passages])
    print(
        f"{len(passages)} SciFact passages (~{distinct:.0f} distinct terms each), "
        f"{len(queries)} queries of {np.mean([len(q) for q in queries]):.1f} terms, top {K}"
    )

    header = (
        "size",
        "engine",
        "queries",
        "p50 ms",
        "p95 ms",
        "rank-bm25/ours",
        "max |diff|",
        "build s",
        "add ms",
        "remove ms",
    )
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        bm25_queries = min(len(queries), max(10, args.bm25_budget // size))
        rows += run_size(passages, queries, size, bm25_queries, rng)

    def cell(value) -> str:
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:.2f}"
        return str(value)

    table = [header, *(tuple(cell(v) for v in row) for row in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for n, row in enumerate(table):
        print("| " + " | ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


if __name__ == "__main__":
    main()
