"""Property-based tests (hypothesis, 1,000 examples each) on random and mutated input.

No exception may escape but our own typed errors; tokens survive being stored
space-joined; passages are exactly the input's words, windowed; a checked URL is one we
could connect to; feeds never crash the parser; answer embeds always fit Discord's limits.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import embeds
from bot.embeds import Limits
from index.errors import ExtractError, UnsafeURLError
from index.extract import parse_feed
from index.fetch import DEFAULT_PORTS, HOST_CHARS, check_url
from index.passages import split_passages
from index.tokenize import tokenize
from index.types import Answer, Hit, SourceInfo

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MANY = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text with what news and hostile input carry: markup, mentions, accents, RTL, emoji, NULs.
PIECES = st.sampled_from(
    [
        "Witkoff",
        "Zelenskyy's",
        "peace-plan",
        "@everyone",
        "<@123>",
        "**",
        "__",
        "`",
        "[x](http://e.example)",
        "\u200b",
        "\u202e",
        "é",
        "ß",
        "İ",
        "٣",
        "🙂",
        "\x00",
        "_",
        "'",
        "’",
        ".",
        "?",
        "\n",
        "\t",
        " ",
        "Mr.",
        "U.S.",
        "3.5",
    ]
)
TEXT = st.one_of(st.text(), st.lists(PIECES | st.text(max_size=5)).map("".join))


@MANY
@given(TEXT)
def test_tokens_survive_being_stored_space_joined(text: str) -> None:
    tokens = tokenize(text)
    assert all(isinstance(t, str) and t for t in tokens)
    assert " ".join(tokens).split() == tokens  # the passages table keeps them like this
    assert all("_" not in t for t in tokens)  # "_" is reserved for term pairs


@MANY
@given(
    st.lists(TEXT, max_size=12),
    st.integers(min_value=1, max_value=60),
    st.integers(min_value=0, max_value=150),
)
def test_passages_are_the_input_words_windowed(paragraphs: list[str], low: int, extra: int) -> None:
    passages = split_passages(paragraphs, min_words=low, max_words=low + extra)
    words = [w for p in paragraphs for w in p.split()]
    assert [w for p in passages for w in p.split()] == words
    assert all(p.strip() for p in passages)


URL_PARTS = st.tuples(
    st.sampled_from(["http://", "https://", "ftp://", "file:///", "gopher://", "", "HTTP://"]),
    st.sampled_from(
        ["example.com", "127.0.0.1", "[::1]", "0x7f000001", "user@host", "xn--bcher-kva.ch", ""]
    )
    | st.text(max_size=12),
    st.sampled_from(["", ":80", ":443", ":0", ":65536", ":8080", ":-1", ":x"]),
    st.text(max_size=10),
)


@MANY
@given(st.one_of(st.text(max_size=60), URL_PARTS.map("".join)))
def test_a_checked_url_is_one_we_could_connect_to(url: str) -> None:
    try:
        scheme, host, port = check_url(url)
    except UnsafeURLError as exc:
        assert str(exc).startswith("refused ") and "\n" not in str(exc)
        return
    assert scheme in DEFAULT_PORTS
    assert host and (set(host) <= HOST_CHARS or ":" in host)
    assert 0 < port < 65536


FEED = (FIXTURES / "rss-negotiations.xml").read_bytes()


def _mutate(data: bytes, cuts: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for position, value in cuts:
        if out:
            out[position % len(out)] = value
    return bytes(out)


@MANY
@given(
    st.one_of(
        st.binary(max_size=300),
        st.builds(
            _mutate,
            st.just(FEED),
            st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8),
        ),
        st.integers(0, len(FEED)).map(lambda n: FEED[:n]),
    )
)
def test_feeds_parse_or_fail_with_our_error(body: bytes) -> None:
    try:
        feed = parse_feed(body, url="https://news.example/feed.xml")
    except ExtractError as exc:
        assert "\n" not in str(exc)
        return
    for entry in feed.entries:
        assert entry.link.startswith(("http://", "https://"))


def _source(i: int, title: str, publisher: str) -> SourceInfo:
    return SourceInfo(
        id=f"{i:012x}",
        ref=f"https://news.example/{i}",
        title=title or None,
        url=f"https://news.example/{i}",
        publisher=publisher or None,
        published=date(2025, 12, 21),
        guild=None,
        passages=3,
        added_at=None,  # type: ignore[arg-type]
    )


@MANY
@given(
    st.text(max_size=300),
    st.lists(st.tuples(TEXT, st.text(max_size=400), st.text(max_size=80)), min_size=1, max_size=8),
    st.integers(min_value=1, max_value=10),
)
def test_answer_embeds_always_fit_discord(
    question: str, rows: list[tuple[str, str, str]], per_page: int
) -> None:
    hits = []
    for rank, (raw, title, publisher) in enumerate(rows, start=1):
        text = raw or "x"
        hits.append(
            Hit(
                rank,
                1.0 / rank,
                str(rank),
                text,
                _source(rank, title, publisher),
                best_sentence=(0, min(len(text), 40)),
                highlights=tuple((i, min(i + 3, len(text))) for i in range(0, len(text), 7)),
            )
        )
    answer = Answer(question=question, hits=tuple(hits), searched=len(hits), seconds=0.01)
    for page in range(embeds.pages(answer, per_page)):
        embed = embeds.answer_embed(answer, page, per_page)
        assert embeds.embed_length(embed) <= Limits.TOTAL
        assert len(embed.title or "") <= Limits.TITLE
        assert len(embed.description or "") <= Limits.DESCRIPTION
        assert len(embed.fields) <= Limits.FIELDS
        assert all(len(f.value or "") <= Limits.FIELD_VALUE for f in embed.fields)
        assert all(len(f.name or "") <= Limits.FIELD_NAME for f in embed.fields)
        assert len(embed.footer.text or "") <= Limits.FOOTER
        # A mention is only ever the contiguous raw text; markers splitting it make it inert.
        assert "@everyone" not in (embed.description or "").lower()
        assert "@here" not in (embed.description or "").lower()
