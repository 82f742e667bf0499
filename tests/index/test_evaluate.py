"""Evaluation: metrics equal trec_eval's, BEIR and QA sets load strictly, runs use ask."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import pytrec_eval

from index import evaluate
from index.errors import BriefbotError
from index.library import Library
from index.settings import SearchSettings, Settings

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def random_case(rng: random.Random) -> tuple[evaluate.Qrels, dict[str, list[str]]]:
    """Graded qrels and rankings with misses, unjudged documents and short runs."""
    docs = [f"d{i}" for i in range(60)]
    qrels: evaluate.Qrels = {}
    runs: dict[str, list[str]] = {}
    for q in range(40):
        judged = rng.sample(docs, rng.randint(1, 8))
        qrels[f"q{q}"] = {d: rng.choice([0, 1, 1, 2, 3]) for d in judged}
        qrels[f"q{q}"][judged[0]] = rng.randint(1, 3)  # at least one relevant
        runs[f"q{q}"] = rng.sample(docs, rng.randint(1, 60))
    return qrels, runs


@pytest.mark.parametrize("seed", range(5))
def test_metrics_equal_trec_eval(seed: int):
    """nDCG@10, recall@10/@100 and MRR@10 agree with pytrec_eval (trec_eval's own code)."""
    qrels, runs = random_case(random.Random(seed))
    # trec_eval sorts by score, so give strictly decreasing scores in our order.
    trec_run = {q: {d: float(len(r) - i) for i, d in enumerate(r)} for q, r in runs.items()}
    cut = {q: {d: s for d, s in r.items() if s > len(runs[q]) - 10} for q, r in trec_run.items()}
    measures = {"ndcg_cut.10", "recall.10", "recall.100"}
    full = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(trec_run)
    top10 = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut)
    for q in qrels:
        assert evaluate.ndcg_at(runs[q], qrels[q], 10) == pytest.approx(full[q]["ndcg_cut_10"])
        assert evaluate.recall_at(runs[q], qrels[q], 10) == pytest.approx(full[q]["recall_10"])
        assert evaluate.recall_at(runs[q], qrels[q], 100) == pytest.approx(full[q]["recall_100"])
        assert evaluate.mrr_at(runs[q], qrels[q], 10) == pytest.approx(top10[q]["recip_rank"])
    means = evaluate.beir_metrics(runs, qrels)
    assert means["ndcg@10"] == pytest.approx(
        sum(r["ndcg_cut_10"] for r in full.values()) / len(full)
    )


def test_metrics_by_hand():
    """One worked example: relevant at ranks 2 and 4 of two judged-relevant documents."""
    rels = {"a": 1, "b": 2, "z": 0}
    ranking = ["x", "b", "y", "a"]
    ideal = 2 + 1 / 1.584962500721156
    assert evaluate.ndcg_at(ranking, rels, 10) == pytest.approx(
        (2 / 1.584962500721156 + 1 / 2.321928094887362) / ideal
    )
    assert evaluate.mrr_at(ranking, rels, 10) == 0.5
    assert evaluate.mrr_at(ranking, rels, 1) == 0.0
    assert evaluate.recall_at(ranking, rels, 2) == 0.5
    assert evaluate.ndcg_at(ranking, {"z": 0}, 10) == 0.0


def test_queries_without_results_count_as_zero():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 0}}  # q3 judges nothing relevant
    means = evaluate.beir_metrics({"q1": ["a"]}, qrels)
    assert means["ndcg@10"] == 0.5 and means["recall@100"] == 0.5


def write_beir(base: Path, corpus: list[dict], queries: dict[str, str], qrels: str) -> Path:
    (base / "qrels").mkdir(parents=True)
    with (base / "corpus.jsonl").open("w") as fh:
        for doc in corpus:
            fh.write(json.dumps(doc) + "\n")
    with (base / "queries.jsonl").open("w") as fh:
        for qid, text in queries.items():
            fh.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (base / "qrels" / "test.tsv").write_text(qrels)
    return base


GRAIN = "The grain corridor through the Black Sea reopened after insurers returned."
CORPUS = [
    {"_id": "d1", "title": "Ceasefire talks", "text": "Envoys met in Geneva on a ceasefire."},
    {"_id": "d2", "title": "Grain corridor", "text": GRAIN},
    {"_id": "d3", "title": "Grain corridor", "text": GRAIN},
    {"_id": "d4", "title": "Energy", "text": "Gas transit fees held up energy talks in Vienna."},
]
QUERIES = {"q1": "ceasefire talks in Geneva", "q2": "black sea grain corridor", "q9": "not judged"}


def test_load_beir_reads_judged_queries(tmp_path: Path):
    base = write_beir(
        tmp_path / "set", CORPUS, QUERIES, "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t2\n"
    )
    data = evaluate.load_beir(base)
    assert data.queries == {"q1": "ceasefire talks in Geneva", "q2": "black sea grain corridor"}
    assert data.qrels == {"q1": {"d1": 1}, "q2": {"d3": 2}}


@pytest.mark.parametrize(
    ("qrels", "message"),
    [
        ("q1\td1\n", "expected 3 tab-separated fields"),
        ("q1\td1\thigh\n", "is not an integer"),
        ("q7\td1\t1\n", "query 'q7' is not in queries.jsonl"),
        ("query-id\tcorpus-id\tscore\n", "no judgements"),
    ],
)
def test_load_beir_names_what_is_wrong(tmp_path: Path, qrels: str, message: str):
    base = write_beir(tmp_path / "set", CORPUS, QUERIES, qrels)
    with pytest.raises(BriefbotError, match=message):
        evaluate.load_beir(base)


def test_load_beir_needs_the_split(tmp_path: Path):
    base = write_beir(tmp_path / "set", CORPUS, QUERIES, "q1\td1\t1\n")
    with pytest.raises(BriefbotError, match=r"dev\.tsv is missing"):
        evaluate.load_beir(base, "dev")


async def test_run_beir_lists_identical_texts_together(tmp_path: Path, db_url: str):
    """d2 and d3 are one stored source; a hit on it ranks both ids, so d3 is still found."""
    base = write_beir(tmp_path / "set", CORPUS, QUERIES, "q1\td1\t1\nq2\td3\t1\n")
    data = evaluate.load_beir(base)
    async with await Library.open(Settings(database_url=db_url)) as library:
        result = await evaluate.run_beir(library, data, name="tiny", split="test", k=10)
        assert result.documents == 4 and result.passages == 3
        assert result.metrics["recall@10"] == 1.0
        assert result.metrics["mrr@10"] == 0.75  # q2: d3 comes right after its twin d2
        ranking = await evaluate.ranked_documents(
            library, "grain corridor", 10, evaluate.duplicate_ids(data.corpus)
        )
        assert ranking[:2] in (["d2", "d3"], ["d3", "d2"])
        again = await evaluate.run_beir(library, data, name="tiny", split="test", k=10)
    assert again.metrics == result.metrics  # the second ingest found everything unchanged


def test_answers_match_whole_words_any_case():
    text = "The meeting included Kirill Dmitriev, envoy Steve Witkoff and Jared Kushner in Miami."
    assert evaluate.answers(text, ["dmitriev", "WITKOFF", "Jared  Kushner"])
    assert not evaluate.answers(text, ["Witkof"])  # a prefix is not the word
    assert not evaluate.answers(text, ["Dmitriev", "Zelensky"])
    assert evaluate.answers("Volodymyr Zelenskyy said", ["zelenskyy"])
    assert evaluate.answers("Señor Pérez", ["perez"])  # accents folded


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "line 1: invalid JSON"),
        ('{"question": "x", "answer_terms": ["a"]}', 'line 1: expected a "q" string'),
        ('{"q": "x", "answer_terms": "a"}', '"answer_terms" must be a list of strings'),
        ('{"q": "x", "answer_terms": []}', '"answer_terms" must be a list of strings'),
    ],
)
def test_load_qa_names_the_bad_line(tmp_path: Path, line: str, message: str):
    path = tmp_path / "qa.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(BriefbotError, match=message):
        evaluate.load_qa(path)


async def test_run_qa_ranks_the_answering_passage(sqlite_url: str):
    items = [
        evaluate.QAItem("who attended the Miami talks?", ("Dmitriev", "Witkoff", "Kushner"), 1),
        evaluate.QAItem("what did the zebra eat?", ("zebra",), 2),
    ]
    async with await Library.open(Settings(database_url=sqlite_url)) as library:
        await library.ingest([str(ROOT / "examples" / "corpus")])
        result = await evaluate.run_qa(library, items, k=10)
    assert [o.rank for o in result.outcomes] == [1, None]
    assert result.metrics == {"recall@1": 0.5, "recall@5": 0.5, "mrr@10": 0.5}


async def test_article_evidence_lifts_on_topic_passages(sqlite_url: str):
    """Two passages match the question alike, one in an article about it and one in a stray
    article: fused with article evidence the on-topic one ranks first, without it not."""
    pad = " ".join(
        ["Officials spoke to reporters outside the hall before the evening sessions."] * 4
    )
    on_topic = {
        "id": "on",
        "title": "Istanbul report",
        "text": f"Negotiators spent the day on the prisoner swap. Lists for the swap were checked "
        f"twice, and the swap of the wounded came first. {pad}\n\n"
        f"ANSWER: by midnight the swap was agreed by both delegations. {pad} Lawyers stayed late.",
    }
    stray = {
        "id": "off",
        "title": "Derby report",
        "text": f"STRAY: after the derby the captains agreed to swap shirts. {pad}\n\n"
        "The home side won three goals to one, and the coach praised the young striker for a "
        "strong second half in front of a full stadium on a cold evening in the north of town. "
        f"{pad}",
    }
    fillers = [
        {
            "id": f"f{i}",
            "title": f"Weather {i}",
            "text": f"Rain and wind on day {i} of the storm season, with flooding in low "
            "streets and trains cancelled across the region until the evening.",
        }
        for i in range(8)
    ]
    corpus = Path(sqlite_url.removeprefix("sqlite+aiosqlite:///")).parent / "c.jsonl"
    corpus.write_text("\n".join(json.dumps(d) for d in (stray, on_topic, *fillers)) + "\n")
    order = {}
    for weight in (0.0, 1.0):
        settings = Settings(database_url=sqlite_url, search=SearchSettings(article_weight=weight))
        async with await Library.open(settings) as library:
            await library.ingest([str(corpus)])
            hits = (await library.ask("when was the swap agreed?", k=5)).hits
            order[weight] = [h.text.split(":")[0] for h in hits if ":" in h.text[:8]]
    assert order[0.0] == ["STRAY", "ANSWER"]  # its own words alone: the shorter passage wins
    assert order[1.0] == ["ANSWER", "STRAY"]  # the stray passage is still found, only lower
