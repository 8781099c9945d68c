"""SUPPORT_MODEL takes any LangChain provider (`<provider>:<model>`, through init_chat_model); a
provider whose package is missing is one clear error naming what to pip install.

No provider package is installed for these tests: the missing-package cases use providers whose
integration packages are absent from the test environment (checked, not assumed).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from langchain_openai import ChatOpenAI

from agent.errors import ConfigError
from agent.model.factory import make_chat_model
from agent.model.offline import OfflineSupportModel
from agent.service import SupportDesk
from agent.settings import load_settings

# Provider -> the module its LangChain integration lives in (and the pip package it names).
ABSENT_CANDIDATES = {"anthropic": "langchain_anthropic", "groq": "langchain_groq",
                     "mistralai": "langchain_mistralai", "xai": "langchain_xai"}


def absent_provider() -> tuple[str, str]:
    """A provider whose integration package is not installed here, and that package's name."""
    for provider, module in ABSENT_CANDIDATES.items():
        if importlib.util.find_spec(module) is None:
            return provider, module.replace("_", "-")
    pytest.fail(f"every one of {sorted(ABSENT_CANDIDATES)} is installed; add a provider whose "
                "package is absent to ABSENT_CANDIDATES")


def cli(tmp_path: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """Run `support-agent` in a fresh process with only the given SUPPORT_*/OPENAI_* values."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("SUPPORT_", "OPENAI_"))}
    env.update(settings)
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("model", "provider", "name"), [
    ("openai:gpt-4.1-mini", "openai", "gpt-4.1-mini"),
    ("anthropic:claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"),
    ("ollama:llama3.1:8b", "ollama", "llama3.1:8b"),  # Ollama tags carry a colon
    ("openai:Qwen/Qwen2.5-7B-Instruct", "openai", "Qwen/Qwen2.5-7B-Instruct"),  # vLLM names
    ("google_genai:gemini-2.5-flash", "google_genai", "gemini-2.5-flash"),
])
def test_provider_strings_are_accepted(model: str, provider: str, name: str) -> None:
    """`<provider>:<model>` is split at the first colon, as init_chat_model does."""
    settings = load_settings(model=model)
    assert (settings.model_provider, settings.model_name) == (provider, name)
    assert not settings.model_is_offline
    offline = load_settings()
    assert offline.model_provider is None and offline.model_name is None


@pytest.mark.parametrize("model", ["gpt-4", "openai:", ":gpt-4", "Open AI:gpt-4", "openai gpt"])
def test_malformed_model_settings_are_refused(model: str) -> None:
    """Anything but `offline` or `<provider>:<model>` is a one-line error naming the setting."""
    with pytest.raises(ConfigError) as bad:
        load_settings(model=model)
    message = str(bad.value)
    assert "\n" not in message and "SUPPORT_MODEL" in message
    assert "<provider>:<model>" in message and "openai:" in message


def test_offline_model_needs_no_provider() -> None:
    """The default stays the deterministic offline model."""
    assert isinstance(make_chat_model(load_settings()), OfflineSupportModel)


def test_openai_provider_keeps_its_key_base_url_and_options() -> None:
    """`openai:` goes through init_chat_model to ChatOpenAI with the app's OpenAI settings."""
    settings = load_settings(model="openai:local-model", openai_api_key="sk-dummy",
                             openai_base_url="http://127.0.0.1:1234/v1",
                             model_timeout_seconds=7)
    model = make_chat_model(settings)
    assert isinstance(model, ChatOpenAI)
    assert model.model_name == "local-model"
    assert model.openai_api_base == "http://127.0.0.1:1234/v1"
    assert model.openai_api_key is not None
    assert model.openai_api_key.get_secret_value() == "sk-dummy"
    assert model.temperature == 0 and model.request_timeout == 7 and model.max_retries == 2
    assert model.stream_usage


def test_missing_provider_package_is_one_config_error_naming_it() -> None:
    """A provider LangChain knows, package not installed: say which package to pip install."""
    provider, package = absent_provider()
    with pytest.raises(ConfigError) as missing:
        make_chat_model(load_settings(model=f"{provider}:some-model"))
    message = str(missing.value)
    assert "\n" not in message
    assert f"SUPPORT_MODEL={provider}:some-model" in message
    assert f"pip install {package}" in message


def test_ollama_without_its_package_names_langchain_ollama() -> None:
    """LangChain falls back to langchain-community for Ollama; the error still names the
    package to install today, langchain-ollama."""
    if importlib.util.find_spec("langchain_ollama") or importlib.util.find_spec(
            "langchain_community"):
        pytest.fail("this test needs neither langchain-ollama nor langchain-community installed")
    with pytest.raises(ConfigError, match=r"pip install langchain-ollama$"):
        make_chat_model(load_settings(model="ollama:llama3.1"))


def test_unknown_provider_is_one_config_error() -> None:
    """A provider LangChain does not know is refused, naming it and the accepted form."""
    with pytest.raises(ConfigError) as unknown:
        make_chat_model(load_settings(model="nosuchprovider:some-model"))
    message = str(unknown.value)
    assert "\n" not in message
    assert "no model provider 'nosuchprovider'" in message and "SUPPORT_MODEL" in message


def test_desk_reports_the_missing_package_before_opening_the_database(tmp_path: Path) -> None:
    """SupportDesk.open fails on the model first: no database file is created."""
    provider, package = absent_provider()
    path = tmp_path / "data" / "support.db"
    with pytest.raises(ConfigError, match=f"pip install {package}"):
        SupportDesk.open(saver="sqlite", sqlite_path=path, model=f"{provider}:x")
    assert not path.exists()


def test_cli_missing_provider_package_exits_2_with_one_line(tmp_path: Path) -> None:
    """The CLI prints one `error:` line naming the package, exit code 2, no traceback."""
    provider, package = absent_provider()
    done = cli(tmp_path, "ask", "--user", "alice", "Where is ORD-1002?",
               SUPPORT_SAVER="memory", SUPPORT_MODEL=f"{provider}:some-model")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and f"pip install {package}" in line


def test_doctor_names_the_missing_package(tmp_path: Path) -> None:
    """`support-agent doctor` fails the model check with the same words."""
    provider, package = absent_provider()
    done = cli(tmp_path, "doctor", SUPPORT_SAVER="memory",
               SUPPORT_MODEL=f"{provider}:some-model")
    assert done.returncode == 1, done.stdout + done.stderr
    [model_line] = [line for line in done.stdout.splitlines() if " model " in f" {line} "]
    assert model_line.startswith("FAIL") and f"pip install {package}" in model_line
