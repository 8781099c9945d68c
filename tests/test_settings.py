"""Settings: defaults, SUPPORT_* environment variables, the .env file, overrides, the OpenAI
variables, one-line ConfigErrors that name the variable, and secret masking."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.errors import ConfigError
from agent.settings import load_settings
from agent.tools import registry

ALL_TOOL_NAMES = registry.names()
SENSITIVE_TOOL_NAMES = registry.sensitive_names()

# The conftest fixture has already removed SUPPORT_*/OPENAI_* variables and moved into tmp_path,
# so every test starts from the defaults with no .env file.


def test_defaults() -> None:
    """With nothing configured: SQLite under data/, the offline model, sensitive tools gated."""
    settings = load_settings()
    assert settings.saver == "sqlite"
    assert not settings.sqlite_path.is_absolute()
    assert settings.sqlite_path.parts[0] == "data"
    assert settings.model == "offline" and settings.model_is_offline
    assert settings.approval_required == list(SENSITIVE_TOOL_NAMES)
    assert settings.redis_url is None
    assert settings.openai_api_key is None and settings.openai_base_url is None
    assert settings.postgres_url.startswith("postgresql://")


def test_support_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """SUPPORT_<NAME> sets the field <name>, converted to its type."""
    monkeypatch.setenv("SUPPORT_SAVER", "memory")
    monkeypatch.setenv("SUPPORT_MODEL", "openai:gpt-4o-mini")
    monkeypatch.setenv("SUPPORT_SQLITE_PATH", "elsewhere/x.db")
    monkeypatch.setenv("SUPPORT_POSTGRES_POOL_SIZE", "5")
    monkeypatch.setenv("SUPPORT_REDIS_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("SUPPORT_BUSY_POLICY", "fail")
    settings = load_settings()
    assert settings.saver == "memory"
    assert settings.model == "openai:gpt-4o-mini" and not settings.model_is_offline
    assert settings.sqlite_path == Path("elsewhere/x.db")
    assert settings.postgres_pool_size == 5
    assert settings.redis_url == "redis://127.0.0.1:6379/3"
    assert settings.busy_policy == "fail"


def test_unrelated_support_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """Variables that share the prefix but name no setting (e.g. the test suite's) are ignored."""
    monkeypatch.setenv("SUPPORT_TEST_POSTGRES_URL", "postgresql://elsewhere/db")
    monkeypatch.setenv("SUPPORT_NOT_A_SETTING", "whatever")
    assert load_settings().saver == "sqlite"


def test_dotenv_file_in_cwd_is_read() -> None:
    """A .env file in the working directory supplies settings, OpenAI variables included."""
    Path(".env").write_text(
        "SUPPORT_SAVER=postgres\n"
        "SUPPORT_POSTGRES_URL=postgresql://app:pw@db.internal:5432/support\n"
        "SUPPORT_APPROVAL_REQUIRED=issue_refund\n"
        "OPENAI_API_KEY=sk-from-dotenv\n"
        "UNRELATED=1\n",
        encoding="utf-8",
    )
    settings = load_settings()
    assert settings.saver == "postgres"
    assert settings.postgres_url == "postgresql://app:pw@db.internal:5432/support"
    assert settings.approval_required == ["issue_refund"]
    assert settings.openai_api_key is not None
    assert settings.openai_api_key.get_secret_value() == "sk-from-dotenv"


def test_environment_beats_dotenv(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real environment variable wins over the same name in .env."""
    Path(".env").write_text("SUPPORT_SAVER=postgres\n", encoding="utf-8")
    monkeypatch.setenv("SUPPORT_SAVER", "memory")
    assert load_settings().saver == "memory"


def test_overrides_beat_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch) -> None:
    """Explicit overrides (CLI flags) win; an override of None means 'not given'."""
    Path(".env").write_text("SUPPORT_MODEL=openai:gpt-4o\n", encoding="utf-8")
    monkeypatch.setenv("SUPPORT_SAVER", "postgres")
    settings = load_settings(saver="memory", model="offline")
    assert settings.saver == "memory" and settings.model == "offline"
    # A flag the user did not pass arrives as None and must not erase the env value.
    assert load_settings(saver=None).saver == "postgres"


def test_openai_variables_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    """The standard OPENAI_API_KEY and OPENAI_BASE_URL are read without the SUPPORT_ prefix."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-plain")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")
    settings = load_settings(model="openai:gpt-4o-mini")
    assert settings.openai_api_key is not None
    assert settings.openai_api_key.get_secret_value() == "sk-plain"
    assert settings.openai_base_url == "http://127.0.0.1:8000/v1"


def test_prefixed_openai_variables_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    """SUPPORT_OPENAI_* works too, and an explicit override beats both."""
    monkeypatch.setenv("SUPPORT_OPENAI_API_KEY", "sk-prefixed")
    monkeypatch.setenv("SUPPORT_OPENAI_BASE_URL", "http://proxy/v1")
    settings = load_settings()
    assert settings.openai_api_key is not None
    assert settings.openai_api_key.get_secret_value() == "sk-prefixed"
    assert settings.openai_base_url == "http://proxy/v1"
    overridden = load_settings(openai_api_key="sk-flag", openai_base_url="http://flag/v1")
    assert overridden.openai_api_key is not None
    assert overridden.openai_api_key.get_secret_value() == "sk-flag"
    assert overridden.openai_base_url == "http://flag/v1"


@pytest.mark.parametrize(("value", "expected"), [
    ("issue_refund", ["issue_refund"]),
    (" issue_refund , cancel_order ,, ", ["issue_refund", "cancel_order"]),
    ("", []),  # an empty list turns approval off
    (",".join(ALL_TOOL_NAMES), list(ALL_TOOL_NAMES)),
])
def test_approval_list_from_comma_separated_env(monkeypatch: pytest.MonkeyPatch, value: str,
                                                expected: list[str]) -> None:
    """SUPPORT_APPROVAL_REQUIRED is a comma-separated list (not JSON), spaces tolerated."""
    monkeypatch.setenv("SUPPORT_APPROVAL_REQUIRED", value)
    assert load_settings().approval_required == expected


def test_approval_list_override_accepts_a_list_or_a_string() -> None:
    """Programmatic overrides may pass a list or the same comma-separated string."""
    assert load_settings(approval_required=["cancel_order"]).approval_required == ["cancel_order"]
    assert load_settings(approval_required="cancel_order,issue_refund").approval_required == [
        "cancel_order", "issue_refund"]


# --- bad values --------------------------------------------------------------------------------


BAD_VALUES: list[Any] = [
    # (field, bad value, variable the message must name, words that say what is allowed)
    ("saver", "mongo", "SUPPORT_SAVER", ["memory", "sqlite", "postgres"]),
    ("model", "gpt-4", "SUPPORT_MODEL", ["offline", "openai:"]),
    ("approval_required", "issue_refund,nuke", "SUPPORT_APPROVAL_REQUIRED",
     ["nuke", *ALL_TOOL_NAMES]),
    ("postgres_url", "mysql://root@db/x", "SUPPORT_POSTGRES_URL", ["postgresql://"]),
    ("redis_url", "http://cache:6379", "SUPPORT_REDIS_URL", ["redis://", "rediss://"]),
    ("summary_trigger_messages", "-1", "SUPPORT_SUMMARY_TRIGGER_MESSAGES",
     ["greater than or equal to 0"]),
    ("busy_wait_seconds", "-0.5", "SUPPORT_BUSY_WAIT_SECONDS", ["greater than or equal to 0"]),
    ("postgres_pool_size", "0", "SUPPORT_POSTGRES_POOL_SIZE", ["greater than or equal to 1"]),
    ("prune_max_messages", "2", "SUPPORT_PRUNE_MAX_MESSAGES", ["greater than or equal to 4"]),
    ("busy_policy", "sometimes", "SUPPORT_BUSY_POLICY", ["wait", "fail"]),
    ("postgres_pool_size", "many", "SUPPORT_POSTGRES_POOL_SIZE", ["integer"]),
]


def assert_one_line_naming(error: ConfigError, variable: str, allowed: list[str]) -> None:
    """The message is one line, names the variable and says what would be accepted."""
    message = str(error)
    assert "\n" not in message
    assert variable in message
    for word in allowed:
        assert word in message


@pytest.mark.parametrize(("field", "value", "variable", "allowed"), BAD_VALUES)
def test_bad_value_from_environment_is_a_one_line_config_error(
        monkeypatch: pytest.MonkeyPatch, field: str, value: str, variable: str,
        allowed: list[str]) -> None:
    """A bad SUPPORT_* variable raises ConfigError naming it and the allowed values."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as bad:
        load_settings()
    assert_one_line_naming(bad.value, variable, allowed)


@pytest.mark.parametrize(("field", "value", "variable", "allowed"), BAD_VALUES)
def test_bad_override_is_a_one_line_config_error(field: str, value: str, variable: str,
                                                 allowed: list[str]) -> None:
    """A bad override (CLI flag) raises the same ConfigError."""
    with pytest.raises(ConfigError) as bad:
        load_settings(**{field: value})
    assert_one_line_naming(bad.value, variable, allowed)


def test_several_bad_values_stay_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two mistakes are both reported, still on a single line."""
    monkeypatch.setenv("SUPPORT_SAVER", "mongo")
    with pytest.raises(ConfigError) as bad:
        load_settings(model="gpt-4\nsecond line")
    message = str(bad.value)
    assert "\n" not in message
    assert "SUPPORT_SAVER" in message and "SUPPORT_MODEL" in message


def test_bad_value_in_dotenv_is_a_config_error() -> None:
    """A bad value in .env is reported like one from the environment."""
    Path(".env").write_text("SUPPORT_SAVER=redis\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="SUPPORT_SAVER"):
        load_settings()


def test_bad_openai_override_names_the_real_variable() -> None:
    """A bad OpenAI setting names a variable that exists, not a doubled prefix."""
    with pytest.raises(ConfigError) as bad:
        load_settings(openai_base_url=5)
    message = str(bad.value)
    assert "\n" not in message and "OPENAI_BASE_URL" in message
    assert "SUPPORT_SUPPORT_" not in message and "--SUPPORT-" not in message


# --- describe() -------------------------------------------------------------------------------


def test_describe_masks_the_postgres_password() -> None:
    """The printable view keeps user, host and database but hides the password."""
    settings = load_settings(saver="postgres",
                             postgres_url="postgresql://app:s3cr3t-pw@db.internal:5432/support")
    shown = settings.describe()
    assert shown["database"] == "postgresql://app:***@db.internal:5432/support"
    assert "s3cr3t-pw" not in str(shown)


@pytest.mark.parametrize("url", [
    "postgresql://db.internal/support?password=s3cr3t-pw",
    "postgresql://:s3cr3t-pw@db.internal/support",
])
def test_describe_masks_every_form_of_postgres_password(url: str) -> None:
    """No URL form libpq accepts shows its password in describe()."""
    shown = load_settings(saver="postgres", postgres_url=url).describe()
    assert "s3cr3t-pw" not in str(shown)


def test_describe_never_shows_the_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """describe(), repr() and str() say whether a key is set, never what it is."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-0123456789")
    online = load_settings(model="openai:gpt-4o-mini")
    shown = online.describe()
    assert shown["openai_api_key"] == "set"
    assert shown["openai_base_url"] == "https://api.openai.com/v1"
    for text in (str(shown), repr(online), str(online)):
        assert "sk-live-0123456789" not in text
    # The offline model does not use the key, so describe() leaves it out entirely.
    assert "openai_api_key" not in load_settings().describe()
    monkeypatch.delenv("OPENAI_API_KEY")
    assert load_settings(model="openai:gpt-4o-mini").describe()["openai_api_key"] == "missing"


def test_describe_names_the_database_for_each_saver() -> None:
    """describe() shows the SQLite path, or says the memory saver keeps nothing."""
    assert load_settings(saver="sqlite", sqlite_path="x/y.db").describe()["database"] == "x/y.db"
    assert "memory" in load_settings(saver="memory").describe()["database"]
    shown = load_settings(approval_required="").describe()
    assert shown["approval_required"] == "(none)"


# --- flags named in errors, and the SQLite folder -----------------------------------------------


@pytest.mark.parametrize(("field", "value", "variable", "allowed"), BAD_VALUES)
def test_errors_name_a_command_line_flag_only_when_it_exists(
        monkeypatch: pytest.MonkeyPatch, field: str, value: str, variable: str,
        allowed: list[str]) -> None:
    """`(--saver)` is suggested; `--busy-policy` and friends do not exist, so are not named."""
    from agent.cli import build_parser

    flags = {action.dest for action in build_parser()._actions if action.option_strings}
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as bad:
        load_settings()
    named = f"(--{field.replace('_', '-')})"
    assert (named in str(bad.value)) == (field in flags), str(bad.value)


def test_sqlite_file_folder_is_created_but_not_a_missing_tree(tmp_path: Path) -> None:
    """The file's own folder is made when opened; a missing folder above it is a clear error."""
    from agent.service import SupportDesk

    with SupportDesk.open(saver="sqlite", sqlite_path=tmp_path / "data" / "support.db"):
        pass
    assert (tmp_path / "data" / "support.db").is_file()

    deep = tmp_path / "srv" / "support" / "data" / "support.db"
    with pytest.raises(ConfigError) as bad:
        load_settings(saver="sqlite", sqlite_path=deep)
    message = str(bad.value)
    assert "\n" not in message and "SUPPORT_SQLITE_PATH" in message
    assert f"the folder {tmp_path / 'srv'} does not exist" in message
    with pytest.raises(ConfigError):
        SupportDesk.open(saver="sqlite", sqlite_path=deep)
    assert not (tmp_path / "srv").exists(), "nothing was created"
    # The path only matters to the SQLite saver.
    assert load_settings(saver="memory", sqlite_path=deep).sqlite_path == deep


# --- sign-in mode, and blank OpenAI variables ---------------------------------------------------


@pytest.mark.parametrize(("saver", "expected"), [
    ("sqlite", "local"), ("memory", "local"), ("postgres", "oidc"),
])
def test_sign_in_mode_defaults_by_saver(saver: str, expected: str) -> None:
    """Unset SUPPORT_AUTH: local for the embedded Quickstart, OIDC for a shared database."""
    settings = load_settings(saver=saver)
    assert settings.auth == expected
    assert not settings.local_sign_in_refused
    assert settings.shared_database == (saver == "postgres")


@pytest.mark.parametrize("blank", ["", "  "])
def test_blank_sign_in_mode_is_unset(monkeypatch: pytest.MonkeyPatch, blank: str) -> None:
    """`SUPPORT_AUTH=` (as .env.example and compose write it) means the default."""
    monkeypatch.setenv("SUPPORT_AUTH", blank)
    assert load_settings(saver="postgres").auth == "oidc"
    assert load_settings(saver="sqlite").auth == "local"


def test_local_sign_in_on_postgres_is_refused_unless_allowed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """SUPPORT_AUTH=local on PostgreSQL needs SUPPORT_ALLOW_LOCAL_AUTH_ON_SHARED_DB=true."""
    monkeypatch.setenv("SUPPORT_SAVER", "postgres")
    monkeypatch.setenv("SUPPORT_AUTH", "LOCAL")  # case does not matter
    settings = load_settings()
    assert settings.auth == "local" and settings.local_sign_in_refused
    monkeypatch.setenv("SUPPORT_ALLOW_LOCAL_AUTH_ON_SHARED_DB", "true")
    assert not load_settings().local_sign_in_refused
    # The embedded savers never need the opt-in; OIDC on PostgreSQL never does either.
    assert not load_settings(saver="sqlite", allow_local_auth_on_shared_db=False,
                             auth="local").local_sign_in_refused
    assert not load_settings(auth="oidc", allow_local_auth_on_shared_db=False
                             ).local_sign_in_refused


def test_unknown_sign_in_mode_is_a_one_line_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """SUPPORT_AUTH=ldap names the variable and both allowed values."""
    monkeypatch.setenv("SUPPORT_AUTH", "ldap")
    with pytest.raises(ConfigError) as bad:
        load_settings()
    assert_one_line_naming(bad.value, "SUPPORT_AUTH", ["local", "oidc"])


def test_describe_names_the_sign_in_mode() -> None:
    """The status area shows how people sign in."""
    assert load_settings().describe()["sign-in"].startswith("local")
    assert load_settings(saver="postgres").describe()["sign-in"].startswith("oidc")


@pytest.mark.parametrize("blank", ["", " "])
def test_blank_openai_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch,
                                               blank: str) -> None:
    """`OPENAI_API_KEY=` (compose passes it through empty) is no key at all, not an empty one."""
    monkeypatch.setenv("OPENAI_API_KEY", blank)
    monkeypatch.setenv("OPENAI_BASE_URL", blank)
    settings = load_settings(model="openai:gpt-4.1-mini")
    assert settings.openai_api_key is None and settings.openai_base_url is None
    assert settings.describe()["openai_api_key"] == "missing"
    assert settings.describe()["openai_base_url"] == "https://api.openai.com/v1"


def test_blank_openai_key_is_one_clear_error_from_the_cli(tmp_path: Path) -> None:
    """`OPENAI_API_KEY= support-agent ask ...` exits 2 with one line, not a traceback."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("SUPPORT_", "OPENAI_"))}
    env.update(OPENAI_API_KEY="", SUPPORT_SAVER="memory", SUPPORT_MODEL="openai:gpt-4.1-mini")
    done = subprocess.run([sys.executable, "-m", "agent.cli", "ask", "--user", "alice", "hi"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and "needs OPENAI_API_KEY" in line
