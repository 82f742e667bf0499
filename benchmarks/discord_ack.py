"""Time to first acknowledgement and to the answer, through Discord's protocol.

    python -m benchmarks.discord_ack --asks 100

Runs `briefbot run` in its own process against the fake Discord server of the tests
(tests/fakediscord, REST + gateway on 127.0.0.1), with the sample corpus ingested plus
SciFact abstracts (when ../shared holds them) so the index is not trivially small. Then
ASKS `/ask` commands one after another, each from a fresh user (no cooldown):

- ack: INTERACTION_CREATE sent → the bot's first callback (the deferral) received;
- answer: INTERACTION_CREATE sent → the follow-up with the embed received.

Peer in the same run: `/help`, which answers at once with a static embed, i.e. the
client's own floor for one gateway event → one REST call. Discord's rule is ack ≤ 3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from pathlib import Path

from benchmarks.core import scifact
from index import Library, Settings
from tests.bot.test_discord import GUILD_A, add_guilds, start_bot, stop_bot
from tests.fakediscord import FakeDiscord

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "who attended the Miami talks?",
    "what did Dmitriev say about the discussions?",
    "when were the talks held?",
    "where did the negotiations take place?",
    "did Rubio join the discussions?",
]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def seed(db_url: str, tmp: Path, docs: int) -> int:
    async with await Library.open(Settings(database_url=db_url)) as library:
        await library.ingest([str(ROOT / "examples" / "corpus")])
        try:
            corpus, _ = scifact()
        except FileNotFoundError:
            corpus = []
        if corpus and docs:
            path = tmp / "scifact.jsonl"
            path.write_text("".join(json.dumps(d) + "\n" for d in corpus[:docs]))
            await library.ingest([str(path)])
        _, passages, _ = await library.counts(None)
        return passages


async def timed(fake: FakeDiscord, name: str, options: dict, user: int) -> tuple[float, float]:
    it = await fake.slash(name, options, guild_id=GUILD_A, user_id=user)
    await it.wait_message(timeout=30)
    ack = it.responses[0]["at"] - it.dispatched_at
    shown = [m["at"] for m in fake.messages if m.get("interaction_id") == it.id]
    return ack, min(shown) - it.dispatched_at


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--asks", type=int, default=100)
    parser.add_argument("--docs", type=int, default=5183, help="SciFact abstracts to add")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        db_url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
        passages = await seed(db_url, tmp, args.docs)
        (tmp / "briefbot.toml").write_text("[discord]\ncooldown_seconds = 0.0\n")
        async with FakeDiscord(bot_name="briefbot") as fake:
            add_guilds(fake)
            process, _ = await start_bot(fake, tmp, db_url, args=("--config", "briefbot.toml"))
            try:
                results: dict[str, tuple[list[float], list[float]]] = {
                    "ask": ([], []),
                    "help": ([], []),
                }
                user = 1400000000000000000
                for i in range(args.asks):
                    for name, options in (
                        ("ask", {"question": QUESTIONS[i % len(QUESTIONS)]}),
                        ("help", {}),
                    ):
                        user += 1
                        fake.add_member(GUILD_A, user, f"u{user % 10000}")
                        ack, answer = await timed(fake, name, options, user)
                        results[name][0].append(ack)
                        results[name][1].append(answer)
                violations = list(fake.violations)
            finally:
                stop_bot(process)
    ms = 1000.0
    ask_ack, ask_answer = results["ask"]
    help_ack = results["help"][0]
    print(f"index: {passages:,} passages; {args.asks} /ask and {args.asks} /help, one at a time")
    print(
        f"/ask  first ack   p50 {statistics.median(ask_ack) * ms:6.1f} ms  "
        f"p95 {pct(ask_ack, 0.95) * ms:6.1f} ms  max {max(ask_ack) * ms:6.1f} ms"
    )
    print(
        f"/ask  answer      p50 {statistics.median(ask_answer) * ms:6.1f} ms  "
        f"p95 {pct(ask_answer, 0.95) * ms:6.1f} ms"
    )
    print(
        f"/help response    p50 {statistics.median(help_ack) * ms:6.1f} ms  "
        f"p95 {pct(help_ack, 0.95) * ms:6.1f} ms  (peer: static embed, no search)"
    )
    print(
        f"ratio /ask ack p50 / /help p50: "
        f"{statistics.median(ask_ack) / statistics.median(help_ack):.2f}×; "
        f"/ask answer p50 / /help p50: "
        f"{statistics.median(ask_answer) / statistics.median(help_ack):.2f}×"
    )
    print(f"Discord violations (late, double or over-limit responses): {len(violations)}")


if __name__ == "__main__":
    asyncio.run(main())
