"""Article text extraction on the AEB pages, next to bare trafilatura in the same run.

    python -m benchmarks.extraction [--aeb DIR] [--json] [--predictions DIR]

`../shared/data/extraction/aeb/` holds 181 real news pages with hand-made gold article
text and `score.py`, the benchmark's own scorer (word 4-gram shingles, precision and
recall averaged over pages). Both sides get the same bytes:

- briefbot: `extract_bytes` (charset from the bytes, trafilatura with metadata, then our
  cleaning: bylines, teasers, repeated lines), its paragraphs joined as passages see them;
- peer: `trafilatura.extract(html)` with defaults, the published reference.

Prints F1, precision, recall and pages/s for each, and the ratios. Nothing is stored.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks.core import shared_dir
from index import extract
from index.errors import BriefbotError


def aeb_dir() -> Path:
    return shared_dir() / "data" / "extraction" / "aeb"


def scorer(aeb: Path) -> ModuleType:
    """The benchmark's score.py, loaded from beside the data (it is not ours to copy)."""
    spec = importlib.util.spec_from_file_location("aeb_score", aeb.parent / "score.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pages(aeb: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    truth = json.loads((aeb / "ground-truth.json").read_text(encoding="utf-8"))
    bodies = {key: gzip.decompress((aeb / "html" / f"{key}.html.gz").read_bytes()) for key in truth}
    return truth, bodies


def ours(body: bytes, url: str) -> str:
    try:
        doc = extract.extract_bytes(body, ref=url, url=url, content_type="text/html")
    except BriefbotError:
        return ""
    return "\n".join(doc.paragraphs)


def bare_trafilatura(body: bytes, url: str) -> str:
    import trafilatura

    return trafilatura.extract(body.decode("utf-8", errors="replace")) or ""


def run(
    name: str,
    fn: Callable[[bytes, str], str],
    truth: dict[str, Any],
    bodies: dict[str, bytes],
    score: ModuleType,
) -> tuple[dict[str, float], dict[str, dict[str, str]]]:
    started = time.perf_counter()
    predictions = {key: {"articleBody": fn(bodies[key], truth[key]["url"])} for key in truth}
    seconds = time.perf_counter() - started
    figures = score.score(truth, predictions)
    figures["pages_per_s"] = len(truth) / seconds
    figures["seconds"] = seconds
    return figures, predictions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--aeb", type=Path, default=None, help="the aeb/ folder")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--predictions", type=Path, help="write each side's predictions here")
    args = parser.parse_args(argv)
    aeb = args.aeb or aeb_dir()
    if not (aeb / "ground-truth.json").exists():
        print(f"no AEB data at {aeb}", file=sys.stderr)
        return 1
    truth, bodies = pages(aeb)
    score = scorer(aeb)
    bare_trafilatura(bodies[next(iter(bodies))], "")  # imports and warms both up
    ours(bodies[next(iter(bodies))], "https://example.org/")
    results: dict[str, dict[str, float]] = {}
    for name, fn in (("briefbot", ours), ("trafilatura", bare_trafilatura)):
        results[name], predictions = run(name, fn, truth, bodies, score)
        if args.predictions:
            args.predictions.mkdir(parents=True, exist_ok=True)
            out = args.predictions / f"{name}.json"
            out.write_text(json.dumps(predictions, ensure_ascii=False), encoding="utf-8")
    ratios = {
        "f1": results["briefbot"]["f1"] / results["trafilatura"]["f1"],
        "pages_per_s": results["briefbot"]["pages_per_s"] / results["trafilatura"]["pages_per_s"],
    }
    if args.json:
        print(json.dumps({"pages": len(truth), **results, "ratios": ratios}, indent=1))
        return 0
    print(f"AEB: {len(truth)} pages, scored by {aeb.parent / 'score.py'}")
    print(f"{'':12} {'F1':>6} {'P':>6} {'R':>6} {'pages/s':>8}")
    for name, row in results.items():
        print(
            f"{name:12} {row['f1']:6.3f} {row['precision']:6.3f} {row['recall']:6.3f} "
            f"{row['pages_per_s']:8.1f}"
        )
    print(f"briefbot / trafilatura: F1 {ratios['f1']:.3f}×, speed {ratios['pages_per_s']:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
