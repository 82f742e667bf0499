"""benchmarks.run end to end at a tiny size: it runs, writes its tables and its plot.

Timings are printed, never asserted; this only keeps the benchmark from rotting.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("BRIEFBOT_SHARED_DIR", ROOT.parent / "shared"))


def test_the_scale_benchmark_runs_and_writes_its_results(tmp_path: Path):
    """With SciFact if ../shared has it, else on the repository's own articles."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIEFBOT_")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--sizes",
            "1500",
            "--queries",
            "60",
            "--no-ingest",
            "--out",
            str(tmp_path / "out"),
            "--work",
            str(tmp_path / "work"),
        ],
        cwd=ROOT,
        env=env | {"BRIEFBOT_SHARED_DIR": str(SHARED)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (report,) = (tmp_path / "out").glob("*.md")
    (plot,) = (tmp_path / "out").glob("*.png")
    text = report.read_text()
    for heading in ("Query latency at", "Incremental add and search during ingest"):
        assert heading in text
    for engine in ("briefbot index, all", "briefbot ask", "rank-bm25", "bm25s"):
        assert engine in text
    assert "max |difference| = " in text
    worst = float(text.split("max |difference| = ")[1].split()[0])
    assert worst < 1e-6  # our scores are rank-bm25's
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
