"""Ingest throughput and end-to-end `ask` latency, each next to a peer in the same run.

    python -m benchmarks.core --docs 3000 --sizes 10000,100000

- Ingest: DOCS SciFact abstracts written as .txt files, ingested by `Library.ingest`
  (read, extract, passages, tokenise, store in SQLite). Peer: reading and tokenising the
  same files only — the least any BM25 ingest does.
- Ask: a SQLite database of about SIZE passages (SciFact abstracts resampled; each copy
  carries a unique tag word in its text so content dedup keeps it), then 200 SciFact
  claims through `Library.ask(k=10)`: change-log check, query plan, postings search,
  passage fetch from the database, re-ranking. Peer: `rank_bm25.BM25Okapi.get_scores`
  on the same token lists and query terms, plus a top-10 sort. rank-bm25 runs a subset
  of the queries at large sizes (it is O(N) per query).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from rank_bm25 import BM25Okapi

from index.library import Library
from index.settings import Settings
from index.tokenize import tokenize


def shared_dir() -> Path:
    override = os.environ.get("BRIEFBOT_SHARED_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[1].parent / "shared"


def scifact() -> tuple[list[dict], list[str]]:
    base = shared_dir() / "data" / "beir" / "scifact"
    docs = [json.loads(line) for line in (base / "corpus.jsonl").open(encoding="utf-8")]
    queries = [json.loads(line)["text"] for line in (base / "queries.jsonl").open(encoding="utf-8")]
    return [d for d in docs if d["text"].strip()], queries


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


async def bench_ingest(docs: list[dict], n: int, workdir: Path) -> None:
    folder = workdir / "articles"
    folder.mkdir()
    for i, doc in enumerate(docs[:n]):
        (folder / f"{i:05d}.txt").write_text(f"{doc['title']}\n\n{doc['text']}\n", encoding="utf-8")
    started = time.perf_counter()
    for path in sorted(folder.iterdir()):
        tokenize(path.read_text(encoding="utf-8"))
    peer = time.perf_counter() - started
    db = f"sqlite+aiosqlite:///{workdir / 'ingest.db'}"
    async with await Library.open(Settings(database_url=db)) as library:
        started = time.perf_counter()
        report = await library.ingest([str(folder)])
        ours = time.perf_counter() - started
    print(f"\n## Ingest: {n} text articles from a directory, SQLite, one process\n")
    print("| path | seconds | articles/s | passages/s | × read+tokenise |")
    print("|---|---|---|---|---|")
    print(f"| read + tokenise only (peer) | {peer:.2f} | {n / peer:,.0f} | | 1.0 |")
    print(
        f"| briefbot ingest | {ours:.2f} | {len(report.added) / ours:,.0f} | "
        f"{report.passages / ours:,.0f} | {ours / peer:.1f} |"
    )
    print(f"\n({len(report.added)} added, {len(report.failed)} failed, {report.passages} passages)")


async def bench_ask(docs: list[dict], queries: list[str], size: int, workdir: Path) -> None:
    db = f"sqlite+aiosqlite:///{workdir / f'ask-{size}.db'}"
    corpus = workdir / f"corpus-{size}.jsonl"
    rng = np.random.default_rng(size)
    async with await Library.open(Settings(database_url=db)) as library:
        copy = 0
        await library.sync()
        while len(library.index) < size:
            with corpus.open("w", encoding="utf-8") as fh:
                for i in rng.integers(0, len(docs), 2000):
                    copy += 1
                    doc = docs[i]
                    text = f"tag{copy} {doc['text']}"  # distinct content, or dedup drops it
                    fh.write(
                        json.dumps({"_id": f"c{copy}", "title": doc["title"], "text": text}) + "\n"
                    )
            await library.ingest([str(corpus)])
            await library.sync()
        n = len(library.index)
        async with library.sessions() as session:
            from sqlalchemy import text

            rows = (await session.execute(text("SELECT tokens FROM passages ORDER BY id"))).all()
        token_lists = [r.tokens.split() for r in rows]
        questions = queries[:200]
        await library.ask(questions[0], k=10)  # warm caches, as a running bot would be
        ours: list[float] = []
        for q in questions:
            started = time.perf_counter()
            await library.ask(q, k=10)
            ours.append((time.perf_counter() - started) * 1000)
        index_only: list[float] = []
        for q in questions:
            terms = [(t, 1.0) for t in tokenize(q)]
            started = time.perf_counter()
            library.index.search(terms, None, 10)
            index_only.append((time.perf_counter() - started) * 1000)
    oracle = BM25Okapi(token_lists)
    subset = questions[: 200 if n <= 20_000 else 30]
    peer: list[float] = []
    for q in subset:
        terms = tokenize(q)
        started = time.perf_counter()
        scores = oracle.get_scores(terms)
        np.argsort(-scores)[:10]
        peer.append((time.perf_counter() - started) * 1000)
    print(f"\n## Ask latency at {n:,} passages (top 10, SciFact claims, one process)\n")
    print("| engine | queries | p50 ms | p95 ms | rank-bm25 p50 / this p50 |")
    print("|---|---|---|---|---|")
    p50_peer = statistics.median(peer)
    for name, values in (
        ("briefbot ask (full path: DB fetch, re-rank)", ours),
        ("briefbot index search only", index_only),
        ("rank-bm25 get_scores + top 10 (peer)", peer),
    ):
        print(
            f"| {name} | {len(values)} | {pct(values, 50):.2f} | {pct(values, 95):.2f} | "
            f"{p50_peer / statistics.median(values):.0f}× |"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=3000, help="articles for the ingest run")
    parser.add_argument("--sizes", default="10000,100000", help="passage counts for ask latency")
    args = parser.parse_args()
    docs, queries = scifact()
    with tempfile.TemporaryDirectory() as tmp:
        await bench_ingest(docs, args.docs, Path(tmp))
        for size in (int(s) for s in args.sizes.split(",") if s):
            await bench_ask(docs, queries, size, Path(tmp))


if __name__ == "__main__":
    asyncio.run(main())
