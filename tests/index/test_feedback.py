"""Feedback on a real database: the questions log, votes, hidden items, /stats, pruning."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest

from index.errors import BriefbotError, SettingError, SourceNotFound
from index.feedback import Logged, new_question_id
from index.library import Library
from index.settings import FeedbackSettings, Settings
from index.types import Answer, Hit

GUILD = "1300000000000000001"
OTHER = "1300000000000000002"
QUESTION = "who chaired the Geneva ceasefire talks?"
OFFICIALS = "what did officials say about progress?"
# The largest lift (or drop) a single vote on the very question asked can give a score:
# feedback_weight × tanh(1 / 2), whatever the other features add.
ONE_VOTE = 0.2 * math.tanh(0.5)

FILL = [
    "Officials reviewed draft language on prisoner exchanges and energy infrastructure "
    "late into the evening.",
    "Diplomats said the schedule for further rounds remained open and that both sides "
    "would report back to their capitals.",
    "Observers from several countries followed the sessions closely from a nearby hotel.",
    "Markets reacted calmly to the news, with grain prices steady through the week.",
]
ARTICLES = {
    "geneva-a": (
        "Geneva ceasefire talks resume",
        "The Geneva ceasefire talks resumed on Monday with the Swiss mediator Alpha Bravo "
        "chairing the opening session of the delegations. " + FILL[0],
    ),
    "geneva-b": (
        "Delegations return to Geneva",
        "Delegations returned to Geneva for ceasefire talks, where the Norwegian envoy "
        "Charlie Delta hosted the working groups for both sides. " + FILL[1],
    ),
    "grain": (
        "Grain corridor deal extended",
        "The grain corridor deal was extended for another four months after Turkish "
        "officials brokered a late compromise. " + FILL[3],
    ),
    "energy": (
        "Energy strikes pause",
        "Both sides agreed to pause strikes on energy infrastructure during the winter, "
        "a senior official said. " + FILL[2],
    ),
}
TOPICS = [
    "fishing quotas in the Baltic",
    "a new railway bridge over the Danube",
    "wheat harvest forecasts in Kansas",
    "a museum reopening in Lyon",
    "solar farms in Andalusia",
    "a chess tournament in Oslo",
    "port strikes in Rotterdam",
    "coffee prices in Brazil",
    "a marathon in Boston",
    "a film festival in Venice",
]
for _i, _topic in enumerate(TOPICS):
    ARTICLES[f"other-{_i}"] = (
        f"News about {_topic}",
        f"Reporters covered {_topic} this week, with local officials describing steady "
        "progress. " + FILL[_i % 4],
    )


def ref(name: str) -> str:
    return f"t/{name}.txt"


async def ingest(library: Library, name: str, title: str, body: str, guild: str | None = None):
    report = await library.ingest_bytes(
        f"{title}\n\n{body}\n".encode(), name=f"{name}.txt", ref=ref(name), guild=guild
    )
    assert not report.failed, report.failed
    return report


@pytest.fixture
async def library(db_url: str):
    lib = await Library.open(Settings(database_url=db_url))
    for name, (title, body) in ARTICLES.items():
        await ingest(lib, name, title, body)
    yield lib
    await lib.close()


def hit(answer: Answer, name: str) -> Hit:
    found = [h for h in answer.hits if h.source.ref == ref(name)]
    assert found, f"{name} not in {[h.source.ref for h in answer.hits]}"
    return found[0]


def refs(answer: Answer) -> list[str]:
    return [h.source.ref for h in answer.hits]


def scores(answer: Answer) -> list[tuple[str, float]]:
    return [(h.passage_id, h.score) for h in answer.hits]


async def asked_and_logged(
    library: Library, question: str = QUESTION, *, guild: str = GUILD, per_page: int = 2
) -> tuple[Answer, str]:
    answer = await library.ask(question, guild=guild)
    return answer, library.record_question(question, answer.hits, guild=guild, per_page=per_page)


def old_entry(
    answer: Answer, *, guild: str, days: float, via: str = "ask", per_page: int = 2
) -> Logged:
    """A logged answer as if it had been asked `days` ago."""
    return Logged(
        new_question_id(),
        guild,
        answer.question,
        via,
        per_page,
        tuple((int(h.passage_id), h.source.id) for h in answer.hits),
        datetime.now(UTC) - timedelta(days=days),
    )


# --- the questions log ------------------------------------------------------------------


async def test_a_logged_answer_is_on_record_for_its_guild_by_page(library: Library) -> None:
    """record_question returns an id at once; asked() finds the answer (written on demand,
    no flush needed) with its ranked passages split into pages, and only for its guild."""
    answer = await library.ask(QUESTION, guild=GUILD)
    qid = library.record_question(QUESTION, answer.hits, guild=GUILD, per_page=1, via="mention")
    logged = await library.asked(qid, guild=GUILD)
    assert logged is not None
    assert (logged.id, logged.guild, logged.question, logged.per_page) == (
        qid,
        GUILD,
        QUESTION,
        1,
    )
    assert [(h.rank, h.passage_id) for h in logged.hits] == [
        (h.rank, int(h.passage_id)) for h in answer.hits
    ]
    assert [h.source.ref for h in logged.hits] == [ref("geneva-a"), ref("geneva-b")]
    assert logged.hits[0].text == answer.hits[0].text
    assert [h.rank for h in logged.page(0)] == [1]
    assert [h.rank for h in logged.page(1)] == [2]
    assert logged.page(2) == ()
    assert logged.asked_at.tzinfo is not None
    assert await library.asked(qid, guild=OTHER) is None
    assert await library.asked("0123456789ab", guild=GUILD) is None


# --- votes and ranking -------------------------------------------------------------------


async def test_an_up_vote_lifts_its_passage_gently_and_in_its_guild_only(
    library: Library,
) -> None:
    """A 👍 multiplies the passage's score by more than 1 and at most 1 + 0.2·tanh(½) in
    the voting guild; the other passage, and every score in another guild, stay put; the
    lift is too gentle to overturn a clear lead."""
    before_a, qid = await asked_and_logged(library)
    before_b = await library.ask(QUESTION, guild=OTHER)
    assert refs(before_a) == [ref("geneva-a"), ref("geneva-b")]
    voted = hit(before_a, "geneva-b")
    vote = await library.vote(qid, int(voted.passage_id), 1, guild=GUILD, user="42")
    assert (vote.rank, vote.passage_id, vote.value, vote.previous) == (
        2,
        int(voted.passage_id),
        1,
        0,
    )
    assert vote.source.ref == ref("geneva-b")

    after_a = await library.ask(QUESTION, guild=GUILD)
    ratio = hit(after_a, "geneva-b").score / voted.score
    assert 1 < ratio <= 1 + ONE_VOTE + 1e-9
    assert hit(after_a, "geneva-a").score == pytest.approx(hit(before_a, "geneva-a").score)
    assert refs(after_a) == [ref("geneva-a"), ref("geneva-b")]  # gentle: no flip
    assert scores(await library.ask(QUESTION, guild=OTHER)) == scores(before_b)


async def test_a_down_vote_lowers_its_passage(library: Library) -> None:
    """A 👎 lowers the passage's score, by at most 0.2·tanh(½) of it."""
    before, qid = await asked_and_logged(library)
    top = hit(before, "geneva-a")
    await library.vote(qid, int(top.passage_id), -1, guild=GUILD, user="42")
    ratio = hit(await library.ask(QUESTION, guild=GUILD), "geneva-a").score / top.score
    assert 1 - ONE_VOTE - 1e-9 <= ratio < 1


async def test_a_vote_counts_as_much_as_the_questions_are_alike(library: Library) -> None:
    """The lift is largest for the very question voted on, smaller for one sharing some
    of its terms, and nothing for a question sharing none, even if it finds the passage."""
    alike, unrelated = "Geneva ceasefire", "Norwegian envoy working groups"
    before = {q: await library.ask(q, guild=GUILD) for q in (QUESTION, alike, unrelated)}
    _, qid = await asked_and_logged(library)
    voted = int(hit(before[QUESTION], "geneva-b").passage_id)
    await library.vote(qid, voted, 1, guild=GUILD, user="42")

    def lift(question: str, after: Answer) -> float:
        return hit(after, "geneva-b").score / hit(before[question], "geneva-b").score

    same = lift(QUESTION, await library.ask(QUESTION, guild=GUILD))
    partly = lift(alike, await library.ask(alike, guild=GUILD))
    after_unrelated = await library.ask(unrelated, guild=GUILD)
    assert same > partly > 1
    assert scores(after_unrelated) == scores(before[unrelated])


async def test_a_second_vote_by_the_same_member_replaces_the_first(library: Library) -> None:
    """Voting again on a passage for the same question (however it is worded) replaces the
    member's vote and says what it was; another member's vote adds to it."""
    before, qid = await asked_and_logged(library)
    pid = int(hit(before, "geneva-b").passage_id)
    first = await library.vote(qid, pid, 1, guild=GUILD, user="42")
    second = await library.vote(qid, pid, -1, guild=GUILD, user="42")
    assert (first.previous, second.value, second.previous) == (0, -1, 1)
    stats = await library.stats(GUILD)
    assert (stats.up, stats.down) == (0, 1)
    lowered = hit(await library.ask(QUESTION, guild=GUILD), "geneva-b").score
    assert lowered < hit(before, "geneva-b").score

    # The same question in other words: the same terms, so the same vote again.
    reworded = "Who CHAIRED the Geneva ceasefire talks"
    _, again = await asked_and_logged(library, reworded)
    third = await library.vote(again, pid, 1, guild=GUILD, user="42")
    assert third.previous == -1
    await library.vote(qid, pid, 1, guild=GUILD, user="43")
    stats = await library.stats(GUILD)
    assert (stats.up, stats.down) == (2, 0)
    [voted] = stats.feedback
    assert (voted.source.ref, voted.up, voted.down) == (ref("geneva-b"), 2, 0)


async def test_a_vote_naming_nothing_of_this_guild_is_refused(library: Library) -> None:
    """Unknown answers, another guild's answer and passages not in the answer raise
    SourceNotFound; a vote other than ±1 or a guild that is not an id are refused; none of
    them is stored."""
    answer, qid = await asked_and_logged(library)
    pid = int(answer.hits[0].passage_id)
    grain = await library.ask("grain corridor deal", guild=GUILD)
    with pytest.raises(SourceNotFound):
        await library.vote("0123456789ab", pid, 1, guild=GUILD, user="42")
    with pytest.raises(SourceNotFound):
        await library.vote(qid, pid, 1, guild=OTHER, user="42")
    with pytest.raises(SourceNotFound):
        await library.vote(qid, int(hit(grain, "grain").passage_id), 1, guild=GUILD, user="42")
    for value in (0, 2, -2):
        with pytest.raises(BriefbotError, match=str(value)):
            await library.vote(qid, pid, value, guild=GUILD, user="42")
    with pytest.raises(SettingError):
        await library.vote(qid, pid, 1, guild="general", user="42")
    for guild in (GUILD, OTHER):
        stats = await library.stats(guild)
        assert (stats.up, stats.down, stats.feedback) == (0, 0, ())
    assert scores(await library.ask(QUESTION, guild=GUILD)) == scores(answer)


async def test_another_library_sees_votes_and_hidden_items(library: Library, db_url: str) -> None:
    """A second library on the same database (another process) ranks with the votes and
    hides what the first one recorded, once its cache is read again."""
    before, qid = await asked_and_logged(library)
    async with await Library.open(Settings(database_url=db_url)) as other:
        other.feedback.ttl = 0
        assert scores(await other.ask(QUESTION, guild=GUILD)) == scores(before)
        pid = int(hit(before, "geneva-b").passage_id)
        await library.vote(qid, pid, 1, guild=GUILD, user="42")
        assert hit(await other.ask(QUESTION, guild=GUILD), "geneva-b").score > (
            hit(before, "geneva-b").score
        )
        await library.hide("source", hit(before, "geneva-a").source.id, guild=GUILD, by="42")
        assert refs(await other.ask(QUESTION, guild=GUILD)) == [ref("geneva-b")]
        assert [h.source.ref for h in await other.hidden(GUILD)] == [ref("geneva-a")]


# --- hidden passages and sources -------------------------------------------------------


@pytest.mark.parametrize("kind", ["passage", "source"])
async def test_what_a_guild_hides_leaves_its_answers_and_briefs_only(
    library: Library, kind: str
) -> None:
    """A hidden passage or source is gone from the guild's answers, topic briefs and
    latest-news briefs, and from what it searched; another guild still sees everything.
    Showing it again brings it back."""
    before = await library.ask(QUESTION, guild=GUILD)
    top = hit(before, "geneva-a")
    target = top.passage_id if kind == "passage" else top.source.id
    item = await library.hide(kind, target, guild=GUILD, by="42")
    assert (item.kind, item.target, item.source.ref, item.by) == (
        kind,
        target,
        ref("geneva-a"),
        "42",
    )
    assert item.text == (top.text if kind == "passage" else None)

    after = await library.ask(QUESTION, guild=GUILD)
    assert refs(after) == [ref("geneva-b")]
    assert after.searched == before.searched - 1
    assert hit(after, "geneva-b").score == pytest.approx(hit(before, "geneva-b").score)
    elsewhere = await library.ask(QUESTION, guild=OTHER)
    assert refs(elsewhere) == refs(before) and elsewhere.searched == before.searched
    assert (before.hidden, after.hidden, elsewhere.hidden) == (0, 1, 0)

    def briefed(brief) -> set[str]:
        return {s.hit.source.ref for s in brief.stories}

    assert ref("geneva-a") not in briefed(await library.brief(guild=GUILD, k=20))
    assert ref("geneva-a") in briefed(await library.brief(guild=OTHER, k=20))
    assert briefed(await library.brief("ceasefire talks", guild=GUILD)) == {ref("geneva-b")}
    assert ref("geneva-a") in briefed(await library.brief("ceasefire talks", guild=OTHER))
    assert [(h.kind, h.target) for h in await library.hidden(GUILD)] == [(kind, target)]
    assert await library.hidden(OTHER) == []

    assert await library.unhide(kind, target, guild=GUILD) is True
    assert await library.unhide(kind, target, guild=GUILD) is False
    assert scores(await library.ask(QUESTION, guild=GUILD)) == scores(before)
    assert await library.hidden(GUILD) == []


async def test_answers_stay_full_when_top_passages_are_hidden(library: Library) -> None:
    """Hiding the best passages of an answer does not shorten it: the next ones move up."""
    before = await library.ask(OFFICIALS, guild=GUILD, k=3)
    assert len(before.hits) == 3
    wider = await library.ask(OFFICIALS, guild=GUILD, k=6)
    for h in before.hits[:2]:
        await library.hide("passage", h.passage_id, guild=GUILD)
    await library.hide("source", before.hits[2].source.id, guild=GUILD)
    after = await library.ask(OFFICIALS, guild=GUILD, k=3)
    assert [h.passage_id for h in after.hits] == [h.passage_id for h in wider.hits[3:6]]
    assert after.searched == before.searched - 3 and after.hidden == 3


async def test_hiding_twice_keeps_the_first_and_what_the_guild_cannot_see_is_refused(
    library: Library,
) -> None:
    """Hiding again keeps who hid it first; a source or passage private to another guild,
    an unknown passage and an unknown kind are refused, and nothing is hidden by them."""
    await ingest(library, "memo", "Private memo", "Guild notes on a Geneva bake sale.", OTHER)
    [memo] = [s for s in await library.sources(OTHER) if s.ref == ref("memo")]
    memo_hit = hit(await library.ask("bake sale memo", guild=OTHER), "memo")
    grain = hit(await library.ask("grain corridor deal", guild=GUILD), "grain")
    first = await library.hide("source", grain.source.id, guild=GUILD, by="42")
    again = await library.hide("source", grain.source.id, guild=GUILD, by="43")
    assert (again.by, again.at) == ("42", first.at)
    with pytest.raises(SourceNotFound):
        await library.hide("source", memo.id, guild=GUILD)
    with pytest.raises(SourceNotFound):
        await library.hide("passage", memo_hit.passage_id, guild=GUILD)
    for bad in ("999999999", "abc", ""):
        with pytest.raises(SourceNotFound):
            await library.hide("passage", bad, guild=GUILD)
    with pytest.raises(BriefbotError):
        await library.hide("story", grain.passage_id, guild=GUILD)
    assert [(h.kind, h.by) for h in await library.hidden(GUILD)] == [("source", "42")]
    assert (await library.hide("source", memo.id, guild=OTHER)).source.ref == ref("memo")


# --- /stats ------------------------------------------------------------------------------


async def test_stats_count_a_guilds_questions_since_a_moment(library: Library) -> None:
    """Questions, those that found nothing (each once, newest first) and the ways they
    were asked, for this guild and since the moment given only."""
    answer = await library.ask(QUESTION, guild=GUILD)
    for via in ("ask", "ask", "mention"):
        library.record_question(QUESTION, answer.hits, guild=GUILD, per_page=2, via=via)
    now = datetime.now(UTC)
    for question, minutes in (("zebra migration", 30), ("unicorn sightings", 20)):
        entry = Logged(
            new_question_id(), GUILD, question, "ask", 2, (), now - timedelta(minutes=minutes)
        )
        library._log.append(entry)
    library._log.append(
        Logged(
            new_question_id(),
            GUILD,
            "zebra migration",
            "mention",
            2,
            (),
            now - timedelta(minutes=10),
        )
    )
    library._log.append(old_entry(answer, guild=GUILD, days=40))
    library.record_question(QUESTION, answer.hits, guild=OTHER, per_page=2)
    library.record_question("nothing here", (), guild=OTHER, per_page=2)
    assert await library.flush_questions() == 9

    stats = await library.stats(GUILD)
    assert (stats.guild, stats.questions, stats.unanswered) == (GUILD, 6, 3)
    assert stats.by_way == {"ask": 4, "mention": 2}
    assert stats.recent_unanswered == ("zebra migration", "unicorn sightings")
    wider = await library.stats(GUILD, since=now - timedelta(days=60))
    assert (wider.questions, wider.by_way["ask"]) == (7, 5)
    narrow = await library.stats(GUILD, since=now - timedelta(minutes=15))
    assert (narrow.questions, narrow.unanswered) == (4, 1)
    other = await library.stats(OTHER)
    assert (other.questions, other.unanswered, other.recent_unanswered) == (2, 1, ("nothing here",))


async def test_stats_since_means_the_same_moment_in_any_timezone(library: Library) -> None:
    """`since` is a moment: an hour ago written in UTC+5 or UTC−5 counts the same
    questions as an hour ago in UTC (and an hour from now counts none)."""
    await asked_and_logged(library)
    await library.flush_questions()
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    counted = []
    for hours in (0, 5, -5):
        zone = timezone(timedelta(hours=hours))
        counted.append((await library.stats(GUILD, since=hour_ago.astimezone(zone))).questions)
        later = (hour_ago + timedelta(hours=2)).astimezone(zone)
        counted.append((await library.stats(GUILD, since=later)).questions)
    assert counted == [1, 0, 1, 0, 1, 0]


async def test_stats_rank_sources_by_first_pages_and_count_votes(library: Library) -> None:
    """A source counts for an answer when it shows on the first page (rank ≤ per_page),
    and as first when it ranks 1; votes show per source and in total, this guild's only."""
    answer = await library.ask(QUESTION, guild=GUILD)
    a, b = hit(answer, "geneva-a"), hit(answer, "geneva-b")
    one = library.record_question(QUESTION, answer.hits, guild=GUILD, per_page=1)
    two = library.record_question(QUESTION, answer.hits, guild=GUILD, per_page=2)
    elsewhere = library.record_question(QUESTION, answer.hits, guild=OTHER, per_page=2)
    await library.vote(one, int(b.passage_id), 1, guild=GUILD, user="42")
    await library.vote(two, int(a.passage_id), -1, guild=GUILD, user="43")
    await library.vote(two, int(b.passage_id), 1, guild=GUILD, user="44")
    await library.vote(elsewhere, int(a.passage_id), 1, guild=OTHER, user="42")

    stats = await library.stats(GUILD)
    assert [(s.source.ref, s.answers, s.first, s.up, s.down) for s in stats.top_sources] == [
        (ref("geneva-a"), 2, 2, 0, 1),
        (ref("geneva-b"), 1, 0, 2, 0),
    ]
    assert {(s.source.ref, s.up, s.down) for s in stats.feedback} == {
        (ref("geneva-a"), 0, 1),
        (ref("geneva-b"), 2, 0),
    }
    assert (stats.up, stats.down) == (2, 1)
    other = await library.stats(OTHER)
    assert (other.up, other.down, other.questions) == (1, 0, 1)
    assert [(s.source.ref, s.answers, s.first) for s in other.top_sources] == [
        (ref("geneva-a"), 1, 1),
        (ref("geneva-b"), 1, 0),
    ]


# --- removal and updates ---------------------------------------------------------------


async def test_removing_a_source_takes_its_votes_and_hidden_items(library: Library) -> None:
    """Votes on a removed source's passages and its hidden items go with it: /stats,
    hidden() and the logged answer no longer show it, and it cannot be voted on."""
    answer, qid = await asked_and_logged(library)
    a, b = hit(answer, "geneva-a"), hit(answer, "geneva-b")
    grain = hit(await library.ask("grain corridor deal", guild=GUILD), "grain")
    await library.vote(qid, int(a.passage_id), 1, guild=GUILD, user="42")
    await library.vote(qid, int(b.passage_id), -1, guild=GUILD, user="42")
    await library.hide("passage", b.passage_id, guild=GUILD)
    await library.hide("source", grain.source.id, guild=GUILD)
    await library.hide("passage", a.passage_id, guild=GUILD)

    assert await library.remove(b.source.id) == "source"
    assert await library.remove(grain.source.id) == "source"
    stats = await library.stats(GUILD)
    assert (stats.up, stats.down) == (1, 0)
    assert [s.source.ref for s in stats.feedback] == [ref("geneva-a")]
    assert [s.source.ref for s in stats.top_sources] == [ref("geneva-a")]
    assert [(h.kind, h.target) for h in stats.hidden] == [("passage", a.passage_id)]
    assert [(h.kind, h.target) for h in await library.hidden(GUILD)] == [("passage", a.passage_id)]
    logged = await library.asked(qid, guild=GUILD)
    assert logged is not None and [h.source.ref for h in logged.hits] == [ref("geneva-a")]
    with pytest.raises(SourceNotFound):
        await library.vote(qid, int(b.passage_id), 1, guild=GUILD, user="43")


async def test_searched_counts_right_after_a_source_with_a_hidden_passage_goes(
    library: Library,
) -> None:
    """Once a source whose passage the guild hid is removed, the guild searches every
    passage left: the hidden one is no longer subtracted (it is gone already)."""
    grain = hit(await library.ask("grain corridor deal", guild=GUILD), "grain")
    total = (await library.ask(QUESTION, guild=OTHER)).searched
    await library.hide("passage", grain.passage_id, guild=GUILD)
    assert (await library.ask(QUESTION, guild=GUILD)).searched == total - 1
    await library.remove(grain.source.id)
    assert (await library.ask(QUESTION, guild=OTHER)).searched == total - 1
    assert (await library.ask(QUESTION, guild=GUILD)).searched == total - 1


async def test_a_hidden_source_stays_hidden_when_its_content_is_updated(
    library: Library,
) -> None:
    """A source is hidden by its id: re-ingesting it with new text (a refreshed page, a
    corrected article) keeps the same id, so it stays out of the guild's answers."""
    top = hit(await library.ask(QUESTION, guild=GUILD), "geneva-a")
    await library.hide("source", top.source.id, guild=GUILD, by="42")
    title, body = ARTICLES["geneva-a"]
    report = await ingest(library, "geneva-a", title, body + " Updated with a correction.")
    assert report.added == [top.source.id]
    library.feedback.ttl = 0  # read what the database holds now
    assert [(h.kind, h.target) for h in await library.hidden(GUILD)] == [("source", top.source.id)]
    assert ref("geneva-a") not in refs(await library.ask(QUESTION, guild=GUILD))


# --- pruning ------------------------------------------------------------------------------


def pruning(db_url: str) -> Settings:
    return Settings(database_url=db_url, feedback=FeedbackSettings(keep_days=1))


async def test_old_answers_are_pruned_but_their_votes_stay(library: Library, db_url: str) -> None:
    """A prune drops answers older than keep_days (at most once an hour): their vote
    buttons stop working, but the votes already cast still count, in /stats and ranking."""
    answer = await library.ask(QUESTION, guild=GUILD)
    old, recent = old_entry(answer, guild=GUILD, days=3), old_entry(answer, guild=GUILD, days=0.5)
    library._log += [old, recent]
    assert await library.flush_questions() == 2  # keep_days 90: both kept
    pid = int(hit(answer, "geneva-b").passage_id)
    await library.vote(old.id, pid, 1, guild=GUILD, user="42")
    lifted = hit(await library.ask(QUESTION, guild=GUILD), "geneva-b").score

    async with await Library.open(pruning(db_url)) as pruner:
        pruner._pruned_at = -math.inf  # due (see the next test for a new library)
        assert await pruner.flush_questions() == 0  # nothing to write; prunes all the same
        assert await library.asked(old.id, guild=GUILD) is None
        assert await library.asked(recent.id, guild=GUILD) is not None
        with pytest.raises(SourceNotFound):
            await library.vote(old.id, pid, -1, guild=GUILD, user="42")
        stats = await library.stats(GUILD, since=datetime.now(UTC) - timedelta(days=30))
        assert (stats.questions, stats.up) == (1, 1)
        pruner.feedback.ttl = 0
        assert hit(await pruner.ask(QUESTION, guild=GUILD), "geneva-b").score == pytest.approx(
            lifted
        )

        older = old_entry(answer, guild=GUILD, days=5)
        library._log.append(older)
        await library.flush_questions()
        await pruner.flush_questions()  # pruned a moment ago: not again within the hour
        assert await library.asked(older.id, guild=GUILD) is not None
        pruner._pruned_at = -math.inf
        await pruner.flush_questions()
        assert await library.asked(older.id, guild=GUILD) is None
        assert await library.asked(recent.id, guild=GUILD) is not None


async def test_a_new_library_prunes_at_its_first_flush(library: Library, db_url: str) -> None:
    """A library just opened prunes at its first flush, however long the machine has
    been up (time.monotonic() counts from an arbitrary point, often the boot)."""
    answer = await library.ask(QUESTION, guild=GUILD)
    old = old_entry(answer, guild=GUILD, days=3)
    library._log.append(old)
    await library.flush_questions()
    async with await Library.open(pruning(db_url)) as pruner:
        await pruner.flush_questions()
    assert await library.asked(old.id, guild=GUILD) is None


async def test_one_member_voting_on_rephrasings_counts_once(library: Library) -> None:
    """A member's 👍 on five rephrasings of a question lift the passage exactly as much
    as their 👍 on the question itself (the most alike one counts); a second member's
    vote lifts it further."""
    before, qid = await asked_and_logged(library)
    pid = int(hit(before, "geneva-b").passage_id)
    await library.vote(qid, pid, 1, guild=GUILD, user="42")
    once = hit(await library.ask(QUESTION, guild=GUILD), "geneva-b").score
    for words in (
        "the Geneva ceasefire talks",
        "Geneva ceasefire",
        "the ceasefire talks in Geneva with delegations",
        "the talks in Geneva",
        "Geneva ceasefire talks delegations",
    ):
        _, other = await asked_and_logged(library, f"who was at {words}?")
        await library.vote(other, pid, 1, guild=GUILD, user="42")
    assert hit(await library.ask(QUESTION, guild=GUILD), "geneva-b").score == once
    await library.vote(qid, pid, 1, guild=GUILD, user="43")
    assert hit(await library.ask(QUESTION, guild=GUILD), "geneva-b").score > once


async def test_a_reused_passage_id_never_shows_another_guilds_text(
    library: Library, db_url: str
) -> None:
    """SQLite hands a deleted passage's id to the next passage stored. An answer citing
    a removed article must not show (nor take votes for) another guild's private passage
    that got the same id; a hide of the old passage hides nothing new."""
    body = "The newest Geneva ceasefire round opened with a Danish envoy at the table. "
    await ingest(library, "newest", "Geneva ceasefire: the newest round", body + FILL[1])
    answer = await library.ask("newest Geneva ceasefire round", guild=GUILD)
    newest = hit(answer, "newest")
    qid = library.record_question(answer.question, answer.hits, guild=GUILD, per_page=5)
    await library.hide("passage", newest.passage_id, guild=GUILD)
    await library.remove(newest.source.id)
    secret = "The private memo names the Oslo back channel and its two couriers. " + FILL[2]
    await ingest(library, "secret", "Private memo", secret, guild=OTHER)
    logged = await library.asked(qid, guild=GUILD)
    assert logged is not None
    assert all("Oslo back channel" not in h.text for h in logged.hits)
    assert all(h.source.guild != OTHER for h in logged.hits)
    with pytest.raises(SourceNotFound):
        await library.vote(qid, int(newest.passage_id), 1, guild=GUILD, user="42")
    seen = await library.ask("private memo Oslo back channel couriers", guild=OTHER)
    memo = [h for h in seen.hits if "Oslo back channel" in h.text]
    assert memo  # not hidden in its own guild
    if db_url.startswith("sqlite"):  # the case this guards against did happen
        assert memo[0].passage_id == newest.passage_id


async def test_passage_ids_are_one_however_they_are_written(library: Library) -> None:
    """`007` and `7` name one passage: hidden once, shown again by either; a non-number
    is refused by name."""
    answer = await library.ask(QUESTION, guild=GUILD)
    pid = hit(answer, "geneva-b").passage_id
    await library.hide("passage", f"00{pid}", guild=GUILD)
    again = await library.hide("passage", pid, guild=GUILD)
    assert again.target == pid and len(await library.hidden(GUILD)) == 1
    assert await library.unhide("passage", f"0{pid}", guild=GUILD) is True
    assert await library.hidden(GUILD) == []
    for bad in ("²", "1e3", "-1"):
        with pytest.raises(SourceNotFound, match="a passage id is a number"):
            await library.hide("passage", bad, guild=GUILD)
