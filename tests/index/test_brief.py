"""Briefs on a real database: stories since a day, wire copies folded, newest first."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from index.brief import DEFAULT_SINCE_DAYS, windows
from index.errors import BriefbotError
from index.library import Library
from index.settings import Settings
from tests.index.test_answer_features import record

TODAY = datetime.now(UTC).date()

WIRE = [
    "The meeting in Miami included Kirill Dmitriev, special envoy Steve Witkoff and Jared "
    "Kushner, who discussed the twenty point peace plan for several hours behind closed "
    "doors on Saturday, according to two officials briefed on the talks.",
    "Dmitriev told reporters after the session that the conversation had been constructive "
    "and that both sides agreed to meet again before the end of the month in Florida.",
]
KYIV = [
    "Officials in Kyiv said President Zelenskyy would study the peace plan carefully before "
    "giving any answer, and that his cabinet met late into the night to weigh the security "
    "guarantees the draft offers in exchange for territorial concessions.",
]
GRAIN = [
    "Negotiators in Istanbul agreed a grain corridor through the Black Sea shipping lanes, "
    "with Turkish naval escorts for freighters leaving Odesa and inspections of every cargo "
    "at a joint centre on the Bosphorus before the ships sail on.",
]
ENERGY = [
    "Power engineers restored electricity to most of Kharkiv overnight after drone strikes "
    "hit two substations, the regional governor said, adding that hospitals ran on backup "
    "generators for nine hours while crews worked in freezing rain.",
]
UNDATED = [
    "A summary of the week's diplomacy, with no date of its own: envoys shuttled between "
    "capitals, foreign ministers traded letters, and a hoped-for summit in Budapest slipped "
    "again as aides argued over the seating of the delegations.",
]
# Three passages: the lead says nothing of the port; its third passage is all about it.
LONG = [
    "Farmers across the southern regions began the winter planting late this year after an "
    "unusually dry autumn left the soil hard, and cooperatives reported that fuel prices "
    "kept many tractors idle well into November. Seed merchants in the region said orders "
    "were down by a third on last year.",
    "Agronomists from the national academy said yields could still recover if the snow "
    "cover holds, pointing to similar seasons in the past decade when late sowing produced "
    "ordinary harvests in the end, though they warned that a hard frost without snow "
    "would ruin much of the crop.",
    "At the port of Izmail, dockers loaded sunflower oil onto river barges bound for "
    "Constanta, as the Danube port handled a record tonnage despite repeated attacks on its "
    "grain silos and warehouses this autumn; the port authority said night shifts would "
    "continue through the winter.",
]
# Two different stories that end with the same long disclaimer paragraph (one passage).
DISCLAIMER = (
    "This report was produced with support from a media development fund; the fund had no "
    "role in choosing the subjects, the reporting or the editing, and the views expressed "
    "are those of the authors alone, who can be reached through the newsroom's secure "
    "contact page listed below."
)
FERRY = [
    "A ferry carrying 200 passengers ran aground near the island port at dawn and was "
    "refloated by tugs six hours later; nobody was hurt, the coast guard said, and an "
    "inquiry will examine the pilot's route through the shallow channel.",
    DISCLAIMER,
]
BRIDGE = [
    "Engineers closed the old rail bridge over the river after inspectors found cracks in "
    "two of its piers, diverting freight trains through the capital for at least a month "
    "while divers survey the foundations for further damage.",
    DISCLAIMER,
]
GENEVA = [
    "The Geneva round on prisoner swaps brought the Swiss mediator Alpha Bravo to the table "
    "with both delegations, who agreed to exchange lists of detainees and to let the Red "
    "Cross visit camps on both sides of the line.",
]
SECRET = [
    "The Geneva round on grain corridors was chaired by the Turkish envoy Charlie Delta, who "
    "met both delegations separately and proposed a monitoring mission staffed by observers "
    "from three neutral countries.",
]


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


GLOBAL = [
    record("wire-a", "Envoys meet in Miami", WIRE, "Agency One", day(-1)),
    # The same wire story, re-published by another outlet a day later, a word added.
    record(
        "wire-b",
        "Miami meeting of envoys",
        ["Reportedly, " + WIRE[0], WIRE[1]],
        "Outlet Two",
        day(0),
    ),
    record("kyiv", "Kyiv weighs the plan", KYIV, "Kyiv Daily", day(-2)),
    record("energy", "Kharkiv power restored", ENERGY, "Kyiv Daily", day(-3)),
    record("grain", "Grain corridor agreed", GRAIN, "Sea News", day(-30)),
    record("undated", "Week in diplomacy", UNDATED, "Weekly", None),
    record("long", "Late planting in the south", LONG, "Farm Post", day(-4)),
    record("ferry", "Ferry refloated", FERRY, "Coast Times", day(-5)),
    record("bridge", "Rail bridge closed", BRIDGE, "Coast Times", day(-6)),
]


def write_jsonl(path: Path, records: list[dict]) -> str:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture
async def library(db_url: str, tmp_path: Path):
    lib = await Library.open(Settings(database_url=db_url))
    report = await lib.ingest([write_jsonl(tmp_path / "news.jsonl", GLOBAL)])
    assert not report.failed and len(report.added) == len(GLOBAL)
    for guild, rec in (
        ("A", record("geneva", "Geneva prisoner swaps", GENEVA, "Alpine Wire", day(-1))),
        ("B", record("secret", "Geneva grain corridors", SECRET, "Bravo Desk", day(0))),
    ):
        report = await lib.ingest([write_jsonl(tmp_path / f"{guild}.jsonl", [rec])], guild=guild)
        assert report.added and not report.failed
    yield lib
    await lib.close()


def refs(brief) -> list[str]:
    """The shown article of each story, in brief order."""
    return [s.hit.source.ref for s in brief.stories]


def outlets(story) -> set[str]:
    return {story.hit.source.ref, *(s.ref for s in story.hit.also)}


async def test_wire_copies_are_one_story_citing_every_outlet(library: Library):
    """Two outlets carrying one wire text are one story; the newer copy is shown, both cited."""
    brief = await library.brief(since=TODAY - timedelta(days=1), k=10)
    wire = [s for s in brief.stories if outlets(s) & {"wire-a", "wire-b"}]
    assert len(wire) == 1
    assert outlets(wire[0]) == {"wire-a", "wire-b"}
    assert wire[0].hit.source.ref == "wire-b" and wire[0].day == TODAY


async def test_latest_stories_come_newest_first(library: Library):
    """Without a topic: every story since the day, by day, newest first."""
    brief = await library.brief(since=TODAY - timedelta(days=7), k=10)
    days = [s.day for s in brief.stories]
    assert days == sorted(days, reverse=True)
    assert [s.rank for s in brief.stories] == list(range(1, len(brief.stories) + 1))
    assert set(refs(brief)) == {"wire-b", "undated", "kyiv", "energy", "long", "ferry", "bridge"}
    assert refs(brief)[-3:] == ["long", "ferry", "bridge"]


async def test_since_leaves_out_older_articles(library: Library):
    """since: 2 days ago keeps the last two days' stories; the month-old one never shows."""
    brief = await library.brief(since=TODAY - timedelta(days=2), k=10)
    assert set(refs(brief)) == {"wire-b", "undated", "kyiv"}
    assert brief.articles == 4  # wire-a, wire-b, undated, kyiv
    month = await library.brief(since=TODAY - timedelta(days=60), k=20)
    assert "grain" in refs(month) and refs(month)[-1] == "grain"


async def test_since_defaults_to_a_week(library: Library):
    """No since: the last 7 days (the 30-day-old article is left out)."""
    brief = await library.brief(k=20)
    assert brief.since == TODAY - timedelta(days=DEFAULT_SINCE_DAYS)
    assert "grain" not in refs(brief) and "bridge" in refs(brief)


async def test_k_limits_the_stories_to_the_newest(library: Library):
    """k=2 without a topic: the two newest stories."""
    brief = await library.brief(since=TODAY - timedelta(days=7), k=2)
    assert [s.day for s in brief.stories] == [TODAY, TODAY]
    assert set(refs(brief)) == {"wire-b", "undated"}


async def test_undated_article_counts_from_the_day_it_was_added(library: Library):
    """An article without a date is today's news on the day it was added."""
    brief = await library.brief(since=TODAY, k=10)
    undated = next(s for s in brief.stories if s.hit.source.ref == "undated")
    assert undated.day == TODAY and undated.hit.source.published is None


async def test_without_a_topic_each_story_shows_its_lead(library: Library):
    """The passage of a topic-less story is its article's first one."""
    brief = await library.brief(since=TODAY - timedelta(days=7), k=10)
    long = next(s for s in brief.stories if s.hit.source.ref == "long")
    assert long.hit.text.startswith("Farmers across the southern regions")
    assert long.relevance is None


async def test_topic_keeps_only_matching_stories(library: Library):
    """Only stories about the topic: one that shares just a word ("secure") is left out."""
    brief = await library.brief("Zelenskyy security guarantees", since=TODAY - timedelta(days=7))
    assert refs(brief) == ["kyiv"]
    assert "Zelenskyy" in brief.stories[0].hit.text
    assert brief.stories[0].relevance == 1


async def test_topic_shows_the_best_passage_once_per_article(library: Library):
    """The passage shown is the article's best match, not its lead; one per article."""
    brief = await library.brief("Izmail port barges", since=TODAY - timedelta(days=7))
    assert refs(brief).count("long") == 1
    long = next(s for s in brief.stories if s.hit.source.ref == "long")
    assert long.hit.text.startswith("At the port of Izmail") and long.relevance == 1
    assert long.hit.best_sentence is not None


async def test_topic_folds_wire_copies_and_cites_every_outlet(library: Library):
    """Both copies of the Miami story match; they are one story citing both outlets."""
    brief = await library.brief("Dmitriev Witkoff Miami", since=TODAY - timedelta(days=7))
    assert len(brief.stories) == 1
    assert outlets(brief.stories[0]) == {"wire-a", "wire-b"}


async def test_topic_relevance_picks_then_newest_orders(library: Library, tmp_path: Path):
    """k=2: the two best-matching stories make the cut, then the newer one comes first."""
    strong = "Ceasefire monitors reported the ceasefire holding; ceasefire monitors patrol"
    extra = [
        record(
            "c-old",
            "Ceasefire monitors deployed",
            [strong + " the northern line. " + ENERGY[0]],
            "One",
            day(-5),
        ),
        record(
            "c-new",
            "Ceasefire monitors patrol",
            [strong + " the southern line. " + KYIV[0]],
            "Two",
            day(-2),
        ),
        record(
            "c-weak", "Port news", ["A ceasefire was mentioned once. " + GRAIN[0]], "Three", day(0)
        ),
    ]
    report = await library.ingest([write_jsonl(tmp_path / "c.jsonl", extra)])
    assert len(report.added) == 3
    brief = await library.brief("ceasefire monitors", since=TODAY - timedelta(days=7), k=2)
    assert refs(brief) == ["c-new", "c-old"]
    assert sorted(s.relevance for s in brief.stories) == [1, 2]


async def test_a_shared_boilerplate_passage_does_not_merge_stories(library: Library):
    """Two articles ending in the same disclaimer are still two stories."""
    brief = await library.brief("media development fund newsroom", since=TODAY - timedelta(days=7))
    assert sorted(refs(brief)) == ["bridge", "ferry"]
    assert all(s.hit.also == () for s in brief.stories)


async def test_a_guild_sees_global_and_its_own_stories_only(library: Library):
    """Guild A's brief holds its own article and global ones, never guild B's."""
    since = TODAY - timedelta(days=7)
    a = await library.brief(guild="A", since=since, k=20)
    assert "geneva" in refs(a) and "secret" not in refs(a) and "wire-b" in refs(a)
    b = await library.brief(guild="B", since=since, k=20)
    assert "secret" in refs(b) and "geneva" not in refs(b)
    nobody = await library.brief(since=since, k=20)
    assert not {"geneva", "secret"} & set(refs(nobody))
    topic = await library.brief("Geneva round", guild="A", since=since, k=20)
    assert refs(topic)[:1] == ["geneva"] and "secret" not in refs(topic)
    assert (await library.brief("Charlie Delta", guild="A", since=since)).stories == ()
    assert a.visible == len(GLOBAL) + 1


@pytest.mark.parametrize("name", ["Kyiv Daily", "kyiv daily", "  KYIV   DAILY "])
async def test_source_takes_a_publisher(library: Library, name: str):
    """source: a publisher name (any case or spacing) keeps that publisher's stories."""
    brief = await library.brief(since=TODAY - timedelta(days=7), source=name, k=10)
    assert refs(brief) == ["kyiv", "energy"]
    assert brief.articles == 2


async def test_source_takes_a_source_id(library: Library):
    """source: a source id keeps that one article."""
    wanted = next(s for s in await library.sources() if s.ref == "kyiv")
    brief = await library.brief("peace plan", since=TODAY - timedelta(days=7), source=wanted.id)
    assert refs(brief) == ["kyiv"]


async def test_another_guilds_publisher_is_unknown(library: Library):
    """Guild A cannot name guild B's publisher: it is not there."""
    with pytest.raises(BriefbotError, match="no source or publisher 'Bravo Desk' here"):
        await library.brief(guild="A", source="Bravo Desk")


async def test_a_misspelt_topic_is_corrected(library: Library):
    """ "Witkof" briefs on Witkoff and says so."""
    brief = await library.brief("Witkof", since=TODAY - timedelta(days=7))
    assert outlets(brief.stories[0]) == {"wire-a", "wire-b"}
    assert [(c.typed, c.used) for c in brief.corrections] == [("Witkof", "Witkoff")]


async def test_nothing_since_the_day_is_an_empty_brief(library: Library):
    """since: tomorrow finds no article; the brief says how much the guild could see."""
    brief = await library.brief(since=TODAY + timedelta(days=1))
    assert brief.stories == () and brief.articles == 0 and brief.visible == len(GLOBAL)


async def test_a_topic_matching_nothing_is_an_empty_brief(library: Library):
    """An unknown topic gives no story, with the articles it looked at counted."""
    brief = await library.brief("xylophone quasar", since=TODAY - timedelta(days=7))
    assert brief.stories == () and brief.articles > 0


async def test_k_must_be_positive(library: Library):
    with pytest.raises(BriefbotError, match="k must be at least 1"):
        await library.brief(k=-1)


def test_windows_end_at_the_end_of_a_day():
    """A window holds every article of its last day, so a day is ordered as a whole."""
    days = {
        "a": date(2025, 1, 3),
        "b": date(2025, 1, 2),
        "c": date(2025, 1, 2),
        "d": date(2025, 1, 1),
    }
    assert list(windows(["a", "b", "c", "d"], days.__getitem__, size=2)) == [["a", "b", "c"], ["d"]]
    assert list(windows([], days.__getitem__, size=2)) == []
