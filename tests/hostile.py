"""A corpus of hostile files, generated: every one is built here from a few lines, so the
repository holds no bombs and each trap says what it is.

`python -m tests.hostile DIR` writes them out for a look with other tools.

Each `Hostile` names what must happen: "text" (extracted, and `holds` is in it), "refused"
(our typed error, `says` in its message) or "either" (text or typed error, never a crash
or a hang). Feeds are fed to the feed parser, everything else is uploaded as a file. Feed
entries link to 127.0.0.1:9 (discard: nothing listens), so ingesting one stays on loopback.
"""

from __future__ import annotations

import random
import signal
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from index import extract, worker
from index.errors import BriefbotError
from index.settings import ExtractSettings

LIMITS = ExtractSettings()

ARTICLE = (
    "Negotiators from both delegations met in Miami on Saturday for a third round of talks. "
    "The meeting included Dmitriev, special envoy Witkoff and adviser Kushner, officials said. "
    "They discussed a framework for a ceasefire and the exchange of prisoners of war. "
)


@dataclass(frozen=True)
class Hostile:
    name: str
    build: Callable[[], bytes]
    expect: str  # "text" | "refused" | "either"
    says: str = ""  # in the error message, when refused
    holds: str = ""  # in the extracted text, when text
    feed: bool = False  # parsed as a feed (fetched), not uploaded
    never: str = "root:"  # never in the text: /etc/passwd through an external entity


def _page(body: str, head: str = "", declared: str | None = None) -> str:
    meta = f'<meta charset="{declared}">' if declared else ""
    return (
        f"<!doctype html><html><head>{meta}<title>Miami talks</title>{head}</head>"
        f"<body><article><h1>Miami talks</h1>{body}</article></body></html>"
    )


def _paragraphs(n: int = 3) -> str:
    return "".join(f"<p>{ARTICLE}</p>" for _ in range(n))


def deep_nesting() -> bytes:
    depth = 100_000
    return _page("<div>" * depth + f"<p>{ARTICLE}</p>" + "</div>" * depth).encode()


def giant_text_node() -> bytes:
    return _page("<p>" + "negotiation " * 1_750_000 + "</p>").encode()  # 21 MB


def large_text_node() -> bytes:
    return _page("<p>" + "negotiation " * 400_000 + "</p>").encode()  # 4.8 MB


def big_text_node() -> bytes:
    return _page(_paragraphs() + "<p>" + "negotiation " * 150_000 + "</p>").encode()  # 1.8 MB


def unclosed_tags() -> bytes:
    body = "".join(f"<div><p><b><i><span>{ARTICLE}" for _ in range(2_000))
    return f"<html><head><title>Miami talks</title><body>{body}".encode()


def garbage(seed: int, size: int = 200_000) -> Callable[[], bytes]:
    def build() -> bytes:
        return random.Random(seed).randbytes(size)

    return build


def billion_laughs_html() -> bytes:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
        for i in range(1, 10)
    )
    return (
        f"<!DOCTYPE html [{entities}]><html><head><title>Miami talks</title></head>"
        f"<body><article><p>&lol9;</p>{_paragraphs()}</article></body></html>"
    ).encode()


def _rss(items: str, prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>{prolog}<rss version="2.0"><channel>'
        f"<title>Desk</title><link>https://news.example/</link>{items}</channel></rss>"
    ).encode()


def _item(i: int, title: str = "Miami talks") -> str:
    return f"<item><title>{title}</title><link>http://127.0.0.1:9/a/{i}</link></item>"


def billion_laughs_feed() -> bytes:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
        for i in range(1, 10)
    )
    return _rss(_item(1, "&lol9;"), f"<!DOCTYPE rss [{entities}]>")


def xxe_feed() -> bytes:
    prolog = '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    return _rss(_item(1, "leak &xxe; here"), prolog)


def xxe_html() -> bytes:
    return (
        '<?xml version="1.0"?><!DOCTYPE html [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Miami talks</title></head>'
        f"<body><article><p>&xxe;</p>{_paragraphs()}</article></body></html>"
    ).encode()


def feed_100k_items_small() -> bytes:
    return _rss(
        "".join(f"<item><link>http://127.0.0.1:9/{i}</link></item>" for i in range(100_000))
    )


def feed_100k_items() -> bytes:
    return _rss("".join(_item(i) for i in range(100_000)))


def truncated_feed() -> bytes:
    whole = _rss("".join(_item(i) for i in range(20)))
    return whole[: len(whole) * 2 // 3]


def truncated_atom() -> bytes:
    entries = "".join(
        f'<entry><title>Talks {i}</title><link href="http://127.0.0.1:9/t/{i}"/></entry>'
        for i in range(10)
    )
    whole = (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Desk</title>'
        f"{entries}</feed>"
    ).encode()
    return whole[: len(whole) // 2]


def not_a_feed() -> bytes:
    return b'<?xml version="1.0"?><rss version="2.0"><channel><title>\xff\xfe\x00broken'


# --- PDF ------------------------------------------------------------------------------------


def pdf_bytes(objects: list[bytes], root: int = 1, info: int | None = None) -> bytes:
    """A PDF of these objects (numbered from 1) with correct xref offsets."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    extra = b" /Info %d 0 R" % info if info else b""
    out += b"trailer\n<< /Size %d /Root %d 0 R%s >>\n" % (len(objects) + 1, root, extra)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _page_pdf(stream: bytes, flate: bool = False, pages: int = 1) -> bytes:
    filters = b" /Filter /FlateDecode" if flate else b""
    kids = b" ".join(b"%d 0 R" % (5 + i) for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
        b"<< /Length %d%s >>\nstream\n" % (len(stream), filters) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for _ in range(pages):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R"
            b" /Resources << /Font << /F1 4 0 R >> >> >>"
        )
    return pdf_bytes(objects)


def _deflated(chunk: bytes, times: int, wbits: int = 15) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return b"".join(packer.compress(chunk) for _ in range(times)) + packer.flush()


def _text_ops(text: str) -> bytes:
    return b"BT /F1 12 Tf 72 720 Td (%s) Tj ET" % text.encode("latin-1")


def pdf_flate_bomb() -> bytes:
    return _page_pdf(_deflated(b"0 0 m " * 100_000, 340), flate=True)  # 200 MB inflated


def pdf_million_operators() -> bytes:
    ops = b"0 0 m\n" * 1_500_000 + _text_ops(ARTICLE)  # 9 MB: inflates within the limit
    return _page_pdf(zlib.compress(ops, 9), flate=True)


def pdf_deep_nesting() -> bytes:
    nested = b"[" * 200_000 + b"]" * 200_000
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /Junk 4 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length 1 /Nested %s >>\nstream\n \nendstream" % nested,
    ]
    return pdf_bytes(objects)


def pdf_cyclic_pages() -> bytes:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 1 /Parent 2 0 R >>",
    ]
    return pdf_bytes(objects)


def pdf_cyclic_forms() -> bytes:
    """A form XObject drawing itself: text extraction must not recurse forever."""
    form = b"/X1 Do " + _text_ops(ARTICLE)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources 6 0 R >>",
        b"<< /Length 7 >>\nstream\n/X1 Do \nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Font << /F1 5 0 R >> /XObject << /X1 7 0 R >> >>",
        b"<< /Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources 6 0 R /Length %d >>"
        b"\nstream\n" % len(form) + form + b"\nendstream",
    ]
    return pdf_bytes(objects)


def pdf_many_pages() -> bytes:
    return _page_pdf(_text_ops(ARTICLE), pages=301)


def pdf_oversized() -> bytes:
    return _page_pdf(_text_ops(ARTICLE) + b"\n%" + b"x" * 21_000_000)


def pdf_truncated() -> bytes:
    whole = _page_pdf(_text_ops(ARTICLE))
    return whole[: len(whole) // 2]


# --- encodings and the rest ---------------------------------------------------------------

SPEECH = "Zelenskyy’s envoy said the “constructive” talks in Miami would resume — soon. "


def misdeclared_latin1() -> bytes:
    return _page(f"<p>{SPEECH * 8}</p>", declared="iso-8859-1").encode("utf-8")


def misdeclared_utf8() -> bytes:
    text = "Переговоры в Майами продолжатся в понедельник, заявил Дмитриев журналистам. " * 8
    return _page(f"<p>{text}</p>", declared="utf-8").encode("cp1251")


def undeclared_shift_jis() -> bytes:
    text = "マイアミでの交渉は月曜日に再開されると代表団の関係者が記者団に語った。" * 8
    return _page(f"<p>{text}</p>").encode("shift_jis")


CAFE = "The naïve envoys met at a café in Zürich — déjà vu — and paid 5€ and £3. "


def undeclared_cp1252_html() -> bytes:
    return _page(f"<p>{CAFE * 8}</p>").encode("cp1252")


def undeclared_cp1252_text() -> bytes:
    return ("Talks in Zürich\n\n" + "The delegates met for hours. " * 3000 + CAFE * 3).encode(
        "cp1252"
    )


def bogus_charset() -> bytes:
    return _page(f"<p>{ARTICLE * 3}</p>", declared="x-no-such-charset\x00").encode()


def deep_json() -> bytes:
    return b"[" * 1_000_000 + b"]" * 1_000_000


def oversized_text() -> bytes:
    return (ARTICLE * 50_000).encode()  # 12 MB


def gzip_bomb() -> bytes:
    return _deflated(bytes(1_000_000), 200, wbits=31)  # gzip, 200 MB inflated


def nul_in_html() -> bytes:
    return _page(f"<p>{ARTICLE}\0\0\0{ARTICLE}</p>" * 3).encode()


def zip_named_txt() -> bytes:
    return b"PK\x03\x04" + random.Random(7).randbytes(50_000)


def control_characters() -> bytes:
    noise = "".join(chr(c) for c in range(1, 32) if c not in (9, 10, 13))
    return (("Miami talks\n\n" + (ARTICLE + noise) * 5 + "\n") * 3).encode()


CORPUS: tuple[Hostile, ...] = (
    Hostile("deep-nesting.html", deep_nesting, "either"),
    # Over the upload limit and the HTML limit: whichever is checked first names itself.
    Hostile("giant-text-node.html", giant_text_node, "refused", says="allowed ([extract] max_"),
    Hostile("large-text-node.html", large_text_node, "refused", says="max_html_bytes"),
    Hostile("big-text-node.html", big_text_node, "text", holds="Kushner"),
    Hostile("unclosed-tags.html", unclosed_tags, "either"),
    Hostile("garbage.bin", garbage(1), "refused"),
    Hostile("garbage.html", garbage(2), "either"),
    Hostile("garbage.pdf", garbage(3), "refused"),
    Hostile("billion-laughs.html", billion_laughs_html, "text", holds="Witkoff", never="lollol"),
    Hostile("xxe.xhtml", xxe_html, "either"),
    Hostile("billion-laughs.xml", billion_laughs_feed, "either", feed=True, never="lollol"),
    Hostile("xxe.xml", xxe_feed, "either", feed=True),
    Hostile("100k-items.xml", feed_100k_items, "refused", says="max_feed_bytes", feed=True),
    Hostile("100k-small-items.xml", feed_100k_items_small, "either", feed=True),
    Hostile("truncated.rss", truncated_feed, "either", feed=True),
    Hostile("truncated.atom", truncated_atom, "either", feed=True),
    Hostile("broken.rss", not_a_feed, "either", feed=True),
    Hostile("flate-bomb.pdf", pdf_flate_bomb, "refused"),
    Hostile("million-operators.pdf", pdf_million_operators, "either"),
    Hostile("deep-nesting.pdf", pdf_deep_nesting, "refused"),
    Hostile("cyclic-pages.pdf", pdf_cyclic_pages, "refused"),
    Hostile("cyclic-forms.pdf", pdf_cyclic_forms, "either"),
    Hostile("301-pages.pdf", pdf_many_pages, "refused", says="max_pdf_pages"),
    Hostile("oversized.pdf", pdf_oversized, "refused", says="allowed ([extract] max_"),
    Hostile("truncated.pdf", pdf_truncated, "either"),
    Hostile("misdeclared-latin1.html", misdeclared_latin1, "text", holds="Zelenskyy’s envoy"),
    Hostile("misdeclared-utf8.html", misdeclared_utf8, "text", holds="Переговоры в Майами"),
    Hostile("undeclared-shift-jis.html", undeclared_shift_jis, "text", holds="マイアミでの交渉"),
    Hostile("bogus-charset.html", bogus_charset, "text", holds="Dmitriev"),
    Hostile("undeclared-cp1252.html", undeclared_cp1252_html, "text", holds="naïve envoys"),
    # The first 90 KB are ASCII: the detector must look where the other bytes are.
    Hostile("undeclared-cp1252.txt", undeclared_cp1252_text, "text", holds="5€ and £3"),
    Hostile("deep.json", deep_json, "refused", says="nested too deeply"),
    Hostile("oversized.txt", oversized_text, "refused", says="allowed ([extract] max_"),
    Hostile("bomb.html.gz", gzip_bomb, "refused", says="max_decompressed_bytes"),
    Hostile("nul-bytes.html", nul_in_html, "either"),
    Hostile("archive.txt", zip_named_txt, "refused"),
    Hostile("control-characters.txt", control_characters, "text", holds="Kushner"),
)


def measured_in_worker(item_name: str, body: bytes) -> tuple[str | None, str | None, int, float]:
    """In the worker: one file's outcome, the worker's peak memory for it, and its time."""
    item = next(h for h in CORPUS if h.name == item_name)
    with open("/proc/self/clear_refs", "w") as fh:  # resets VmHWM to the current size
        fh.write("5")
    started = time.perf_counter()
    text: str | None = None
    error: str | None = None
    try:
        if item.feed:
            feed = worker.limited(LIMITS.time_limit, extract.parse_feed, body, url="http://f/")
            text = " ".join(e.title or "" for e in feed.entries)
        else:
            doc = worker.limited(
                LIMITS.time_limit,
                extract.extract_bytes,
                body,
                ref=item.name,
                filename=item.name,
                limits=LIMITS,
            )
            text = doc.text
    except BriefbotError as exc:
        error = str(exc)
    return text, error, worker.peak_rss(), time.perf_counter() - started


def stuck() -> None:
    """Blocks the alarm and sleeps: C code that never returns to the interpreter."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    time.sleep(60)


def die_in_a_worker() -> str:
    """Kills the worker process it runs in (as a crash in C code would); in the main
    process, where a retry in a thread runs it, says so instead."""
    import multiprocessing
    import os

    if multiprocessing.parent_process() is not None:
        os._exit(3)
    return "thread"


def main(argv: list[str]) -> None:
    target = Path(argv[0] if argv else "hostile")
    target.mkdir(parents=True, exist_ok=True)
    for item in CORPUS:
        (target / item.name).write_bytes(item.build())
    print(f"wrote {len(CORPUS)} files to {target}")


if __name__ == "__main__":
    main(sys.argv[1:])
