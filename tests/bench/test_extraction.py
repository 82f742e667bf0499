"""benchmarks.extraction on the AEB pages: our article text scores F1 ≥ 0.95 with the
benchmark's own scorer, and at least bare trafilatura's F1 on the same bytes.

Quality is asserted (it is deterministic); pages/s is printed, never asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("BRIEFBOT_SHARED_DIR", ROOT.parent / "shared"))
AEB = SHARED / "data" / "extraction" / "aeb"


@pytest.mark.skipif(not (AEB / "ground-truth.json").exists(), reason="needs ../shared AEB data")
def test_aeb_article_text_beats_bare_trafilatura() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIEFBOT_")}
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.extraction", "--aeb", str(AEB), "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout)
    ours, peer = figures["briefbot"], figures["trafilatura"]
    print(f"\nAEB F1 {ours['f1']:.3f} (P {ours['precision']:.3f}, R {ours['recall']:.3f})")
    print(f"trafilatura F1 {peer['f1']:.3f}; speed ratio {figures['ratios']['pages_per_s']:.2f}")
    assert figures["pages"] == 181
    assert ours["f1"] >= 0.95
    assert ours["f1"] >= peer["f1"]
