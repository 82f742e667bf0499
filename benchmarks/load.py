"""Many members asking at once while another process ingests into the same database.

    python -m benchmarks.load --askers 50 --seconds 60 [--json]

Runs `briefbot run` in its own process against the fake Discord of the tests
(tests/fakediscord, REST + gateway on 127.0.0.1), on a SQLite database seeded as in
`benchmarks.discord_ack` (the sample corpus, plus SciFact abstracts when ../shared holds
them). Meanwhile `briefbot ingest` runs again and again in another process, each time
on 1,000 new generated news articles (`benchmarks.run.Corpus`: SciFact sentences when
../shared has them, else the repository's own articles), so the bot answers while its
index grows under it.

ASKERS tasks each loop for SECONDS: `/ask` (a question from the dev set, SciFact claims
or article titles), wait for the answer, then `/help`, wait for it. Every interaction
comes from a member who never asked before, so the per-user cooldown (left at its
default) never trips; the guild cooldown is raised in the run's config, since every
asker is in one guild. Measured from INTERACTION_CREATE sent:

- ack: the bot's first callback received by the fake (Discord's limit is 3 s);
- answer: the first message the asker can see (the follow-up with the embed).

Peer in the same run: `/help`, a static embed sent as the first callback, i.e. the
client's own floor for one gateway event → one REST call under the same load; quote
the ratios. The fake and the askers share one event loop, so their own delays are in
every figure. Target: 0 errors, every interaction acknowledged, p95 ack < 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

from benchmarks.discord_ack import QUESTIONS, pct, seed
from benchmarks.run import Corpus, load_pools, make_questions
from index import Library, Settings
from tests.bot.test_discord import GUILD_A, add_guilds, start_bot, stop_bot
from tests.fakediscord import FakeDiscord, Interaction

ROOT = Path(__file__).resolve().parents[1]
GUILD_COOLDOWN_ASKS = 1_000_000  # per 60 s: far above what any run sends
RUN_CONFIG = f"[discord]\nguild_cooldown_asks = {GUILD_COOLDOWN_ASKS}\n"
ARTICLES_PER_INGEST = 1000
TIMEOUT = 30.0  # seconds an asker waits for an answer before counting an error
_SUMMARY = re.compile(r"(\d+) added, \d+ unchanged, (\d+) failed; (\d+) passages")


@dataclass
class Figures:
    """What one command measured: seconds from dispatch, and what went wrong."""

    ack: list[float] = field(default_factory=list)
    answer: list[float] = field(default_factory=list)
    sent: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class Ingests:
    """The `briefbot ingest` runs in the other process."""

    runs: int = 0
    articles: int = 0
    passages: int = 0
    failed: list[str] = field(default_factory=list)


class FirstShown:
    """When each interaction first showed its asker a message, from `fake.messages`.

    Reads the list once as it grows, so thousands of interactions cost no rescans.
    """

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.read = 0
        self.at: dict[str, float] = {}

    def __call__(self, it: Interaction) -> float | None:
        messages = self.fake.messages
        for message in messages[self.read :]:
            if message["interaction_id"] is not None:
                self.at.setdefault(message["interaction_id"], message["at"])
        self.read = len(messages)
        return self.at.get(it.id)


def problem(it: Interaction, shown: dict[str, Any]) -> str | None:
    """Why an answered interaction still counts as an error, if it does."""
    first = it.responses[0]
    if first.get("status") != 200:
        return f"callback refused with {first.get('status')}"
    text = shown.get("content") or ""
    if "Something went wrong" in text or "Please wait" in text:
        return f"answered {text[:80]!r}"
    return None


async def one(
    fake: FakeDiscord,
    seen: FirstShown,
    name: str,
    options: dict[str, Any],
    user: int,
    into: Figures,
) -> None:
    """One interaction from a new member, timed, its failure recorded."""
    into.sent += 1
    try:
        fake.add_member(GUILD_A, user, f"u{user % 100000}")
        it = await fake.slash(name, options, guild_id=GUILD_A, user_id=user)
        shown = await it.wait_message(timeout=TIMEOUT)
    except Exception as exc:  # a timeout or a refused dispatch: count it, keep asking
        into.errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
        return
    into.ack.append(it.responses[0]["at"] - it.dispatched_at)
    at = seen(it)
    if at is not None:
        into.answer.append(at - it.dispatched_at)
    why = problem(it, shown)
    if why:
        into.errors.append(why)


async def asker(
    fake: FakeDiscord,
    seen: FirstShown,
    questions: list[str],
    users: count[int],
    until: float,
    results: dict[str, Figures],
    offset: int,
) -> None:
    i = offset
    while time.monotonic() < until:
        question = questions[i % len(questions)]
        i += 1
        await one(fake, seen, "ask", {"question": question}, next(users), results["ask"])
        await one(fake, seen, "help", {}, next(users), results["help"])


async def ingest_loop(
    db_url: str, work: Path, corpus: Corpus, stop: asyncio.Event, started: asyncio.Event
) -> Ingests:
    """`briefbot ingest` of fresh articles, run after run, until `stop` is set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIEFBOT_")} | {
        "PYTHONPATH": str(ROOT),
        "BRIEFBOT_INDEX_PATH": "",  # the bot's index directory is its own
    }
    done = Ingests()
    while not stop.is_set():
        path = work / f"ingest-{done.runs:03d}.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for _ in range(ARTICLES_PER_INGEST):
                fh.write(json.dumps(corpus.article()) + "\n")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "--db",
            db_url,
            "ingest",
            str(path),
            cwd=work,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        started.set()
        out, err = await process.communicate()
        done.runs += 1
        match = _SUMMARY.search(out.decode())
        if process.returncode or match is None or int(match[2]):
            done.failed.append(f"exit {process.returncode}: {(out + err).decode()[-300:]}")
        if match is not None:
            done.articles += int(match[1])
            done.passages += int(match[3])
    return done


async def passages(db_url: str) -> int:
    async with await Library.open(Settings(database_url=db_url)) as library:
        _, n, _ = await library.counts(None)
        return n


def summary(values: list[float], *quantiles: float) -> dict[str, float | None]:
    """Milliseconds at each quantile (and max), None when nothing was measured."""
    out: dict[str, float | None] = {}
    for q in quantiles:
        out[f"p{round(q * 100)}"] = round(pct(values, q) * 1000, 2) if values else None
    if len(quantiles) > 2:
        out["max"] = round(max(values) * 1000, 2) if values else None
    return out


async def run(askers: int, seconds: float, docs: int) -> dict[str, Any]:
    pools = load_pools()
    questions = QUESTIONS + [q for _, q in make_questions(pools, 500)]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        db_url = f"sqlite+aiosqlite:///{tmp / 'load.db'}"
        before = await seed(db_url, tmp, docs)
        (tmp / "load.toml").write_text(RUN_CONFIG)
        results = {"ask": Figures(), "help": Figures()}
        async with FakeDiscord(bot_name="briefbot") as fake:
            add_guilds(fake)
            process, log = await start_bot(fake, tmp, db_url, args=("--config", "load.toml"))
            stop, started = asyncio.Event(), asyncio.Event()
            ingesting = asyncio.create_task(
                ingest_loop(db_url, tmp, Corpus(pools, seed=11), stop, started)
            )
            try:
                await started.wait()
                seen = FirstShown(fake)
                users = count(1400000000000000000)
                until = time.monotonic() + seconds
                await asyncio.gather(
                    *(
                        asker(fake, seen, questions, users, until, results, offset=i * 7)
                        for i in range(askers)
                    )
                )
            finally:
                stop.set()
                ingests = await ingesting
                code = stop_bot(process)
            interactions = list(fake.interactions)
            violations = list(fake.violations)
        if code != 0:
            raise SystemExit(f"the bot exited with {code}:\n{log.read_text()[-3000:]}")
        after = await passages(db_url)
    acknowledged = sum(
        1 for it in interactions if it.responses and it.responses[0].get("status") == 200
    )
    ask, help_ = results["ask"], results["help"]
    errors = ask.errors + help_.errors
    figures: dict[str, Any] = {
        "askers": askers,
        "seconds": seconds,
        "asks_sent": ask.sent,
        "help_sent": help_.sent,
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:5],
        "interactions": len(interactions),
        "acknowledged": acknowledged,
        "violations": len(violations),
        "violation_samples": violations[:5],
        "ask_ack_ms": summary(ask.ack, 0.5, 0.95, 0.99),
        "ask_answer_ms": summary(ask.answer, 0.5, 0.95),
        "help_ack_ms": summary(help_.ack, 0.5, 0.95, 0.99),
        "help_answer_ms": summary(help_.answer, 0.5, 0.95),
        "passages_before": before,
        "passages_after": after,
        "ingest": {
            "runs": ingests.runs,
            "articles": ingests.articles,
            "passages": ingests.passages,
            "failed": len(ingests.failed),
            "failed_samples": ingests.failed[:3],
        },
        "per_user_cooldown": "default; every interaction from a new member",
        "guild_cooldown_asks": GUILD_COOLDOWN_ASKS,
    }
    p95 = figures["ask_ack_ms"]["p95"]
    figures["target_met"] = (
        not errors
        and not violations
        and not ingests.failed
        and acknowledged == len(interactions)
        and p95 is not None
        and p95 < 1000
    )
    return figures


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a is not None and b else "n/a"


def show(f: dict[str, Any]) -> None:
    ing = f["ingest"]
    print(
        f"{f['askers']} askers for {f['seconds']:g} s against `briefbot run` (fake Discord), "
        f"while another process ran `briefbot ingest` {ing['runs']} time"
        f"{'s' if ing['runs'] != 1 else ''}: "
        f"{ing['articles']:,} articles, {ing['passages']:,} passages "
        f"({f['passages_before']:,} → {f['passages_after']:,} in the database)"
    )
    print(
        "cooldowns: per user at its default (each interaction from a new member, so it never "
        f"trips); per guild raised to {f['guild_cooldown_asks']:,} asks per 60 s in the run's "
        "config"
    )
    print(
        f"asks sent {f['asks_sent']:,}, /help sent {f['help_sent']:,}, errors {f['errors']}, "
        f"interactions acknowledged {f['acknowledged']:,}/{f['interactions']:,}, "
        f"Discord violations {f['violations']}, ingest failures {ing['failed']}"
    )
    for name in ("ask", "help"):
        ack, answer = f[f"{name}_ack_ms"], f[f"{name}_answer_ms"]
        print(
            f"/{name:<4} ack     p50 {ack['p50']} ms  p95 {ack['p95']} ms  p99 {ack['p99']} ms  "
            f"max {ack['max']} ms"
        )
        print(f"/{name:<4} answer  p50 {answer['p50']} ms  p95 {answer['p95']} ms")
    print(
        "ratios to /help (static embed, the floor): "
        f"/ask ack p50 {ratio(f['ask_ack_ms']['p50'], f['help_ack_ms']['p50'])}, "
        f"p95 {ratio(f['ask_ack_ms']['p95'], f['help_ack_ms']['p95'])}; "
        f"/ask answer p50 {ratio(f['ask_answer_ms']['p50'], f['help_answer_ms']['p50'])}, "
        f"p95 {ratio(f['ask_answer_ms']['p95'], f['help_answer_ms']['p95'])}"
    )
    for sample in f["error_samples"] + f["violation_samples"] + ing["failed_samples"]:
        print(f"  problem: {sample}")
    verdict = "met" if f["target_met"] else "MISSED"
    print(f"target (0 errors, every interaction acknowledged, p95 ack < 1 s): {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--askers", type=int, default=50, help="concurrent askers")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long they ask")
    parser.add_argument("--docs", type=int, default=5183, help="SciFact abstracts to seed")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    figures = asyncio.run(run(args.askers, args.seconds, args.docs))
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        show(figures)


if __name__ == "__main__":
    main()
