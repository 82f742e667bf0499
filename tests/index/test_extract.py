"""Extraction on real inputs: agency copy, saved pages, hand-made PDFs, BEIR lines, feeds."""

from __future__ import annotations

import gzip
import io
import json
import re
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from index.errors import ExtractError
from index.extract import (
    extract_bytes,
    extract_html,
    extract_pdf,
    extract_text,
    is_feed,
    iter_records,
    paragraph_key,
    parse_date,
    parse_feed,
    read_records,
    remove_recurring,
)
from index.types import Document
from tests.hostile import pdf_bytes

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
SAMPLE = ROOT / "examples" / "corpus" / "ani-2025-12-21-miami-talks.txt"
SAMPLE_TITLE = "Ukraine peace talks in Miami 'constructive', says Russian envoy Dmitriev"
AEB_PAGE = FIXTURES / "aeb-aljazeera-helicopter-crash.html.gz"
AEB_GOLD = FIXTURES / "aeb-aljazeera-helicopter-crash.gold.json"


@pytest.fixture(scope="module")
def sample() -> Document:
    return extract_bytes(SAMPLE.read_bytes(), ref=str(SAMPLE), filename=SAMPLE.name)


def make_pdf(lines: list[str], title: str | None = None) -> bytes:
    """A minimal one-page PDF showing `lines` in Helvetica, with correct xref offsets."""
    ops = ["BT /F1 12 Tf 14 TL 72 720 Td"]
    for line in lines:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(f"({escaped}) Tj T*")
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    if title:
        objects.append(b"<< /Title (%s) >>" % title.encode("latin-1"))
    return pdf_bytes(objects, info=len(objects) if title else None)


def tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


# --- agency copy --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("title", SAMPLE_TITLE),
        ("publisher", "ANI"),
        ("published", date(2025, 12, 21)),
        ("kind", "file"),
    ],
)
def test_sample_metadata(sample: Document, field: str, expected: object) -> None:
    """The agency sample yields its title, publisher (from the byline) and date."""
    assert getattr(sample, field) == expected


@pytest.mark.parametrize("unwanted", ["Disclaimer", "Open in app", "Updated:", "IST2025", "By ANI"])
def test_sample_has_no_boilerplate(sample: Document, unwanted: str) -> None:
    """Disclaimer, app prompt and byline are gone from the paragraphs."""
    assert not any(unwanted in p for p in sample.paragraphs)


def test_sample_has_no_title_repeats(sample: Document) -> None:
    """Neither the title nor `title | title` remains as a paragraph."""
    assert not any(SAMPLE_TITLE in p for p in sample.paragraphs)


def test_sample_drops_teaser_keeps_full_paragraph(sample: Document) -> None:
    """The `...` teaser is dropped; the full Florida paragraph, dateline included, comes first."""
    assert not any(p.rstrip().endswith(("...", "…")) for p in sample.paragraphs)
    first = sample.paragraphs[0]
    assert first.startswith("Florida [US], December 21 : Special envoy of the Russian President")
    assert first.endswith("will continue through Sunday (local time), TASS reported.")
    assert sum(p.startswith("Florida [US]") for p in sample.paragraphs) == 1


@pytest.mark.parametrize(
    "start",
    [
        "The meeting included Dmitriev, US President Donald Trump's special envoy",
        "Speaking on the talks, Rubio said",
        '"I do not see the Budapest Memorandum as an agreement;',
    ],
)
def test_sample_keeps_article_paragraphs(sample: Document, start: str) -> None:
    """Article paragraphs survive whole."""
    assert any(p.startswith(start) for p in sample.paragraphs)


def test_sample_ends_with_budapest_quote(sample: Document) -> None:
    """The last paragraph is the Budapest quote, not the disclaimer."""
    assert sample.paragraphs[-1].endswith("he said in his post.")
    assert len(sample.paragraphs) == 15


@pytest.mark.parametrize(
    ("byline", "publisher", "author", "published"),
    [
        ("By ANI | Updated: December 21, 2025 23:20 IST", "ANI", None, date(2025, 12, 21)),
        (
            "By Jane Doe, Reuters | Published: 21 December 2025",
            "Reuters",
            "Jane Doe",
            date(2025, 12, 21),
        ),
        ("By PTI 2025-03-04T10:00:00+05:30", "PTI", None, date(2025, 3, 4)),
        ("By AFP, Dec. 5, 2025", "AFP", None, date(2025, 12, 5)),
        ("Tue., Nov. 19, 2019 11:28 AM IST", None, None, date(2019, 11, 19)),
        ("UPDATED: Tue., Nov. 19, 2019", None, None, date(2019, 11, 19)),
        ("2019-11-19T08:57:40+01:00", None, None, date(2019, 11, 19)),
    ],
)
def test_byline_variants(byline: str, publisher: str, author: str | None, published: date) -> None:
    """Bylines and date lines give publisher, author and date and leave the text."""
    text = f"Talks resume\n\n{byline}\n\nDelegates met on Monday in Geneva for a new round."
    doc = extract_text(text, ref="t.txt")
    assert (doc.publisher, doc.author, doc.published) == (publisher, author, published)
    assert doc.paragraphs == ("Delegates met on Monday in Geneva for a new round.",)


@pytest.mark.parametrize(
    "line",
    [
        "Share this article",
        "Advertisement",
        "Sign up for our newsletter to get the morning briefing.",
        "Click here to read the full statement",
        "© 2025 Capital Wire. All rights reserved.",
        "Follow us on Twitter",
        "Read more: Earlier talks collapsed",
        "Open in app",
    ],
)
def test_boilerplate_lines_removed(line: str) -> None:
    """Share/subscribe/advertisement/copyright lines are dropped."""
    text = f"Title here\n\nThe envoys met for five hours.\n\n{line}\n\nThey will meet again."
    doc = extract_text(text, ref="t.txt")
    assert doc.paragraphs == ("The envoys met for five hours.", "They will meet again.")


@pytest.mark.parametrize(
    "paragraph",
    [
        "Shares in the pipeline operator rose 4% after the announcement.",
        "Follow-up talks are planned for January.",
        "The statement was published on Monday.",
        "By Monday, the draft was published on the ministry website.",
        "By December 21, 2025, both sides must sign.",
        "March 3, 2022: talks begin in Belarus.",
    ],
)
def test_news_lines_resembling_boilerplate_kept(paragraph: str) -> None:
    """The boilerplate patterns are conservative: ordinary news sentences stay."""
    doc = extract_text(f"Title here\n\n{paragraph}", ref="t.txt")
    assert doc.paragraphs == (paragraph,)


def test_text_without_blank_lines_uses_lines_as_paragraphs() -> None:
    """With no blank lines at all, every line is a paragraph."""
    doc = extract_text("Title\nFirst line here.\nSecond line here.", ref="t.txt")
    assert (doc.title, doc.paragraphs) == ("Title", ("First line here.", "Second line here."))


def test_text_joins_wrapped_lines_inside_blank_separated_paragraphs() -> None:
    """With blank lines, lines inside a paragraph are joined with a space."""
    doc = extract_text("Title\n\nOne long\nwrapped paragraph.\n\nAnother one.", ref="t.txt")
    assert doc.paragraphs == ("One long wrapped paragraph.", "Another one.")


def test_text_kind_is_url_when_url_given() -> None:
    """A document read from a URL says so."""
    doc = extract_text("Title\n\nBody text.", ref="r", url="https://example.org/a")
    assert (doc.kind, doc.url) == ("url", "https://example.org/a")


def test_empty_text_raises_naming_ref() -> None:
    """No text at all is an ExtractError that names the input."""
    with pytest.raises(ExtractError, match=r"empty\.txt"):
        extract_text("\n\n  \n", ref="empty.txt")


# --- Markdown -----------------------------------------------------------------------------

MARKDOWN = """# Ceasefire *talks* resume

The **delegations** met in [Doha](https://example.org/doha) on Tuesday.
They agreed on a _timeline_.

![map](https://example.org/map.png)

## Next steps

- Exchange of prisoners
- Opening of `crossings`

```
raw code line
```
"""


def test_markdown_heading_is_title() -> None:
    """A leading `# Heading` becomes the title, without markup."""
    doc = extract_bytes(MARKDOWN.encode(), ref="notes.md", filename="notes.md")
    assert doc.title == "Ceasefire talks resume"


def test_markdown_markup_is_stripped() -> None:
    """Emphasis, links, images, bullets and heading marks go; code is kept as text."""
    doc = extract_bytes(MARKDOWN.encode(), ref="notes.md", filename="notes.md")
    assert doc.paragraphs == (
        "The delegations met in Doha on Tuesday. They agreed on a timeline.",
        "Next steps",
        "Exchange of prisoners",
        "Opening of crossings",
        "raw code line",
    )


# --- HTML ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def aeb_doc() -> Document:
    gold = json.loads(AEB_GOLD.read_text(encoding="utf-8"))
    return extract_bytes(AEB_PAGE.read_bytes(), ref="aeb", url=gold["url"])


def test_saved_page_has_title_and_text(aeb_doc: Document) -> None:
    """A real gzip-saved news page gives a title and paragraphs."""
    assert aeb_doc.title == "US service members killed in Afghanistan helicopter crash"
    assert len(aeb_doc.paragraphs) >= 5
    assert aeb_doc.kind == "url"


def test_saved_page_recovers_gold_text(aeb_doc: Document) -> None:
    """Token recall against the benchmark's gold article body is above 0.8."""
    gold = Counter(tokens(json.loads(AEB_GOLD.read_text(encoding="utf-8"))["articleBody"]))
    got = Counter(tokens(aeb_doc.text))
    recall = sum((gold & got).values()) / sum(gold.values())
    assert recall > 0.8


@pytest.fixture(scope="module")
def agency_html() -> Document:
    body = (FIXTURES / "agency-article.html").read_bytes()
    return extract_bytes(body, ref="capitalwire", url="https://capitalwire.example/x?utm=1")


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("title", "Gas transit talks resume in Vienna"),
        ("publisher", "Capital Wire"),
        ("author", "Maria Keller"),
        ("published", date(2025, 11, 3)),
        ("url", "https://www.capitalwire.example/energy/gas-transit-talks-vienna-2025-11-03"),
        ("kind", "url"),
    ],
)
def test_html_metadata(agency_html: Document, field: str, expected: object) -> None:
    """og:site_name, article:published_time, author and the canonical link are used."""
    assert getattr(agency_html, field) == expected


@pytest.mark.parametrize(
    "unwanted", ["Home", "Most read", "Sign up", "All rights reserved", "Share this", "Privacy"]
)
def test_html_drops_page_furniture(agency_html: Document, unwanted: str) -> None:
    """Navigation, sidebars, footer and share prompts are not article text."""
    assert not any(unwanted in p for p in agency_html.paragraphs)


def test_html_keeps_article_paragraphs(agency_html: Document) -> None:
    """All five article paragraphs are kept, dateline first."""
    assert len(agency_html.paragraphs) == 5
    assert agency_html.paragraphs[0].startswith("Vienna, November 3 : Negotiators")


def test_html_without_text_raises() -> None:
    """A page with no article text is an ExtractError naming it."""
    with pytest.raises(ExtractError, match=r"blank\.html"):
        extract_html(b"<html><head><title>x</title></head><body></body></html>", ref="blank.html")


def test_html_over_size_cap_raises() -> None:
    """HTML over 5 MB is refused before extraction."""
    body = b"<html><body>" + b"<p>word</p>" * 500_000 + b"</body></html>"
    with pytest.raises(ExtractError, match=r"big\.html"):
        extract_html(body, ref="big.html")


def test_gzip_bomb_refused() -> None:
    """Gzip data expanding past 20 MB is refused."""
    bomb = gzip.compress(b" " * (21 * 1024 * 1024))
    with pytest.raises(ExtractError, match=r"bomb\.gz"):
        extract_bytes(bomb, ref="bomb.gz")


HTML_SNIPPET = b"<p>The envoys met for <b>five</b> hours.</p><p>They will meet again.</p>"


@pytest.mark.parametrize(
    ("body", "filename", "content_type", "expected"),
    [
        (b"<!DOCTYPE html><html><body>" + HTML_SNIPPET + b"</body></html>", "a.txt", None, "html"),
        (b"  " + HTML_SNIPPET, None, "text/plain", "html"),
        (gzip.compress(HTML_SNIPPET), "page.html.gz", None, "html"),
        (b"Title\n\nSome *text*.", "a.md", None, "markdown"),
        (b"Title\n\nSome *text*.", None, "text/markdown; charset=utf-8", "markdown"),
        (gzip.compress(b"Title\n\nSome *text*."), "a.md.gz", None, "markdown"),
        (b"Title\n\nSome *text*.", "a.txt", None, "text"),
    ],
)
def test_sniffing_content_first_then_name(
    body: bytes, filename: str | None, content_type: str | None, expected: str
) -> None:
    """Markup is HTML whatever the name says; otherwise .md/text/markdown means Markdown."""
    doc = extract_bytes(body, ref="r", filename=filename, content_type=content_type)
    paragraphs = {
        "html": ("The envoys met for five hours.", "They will meet again."),
        "markdown": ("Some text.",),
        "text": ("Some *text*.",),
    }
    assert doc.paragraphs == paragraphs[expected]


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        ("Caf\u00e9 talks\n\nThe caf\u00e9 hosted them.".encode("cp1252"), None, "caf\u00e9"),
        ("\ufeffCaf\u00e9 talks\n\nThe caf\u00e9 hosted them.".encode(), None, "caf\u00e9"),
        ("Caf\u00e9 talks\n\nThe caf\u00e9 hosted them.".encode("utf-16"), None, "caf\u00e9"),
        (
            "Caf\u00e9 talks\n\nThe caf\u00e9 hosted them.".encode("latin-1"),
            "text/plain; charset=latin-1",
            "caf\u00e9",
        ),
        (
            "Talks\n\nThe caf\u00e9 \u201chosted\u201d them.".encode("cp1252"),
            None,
            "\u201chosted\u201d",
        ),
    ],
)
def test_text_decoding(body: bytes, content_type: str | None, expected: str) -> None:
    """BOMs, declared charsets, UTF-8 and cp1252 all decode to the right characters."""
    doc = extract_bytes(body, ref="r", filename="a.txt", content_type=content_type)
    assert expected in doc.text


def test_binary_body_raises() -> None:
    """Binary data that is no known format is refused."""
    with pytest.raises(ExtractError, match="blob"):
        extract_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200), ref="blob")


# --- PDF ----------------------------------------------------------------------------------

PDF_LINES = [
    "Talks resume in Geneva",
    "Negotiators from both sides met on Monday to discuss the nego-",
    "tiation framework and agreed that the talks would continue",
    "next week in the Swiss city.",
    "A second round is planned.",
]


def test_pdf_title_from_metadata() -> None:
    """The /Title of the document information is the title."""
    doc = extract_bytes(make_pdf(PDF_LINES, title="Geneva talks"), ref="g.pdf")
    assert doc.title == "Geneva talks"


def test_pdf_title_from_first_line() -> None:
    """Without /Title, the first line is the title and leaves the text."""
    doc = extract_pdf(make_pdf(PDF_LINES), ref="g.pdf")
    assert doc.title == "Talks resume in Geneva"
    assert not any(p == "Talks resume in Geneva" for p in doc.paragraphs)


def test_pdf_rejoins_wrapped_and_hyphenated_lines() -> None:
    """Hard-wrapped lines are joined and `nego-/tiation` de-hyphenated."""
    doc = extract_pdf(make_pdf(PDF_LINES), ref="g.pdf")
    assert doc.paragraphs == (
        "Negotiators from both sides met on Monday to discuss the negotiation framework "
        "and agreed that the talks would continue next week in the Swiss city.",
        "A second round is planned.",
    )


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.4\nthis is not really a pdf\n%%EOF",
        make_pdf(PDF_LINES)[:300],
        b"%PDF-",
    ],
)
def test_broken_pdf_raises_naming_ref(data: bytes) -> None:
    """A broken PDF is an ExtractError naming the input."""
    with pytest.raises(ExtractError, match=r"broken\.pdf"):
        extract_bytes(data, ref="broken.pdf")


def encrypted(data: bytes, user_password: str) -> bytes:
    """`data` re-saved with RC4 encryption (pure Python in pypdf)."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_encrypted_pdf_raises() -> None:
    """A PDF that needs a password is an ExtractError naming the input."""
    with pytest.raises(ExtractError, match=r"locked\.pdf: PDF is encrypted"):
        extract_pdf(encrypted(make_pdf(PDF_LINES), "secret"), ref="locked.pdf")


def test_pdf_with_empty_user_password_is_read() -> None:
    """Encryption with an empty user password (common) does not stop extraction."""
    doc = extract_pdf(encrypted(make_pdf(PDF_LINES), ""), ref="open.pdf")
    assert doc.paragraphs[-1] == "A second round is planned."


# --- JSON / JSONL -------------------------------------------------------------------------

BEIR_HEAD = FIXTURES / "scifact-corpus-head.jsonl"


def test_beir_lines_become_documents() -> None:
    """BEIR corpus lines give documents with the line's _id, title and text."""
    lines = BEIR_HEAD.read_text(encoding="utf-8").splitlines()
    docs = read_records(BEIR_HEAD.read_bytes(), ref="corpus.jsonl")
    assert [d.ref for d in docs] == [json.loads(line)["_id"] for line in lines]
    first = json.loads(lines[0])
    assert docs[0].title == first["title"]
    assert docs[0].text == first["text"]
    assert {d.kind for d in docs} == {"beir"}


def test_bad_line_fails_alone() -> None:
    """A bad JSONL line is yielded as one ExtractError among the good documents."""
    data = BEIR_HEAD.read_bytes() + b'{"_id": "x", "text": \n'
    items = list(iter_records(data, ref="corpus.jsonl"))
    errors = [i for i in items if isinstance(i, ExtractError)]
    assert len(items) == 4
    assert len(errors) == 1
    assert "corpus.jsonl" in str(errors[0]) and "line 4" in str(errors[0])


def test_read_records_raises_first_error() -> None:
    """read_records raises the first bad record's error."""
    with pytest.raises(ExtractError, match=r"c.jsonl: line 2"):
        read_records(b'{"text": "fine"}\n{"text": ""}\n', ref="c.jsonl")


@pytest.mark.parametrize(
    ("record", "field", "expected"),
    [
        ({"content": "Body."}, "ref", "in.json#1"),
        ({"body": "Body.", "id": 7}, "ref", "7"),
        ({"text": "Body.", "link": "https://a.example/x"}, "ref", "https://a.example/x"),
        ({"text": "Body.", "link": "https://a.example/x"}, "url", "https://a.example/x"),
        ({"text": "Body.", "source": "Reuters"}, "publisher", "Reuters"),
        ({"text": "Body.", "site_name": "AP"}, "publisher", "AP"),
        ({"text": "Body.", "date": "2025-12-21T10:00:00Z"}, "published", date(2025, 12, 21)),
        (
            {"text": "Body.", "published": "Sun, 21 Dec 2025 10:00:00 GMT"},
            "published",
            date(2025, 12, 21),
        ),
        ({"text": "One.\n\nTwo.", "title": "T"}, "paragraphs", ("One.", "Two.")),
    ],
)
def test_json_record_fields(record: dict[str, object], field: str, expected: object) -> None:
    """Common article keys map onto Document fields."""
    (doc,) = read_records(json.dumps(record).encode(), ref="in.json")
    assert getattr(doc, field) == expected


def test_json_list_of_records() -> None:
    """A .json file may hold a list of records."""
    data = json.dumps([{"text": "A."}, {"text": "B."}]).encode()
    assert [d.text for d in read_records(data, ref="l.json")] == ["A.", "B."]


# --- feeds --------------------------------------------------------------------------------

RSS = FIXTURES / "rss-negotiations.xml"
ATOM = FIXTURES / "atom-negotiations.xml"


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (RSS.read_bytes(), None, True),
        (ATOM.read_bytes(), None, True),
        (b'\xef\xbb\xbf<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="x"></rdf:RDF>', None, True),
        (b"<feed><entry/></feed>", "application/atom+xml", True),
        (b"<feed><entry/></feed>", None, False),
        ((FIXTURES / "agency-article.html").read_bytes(), None, False),
        (b"<!doctype html><html><body>x</body></html>", "application/rss+xml", False),
        (b"Just text about <rss> feeds.", "application/rss+xml", False),
    ],
)
def test_is_feed(body: bytes, content_type: str | None, expected: bool) -> None:
    """Feeds are known by their root element; a feed MIME type counts only for XML bodies."""
    assert is_feed(body, content_type) is expected


def test_rss_entries_resolved_and_dated() -> None:
    """RSS items get absolute links, dates and plain-text summaries; linkless items are skipped."""
    feed = parse_feed(RSS.read_bytes(), url="https://news.example.org/feeds/world.xml")
    assert feed.title == "Negotiations Wire"
    assert [e.link for e in feed.entries] == [
        "https://news.example.org/world/miami-talks.html",
        "https://news.example.org/world/geneva-round.html",
    ]
    assert [e.published for e in feed.entries] == [date(2025, 12, 21), date(2025, 12, 19)]
    assert feed.entries[0].title == "Miami talks & the 20-point plan"
    assert feed.entries[0].summary == "Envoys met in Miami for a second day."


def test_atom_entries_resolved_and_dated() -> None:
    """Atom entries resolve relative links and prefer published over updated."""
    feed = parse_feed(ATOM.read_bytes(), url="https://desk.example.com/feeds/atom.xml")
    assert feed.title == "Treaty Desk"
    assert [e.link for e in feed.entries] == [
        "https://desk.example.com/feeds/articles/ceasefire-monitors",
        "https://desk.example.com/articles/trade-pact",
    ]
    assert [e.published for e in feed.entries] == [date(2025, 12, 20), date(2025, 12, 18)]
    assert feed.entries[0].summary == "Both sides accepted a list of neutral monitors."


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Broken</title><item><ti',
        b"<html><body><p>Not a feed</p></body></html>",
        b"",
    ],
)
def test_malformed_feed_raises(body: bytes) -> None:
    """A broken feed with no entries is an ExtractError naming the URL."""
    with pytest.raises(ExtractError, match=r"https://x\.example/feed: not a valid RSS/Atom feed"):
        parse_feed(body, url="https://x.example/feed")


def test_feed_body_is_not_an_article() -> None:
    """extract_bytes refuses a feed instead of indexing its XML."""
    with pytest.raises(ExtractError, match="feed"):
        extract_bytes(RSS.read_bytes(), ref="rss")


# --- dates --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-12-21", date(2025, 12, 21)),
        ("2025-12-21T23:15:16+5:30", date(2025, 12, 21)),
        ("Sun, 21 Dec 2025 23:15:16 +0530", date(2025, 12, 21)),
        ("December 21, 2025", date(2025, 12, 21)),
        ("21 December 2025", date(2025, 12, 21)),
        ("Dec. 21, 2025", date(2025, 12, 21)),
        ("Sept. 3, 2024", date(2024, 9, 3)),
        ("", None),
        ("yesterday", None),
        ("2025-13-45", None),
    ],
)
def test_parse_date(text: str, expected: date | None) -> None:
    """Common news date formats parse; nonsense gives None."""
    assert parse_date(text) == expected


# --- recurring boilerplate ----------------------------------------------------------------

PITCH = "Get the morning briefing in your inbox every day."


def article(ref: str, publisher: str | None, *extra: str) -> Document:
    return Document(
        ref=ref, title=ref, paragraphs=(f"Unique report {ref}.", *extra), publisher=publisher
    )


def test_recurring_paragraph_dropped_from_all() -> None:
    """A short paragraph in 3 articles of one publisher is dropped from each."""
    docs = [article(r, "Wire", PITCH) for r in "abc"]
    cleaned = remove_recurring(docs)
    assert [d.paragraphs for d in cleaned] == [(f"Unique report {r}.",) for r in "abc"]


@pytest.mark.parametrize(
    ("docs", "seen", "kept"),
    [
        ([article(r, "Wire", PITCH) for r in "ab"], None, True),
        (
            [article("a", "Wire", PITCH), article("b", "Post", PITCH), article("c", "Wire", PITCH)],
            None,
            True,
        ),
        ([article(r, None, PITCH) for r in "abc"], None, True),
        (
            [article("a", "Wire", PITCH), article("a", "Wire", PITCH), article("b", "Wire", PITCH)],
            None,
            True,
        ),
        ([article(r, "Wire", PITCH) for r in "ab"], {("Wire", paragraph_key(PITCH)): 1}, False),
        ([article(r, "Wire", PITCH.upper() + "  ") for r in "abc"], None, False),
    ],
)
def test_recurring_counting(
    docs: list[Document], seen: dict[tuple[str, str], int] | None, kept: bool
) -> None:
    """Counts are per publisher and per distinct document, plus stored counts; case is ignored."""
    cleaned = remove_recurring(docs, seen)
    assert all((len(d.paragraphs) == 2) is kept for d in cleaned)


def test_recurring_never_empties_a_document() -> None:
    """A document made only of recurring paragraphs is left unchanged."""
    docs = [Document(ref=r, title=None, paragraphs=(PITCH,), publisher="Wire") for r in "abc"]
    assert remove_recurring(docs) == docs


def test_long_paragraphs_are_not_boilerplate() -> None:
    """Paragraphs of 40 words or more are never treated as recurring boilerplate."""
    long_par = " ".join(["word"] * 40)
    docs = [article(r, "Wire", long_par) for r in "abc"]
    assert remove_recurring(docs) == docs
