"""`/settings`: a server's admins choose where and how briefbot answers there.

Only Manage Server (or Administrator) may change them, checked here: Discord's
`default_permissions` only hides the command, and the source manager role must not be
able to widen its own reach. The settings live in the database (`Library.guild_settings`);
each process keeps them for SETTINGS_TTL seconds, so a change made anywhere applies
everywhere within that time.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import embeds
from bot.views import NONE
from index.errors import BriefbotError, SettingError
from index.library import Library
from index.types import GuildSettings

if TYPE_CHECKING:
    from bot.client import Briefbot

log = logging.getLogger(__name__)

SETTINGS_TTL = 5.0  # seconds a process keeps a guild's settings before reading them again
READ_TIMEOUT = 1.0  # a slow database must not cost /ask its 3 s deadline: defaults then
MAX_SHOWN_CHANNELS = 40  # channel mentions listed before "… and N more"
DM_SETTINGS = GuildSettings("")  # direct messages: the defaults


class GuildSettingsCache:
    """Each guild's settings, read from the database at most every `ttl` seconds."""

    def __init__(self, library: Library, ttl: float = SETTINGS_TTL) -> None:
        self.library = library
        self.ttl = ttl
        self._entries: dict[str, tuple[float, GuildSettings]] = {}

    async def get(self, guild_id: int | None) -> GuildSettings:
        if not guild_id:
            return DM_SETTINGS
        key = str(guild_id)
        known = self._entries.get(key)
        if known is not None and time.monotonic() - known[0] < self.ttl:
            return known[1]
        try:
            settings = await asyncio.wait_for(self.library.guild_settings(key), READ_TIMEOUT)
        except Exception as exc:  # a read for an answer: never fail the answer
            log.warning("could not read guild %s settings (using the last known): %s", key, exc)
            return known[1] if known is not None else GuildSettings(key)
        self.put(settings)
        return settings

    def put(self, settings: GuildSettings) -> None:
        self._entries[settings.guild] = (time.monotonic(), settings)


def may_change_settings(interaction: discord.Interaction) -> bool:
    permissions = interaction.permissions
    return permissions.manage_guild or permissions.administrator


def mention_allowed(settings: GuildSettings, channel: object) -> bool:
    """Whether mentions are answered in `channel`; a thread follows its parent channel."""
    if settings.mention_channels is None:
        return True
    ids = {getattr(channel, "id", None), getattr(channel, "parent_id", None)} - {None}
    return any(str(i) in settings.mention_channels for i in ids)


def parse_channels(text: str, guild: discord.Guild) -> str | list[str]:
    """`all`, or channel mentions, ids or names (`#name`) → "all" or channel ids."""
    if text.strip().lower() == "all":
        return "all"
    ids: list[str] = []
    for token in re.split(r"[\s,]+", text.strip()):
        if not token:
            continue
        match = re.fullmatch(r"<#(\d+)>|(\d+)", token)
        if match:
            cid = int(match.group(1) or match.group(2))
            if guild.channels and guild.get_channel_or_thread(cid) is None:
                raise BriefbotError(f"This server has no channel `{cid}`.")
        else:
            name = token.lstrip("#").lower()
            found = next((c for c in guild.channels if c.name.lower() == name), None)
            if found is None:
                raise BriefbotError(
                    f"This server has no channel {code(token)}: "
                    "give channel mentions (#channel) or ids, or `all`."
                )
            cid = found.id
        ids.append(str(cid))
    if not ids:
        raise BriefbotError("Give channel mentions (#channel) or ids, or `all`.")
    return ids


def parse_role(text: str, guild: discord.Guild) -> str:
    """`none`, or a role mention, id or name → "none" or the role's id."""
    text = text.strip()
    if text.lower() == "none":
        return "none"
    match = re.fullmatch(r"<@&(\d+)>|(\d+)", text)
    if match:
        role = guild.get_role(int(match.group(1) or match.group(2)))
    else:
        wanted = text.lstrip("@").lower()
        role = next((r for r in guild.roles if r.name.lower() == wanted), None)
    if role is None:
        raise BriefbotError(
            f"This server has no role {code(text)}: pick one from the list, or `none`."
        )
    return str(role.id)


def role_text(role: str) -> str:
    """A stored role (an id from Discord, or a name from the config or CLI)."""
    return f"<@&{role}>" if role.isdigit() else code(role)


def code(text: str) -> str:
    """Typed text shown literally, as inline code (where markdown and mentions are inert)."""
    return "`" + embeds.cut(text, 100).replace("`", "'") + "`"


def settings_embed(
    settings: GuildSettings, *, default_results: int, admin_role: str, changed: bool = False
) -> discord.Embed:
    """The settings as an admin reads them; every value fits Discord's limits."""
    embed = discord.Embed(
        title="Settings saved" if changed else "briefbot settings for this server",
        colour=discord.Colour.blurple(),
    )
    if settings.mention_channels is None:
        channels = "every channel"
    else:
        ids = settings.mention_channels
        channels = ", ".join(f"<#{cid}>" for cid in ids[:MAX_SHOWN_CHANNELS])
        if len(ids) > MAX_SHOWN_CHANNELS:
            channels += f" … and {len(ids) - MAX_SHOWN_CHANNELS} more"
        channels += " (and their threads)"
    embed.add_field(
        name="Mentions answered in", value=embeds.cut(channels, embeds.Limits.FIELD_VALUE)
    )
    embed.add_field(
        name="Mentions answered",
        value="in a new thread from the question"
        if settings.reply == "thread"
        else "inline, as a reply",
    )
    results = (
        str(settings.results)
        if settings.results is not None
        else f"{default_results} (the bot's default)"
    )
    embed.add_field(name="/ask results per page", value=results)
    embed.add_field(
        name="/ask answers",
        value="private (only the asker sees them)" if settings.private else "public",
    )
    if settings.manager_role:
        managers = f"Manage Server, or the {role_text(settings.manager_role)} role"
    elif admin_role:
        managers = f"Manage Server, or the {role_text(admin_role)} role (the bot's default)"
    else:
        managers = "Manage Server only"
    embed.add_field(name="May manage sources", value=managers, inline=False)
    if settings.updated_at is not None:
        by = f" by <@{settings.updated_by}>" if (settings.updated_by or "").isdigit() else ""
        embed.description = f"Last changed <t:{int(settings.updated_at.timestamp())}:R>{by}."
    embed.set_footer(text="Only members with Manage Server can change these: /settings")
    return embed


class SettingsCog(commands.Cog):
    def __init__(self, bot: Briefbot) -> None:
        self.bot = bot

    @app_commands.command(name="settings", description="Where and how briefbot answers here")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(
        mention_channels="Channels where mentions are answered: all, or #channel mentions",
        reply="Answer a mention inline, or in a new thread from the question",
        results="Passages per page of an /ask answer unless the asker says (1–10)",
        private="Whether /ask answers are private unless the asker says",
        manager_role="Role that may manage sources besides Manage Server, or none",
    )
    @app_commands.choices(
        reply=[
            app_commands.Choice(name="inline (a reply)", value="inline"),
            app_commands.Choice(name="in a new thread", value="thread"),
        ]
    )
    async def settings(
        self,
        interaction: discord.Interaction,
        mention_channels: app_commands.Range[str, 1, 1500] | None = None,
        reply: str | None = None,
        results: app_commands.Range[int, 1, 10] | None = None,
        private: bool | None = None,
        manager_role: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        guild = interaction.guild
        if guild is None:
            await self.bot.reply_error(interaction, "Settings work in a server, not in DMs.")
            return
        if not may_change_settings(interaction):
            await self.bot.reply_error(
                interaction, "Only members with Manage Server can see or change the settings."
            )
            log.info("refused /settings to user %s in guild %s", interaction.user.id, guild.id)
            return
        changes = (mention_channels, reply, results, private, manager_role)
        try:
            if all(change is None for change in changes):
                current = await self.bot.library.guild_settings(str(guild.id))
            else:
                current = await self.bot.library.set_guild_settings(
                    str(guild.id),
                    mention_channels=parse_channels(mention_channels, guild)
                    if mention_channels is not None
                    else None,
                    reply=reply,
                    results=results,
                    private=private,
                    manager_role=parse_role(manager_role, guild)
                    if manager_role is not None
                    else None,
                    updated_by=str(interaction.user.id),
                )
        except SettingError as exc:  # the library's words, quoting what was typed
            await self.bot.reply_error(interaction, embeds.escape(embeds.cut(str(exc), 300)))
            return
        except BriefbotError as exc:  # ours, already escaped
            await self.bot.reply_error(interaction, embeds.cut(str(exc), 300))
            return
        self.bot.guild_config.put(current)
        await interaction.response.send_message(
            embed=settings_embed(
                current,
                default_results=self.bot.settings.results,
                admin_role=self.bot.settings.admin_role,
                changed=any(change is not None for change in changes),
            ),
            ephemeral=True,
            allowed_mentions=NONE,
        )

    @settings.autocomplete("manager_role")
    async def role_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Choices: none, then the server's roles whose name holds what was typed."""
        guild = interaction.guild
        if guild is None or not may_change_settings(interaction):
            return []
        wanted = current.strip().lstrip("@").lower()
        choices = [app_commands.Choice(name="none (the bot's configured role)", value="none")]
        roles = sorted(guild.roles, key=lambda r: -r.position)
        choices += [
            app_commands.Choice(name=embeds.cut(role.name, 100), value=str(role.id))
            for role in roles
            if not role.managed and not role.is_default() and wanted in role.name.lower()
        ]
        return choices[:25]


async def setup(bot: Briefbot) -> None:
    await bot.add_cog(SettingsCog(bot))
