"""Scale benchmark: ingest, cold start, latency, incremental adds and memory, next to peers.

    python -m benchmarks.run --sizes 10000,100000,1000000 --out benchmarks/results

Writes `<out>/<date>.md` (the tables below) and `<out>/<date>.png` (query latency against
size, log-log, one line per engine). Everything runs in one process on one core (worker
processes only where `--workers` is measured), so figures of one run compare; quote ratios.

Corpus. News-like articles built from real text: sentences of the SciFact abstracts, of
the sample article and of the dev-set news articles, two to four per paragraph, two to
six paragraphs per article, under one of 40 publishers and a date in the past year.
Real news keeps meeting new names, so each article also carries one to three made-up
names drawn from a Zipf law (s = 1.1) over two million pseudo-words: the vocabulary grows
with the corpus as it does in a newsroom. Passages are what briefbot's own splitter makes.

Questions. 1,000 from the SciFact claims, the dev-set questions and the article titles:
a window of 2 to 8 words of each, half as written ("natural", stopwords kept), half with
stopwords dropped first ("keyword"). Engines get the same token lists: briefbot's query
terms (stems, stopwords dropped, as indexed), so "natural" and "keyword" differ only in
which words the window caught.

Measured at each size:
- ingest: the corpus through `Library.ingest` (JSONL, SQLite), articles/s and passages/s;
- build: first load of the index from the database (streamed), and its save to disk;
- cold start: `briefbot ask` as a new process, to its first answer, with the saved index
  and without it (`BRIEFBOT_INDEX_PATH=`), with the peak RSS of each process;
- query latency p50/p95/p99, top 10: the index alone (`PassageIndex.search`, what the
  peers do) and the full answer (`Library.ask`: filters, article and title fields, fetch
  from the database, re-ranking, highlights);
- incremental add: one new article written by another connection, then `sync()` until it
  is searchable, 20 times;
- search during ingest: `Library.ask` while the same process ingests 2,000 articles;
- peers on the same token lists: `rank_bm25.BM25Okapi.get_scores` + top 10 (only while a
  query takes under a second; scores compared passage by passage) and `bm25s` (numpy
  backend, method "robertson", the closest to BM25Okapi; its scores differ by design).

Once, on a 5,000-article sample: ingest rates for JSONL and .txt files on SQLite and (if
`--postgres URL` or BRIEFBOT_TEST_POSTGRES_URL is set) PostgreSQL, and the 181 real news
pages of ../shared/data/extraction/aeb (three copies of each, so worker start-up does not
dominate) against `trafilatura.extract` (text only) and `trafilatura.bare_extraction`
with metadata (what a citation needs) on the same pages, with `--workers` 1 and N.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import logging
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from index.library import Library
from index.settings import IndexSettings, Settings
from index.tokenize import STOPWORDS, tokenize

ROOT = Path(__file__).resolve().parents[1]
K = 10
PUBLISHERS = [f"Outlet {c}{d}" for c in "ABCDEFGH" for d in "12345"]
ALL_CORES = os.sched_getaffinity(0)
HTML_COPIES = 3  # the AEB pages, each extracted this many times: worker start-up amortised
RANK_BM25_LIMIT_S = 1.0  # rank-bm25 runs while one query takes less than this
log = logging.getLogger("benchmarks.run")


def shared_dir() -> Path:
    override = os.environ.get("BRIEFBOT_SHARED_DIR")
    return Path(override) if override else ROOT.parent / "shared"


# --- corpus and questions ---------------------------------------------------------------

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_SYLLABLES = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"]


def pseudo_word(n: int) -> str:
    """The n-th made-up name: syllables of n in base 80 (letters only, so one index term)."""
    out = []
    n += 80
    while n:
        n, r = divmod(n, len(_SYLLABLES))
        out.append(_SYLLABLES[r])
    return "".join(out).capitalize()


@dataclass
class Pools:
    sentences: list[str]
    titles: list[str]
    questions: list[str]
    scifact: bool  # False: SciFact was not found, the pool is the repository's text only


def load_pools() -> Pools:
    scifact = shared_dir() / "data" / "beir" / "scifact"
    sentences: list[str] = []
    titles: list[str] = []
    texts: list[str] = []
    questions: list[str] = []
    if (scifact / "corpus.jsonl").exists():
        with (scifact / "corpus.jsonl").open(encoding="utf-8") as fh:
            for line in fh:
                doc = json.loads(line)
                texts.append(doc["text"])
                if doc["title"]:
                    titles.append(doc["title"])
        questions = [
            json.loads(line)["text"]
            for line in (scifact / "queries.jsonl").read_text(encoding="utf-8").splitlines()
        ]
    else:  # a smaller pool, still real text: the repository's own articles
        log.warning("SciFact not found under %s: sentences from the repository only", scifact)
    articles = ROOT / "tests" / "fixtures" / "qa" / "articles.jsonl"
    for line in articles.read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        texts.append(doc["text"])
        titles.append(doc["title"])
    for path in (ROOT / "examples" / "corpus").iterdir():
        texts.append(path.read_text(encoding="utf-8"))
    for text in texts:
        for sentence in _SENTENCE.split(" ".join(text.split())):
            if 5 <= len(sentence.split()) <= 60:
                sentences.append(sentence)
    dev = ROOT / "tests" / "fixtures" / "qa" / "dev.jsonl"
    questions += [json.loads(line)["q"] for line in dev.read_text(encoding="utf-8").splitlines()]
    return Pools(sentences, titles, questions + titles[:500], scifact.exists())


def make_questions(pools: Pools, n: int, seed: int = 7) -> list[tuple[str, str]]:
    """(kind, question): windows of 2-8 words, natural or keyword, alternating."""
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    sources = pools.questions[:]
    rng.shuffle(sources)
    i = 0
    while len(out) < n:
        text = sources[i % len(sources)]
        i += 1
        kind = "natural" if len(out) % 2 == 0 else "keyword"
        words = re.findall(r"[\w'’-]+", text)
        if kind == "keyword":
            words = [w for w in words if w.lower() not in STOPWORDS]
        if len(words) < 2:
            continue
        length = rng.randint(2, min(8, len(words)))
        start = rng.randint(0, len(words) - length)
        question = " ".join(words[start : start + length])
        if tokenize(question):
            out.append((kind, question))
    return out


class Corpus:
    """Deterministic stream of news-like articles (see the module docstring)."""

    def __init__(self, pools: Pools, seed: int) -> None:
        self.pools = pools
        self.rng = np.random.default_rng(seed)
        self.serial = 0
        self.today = date(2026, 12, 1)

    def article(self) -> dict[str, Any]:
        rng, pools = self.rng, self.pools
        self.serial += 1
        names = [pseudo_word(int(z) % 2_000_000) for z in rng.zipf(1.1, rng.integers(1, 4))]
        paragraphs = []
        for _ in range(rng.integers(2, 7)):
            picks = rng.integers(0, len(pools.sentences), rng.integers(2, 5))
            paragraphs.append(" ".join(pools.sentences[j] for j in picks))
        for name in names:
            p = int(rng.integers(0, len(paragraphs)))
            paragraphs[p] = f"{name} said on Tuesday: {paragraphs[p]}"
        return {
            "id": f"a{self.serial}",
            "title": pools.titles[int(rng.integers(0, len(pools.titles)))],
            "publisher": PUBLISHERS[int(rng.integers(0, len(PUBLISHERS)))],
            "published": (self.today - timedelta(days=int(rng.integers(0, 365)))).isoformat(),
            "text": "\n\n".join(paragraphs),
        }

    def write_jsonl(self, folder: Path, passages: int, per_file: int = 20_000) -> int:
        """Articles until about `passages` passages (~3.6 per article), in files of per_file."""
        folder.mkdir(parents=True, exist_ok=True)
        articles = 0
        target = int(passages / PASSAGES_PER_ARTICLE) + 1
        while articles < target:
            with (folder / f"part{articles // per_file:04d}.jsonl").open("w") as fh:
                for _ in range(min(per_file, target - articles)):
                    fh.write(json.dumps(self.article()) + "\n")
                    articles += 1
        return articles


PASSAGES_PER_ARTICLE = 3.6  # measured on this generator with the default passage settings


# --- measuring helpers -------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def latency_row(name: str, values: list[float], *, worst: bool = False) -> list[str]:
    """[name, n, p50, p95, p99 (or max)] in ms: one table row per measured series."""
    last = max(values) if worst else pct(values, 99)
    return [name, str(len(values)), ms(pct(values, 50)), ms(pct(values, 95)), ms(last)]


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    series: dict[str, dict[int, float]] = field(default_factory=dict)  # engine → size → p95

    def add(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.append(text)

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        self.add("| " + " | ".join(header) + " |")
        self.add("|" + "---|" * len(header))
        for row in rows:
            self.add("| " + " | ".join(row) + " |")
        self.add()


# Linux carries a process's peak RSS across exec (ru_maxrss of a child starts at the size of
# this forked benchmark), so the child reports VmHWM of its own memory map at exit.
_PEAK = """
import atexit, os, runpy, sys
def _peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            open(os.environ["BENCH_PEAK_FILE"], "w").write(line.split()[1])
atexit.register(_peak)
sys.argv = ["briefbot", *sys.argv[1:]]
runpy.run_module("bot.cli", run_name="__main__")
"""


def run_measured(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(seconds to exit, peak RSS in MB, stdout) of a briefbot command in a new process."""
    with tempfile.TemporaryDirectory() as tmp:
        peak = Path(tmp) / "peak"
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", _PEAK, *args],
            cwd=ROOT,
            env=env | {"BENCH_PEAK_FILE": str(peak)},
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            raise RuntimeError(f"briefbot {' '.join(args)} failed: {result.stderr[-2000:]}")
        return seconds, int(peak.read_text()) / 1024, result.stdout


def child_env(db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIEFBOT_")}
    return env | {"BRIEFBOT_DATABASE_URL": db_url, "PYTHONPATH": str(ROOT)} | extra


def settings(db_url: str, index_path: str = "auto") -> Settings:
    return Settings(database_url=db_url, index=IndexSettings(path=index_path))


async def ingest_rate(library: Library, inputs: list[str], workers: int = 1) -> tuple[float, Any]:
    started = time.perf_counter()
    report = await library.ingest(inputs, workers=workers)
    return time.perf_counter() - started, report


# --- the once-only ingest section --------------------------------------------------------


async def bench_ingest(report: Report, pools: Pools, work: Path, pg_url: str | None, cores: int):
    report.add("## Ingest from local files (one core unless workers say otherwise)\n")
    corpus = Corpus(pools, seed=1)
    sample = work / "sample"
    corpus.write_jsonl(sample / "jsonl", 5000 * PASSAGES_PER_ARTICLE, per_file=5000)
    text_dir = sample / "text"
    text_dir.mkdir()
    for line in (sample / "jsonl" / "part0000.jsonl").read_text().splitlines():
        doc = json.loads(line)
        (text_dir / f"{doc['id']}.txt").write_text(f"{doc['title']}\n\n{doc['text']}\n")
    rows = []
    targets = [("sqlite", lambda name: f"sqlite+aiosqlite:///{work / name}.db")]
    if pg_url:
        targets.append(("postgresql", lambda name: pg_url))
    for backend, url_of in targets:
        for kind, inputs in (("JSONL", [str(sample / "jsonl")]), (".txt files", [str(text_dir)])):
            if backend == "postgresql":
                await _reset_postgres(pg_url)
            async with await Library.open(settings(url_of(f"ingest-{kind[:4]}"), "")) as lib:
                seconds, result = await ingest_rate(lib, inputs)
            rows.append(
                [
                    kind,
                    backend,
                    str(len(result.added)),
                    f"{len(result.added) / seconds:,.0f}",
                    f"{result.passages / seconds:,.0f}",
                ]
            )
    report.table(["input", "database", "articles", "articles/s", "passages/s"], rows)

    aeb = shared_dir() / "data" / "extraction" / "aeb" / "html"
    pages = sorted(aeb.glob("*.html.gz"))
    if not pages:
        report.add(f"(no pages at {aeb}: HTML rows skipped)\n")
        return
    html_dir = work / "aeb"
    html_dir.mkdir()
    bodies = []
    for page in pages:
        body = gzip.decompress(page.read_bytes())
        for copy in range(HTML_COPIES):  # extracted each time; stored once (same content)
            bodies.append(body)
            (html_dir / f"{copy}-{page.name.removesuffix('.gz')}").write_bytes(body)
    import trafilatura

    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    started = time.perf_counter()
    for body in bodies:
        trafilatura.extract(body)
    bare = time.perf_counter() - started
    started = time.perf_counter()
    for body in bodies:  # what a citation needs: title, site, author, date
        trafilatura.bare_extraction(body, with_metadata=True)
    with_meta = time.perf_counter() - started
    rows = [
        ["bare trafilatura.extract, text only (peer)", "1", f"{len(bodies) / bare:.1f}", "1.00"],
        [
            "trafilatura.bare_extraction with metadata (peer)",
            "1",
            f"{len(bodies) / with_meta:.1f}",
            f"{bare / with_meta:.2f}",
        ],
    ]
    for workers in sorted({1, cores}):
        os.sched_setaffinity(0, ALL_CORES if workers > 1 else {min(ALL_CORES)})
        async with await Library.open(
            settings(f"sqlite+aiosqlite:///{work}/aeb{workers}.db", "")
        ) as lib:
            seconds, result = await ingest_rate(lib, [str(html_dir)], workers)
        rows.append(
            [
                f"briefbot ingest ({len(result.added)} stored, {len(result.failed)} refused)",
                str(workers),
                f"{len(bodies) / seconds:.1f}",
                f"{bare / seconds:.2f}",
            ]
        )
    os.sched_setaffinity(0, {min(ALL_CORES)})
    report.add(
        f"### {len(pages)} real news pages (AEB) × {HTML_COPIES} copies, extraction included\n"
    )
    report.table(["path", "processes", "pages/s", "× bare trafilatura"], rows)


async def _reset_postgres(url: str | None) -> None:
    """An empty, unmigrated database: every table dropped."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    assert url
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


# --- one size ----------------------------------------------------------------------------


async def bench_size(
    report: Report,
    pools: Pools,
    questions: list[tuple[str, str]],
    size: int,
    work: Path,
    peers: bool,
) -> None:
    folder = work / f"size-{size}"
    corpus = Corpus(pools, seed=size)
    articles = corpus.write_jsonl(folder / "jsonl", size)
    db = f"sqlite+aiosqlite:///{folder / 'briefbot.db'}"
    async with await Library.open(settings(db, "")) as lib:
        seconds, result = await ingest_rate(lib, [str(folder / "jsonl")])
    n_passages = result.passages
    report.add(f"## {n_passages:,} passages ({articles:,} articles)\n")
    rows = [
        [
            "ingest (JSONL → SQLite)",
            f"{seconds:.1f} s",
            f"{len(result.added) / seconds:,.0f} articles/s, "
            f"{n_passages / seconds:,.0f} passages/s",
        ]
    ]
    async with await Library.open(settings(db)) as lib:
        started = time.perf_counter()
        await lib.sync()
        built = time.perf_counter() - started
        started = time.perf_counter()
        await lib.save_index()
        saved = time.perf_counter() - started
        segments = lib.index.segment_count
    rows += [
        ["index build from the database", f"{built:.1f} s", f"{segments} segment(s)"],
        ["index save", f"{saved:.1f} s", ""],
    ]
    question = questions[0][1]
    env = child_env(db)
    cold, rss, _ = run_measured(["ask", question, "-k", "10", "--json"], env)
    cold_build, rss_build, _ = run_measured(
        ["ask", question, "-k", "10", "--json"], env | {"BRIEFBOT_INDEX_PATH": ""}
    )
    startup, startup_rss, _ = run_measured(["--version"], env)
    rows += [
        ["cold start to first answer, saved index", f"{cold:.2f} s", f"peak RSS {rss:,.0f} MB"],
        [
            "cold start to first answer, rebuilt",
            f"{cold_build:.2f} s",
            f"peak RSS {rss_build:,.0f} MB",
        ],
        ["(python + briefbot import only)", f"{startup:.2f} s", f"peak RSS {startup_rss:,.0f} MB"],
    ]
    report.table(["step", "time", "rate / memory"], rows)

    async with await Library.open(settings(db)) as lib:
        await lib.sync()
        await lib.ask(question, k=K)
        term_lists = [tokenize(q) for _, q in questions]
        index_times: dict[str, list[float]] = {"natural": [], "keyword": []}
        for (kind, _), terms in zip(questions, term_lists, strict=True):
            weighted = [(t, 1.0) for t in terms]
            started = time.perf_counter()
            lib.index.search(weighted, None, K)
            index_times[kind].append(time.perf_counter() - started)
        ask_times: list[float] = []
        for _, q in questions:
            started = time.perf_counter()
            await lib.ask(q, k=K)
            ask_times.append(time.perf_counter() - started)
    every = index_times["natural"] + index_times["keyword"]
    peer_rows, checks = (
        bench_peers(report, db, term_lists, n_passages, every) if peers else ([], [])
    )
    async with await Library.open(settings(db)) as lib:  # the peers saw the same passages
        await lib.sync()
        adds = await bench_adds(lib, db, corpus)
        during = await bench_during_ingest(lib, corpus, questions, folder)

    report.series.setdefault("briefbot index", {})[n_passages] = pct(every, 95)
    report.series.setdefault("briefbot ask (full answer)", {})[n_passages] = pct(ask_times, 95)
    rows = [
        latency_row(f"briefbot index, {kind}", values)
        for kind, values in (*index_times.items(), ("all", every))
    ]
    rows.append(latency_row("briefbot ask, full answer", ask_times))
    report.add(f"### Query latency at {n_passages:,} passages, top {K}, ms\n")
    report.table(["engine", "queries", "p50", "p95", "p99"], rows + peer_rows)
    for line in checks:
        report.add(line)
    report.add()
    report.add("### Incremental add and search during ingest\n")
    report.table(
        ["measure", "n", "p50 ms", "p95 ms", "max ms"],
        [
            latency_row(
                "one article stored by another connection → searchable (sync)", adds, worst=True
            ),
            latency_row("ask while idle", during[0], worst=True),
            latency_row("ask while this process ingests 2,000 articles", during[1], worst=True),
        ],
    )
    report.add(
        f"p95 during ingest / p95 idle: {pct(during[1], 95) / pct(during[0], 95):.2f}×; "
        f"peak RSS of this benchmark process so far: "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB\n"
    )


async def bench_adds(lib: Library, db: str, corpus: Corpus) -> list[float]:
    """Another connection stores one article; time until `lib` can search it."""
    times = []
    async with await Library.open(settings(db, "")) as writer:
        for _ in range(20):
            doc = corpus.article()
            body = f"{doc['title']}\n\n{doc['text']}\n".encode()
            result = await writer.ingest_bytes(body, name=f"{doc['id']}.txt")
            (sid,) = result.added
            started = time.perf_counter()
            await lib.sync()
            times.append(time.perf_counter() - started)
            assert sid in lib.index.source_ids()
    return times


async def bench_during_ingest(
    lib: Library, corpus: Corpus, questions: list[tuple[str, str]], folder: Path
) -> tuple[list[float], list[float]]:
    """ask latency idle, then while the same process ingests 2,000 articles.

    As in `briefbot run`: watch() follows the database, so answers do not sync first.
    """
    extra = folder / "extra"
    corpus.write_jsonl(extra, 2000 * PASSAGES_PER_ARTICLE)
    watcher = asyncio.ensure_future(lib.watch())
    await asyncio.sleep(0)
    sample = [q for _, q in questions[:200]]
    idle = []
    for q in sample:
        started = time.perf_counter()
        await lib.ask(q, k=K)
        idle.append(time.perf_counter() - started)
    ingest = asyncio.ensure_future(lib.ingest([str(extra)]))
    busy = []
    i = 0
    while not ingest.done():
        started = time.perf_counter()
        await lib.ask(sample[i % len(sample)], k=K)
        busy.append(time.perf_counter() - started)
        i += 1
    await ingest
    watcher.cancel()
    return idle, busy


def bench_peers(
    report: Report,
    db: str,
    term_lists: list[list[str]],
    n_passages: int,
    ours: list[float],
) -> tuple[list[list[str]], list[str]]:
    """rank-bm25 and bm25s on the passages' stored tokens, the same query token lists."""
    import sqlite3

    con = sqlite3.connect(db.split("///", 1)[1])
    rows = con.execute("SELECT id, tokens FROM passages ORDER BY id").fetchall()
    con.close()
    pids = [r[0] for r in rows]
    docs = [r[1].split() for r in rows]
    del rows
    out: list[list[str]] = []
    checks: list[str] = []
    ours_p50 = pct(ours, 50)

    from rank_bm25 import BM25Okapi

    started = time.perf_counter()
    oracle = BM25Okapi(docs)
    build = time.perf_counter() - started
    times: list[float] = []
    for terms in term_lists:
        started = time.perf_counter()
        scores = oracle.get_scores(terms)
        np.argpartition(-scores, K)[:K]
        times.append(time.perf_counter() - started)
        if times[-1] > RANK_BM25_LIMIT_S or len(times) >= (200 if n_passages > 50_000 else 1000):
            break
    report.series.setdefault("rank-bm25", {})[n_passages] = pct(times, 95)
    out.append(
        latency_row(
            f"rank-bm25 BM25Okapi (peer; build {build:.0f} s; "
            f"{pct(times, 50) / ours_p50:,.0f}× our index p50)",
            times,
        )
    )
    if pct(times, 50) < RANK_BM25_LIMIT_S:
        checks.append(score_check(db, oracle, pids, term_lists[:20]))
    del oracle

    import bm25s
    from bm25s.tokenization import Tokenized

    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(t, len(vocab)) for t in doc] for doc in docs]
    started = time.perf_counter()
    model = bm25s.BM25(k1=1.5, b=0.75, method="robertson")
    model.index(Tokenized(ids=ids, vocab=vocab), show_progress=False)
    build = time.perf_counter() - started
    del ids
    times = []
    for terms in term_lists:
        if not any(t in vocab for t in terms):
            continue  # bm25s refuses a query of unknown words
        started = time.perf_counter()
        model.retrieve([terms], k=K, show_progress=False, n_threads=0)
        times.append(time.perf_counter() - started)
    report.series.setdefault("bm25s (numpy)", {})[n_passages] = pct(times, 95)
    out.append(
        latency_row(
            f"bm25s 0.3 numpy, retrieve (peer; build {build:.0f} s; "
            f"{pct(times, 50) / ours_p50:,.1f}× our index p50)",
            times,
        )
    )
    return out, checks


def score_check(db: str, oracle: Any, pids: list[int], term_lists) -> str:
    """Max |our score − rank-bm25's| over every passage, for some queries."""
    from index.bm25 import PassageIndex

    index, _ = PassageIndex.load(Path(f"{db.split('///', 1)[1]}.index") / "passages")
    worst = 0.0
    for terms in term_lists:
        theirs = oracle.get_scores(terms)
        ours = index.scores([(t, 1.0) for t in terms], None)
        mine = np.array([ours[p] for p in pids])
        worst = max(worst, float(np.abs(mine - theirs).max()))
    return (
        f"Score check against rank-bm25 over all {len(pids):,} passages, "
        f"{len(term_lists)} queries: max |difference| = {worst:.2e}"
    )


# --- output -------------------------------------------------------------------------------


def plot(report: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for engine, points in report.series.items():
        sizes = sorted(points)
        ax.plot(sizes, [points[s] * 1000 for s in sizes], marker="o", label=engine)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("passages")
    ax.set_ylabel("p95 query latency, ms (top 10)")
    ax.set_title("briefbot vs peers, one core")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000", help="passage counts")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--postgres", default=os.environ.get("BRIEFBOT_TEST_POSTGRES_URL"))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-peers", action="store_true", help="skip rank-bm25 and bm25s")
    parser.add_argument("--no-ingest", action="store_true", help="skip the ingest section")
    parser.add_argument("--work", default=None, help="keep the corpora and databases here")
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(ALL_CORES)})  # one core, as the targets say
    sys.setswitchinterval(0.001)  # as `briefbot run` sets it
    pools = load_pools()
    questions = make_questions(pools, args.queries)
    report = Report()
    today = datetime.now(UTC).date().isoformat()
    report.add(f"# briefbot scale benchmark, {today}\n")
    report.add(f"`python -m benchmarks.run --sizes {args.sizes}` on one core of this machine.\n")
    if not pools.scifact:
        report.add("SciFact was not found: sentences and questions from the repository only.\n")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="briefbot-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if not args.no_ingest:
            await bench_ingest(report, pools, work, args.postgres, args.workers)
        for size in (int(s) for s in args.sizes.split(",") if s):
            await bench_size(report, pools, questions, size, work, not args.no_peers)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    png = out / f"{today}.png"
    plot(report, png)
    report.add(f"![p95 latency against size]({png.name})")
    (out / f"{today}.md").write_text("\n".join(report.lines) + "\n", encoding="utf-8")
    print(f"wrote {out / f'{today}.md'} and {png}")


if __name__ == "__main__":
    asyncio.run(main())
