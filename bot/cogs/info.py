"""`/help` and `/about`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import embeds
from bot.views import NONE

if TYPE_CHECKING:
    from bot.client import Briefbot


class InfoCog(commands.Cog):
    def __init__(self, bot: Briefbot) -> None:
        self.bot = bot

    @app_commands.command(name="help", description="How to ask briefbot and manage sources")
    async def help(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            embed=embeds.help_embed(), ephemeral=True, allowed_mentions=NONE
        )

    @app_commands.command(name="about", description="Version, and how much this server searches")
    async def about(self, interaction: discord.Interaction) -> None:
        guild = str(interaction.guild_id) if interaction.guild_id else None
        sources, passages, feeds = await self.bot.library.counts(guild)
        await interaction.response.send_message(
            embed=embeds.about_embed(self.bot.version, sources, passages, feeds, self.bot.started),
            ephemeral=True,
            allowed_mentions=NONE,
        )


async def setup(bot: Briefbot) -> None:
    await bot.add_cog(InfoCog(bot))
