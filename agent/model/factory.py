"""Choose the chat model from settings: the offline model, or any LangChain provider.

`SUPPORT_MODEL=<provider>:<model>` goes through LangChain's own `init_chat_model`, so every
provider LangChain knows works once its integration package is installed (`openai:` ships with
the app; `anthropic:` needs langchain-anthropic, `ollama:` langchain-ollama, ...). The OpenAI
provider keeps its own settings (key, base URL), which also serve any OpenAI-compatible server:
vLLM, LM Studio, Ollama's /v1.
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel

from agent.errors import ConfigError, SupportError, Unavailable
from agent.model.offline import OfflineSupportModel
from agent.settings import MODEL_HELP, Settings


def make_chat_model(settings: Settings) -> BaseChatModel:
    """The chat model the agent and the summariser use."""
    if settings.model_is_offline:
        return OfflineSupportModel()
    provider, name = settings.model_provider, settings.model_name
    if not provider or not name:
        raise ConfigError(f"bad setting SUPPORT_MODEL={settings.model!r}: use {MODEL_HELP}")
    options: dict[str, Any] = {"temperature": 0}
    if provider == "openai":
        if settings.openai_api_key is None:
            raise ConfigError(f"SUPPORT_MODEL={settings.model} needs OPENAI_API_KEY (or "
                              "SUPPORT_OPENAI_API_KEY; any non-empty value for a local server "
                              "that ignores it); unset SUPPORT_MODEL to use the offline model")
        options.update(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            timeout=settings.model_timeout_seconds,
            max_retries=2,
            # Token usage on streamed replies, so the history page can show it.
            stream_usage=True,
        )
    return _init_chat_model(settings.model, name, provider, options)


def _init_chat_model(setting: str, name: str, provider: str,
                     options: dict[str, Any]) -> BaseChatModel:
    """LangChain's init_chat_model, its failures turned into one ConfigError line."""
    from langchain.chat_models import init_chat_model  # imported here: offline needs none

    try:
        return init_chat_model(name, model_provider=provider, **options)
    except ImportError as exc:
        package = _missing_package(exc)
        raise ConfigError(f"SUPPORT_MODEL={setting} needs the {package} package, which is not "
                          f"installed: pip install {package}") from None
    except ValueError as exc:  # pydantic's ValidationError included
        if "unsupported" in str(exc).lower() and "provider" in str(exc).lower():
            raise ConfigError(f"bad setting SUPPORT_MODEL={setting!r}: LangChain knows no model "
                              f"provider {provider!r}; use {MODEL_HELP}") from None
        raise ConfigError(f"SUPPORT_MODEL={setting}: the {provider} model refused its "
                          f"settings: {_first_line(str(exc))}") from None


def _missing_package(exc: ImportError) -> str:
    """The pip package whose import failed (langchain_anthropic -> langchain-anthropic)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ImportError) and cause.name:
            return cause.name.split(".")[0].replace("_", "-")
        # Only the explicit cause: the implicit context may be a fallback LangChain tried after
        # (ollama: langchain-community), not the package the provider needs.
        cause = cause.__cause__
    # Raised without its cause (ollama's fallback is), LangChain's message still names the
    # package: "... Please install it with `pip install langchain-ollama`".
    named = re.search(r"pip install ([A-Za-z0-9_.\-]+)", str(exc))
    return named.group(1) if named else "the provider's LangChain integration package"


def model_error(exc: BaseException) -> SupportError | None:
    """The user-facing error when the model endpoint fails, or None if `exc` is not that.

    A refused key or an unknown model is a configuration problem (retrying will not help);
    anything else the endpoint does wrong is Unavailable (retrying may).
    """
    try:
        import openai
    except ImportError:  # pragma: no cover - langchain-openai depends on it
        return None
    if isinstance(exc, openai.APIStatusError):
        detail = f"HTTP {exc.status_code}: {_first_line(exc.message)}"
        if exc.status_code in (401, 403):
            return ConfigError(f"the model endpoint refused the API key ({detail}); check "
                               "OPENAI_API_KEY")
        if exc.status_code == 404:
            return ConfigError(f"the model endpoint does not serve that model ({detail}); check "
                               "SUPPORT_MODEL")
        return Unavailable(f"the model endpoint answered {detail}")
    if isinstance(exc, (openai.APIConnectionError, openai.APITimeoutError)):
        return Unavailable(f"the model endpoint cannot be reached ({_first_line(str(exc))}); "
                           "try again")
    if isinstance(exc, openai.APIError):  # e.g. an error event inside a streamed reply
        return Unavailable(f"the model endpoint reported an error: {_first_line(exc.message)}")
    return None


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or ["no details"])[0]
