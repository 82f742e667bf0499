"""A strict fake Discord server (REST API v10 + gateway) for end-to-end tests of the bot.

async with FakeDiscord() as fake:
    guild = fake.add_guild(1, "test")
    ...  # point discord.py at fake.api_base / fake.gateway_url, start the bot
    it = await fake.slash("ask", {"question": "who?"}, guild_id=1, user_id=2)
    message = await it.wait_message()
    assert fake.violations == []
"""

from .interaction import Interaction
from .limits import Limits, Problem, check_message
from .server import FakeDiscord, FakeDiscordError

__all__ = ["FakeDiscord", "FakeDiscordError", "Interaction", "Limits", "Problem", "check_message"]
