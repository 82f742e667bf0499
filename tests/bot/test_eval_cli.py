"""`briefbot eval beir|qa` as a subprocess: JSON shapes, temporary databases, quality floors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QA = ROOT / "tests" / "fixtures" / "qa"
DEV_CORPUS = ("--corpus", "examples/corpus", "--corpus", str(QA / "articles.jsonl"))
DEV_KINDS = [json.loads(line)["kind"] for line in (QA / "dev.jsonl").read_text().splitlines()]


def briefbot(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BRIEFBOT_")}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=ROOT,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def tiny_beir(base: Path) -> Path:
    (base / "qrels").mkdir(parents=True)
    docs = [
        (
            "d1",
            "Ceasefire talks",
            "Envoys met in Geneva to discuss a ceasefire and prisoner swaps.",
        ),
        ("d2", "Grain corridor", "The Black Sea grain corridor reopened after insurers returned."),
        ("d3", "Energy talks", "Gas transit fees were the sticking point of talks in Vienna."),
        ("d4", "Football", "The derby ended one all after a late penalty in the rain."),
    ]
    (base / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in docs)
    )
    queries = {"q1": "Geneva ceasefire talks", "q2": "grain exports Black Sea", "q3": "gas fees"}
    (base / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items())
    )
    (base / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td3\t2\n"
    )
    (base / "qrels" / "dev.tsv").write_text("q1\td4\t1\n")
    return base


def test_eval_beir_json(tmp_path: Path):
    """Every query finds its document first; the user's database is not touched."""
    user_db = tmp_path / "user.db"
    result = briefbot(
        "eval",
        "beir",
        str(tiny_beir(tmp_path / "tiny")),
        "--json",
        env={"BRIEFBOT_DATABASE_URL": f"sqlite+aiosqlite:///{user_db}"},
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["split"] == "test" and out["k"] == 100
    assert (out["queries"], out["documents"], out["passages"]) == (3, 4, 4)
    assert out["metrics"] == {"ndcg@10": 1.0, "mrr@10": 1.0, "recall@10": 1.0, "recall@100": 1.0}
    assert set(out["seconds"]) == {"ingest", "search"}
    assert not user_db.exists()


def test_eval_beir_text_split_and_kept_db(tmp_path: Path):
    db = tmp_path / "eval.db"
    args = ("eval", "beir", str(tiny_beir(tmp_path / "tiny")), "--split", "dev", "--db")
    result = briefbot(*args, f"sqlite+aiosqlite:///{db}")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith("(dev): 1 queries, 4 documents, 4 passages, top 100")
    assert "ndcg@10     0.0000" in result.stdout  # d4 shares no word with q1
    assert db.exists()  # --db is kept, and a second run reuses it
    again = briefbot(*args, f"sqlite+aiosqlite:///{db}", "--json")
    assert json.loads(again.stdout)["documents"] == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--set", "nonsense=1"), "expected KEY=VALUE with KEY one of"),
        (("--set", "article_weight=heavy"), "article_weight takes a float"),
        (("--split", "nope"), "nope.tsv is missing"),
    ],
)
def test_eval_beir_bad_input(tmp_path: Path, args: tuple[str, ...], message: str):
    result = briefbot("eval", "beir", str(tiny_beir(tmp_path / "tiny")), *args)
    assert result.returncode in (1, 2)
    assert message in result.stderr and "Traceback" not in result.stderr


def test_eval_qa_needs_a_corpus_or_db():
    result = briefbot("eval", "qa", str(QA / "dev.jsonl"))
    assert result.returncode == 2
    assert "give --corpus PATH" in result.stderr


def test_dev_set_quality_floor():
    """The committed dev set: real articles, questions phrased as people ask them.

    Floors sit at today's figures, so losing one question at rank ≤5 (or at rank 1)
    fails this test: raise them when ranking improves.
    """
    result = briefbot("eval", "qa", str(QA / "dev.jsonl"), *DEV_CORPUS, "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["questions"] == 37 and out["k"] == 10
    ranks = [r["rank"] for r in out["results"]]
    assert sum(1 for r in ranks if r is not None and r <= 5) >= 28, ranks
    assert ranks.count(1) >= 16, ranks
    assert out["metrics"]["recall@5"] == round(sum(1 for r in ranks if r and r <= 5) / 37, 4)
    assert out["metrics"]["mrr@10"] >= 0.58, out
    miami = next(r for r in out["results"] if r["q"] == "who was at the miami talks?")
    assert miami["rank"] is not None and miami["rank"] <= 2
    # Misspelt names ("nikei", "talibn") are searched as the articles spell them.
    typos = [r["rank"] for r, item in zip(out["results"], DEV_KINDS, strict=True) if item == "typo"]
    assert len(typos) == 4 and all(r is not None and r <= 3 for r in typos), typos


def test_dev_set_text_report():
    result = briefbot("eval", "qa", str(QA / "dev.jsonl"), *DEV_CORPUS)
    assert result.returncode == 0, result.stderr
    assert "37 questions" in result.stdout
    assert "rank 1  how many points is the us peace plan?" in result.stdout
    assert "recall@5" in result.stdout


SCIFACT = Path(os.environ.get("BRIEFBOT_SHARED_DIR", ROOT.parent / "shared")) / "data/beir/scifact"


@pytest.mark.skipif(not (SCIFACT / "corpus.jsonl").is_file(), reason="no ../shared SciFact data")
def test_scifact_reaches_the_published_bm25_figures():
    """Default settings, BEIR SciFact test split: nDCG@10 ≥ 0.69 (published BM25: 0.665–0.685)."""
    result = briefbot("eval", "beir", str(SCIFACT), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["queries"] == 300 and out["documents"] == 5183
    assert out["metrics"]["ndcg@10"] >= 0.69, out
    assert out["metrics"]["recall@100"] >= 0.9, out
