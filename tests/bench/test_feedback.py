"""benchmarks.feedback in small: it runs, votes change guild A's ranks only, and the
figures are all there. Times are printed, never asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_feedback_benchmark_runs_and_leaves_other_guilds_alone() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIEFBOT_")}
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.feedback", "--rounds", "1", "--scifact", "0", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout)
    print(f"\nask p50 A/B {figures['ratio_p50']:.2f}×; ranks {figures['ranks']}")
    assert figures["questions"] == 37 and figures["votes"] >= figures["questions"] // 2
    assert figures["ranks"]["other"] == figures["ranks"]["before"]  # B never saw a vote
    assert figures["ranks"]["voted"] != figures["ranks"]["before"]  # A's votes acted
    assert figures["ask_ms"]["1300000000000000001"]["n"] == 37
    assert figures["record_us"] > 0 and figures["flush_per_s"] > 0
