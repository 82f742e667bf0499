"""Answer quality, measured: BEIR retrieval metrics and our own question/answer-terms sets.

Both evaluations send every question through `Library.ask`, the path users get, so a
figure printed here is a figure of the product, not of a side model. The metric
functions follow trec_eval's definitions (ndcg_cut, recip_rank, recall); a test checks
them against pytrec_eval.
"""

from __future__ import annotations

import csv
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from index import extract
from index.errors import BriefbotError, ExtractError
from index.library import Library, content_hash
from index.tokenize import fold
from index.types import Answer

Qrels = dict[str, dict[str, int]]  # query id → {document id: relevance grade}
Progress = Callable[[int, str], None]


# --- metrics ------------------------------------------------------------------------


def ndcg_at(ranking: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    """nDCG@k with graded gains and log2(rank + 1) discounts, as trec_eval's ndcg_cut."""
    gains = sorted((g for g in rels.values() if g > 0), reverse=True)
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(gains[:k]))
    if ideal == 0:
        return 0.0
    dcg = sum(
        rels.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranking[:k]) if rels.get(doc)
    )
    return dcg / ideal


def mrr_at(ranking: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    """Reciprocal rank of the first relevant document within the top k (0 if none)."""
    for i, doc in enumerate(ranking[:k]):
        if rels.get(doc, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def recall_at(ranking: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    """Share of the relevant documents found in the top k."""
    relevant = {doc for doc, g in rels.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranking[:k])) / len(relevant)


BEIR_METRICS: tuple[
    tuple[str, Callable[[Sequence[str], Mapping[str, int], int], float], int], ...
] = (
    ("ndcg@10", ndcg_at, 10),
    ("mrr@10", mrr_at, 10),
    ("recall@10", recall_at, 10),
    ("recall@100", recall_at, 100),
)


def beir_metrics(runs: Mapping[str, Sequence[str]], qrels: Qrels) -> dict[str, float]:
    """Means over every judged query; a query without results counts as 0 (trec_eval -c)."""
    judged = [q for q, rels in qrels.items() if any(g > 0 for g in rels.values())]
    out: dict[str, float] = {}
    for name, metric, k in BEIR_METRICS:
        total = sum(metric(runs.get(q, ()), qrels[q], k) for q in judged)
        out[name] = total / len(judged) if judged else 0.0
    return out


# --- BEIR ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BeirSet:
    """A BEIR-format dataset on disk: corpus.jsonl, queries.jsonl, qrels/<split>.tsv."""

    corpus: Path
    queries: dict[str, str]  # only the judged queries of the split, in file order
    qrels: Qrels


_QREL_HEADERS = frozenset({"query-id", "query_id", "qid", "query"})


def load_beir(directory: str | Path, split: str = "test") -> BeirSet:
    """Reads queries and qrels; the corpus is left on disk for ingest to stream."""
    base = Path(directory)
    corpus, queries_path = base / "corpus.jsonl", base / "queries.jsonl"
    qrels_path = base / "qrels" / f"{split}.tsv"
    for path in (corpus, queries_path, qrels_path):
        if not path.is_file():
            raise BriefbotError(f"{base}: not a BEIR dataset ({path.name} is missing)")
    qrels: Qrels = {}
    with qrels_path.open(encoding="utf-8", newline="") as fh:
        for line_no, row in enumerate(csv.reader(fh, delimiter="\t"), start=1):
            if not row or (line_no == 1 and row[0].strip().lower() in _QREL_HEADERS):
                continue  # blank line, or the query-id/corpus-id/score header
            if len(row) != 3:
                raise BriefbotError(f"{qrels_path} line {line_no}: expected 3 tab-separated fields")
            query, doc, grade = (part.strip() for part in row)
            try:
                qrels.setdefault(query, {})[doc] = int(grade)
            except ValueError:
                raise BriefbotError(
                    f"{qrels_path} line {line_no}: score {grade!r} is not an integer"
                ) from None
    texts: dict[str, str] = {}
    with queries_path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                texts[str(item["_id"])] = str(item["text"])
            except (ValueError, KeyError, TypeError):
                raise BriefbotError(
                    f"{queries_path} line {line_no}: expected an object with _id and text"
                ) from None
    missing = [q for q in qrels if q not in texts]
    if missing:
        raise BriefbotError(f"{qrels_path}: query {missing[0]!r} is not in {queries_path.name}")
    if not qrels:
        raise BriefbotError(f"{qrels_path}: no judgements")
    return BeirSet(corpus, {q: texts[q] for q in texts if q in qrels}, qrels)


def duplicate_ids(corpus: Path) -> dict[str, list[str]]:
    """BEIR id → every id with the same text, itself first.

    briefbot stores identical text once, so a hit on one of them stands for all; the
    eval lists them together, as a document-per-id engine would (they score the same).
    """
    groups: dict[str, list[str]] = {}
    for doc in extract.iter_records(corpus.read_bytes(), ref=str(corpus)):
        if not isinstance(doc, ExtractError):
            groups.setdefault(content_hash(doc), []).append(doc.ref)
    out: dict[str, list[str]] = {}
    for ids in groups.values():
        for doc_id in ids:
            out[doc_id] = [doc_id, *(other for other in ids if other != doc_id)]
    return out


def document_ranking(answer: Answer, aliases: Mapping[str, list[str]], k: int) -> list[str]:
    """Documents in the order of their best passage, each once, identical texts together.

    A passage folded as a near-duplicate ranks its other sources right after its own.
    """
    ranking: list[str] = []
    seen: set[str] = set()
    for hit in answer.hits:
        for doc_id in (
            doc_id
            for source in (hit.source, *hit.also)
            for doc_id in aliases.get(source.ref, [source.ref])
        ):
            if doc_id not in seen:
                seen.add(doc_id)
                ranking.append(doc_id)
    return ranking[:k]


@dataclass(slots=True)
class BeirResult:
    """Metrics of one BEIR run, and what it cost."""

    dataset: str
    split: str
    k: int
    queries: int
    documents: int
    passages: int
    metrics: dict[str, float]
    ingest_seconds: float
    search_seconds: float
    failed: list[tuple[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "dataset": self.dataset,
            "split": self.split,
            "k": self.k,
            "queries": self.queries,
            "documents": self.documents,
            "passages": self.passages,
            "metrics": {name: round(value, 4) for name, value in self.metrics.items()},
            "seconds": {
                "ingest": round(self.ingest_seconds, 2),
                "search": round(self.search_seconds, 2),
            },
        }


async def ranked_documents(
    library: Library, question: str, k: int, aliases: Mapping[str, list[str]]
) -> list[str]:
    """Top-k documents for a question: asks for passages until k documents are covered."""
    depth = max(4 * k, 10)
    while True:
        answer = await library.ask(question, k=depth)
        ranking = document_ranking(answer, aliases, k)
        if len(ranking) >= k or len(answer.hits) < depth:
            return ranking
        depth *= 2


async def run_beir(
    library: Library,
    dataset: BeirSet,
    *,
    name: str,
    split: str,
    k: int = 100,
    progress: Progress | None = None,
) -> BeirResult:
    """Ingests the corpus (unchanged documents cost no writes) and scores every query.

    `progress` gets one call per query answered.
    """
    started = time.perf_counter()
    report = await library.ingest([str(dataset.corpus)])
    ingested = time.perf_counter() - started
    aliases = duplicate_ids(dataset.corpus)
    _, passages, _ = await library.counts()
    runs: dict[str, list[str]] = {}
    started = time.perf_counter()
    for query_id, question in dataset.queries.items():
        try:
            runs[query_id] = await ranked_documents(library, question, k, aliases)
        except BriefbotError:  # e.g. a question of stopwords only: no results
            runs[query_id] = []
        if progress:
            progress(1, query_id)
    searched = time.perf_counter() - started
    return BeirResult(
        dataset=name,
        split=split,
        k=k,
        queries=len(dataset.queries),
        documents=len(report.added) + len(report.unchanged),
        passages=passages,
        metrics=beir_metrics(runs, dataset.qrels),
        ingest_seconds=ingested,
        search_seconds=searched,
        failed=report.failed,
    )


# --- question / answer-terms sets ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QAItem:
    """A question and the terms a passage must hold, all of them, to answer it."""

    question: str
    answer_terms: tuple[str, ...]
    line: int


def load_qa(path: str | Path) -> list[QAItem]:
    """JSON Lines of {"q": question, "answer_terms": [...]}; other keys are kept as notes."""
    items: list[QAItem] = []
    source = Path(path)
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise BriefbotError(f"{path}: {exc.strerror or exc}") from None
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise BriefbotError(f"{path} line {line_no}: invalid JSON ({exc})") from None
        question = obj.get("q") if isinstance(obj, dict) else None
        terms = obj.get("answer_terms") if isinstance(obj, dict) else None
        if not isinstance(question, str) or not question.strip():
            raise BriefbotError(f'{path} line {line_no}: expected a "q" string')
        if (
            not isinstance(terms, list)
            or not terms
            or not all(isinstance(t, str) and t.strip() for t in terms)
        ):
            raise BriefbotError(f'{path} line {line_no}: "answer_terms" must be a list of strings')
        items.append(QAItem(question.strip(), tuple(t.strip() for t in terms), line_no))
    if not items:
        raise BriefbotError(f"{path}: no questions")
    return items


def _term_pattern(term: str) -> re.Pattern[str]:
    """A term matches as whole words, case- and accent-insensitively."""
    parts = [re.escape(part) for part in fold(term).split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(parts) + r"(?!\w)")


def answers(text: str, terms: Iterable[str]) -> bool:
    """Whether a passage holds every answer term."""
    folded = fold(text)
    return all(_term_pattern(term).search(folded) for term in terms)


@dataclass(slots=True)
class QAOutcome:
    """Where the first answering passage came for one question (None: not in the top k)."""

    item: QAItem
    rank: int | None


@dataclass(slots=True)
class QAResult:
    k: int
    outcomes: list[QAOutcome]

    @property
    def metrics(self) -> dict[str, float]:
        n = len(self.outcomes) or 1
        ranks = [o.rank for o in self.outcomes]
        return {
            "recall@1": sum(1 for r in ranks if r == 1) / n,
            "recall@5": sum(1 for r in ranks if r is not None and r <= 5) / n,
            f"mrr@{self.k}": sum(1 / r for r in ranks if r is not None) / n,
        }

    def as_json(self) -> dict[str, object]:
        return {
            "questions": len(self.outcomes),
            "k": self.k,
            "metrics": {name: round(value, 4) for name, value in self.metrics.items()},
            "results": [
                {"q": o.item.question, "answer_terms": list(o.item.answer_terms), "rank": o.rank}
                for o in self.outcomes
            ],
        }


async def run_qa(
    library: Library, items: Sequence[QAItem], *, k: int = 10, guild: str | None = None
) -> QAResult:
    """Asks every question; a hit is a passage holding all of its answer terms."""
    outcomes: list[QAOutcome] = []
    for item in items:
        answer = await library.ask(item.question, guild=guild, k=k)
        rank = next((hit.rank for hit in answer.hits if answers(hit.text, item.answer_terms)), None)
        outcomes.append(QAOutcome(item, rank))
    return QAResult(k, outcomes)
