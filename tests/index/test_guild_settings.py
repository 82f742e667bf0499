"""Guild settings on a real database: defaults, changes, validation, other processes."""

from __future__ import annotations

from typing import Any

import pytest

from index.errors import BriefbotError, SettingError
from index.library import Library
from index.settings import Settings
from index.types import GuildSettings

GUILD = "1300000000000000001"


@pytest.fixture
async def library(db_url: str):
    lib = await Library.open(Settings(database_url=db_url))
    yield lib
    await lib.close()


async def test_a_guild_that_set_nothing_gets_the_defaults(library: Library) -> None:
    """No row: every channel, inline replies, the bot's results and role, public answers."""
    assert await library.guild_settings(GUILD) == GuildSettings(GUILD)


async def test_changes_are_stored_and_kept_together(library: Library) -> None:
    """Each change is stored; fields not given keep their value."""
    first = await library.set_guild_settings(
        GUILD, mention_channels=["22", "11", "22"], reply="Thread", updated_by="42"
    )
    assert first.mention_channels == ("22", "11") and first.reply == "thread"
    second = await library.set_guild_settings(
        GUILD, results=7, private=True, manager_role="Editors"
    )
    assert second.mention_channels == ("22", "11") and second.reply == "thread"
    assert (second.results, second.private, second.manager_role) == (7, True, "Editors")
    assert second.updated_at is not None and second.updated_at.tzinfo is not None
    assert await library.guild_settings(GUILD) == second
    assert (await library.guild_settings("1300000000000000002")).results is None


async def test_all_and_none_go_back_to_the_defaults(library: Library) -> None:
    """mention_channels="all" and manager_role="none" clear those settings."""
    await library.set_guild_settings(GUILD, mention_channels="33, 44", manager_role="99")
    cleared = await library.set_guild_settings(GUILD, mention_channels="all", manager_role="None")
    assert cleared.mention_channels is None and cleared.manager_role is None


async def test_another_process_sees_a_change(library: Library, db_url: str) -> None:
    """A second library on the same database reads what the first wrote."""
    await library.set_guild_settings(GUILD, reply="thread", results=2)
    async with await Library.open(Settings(database_url=db_url)) as other:
        seen = await other.guild_settings(GUILD)
    assert (seen.reply, seen.results) == ("thread", 2)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"reply": "sideways"}, "'sideways'"),
        ({"results": 0}, "0"),
        ({"results": 11}, "11"),
        ({"results": True}, "True"),
        ({"private": "yes"}, "'yes'"),
        ({"mention_channels": ["12", "general"]}, "'general'"),
        ({"mention_channels": []}, "at least one"),
        ({"mention_channels": [str(i) for i in range(1, 52)]}, "51"),
        ({"manager_role": "  "}, "'  '"),
        ({"manager_role": "x" * 101}, "100"),
    ],
)
async def test_a_bad_value_is_refused_by_name_and_changes_nothing(
    library: Library, changes: dict[str, Any], named: str
) -> None:
    """A SettingError names the bad value; the other settings given are not written."""
    with pytest.raises(SettingError) as raised:
        await library.set_guild_settings(GUILD, **({"private": True} | changes))
    assert named in str(raised.value)
    assert isinstance(raised.value, BriefbotError)
    assert await library.guild_settings(GUILD) == GuildSettings(GUILD)


@pytest.mark.parametrize("guild", ["", "abc", "12 34"])
async def test_a_guild_must_be_an_id(library: Library, guild: str) -> None:
    """Guild ids are digits; anything else is a SettingError naming it."""
    with pytest.raises(SettingError, match="guild"):
        await library.guild_settings(guild)
