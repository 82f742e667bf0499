"""The [discord] section and its environment variables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import DISCORD_API, ConfigError, load_config


def assert_refused(tmp_path: Path, toml: str, message: str) -> None:
    """Loading a config file holding `toml` is a ConfigError saying `message`."""
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(str(path))


ENV = (
    "BRIEFBOT_DISCORD_TOKEN",
    "BRIEFBOT_DISCORD_API_BASE",
    "BRIEFBOT_DISCORD_GATEWAY_URL",
    "BRIEFBOT_DISCORD_DEV_GUILDS",
    "BRIEFBOT_DATABASE_URL",
    "BRIEFBOT_DISCORD_SHARD_IDS",
    "BRIEFBOT_DISCORD_SHARD_COUNT",
    "BRIEFBOT_INDEX_PATH",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no ./briefbot.toml


def test_defaults_point_at_discord() -> None:
    """With nothing configured the bot talks to Discord itself, with no token."""
    config = load_config()
    assert config.discord.api_base == DISCORD_API
    assert config.discord.gateway_url == ""
    assert config.discord.token == ""


def test_environment_alone_configures_the_bot(monkeypatch: pytest.MonkeyPatch) -> None:
    """`briefbot run` needs no config file: every connection setting has a variable."""
    monkeypatch.setenv("BRIEFBOT_DISCORD_TOKEN", "secret")
    monkeypatch.setenv("BRIEFBOT_DISCORD_API_BASE", "http://127.0.0.1:1/api/v10")
    monkeypatch.setenv("BRIEFBOT_DISCORD_GATEWAY_URL", "ws://127.0.0.1:1/gateway")
    monkeypatch.setenv("BRIEFBOT_DISCORD_DEV_GUILDS", "111, 222,")
    monkeypatch.setenv("BRIEFBOT_DATABASE_URL", "sqlite+aiosqlite:///x.db")
    config = load_config()
    assert config.discord.token == "secret"
    assert config.discord.api_base == "http://127.0.0.1:1/api/v10"
    assert config.discord.gateway_url == "ws://127.0.0.1:1/gateway"
    assert config.discord.dev_guilds == (111, 222)
    assert config.settings.database_url == "sqlite+aiosqlite:///x.db"
    assert "secret" not in repr(config)


def test_environment_beats_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """File values apply unless the environment sets them."""
    path = tmp_path / "c.toml"
    path.write_text('[discord]\ntoken = "file"\ndev_guilds = [5]\nadmin_role = "Editors"\n')
    assert load_config(str(path)).discord.token == "file"
    monkeypatch.setenv("BRIEFBOT_DISCORD_TOKEN", "env")
    config = load_config(str(path))
    assert (config.discord.token, config.discord.dev_guilds) == ("env", (5,))
    assert config.discord.admin_role == "Editors"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[discord]\ntokn = 'x'\n", "unknown setting [discord] tokn"),
        ("[discord]\napi_base = 'ftp://x'\n", "api_base must start with http"),
        ("[discord]\ngateway_url = 'http://x'\n", "gateway_url must start with ws"),
        ("[discord]\nresults = 11\n", "results must be 1 to 10"),
        ("[discord]\nbutton_seconds = 3600.0\n", "15 minutes"),
        ("[discord]\ndev_guilds = ['1']\n", "dev_guilds must be tuple"),
        ("[discord]\nguild_cooldown_asks = 0\n", "guild_cooldown_asks must be >= 1"),
        ("[discord]\nguild_cooldown_seconds = -1\n", "guild_cooldown_seconds >= 0"),
        ("[discord]\nguild_cooldown_asks = '60'\n", "guild_cooldown_asks must be int"),
        ("[discord]\nguild_cooldown_asks = 5\n", "more than one user may ask"),
        (
            "[discord]\nguild_cooldown_asks = 50\nguild_cooldown_seconds = 600.0\n",
            "more than one user may ask in guild_cooldown_seconds (50)",
        ),
    ],
)
def test_bad_discord_settings_are_named(tmp_path: Path, toml: str, message: str) -> None:
    """A wrong value is an error that names the setting."""
    assert_refused(tmp_path, toml, message)


@pytest.mark.parametrize(
    "toml",
    [
        "",
        "[discord]\nguild_cooldown_asks = 6\n",
        "[discord]\ncooldown_seconds = 0.0\nguild_cooldown_asks = 1\n",
        "[discord]\nguild_cooldown_asks = 1\nguild_cooldown_seconds = 0.0\n",
    ],
)
def test_guild_cooldown_settings(tmp_path: Path, toml: str) -> None:
    """Defaults 60 per 60 s; any budget above one user's allowance, or either limit off."""
    path = tmp_path / "c.toml"
    path.write_text(toml)
    discord = load_config(str(path)).discord
    if not toml:
        assert (discord.guild_cooldown_asks, discord.guild_cooldown_seconds) == (60, 60.0)


def test_bad_dev_guilds_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A non-numeric guild id in the variable is named."""
    monkeypatch.setenv("BRIEFBOT_DISCORD_DEV_GUILDS", "123,abc")
    with pytest.raises(ConfigError, match="'abc'"):
        load_config()


def test_example_config_loads() -> None:
    """config.example.toml stays valid as settings are added."""
    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    load_config(str(example))


def test_shards_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """One config file, N processes: each gets its shards from the environment."""
    monkeypatch.setenv("BRIEFBOT_DISCORD_SHARD_COUNT", "4")
    monkeypatch.setenv("BRIEFBOT_DISCORD_SHARD_IDS", "2,3")
    monkeypatch.setenv("BRIEFBOT_INDEX_PATH", "/var/lib/briefbot/index-2")
    config = load_config()
    assert (config.discord.shard_count, config.discord.shard_ids) == (4, (2, 3))
    assert config.settings.index.path == "/var/lib/briefbot/index-2"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[discord]\nshard_ids = [0]\n", "shard_ids needs shard_count"),
        ("[discord]\nshard_count = 2\nshard_ids = [2]\n", "0 to shard_count - 1"),
        ("[index]\npoll_interval = 0\n", "poll_interval > 0"),
        ("[feeds]\ninterval = 0\n", "[feeds] needs interval >= 1"),
        ("[feeds]\ninterval = 600\nmax_backoff = 60\n", "max_backoff >= interval"),
        ("[extract]\ntime_limit = 0\n", "[extract] time_limit must be more than 0"),
        ("[extract]\nmax_html_bytes = -1\n", "[extract] max_html_bytes must be more than 0"),
    ],
)
def test_bad_shard_and_index_settings_are_named(tmp_path: Path, toml: str, message: str) -> None:
    assert_refused(tmp_path, toml, message)


def test_the_token_never_reaches_the_log() -> None:
    """Messages, arguments and tracebacks that hold the token are logged without it."""
    import io
    import logging

    from bot.client import redact_logs

    token = "MTIz.secret-token.value"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        redact_logs(token)
        redact_logs(token)  # idempotent
        log = logging.getLogger("briefbot.test")
        log.warning("connecting with %s", token)
        try:
            raise RuntimeError(f"bad header Authorization: Bot {token}")
        except RuntimeError:
            log.exception("failed")
    finally:
        root.removeHandler(handler)
    text = stream.getvalue()
    assert token not in text
    assert text.count("[redacted token]") == 2 and "RuntimeError" in text
