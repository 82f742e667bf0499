"""What feedback costs a question, and what votes do to the QA set's ranks.

    python -m benchmarks.feedback [--rounds 5] [--scifact 5000]

One SQLite database: the sample article, the QA development articles and (with
`../shared`) the first N SciFact abstracts. Guild A has the development questions
logged, a vote on every one of them (👍 on the passage that answers it, 👎 on the
first passage when that is not it) and a few hidden passages and sources; guild B has
none. The same questions are then asked in A and in B, alternately, in the same run:

- latency: p50 / p95 of `Library.ask` in each guild, and the ratio A / B (what the
  votes, hides and their 5 s cache cost a question);
- ranks: recall@1 and MRR@10 of the development set in each guild (what one vote per
  question does to the question voted on: the gentle boost at work);
- the log: `record_question` per answer, and answers per second `flush_questions` writes.

Figures are printed, never asserted (tests/bench/test_feedback.py runs a small one).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.core import pct, shared_dir
from index.evaluate import answers
from index.library import Library
from index.settings import Settings
from index.types import Answer

ROOT = Path(__file__).resolve().parents[1]
QA = ROOT / "tests" / "fixtures" / "qa"
GUILD_A, GUILD_B = "1300000000000000001", "1300000000000000002"
K = 10


def rank_of(answer: Answer, terms: list[str]) -> int | None:
    """1-based rank of the first passage holding every answer term (as `eval qa` counts)."""
    for hit in answer.hits:
        if answers(hit.text, terms):
            return hit.rank
    return None


def scores(ranks: list[int | None]) -> tuple[float, float]:
    recall1 = sum(1 for r in ranks if r == 1) / len(ranks)
    mrr = sum(1 / r for r in ranks if r is not None) / len(ranks)
    return recall1, mrr


async def build(library: Library, workdir: Path, scifact: int) -> int:
    inputs = [str(ROOT / "examples" / "corpus"), str(QA / "articles.jsonl")]
    corpus = shared_dir() / "data" / "beir" / "scifact" / "corpus.jsonl"
    if scifact and corpus.exists():
        lines = corpus.open(encoding="utf-8").readlines()[:scifact]
        extra = workdir / "scifact.jsonl"
        extra.write_text("".join(lines), encoding="utf-8")
        inputs.append(str(extra))
    report = await library.ingest(inputs)
    return report.passages


async def vote_and_hide(library: Library, questions: list[dict]) -> tuple[int, int]:
    """One vote per development question in guild A; hides a few stray passages."""
    cast = hidden = 0
    for i, item in enumerate(questions):
        answer = await library.ask(item["q"], guild=GUILD_A, k=K)
        if not answer.hits:
            continue
        qid = library.record_question(item["q"], answer.hits, guild=GUILD_A, per_page=3)
        rank = rank_of(answer, item["answer_terms"])
        if rank is not None:
            right = answer.hits[rank - 1]
            await library.vote(qid, int(right.passage_id), 1, guild=GUILD_A, user=str(i))
            cast += 1
        if rank != 1:
            first = answer.hits[0]
            await library.vote(qid, int(first.passage_id), -1, guild=GUILD_A, user=str(i))
            cast += 1
            if rank is None and hidden < 5:  # a wrong first passage with no right one
                await library.hide("passage", first.passage_id, guild=GUILD_A)
                hidden += 1
    return cast, hidden


async def run(rounds: int, scifact: int) -> dict:
    questions = [json.loads(line) for line in (QA / "dev.jsonl").open(encoding="utf-8")]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        settings = Settings(database_url=f"sqlite+aiosqlite:///{workdir / 'feedback.db'}")
        async with await Library.open(settings) as library:
            passages = await build(library, workdir, scifact)
            before = [
                rank_of(await library.ask(q["q"], guild=GUILD_A, k=K), q["answer_terms"])
                for q in questions
            ]
            cast, hidden = await vote_and_hide(library, questions)
            await library.flush_questions()
            times: dict[str, list[float]] = {GUILD_A: [], GUILD_B: []}
            ranks: dict[str, list[int | None]] = {GUILD_A: [], GUILD_B: []}
            for r in range(rounds):
                for item in questions:
                    for guild in (GUILD_A, GUILD_B) if r % 2 == 0 else (GUILD_B, GUILD_A):
                        started = time.perf_counter()
                        answer = await library.ask(item["q"], guild=guild, k=K)
                        times[guild].append((time.perf_counter() - started) * 1000)
                        if r == 0:
                            ranks[guild].append(rank_of(answer, item["answer_terms"]))
            sample = await library.ask(questions[0]["q"], guild=GUILD_B, k=K)
            started = time.perf_counter()
            for _ in range(1000):
                library.record_question("q", sample.hits, guild=GUILD_B, per_page=3)
            record = (time.perf_counter() - started) / 1000 * 1e6
            started = time.perf_counter()
            written = await library.flush_questions()
            flush = written / (time.perf_counter() - started)
    return {
        "passages": passages,
        "questions": len(questions),
        "votes": cast,
        "hidden": hidden,
        "ask_ms": {
            g: {"p50": pct(v, 50), "p95": pct(v, 95), "n": len(v)} for g, v in times.items()
        },
        "ratio_p50": statistics.median(times[GUILD_A]) / statistics.median(times[GUILD_B]),
        "ratio_p95": pct(times[GUILD_A], 95) / pct(times[GUILD_B], 95),
        "ranks": {
            "before": scores(before),
            "voted": scores(ranks[GUILD_A]),
            "other": scores(ranks[GUILD_B]),
        },
        "record_us": record,
        "flush_per_s": flush,
    }


def report(figures: dict) -> str:
    a, b = figures["ask_ms"][GUILD_A], figures["ask_ms"][GUILD_B]
    lines = [
        f"## Feedback: {figures['passages']:,} passages, {figures['questions']} questions, "
        f"{figures['votes']} votes and {figures['hidden']} hidden passages in guild A",
        "",
        "| guild | asks | p50 ms | p95 ms |",
        "|---|---|---|---|",
        f"| A (votes, hides) | {a['n']} | {a['p50']:.2f} | {a['p95']:.2f} |",
        f"| B (none, peer) | {b['n']} | {b['p50']:.2f} | {b['p95']:.2f} |",
        f"| A / B | | {figures['ratio_p50']:.2f}× | {figures['ratio_p95']:.2f}× |",
        "",
        "| development set | recall@1 | MRR@10 |",
        "|---|---|---|",
    ]
    for name, key in (
        ("guild A before its votes", "before"),
        ("guild A after one vote per question", "voted"),
        ("guild B (no votes)", "other"),
    ):
        recall1, mrr = figures["ranks"][key]
        lines.append(f"| {name} | {recall1:.3f} | {mrr:.3f} |")
    lines += [
        "",
        f"record_question: {figures['record_us']:.1f} µs per answer; "
        f"flush_questions: {figures['flush_per_s']:,.0f} answers/s",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="times each question is asked")
    parser.add_argument("--scifact", type=int, default=5000, help="SciFact abstracts added")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    figures = asyncio.run(run(args.rounds, args.scifact))
    print(json.dumps(figures) if args.json else report(figures))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
