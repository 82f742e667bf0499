"""The `briefbot` CLI end to end, as a subprocess, on real files, SQLite and loopback HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = "examples/corpus"
SAMPLE = "examples/corpus/ani-2025-12-21-miami-talks.txt"
FIXTURES = ROOT / "tests" / "fixtures"
MIAMI = "who attended the Miami talks?"
TITLE = "Ukraine peace talks in Miami 'constructive', says Russian envoy Dmitriev"


class Briefbot:
    """Runs `python -m bot.cli` from the repository root with its own database."""

    def __init__(self, db: str) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BRIEFBOT_")}
        self.env["BRIEFBOT_DATABASE_URL"] = db

    def __call__(self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None):
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", *args],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture
def cli(sqlite_url: str) -> Briefbot:
    return Briefbot(sqlite_url)


def assert_one_error_line(result, *needles: str) -> None:
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert errors and all(line.startswith("error: ") for line in errors), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr


def test_ingest_then_ask_json_answers_miami(cli: Briefbot):
    """The sample corpus answers "who attended the Miami talks?" with the right citation."""
    ingest = cli("ingest", CORPUS)
    assert ingest.returncode == 0, ingest.stderr
    assert ingest.stdout.startswith("1 added, 0 unchanged, 0 failed; ")
    result = cli("ask", MIAMI, "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert set(answer) == {"question", "results"} and answer["question"] == MIAMI
    top = answer["results"][0]
    assert set(top) == {"rank", "score", "passage_id", "text", "source"}
    assert top["rank"] == 1 and isinstance(top["score"], float)
    assert isinstance(top["passage_id"], str)
    assert all(name in top["text"] for name in ("Dmitriev", "Witkoff", "Kushner"))
    assert top["source"] == {
        "id": top["source"]["id"],
        "ref": SAMPLE,
        "title": TITLE,
        "url": None,
        "publisher": "ANI",
        "published": "2025-12-21",
    }
    assert len(answer["results"]) == 5


def test_human_answer_marks_sentence_and_cites(cli: Briefbot):
    """Human output: rank and score, best sentence marked, `[n] Publisher — Title (date) path`."""
    cli("ingest", CORPUS)
    result = cli("ask", MIAMI, "-k", "2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("1. score ")
    assert "**The meeting included Dmitriev" in result.stdout
    assert f"   [1] ANI — {TITLE} (2025-12-21) {SAMPLE}" in lines
    assert any(line.startswith("2. score ") for line in lines)


def test_batch_answers_every_question(cli: Briefbot, tmp_path: Path):
    """`ask --batch` writes one JSON object per question, carrying its id."""
    cli("ingest", CORPUS)
    batch = tmp_path / "q.jsonl"
    questions = [
        {"id": "a", "question": MIAMI},
        {"id": 7, "question": "Budapest Memorandum"},
        {"id": "c", "question": "zzzz qqqq"},
    ]
    batch.write_text("\n".join(json.dumps(q) for q in questions) + "\n")
    result = cli("ask", "--batch", str(batch), "-k", "3")
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == ["a", 7, "c"]
    assert "Witkoff" in out[0]["results"][0]["text"]
    assert "Budapest" in out[1]["results"][0]["text"]
    assert out[2]["results"] == []
    assert all(len(o["results"]) <= 3 for o in out)


def test_one_bad_source_fails_alone(cli: Briefbot, tmp_path: Path):
    """A missing path fails with one error line naming it; the others are ingested; exit 1."""
    missing = str(tmp_path / "nope.txt")
    result = cli("ingest", missing, CORPUS)
    assert_one_error_line(result, missing, "no such file")
    assert result.stdout.startswith("1 added, 0 unchanged, 1 failed;")
    listed = json.loads(cli("sources", "list", "--json").stdout)
    assert [s["ref"] for s in listed["sources"]] == [SAMPLE]


@pytest.mark.parametrize(
    "args",
    [
        ("ask",),
        ("ask", "x", "-k", "0"),
        ("ingest",),
        ("frobnicate",),
        ("ask", "x", "--batch", "/nonexistent"),
    ],
)
def test_usage_errors_exit_2(cli: Briefbot, args: tuple[str, ...]):
    """Wrong usage exits 2 with click's usage message."""
    result = cli(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr


def test_sources_list_remove(cli: Briefbot):
    """`sources list --json` has the documented shape; `sources remove` deletes."""
    cli("ingest", CORPUS)
    listed = json.loads(cli("sources", "list", "--json").stdout)
    (source,) = listed["sources"]
    assert set(source) >= {
        "id",
        "ref",
        "title",
        "url",
        "publisher",
        "published",
        "passages",
        "guild",
        "added_at",
    }
    assert source["passages"] > 3 and source["guild"] is None and source["publisher"] == "ANI"
    removed = cli("sources", "remove", source["id"])
    assert removed.returncode == 0 and source["id"] in removed.stdout
    assert json.loads(cli("sources", "list", "--json").stdout)["sources"] == []
    assert json.loads(cli("ask", MIAMI, "--json").stdout)["results"] == []
    assert_one_error_line(cli("sources", "remove", source["id"]), source["id"])


def test_guild_sources_are_listed_per_guild(cli: Briefbot, tmp_path: Path):
    """`--guild` ingests for one guild; listings and answers of other guilds leave it out."""
    (tmp_path / "g.txt").write_text(
        "Guild-only memo\n\nThe envoys met in Abu Dhabi to discuss a prisoner exchange and the "
        "schedule of the next round, officials said after the meeting ended late on Tuesday.\n"
    )
    assert cli("ingest", str(tmp_path / "g.txt"), "--guild", "42").returncode == 0
    cli("ingest", CORPUS)
    mine = json.loads(cli("sources", "list", "--guild", "42", "--json").stdout)["sources"]
    other = json.loads(cli("sources", "list", "--guild", "43", "--json").stdout)["sources"]
    assert {s["guild"] for s in mine} == {None, "42"}
    assert {s["guild"] for s in other} == {None}
    assert (
        json.loads(cli("ask", "Abu Dhabi prisoner", "--guild", "43", "--json").stdout)["results"]
        == []
    )
    hits = json.loads(cli("ask", "Abu Dhabi prisoner", "--guild", "42", "--json").stdout)["results"]
    assert hits and hits[0]["source"]["title"] == "Guild-only memo"


def test_beir_corpus_lines_are_sources(cli: Briefbot):
    """Each line of a BEIR corpus.jsonl is a source whose ref is its _id."""
    result = cli("ingest", str(FIXTURES / "scifact-corpus-head.jsonl"))
    assert result.returncode == 0, result.stderr
    refs = [s["ref"] for s in json.loads(cli("sources", "list", "--json").stdout)["sources"]]
    ids = [
        json.loads(line)["_id"]
        for line in (FIXTURES / "scifact-corpus-head.jsonl").read_text().splitlines()
    ]
    assert sorted(refs) == sorted(ids)


def test_config_file_errors_name_the_setting(cli: Briefbot, tmp_path: Path):
    """An unknown setting in the config file is an error naming it."""
    config = tmp_path / "briefbot.toml"
    config.write_text("[search]\ndefault_kk = 3\n")
    assert_one_error_line(cli("--config", str(config), "ask", MIAMI), "default_kk")


def test_db_option_beats_environment(cli: Briefbot, tmp_path: Path):
    """--db wins over BRIEFBOT_DATABASE_URL."""
    other = f"sqlite+aiosqlite:///{tmp_path / 'other.db'}"
    cli("--db", other, "ingest", CORPUS)
    assert json.loads(cli("ask", MIAMI, "--json").stdout)["results"] == []
    assert json.loads(cli("--db", other, "ask", MIAMI, "--json").stdout)["results"]


def test_config_file_sets_database(cli: Briefbot, tmp_path: Path):
    """[database] url in the config file is used when neither --db nor the env var is set."""
    config = tmp_path / "c.toml"
    config.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "cfg.db"}"\n')
    env_less = Briefbot("unused")
    del env_less.env["BRIEFBOT_DATABASE_URL"]
    assert env_less("--config", str(config), "ingest", CORPUS).returncode == 0
    assert (tmp_path / "cfg.db").exists()


# --- URLs and feeds on a loopback server -----------------------------------------------

ALLOW = {"BRIEFBOT_ALLOW_PRIVATE_NETWORKS": "1"}


def article_page(title: str, body: str) -> str:
    paragraphs = "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
    return (
        f"<html><head><title>{title}</title><meta property='og:site_name' content='Loop News'>"
        f"<meta property='article:published_time' content='2026-01-05T10:00:00Z'></head>"
        f"<body><nav><a href='/'>Home</a></nav><article><h1>{title}</h1>{paragraphs}</article>"
        f"<footer>© Loop News</footer></body></html>"
    )


STORY = (
    "Negotiators from both delegations met in Geneva on Monday to discuss a framework for a "
    "ceasefire along the eastern front, officials said after the session ended.\n\n"
    "The talks included envoys from the United States and Turkey, who proposed a monitoring "
    "mission and a timetable for prisoner exchanges over the coming weeks."
)


def test_url_refused_unless_private_networks_allowed(cli: Briefbot, http_server):
    """A loopback URL is refused before connecting unless the setting allows it."""
    http_server.route("/story", article_page("Geneva round", STORY), headers={"ETag": '"v1"'})
    url = http_server.url("/story")
    assert_one_error_line(cli("ingest", url), url, "refused")
    assert http_server.hits() == 0
    ok = cli("ingest", url, env=ALLOW)
    assert ok.returncode == 0, ok.stderr
    (source,) = json.loads(cli("sources", "list", "--json").stdout)["sources"]
    assert source["ref"] == url and source["title"] == "Geneva round"
    assert source["publisher"] == "Loop News" and source["published"] == "2026-01-05"


def test_refresh_unchanged_url_is_a_no_op(cli: Briefbot, http_server):
    """Refreshing an unchanged page sends a conditional GET and changes nothing."""
    http_server.handle(
        "/story",
        lambda req: (
            http_server.Reply(304)
            if req.headers.get("if-none-match") == '"v1"'
            else http_server.Reply(
                200, article_page("Geneva round", STORY), headers={"ETag": '"v1"'}
            )
        ),
    )
    cli("ingest", http_server.url("/story"), env=ALLOW)
    result = cli("sources", "refresh", env=ALLOW)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("0 added, 1 unchanged, 0 failed")
    assert http_server.requests[-1].headers.get("if-none-match") == '"v1"'


def rss(server, links: list[str]) -> str:
    items = "".join(
        f"<item><title>Story {i}</title><link>{server.url(link)}</link>"
        f"<pubDate>Mon, 0{i + 1} Jun 2026 10:00:00 GMT</pubDate></item>"
        for i, link in enumerate(links)
    )
    return (
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>Loop feed</title>"
        f"<link>{server.url('/')}</link>{items}</channel></rss>"
    )


def test_feed_entries_are_ingested_and_refreshed(cli: Briefbot, http_server):
    """A feed URL ingests each entry's article; refresh fetches only new entries."""
    cities = ["Geneva", "Istanbul", "Doha"]
    for city in cities:
        http_server.route(
            f"/{city}", article_page(f"Talks in {city}", STORY.replace("Geneva", city))
        )
    http_server.route(
        "/feed", rss(http_server, ["/Geneva", "/Istanbul"]), content_type="application/rss+xml"
    )
    first = cli("ingest", http_server.url("/feed"), env=ALLOW)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("2 added, 0 unchanged, 0 failed")
    listed = json.loads(cli("sources", "list", "--json").stdout)
    assert sorted(s["title"] for s in listed["sources"]) == ["Talks in Geneva", "Talks in Istanbul"]
    assert [f["url"] for f in listed["feeds"]] == [http_server.url("/feed")]
    http_server.route(
        "/feed",
        rss(http_server, ["/Geneva", "/Istanbul", "/Doha"]),
        content_type="application/rss+xml",
    )
    again = cli("sources", "refresh", listed["feeds"][0]["id"], env=ALLOW)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("1 added, 2 unchanged, 0 failed")
    assert http_server.hits("/Geneva") == 1 and http_server.hits("/Doha") == 1
    hits = json.loads(cli("ask", "Doha ceasefire", "--json").stdout)["results"]
    assert hits[0]["source"]["title"] == "Talks in Doha"


def test_unreachable_url_fails_with_one_line(cli: Briefbot, http_server):
    """A 404 page fails alone with an error naming the URL."""
    url = http_server.url("/missing")
    assert_one_error_line(cli("ingest", url, CORPUS, env=ALLOW), url, "404")


def test_ask_filters_by_date_and_publisher(cli: Briefbot):
    """--since/--until/--source narrow the answer; a range with nothing says so."""
    cli("ingest", CORPUS)
    for args in (
        ("--since", "2025-12-21"),
        ("--until", "2025-12-21"),
        ("--source", "ani"),
        ("--since", "2025-12-01", "--until", "2025-12-31", "--source", "ANI"),
    ):
        result = cli("ask", MIAMI, "--json", *args)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["results"], args
    none = cli("ask", MIAMI, "--since", "2026-01-01")
    assert none.returncode == 0, none.stderr
    assert "within the filters" in none.stdout
    assert json.loads(cli("ask", MIAMI, "--json", "--until", "2025-12-20").stdout)["results"] == []


@pytest.mark.parametrize("option", ["--since", "--until"])
def test_ask_bad_date_is_a_usage_error(cli: Briefbot, option: str):
    """A date that is not a date exits 2 naming the option and the accepted forms."""
    result = cli("ask", MIAMI, option, "7x")
    assert result.returncode == 2, result.stderr
    assert option in result.stderr and "YYYY-MM-DD" in result.stderr and "7d" in result.stderr


def test_ask_unknown_source_is_one_error_line(cli: Briefbot):
    cli("ingest", CORPUS)
    assert_one_error_line(cli("ask", MIAMI, "--source", "Reuters"), "'Reuters'")


def test_ask_corrects_a_misspelt_name(cli: Briefbot):
    """A misspelt name is searched as the index spells it, and the answer says so."""
    cli("ingest", CORPUS)
    result = cli("ask", "who met Witkof", "-k", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Searched for Witkoff (for Witkof)")
    assert "Witkoff" in result.stdout.split("1. score", 1)[1]


def test_ask_quoted_phrase_is_required(cli: Briefbot):
    """Every passage of a quoted-phrase answer holds the phrase."""
    cli("ingest", CORPUS)
    result = cli("ask", '"security guarantees"', "--json", "-k", "10")
    results = json.loads(result.stdout)["results"]
    assert results and all("security guarantees" in r["text"] for r in results)


def test_ask_did_you_mean(cli: Briefbot):
    """Nothing matches: the reply offers the question in the index's words."""
    cli("ingest", CORPUS)
    result = cli("ask", "the plain")  # an English word: offered, not searched unasked
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("No passage matches 'the plain'")
    assert "Did you mean 'the plan'?" in result.stdout


def test_ingest_with_workers_stores_what_one_process_stores(tmp_path: Path):
    """--workers 2 extracts in worker processes: same sources, passages and failures."""
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "agency.html").write_bytes((FIXTURES / "agency-article.html").read_bytes())
    (pages / "sample.txt").write_bytes((ROOT / SAMPLE).read_bytes())
    (pages / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    for n in range(5):
        (pages / f"note{n}.md").write_text(
            f"# Note {n}\n\nDelegation {n} met in Geneva to discuss prisoner exchange number {n} "
            "and the energy infrastructure timetable with mediators from both sides.\n"
        )
    outputs = []
    for workers in ("1", "2"):
        run = Briefbot(f"sqlite+aiosqlite:///{tmp_path / f'w{workers}.db'}")
        result = run("ingest", str(pages), "--workers", workers)
        assert result.returncode == 1, result.stderr  # the broken PDF
        listed = run("sources", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        listing = json.loads(listed.stdout)["sources"]
        sources = sorted((Path(s["ref"]).name, s["passages"]) for s in listing)
        outputs.append((result.stdout.split(";")[0], result.stderr, sources))
    assert outputs[0] == outputs[1]
    assert outputs[0][0] == "7 added, 0 unchanged, 1 failed"
    assert "broken.pdf" in outputs[0][1]


def test_backup_copies_a_live_database_consistently(cli: Briefbot, tmp_path: Path):
    """A backup taken while another connection holds an uncommitted write holds what had
    committed, passes integrity_check and answers like the original."""
    import sqlite3

    assert cli("ingest", CORPUS).returncode == 0
    db_file = Path(cli.env["BRIEFBOT_DATABASE_URL"].split("///", 1)[1])
    writer = sqlite3.connect(db_file, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a writer mid-transaction
    writer.execute("UPDATE sources SET title = 'uncommitted title'")
    try:
        target = tmp_path / "copy.db"
        result = cli("backup", str(target))
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("backed up 1 sources, 9 passages to ")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    copy = sqlite3.connect(target)
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert copy.execute("SELECT title FROM sources").fetchone() == (TITLE,)
    copy.close()
    answer = Briefbot(f"sqlite+aiosqlite:///{target}")("ask", MIAMI, "--json")
    assert "Witkoff" in json.loads(answer.stdout)["results"][0]["text"]
    again = cli("backup", str(target))
    assert_one_error_line(again, "already exists")


def test_backup_of_postgres_points_to_pg_dump(tmp_path: Path):
    url = os.environ.get("BRIEFBOT_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("BRIEFBOT_TEST_POSTGRES_URL is not set")
    result = Briefbot(url)("backup", str(tmp_path / "x.db"))
    assert_one_error_line(result, "pg_dump")


# --- extract -------------------------------------------------------------------------

AEB_PAGE = "aeb-aljazeera-helicopter-crash.html.gz"
AEB_GOLD = "aeb-aljazeera-helicopter-crash.gold.json"
EXTRACT_KEYS = ["ref", "title", "publisher", "published", "url", "text", "passages"]


def test_extract_prints_one_json_line_per_document_and_stores_nothing(
    cli: Briefbot, tmp_path: Path, sqlite_url: str
):
    """Sample .txt and an AEB .html.gz page in a folder: one line each, exact keys, no db."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "miami.txt").write_bytes((ROOT / SAMPLE).read_bytes())
    (folder / "crash.html.gz").write_bytes((FIXTURES / AEB_PAGE).read_bytes())
    result = cli("extract", str(folder), "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [list(line) for line in lines] == [EXTRACT_KEYS, EXTRACT_KEYS]
    crash, miami = lines  # sorted paths: crash.html.gz first
    assert miami["title"] == TITLE and miami["publisher"] == "ANI"
    assert miami["published"] == "2025-12-21"
    assert any("Kushner" in p for p in miami["passages"])
    assert " ".join(miami["passages"]).split() == miami["text"].split()  # nothing else
    gold = json.loads((FIXTURES / AEB_GOLD).read_text())
    assert crash["publisher"] == "Al Jazeera" and crash["url"] == gold["url"]
    assert gold["articleBody"].split()[:8] == crash["text"].split()[:8]
    assert not Path(sqlite_url.removeprefix("sqlite+aiosqlite:///")).exists()


def test_extract_follows_a_feed_and_names_what_failed(cli: Briefbot, http_server):
    """A feed URL prints each entry's article; a missing entry is one error line, exit 1."""
    http_server.route("/Geneva", article_page("Talks in Geneva", STORY))
    http_server.route("/gone", b"no", status=404)
    http_server.route(
        "/feed", rss(http_server, ["/Geneva", "/gone"]), content_type="application/rss+xml"
    )
    result = cli("extract", http_server.url("/feed"), "--json", env=ALLOW)
    assert result.returncode == 1
    (line,) = [json.loads(x) for x in result.stdout.splitlines()]
    assert line["title"] == "Talks in Geneva" and line["url"] == http_server.url("/Geneva")
    assert_one_error_line(result, http_server.url("/gone"), "HTTP 404")


def test_extract_refuses_a_private_address_by_default(cli: Briefbot, http_server):
    http_server.route("/Geneva", article_page("Talks in Geneva", STORY))
    result = cli("extract", http_server.url("/Geneva"))
    assert_one_error_line(result, "refused", "is not allowed")
    assert http_server.hits("/Geneva") == 0


def test_hide_unhide_and_stats_for_one_guild(cli: Briefbot):
    """`briefbot hide source:ID --guild G` takes the article out of G's answers only;
    `stats` lists it; `unhide` brings it back and a second `unhide` is one error line."""
    assert cli("ingest", CORPUS).returncode == 0
    source_id = json.loads(cli("sources", "list", "--json").stdout)["sources"][0]["id"]
    guild, other = "1300000000000000001", "1300000000000000002"
    hide = cli("hide", f"source:{source_id}", "--guild", guild)
    assert hide.returncode == 0, hide.stderr
    assert hide.stdout.startswith(f"hidden from guild {guild}: source {source_id} of ")
    assert json.loads(cli("ask", MIAMI, "--guild", guild, "--json").stdout)["results"] == []
    assert json.loads(cli("ask", MIAMI, "--guild", other, "--json").stdout)["results"]
    stats = json.loads(cli("stats", "--guild", guild, "--json").stdout)
    assert [(h["kind"], h["target"], h["by"]) for h in stats["hidden"]] == [
        ("source", source_id, "cli")
    ]
    assert stats["questions"] == 0  # the CLI's questions are not the server's
    assert "hidden: 1" in cli("stats", "--guild", guild).stdout
    unhide = cli("unhide", f"source:{source_id}", "--guild", guild)
    assert unhide.returncode == 0, unhide.stderr
    assert json.loads(cli("ask", MIAMI, "--guild", guild, "--json").stdout)["results"]
    assert_one_error_line(cli("unhide", f"source:{source_id}", "--guild", guild), "not hidden")
    assert cli("hide", "article:1", "--guild", guild).returncode == 2  # usage: passage:/source:
    assert_one_error_line(cli("hide", "source:nope", "--guild", guild), "no source")
    assert_one_error_line(cli("hide", f"source:{source_id}", "--guild", "abc"), "guild")
