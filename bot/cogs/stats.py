"""`/stats`: a server's admins see what members asked and how the answers fared.

Questions come from the questions log (`Library.record_question`), votes from the 👍 /
👎 buttons; both are per server. Checked here, like every admin command.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import embeds
from bot.views import NONE
from index.store import utcnow

if TYPE_CHECKING:
    from bot.client import Briefbot

DEFAULT_DAYS = 30


class StatsCog(commands.Cog):
    def __init__(self, bot: Briefbot) -> None:
        self.bot = bot

    @app_commands.command(name="stats", description="Questions, unanswered ones, sources, votes")
    @app_commands.describe(days="How far back to count (default 30 days)")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def stats(
        self, interaction: discord.Interaction, days: app_commands.Range[int, 1, 365] = DEFAULT_DAYS
    ) -> None:
        if not await self.bot.check_admin(interaction, action="see /stats"):
            return
        await interaction.response.defer(thinking=True, ephemeral=True)
        stats = await self.bot.library.stats(
            str(interaction.guild_id), since=utcnow() - timedelta(days=days)
        )
        await interaction.followup.send(
            embed=embeds.stats_embed(stats, days), ephemeral=True, allowed_mentions=NONE
        )


async def setup(bot: Briefbot) -> None:
    await bot.add_cog(StatsCog(bot))
