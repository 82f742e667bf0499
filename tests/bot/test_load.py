"""benchmarks.load at a small size: 10 askers for 5 s while another process ingests.

Timings are printed by the benchmark, never asserted here; this checks that under
concurrent asking and ingestion nothing fails and every interaction is acknowledged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("BRIEFBOT_SHARED_DIR", ROOT.parent / "shared"))


def test_concurrent_askers_during_ingest_all_get_acknowledged_answers() -> None:
    """10 askers, 5 s, `briefbot ingest` alongside: 0 errors, every interaction acknowledged."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIEFBOT_")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.load",
            "--askers",
            "10",
            "--seconds",
            "5",
            "--docs",
            "500",
            "--json",
        ],
        cwd=ROOT,
        env=env | {"BRIEFBOT_SHARED_DIR": str(SHARED)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout)
    assert figures["errors"] == 0, figures["error_samples"]
    assert figures["violations"] == 0, figures["violation_samples"]
    assert figures["asks_sent"] >= 10 and figures["help_sent"] >= 10
    assert figures["interactions"] == figures["asks_sent"] + figures["help_sent"]
    assert figures["acknowledged"] == figures["interactions"]
    ingest = figures["ingest"]
    assert ingest["runs"] >= 1 and ingest["failed"] == 0, ingest["failed_samples"]
    assert figures["passages_after"] > figures["passages_before"]
