"""Choose the chat model from settings: the offline model, or ChatOpenAI for `openai:<name>`."""

from __future__ import annotations

from langchain_core.language_models.chat_models import BaseChatModel

from agent.errors import ConfigError, SupportError, Unavailable
from agent.model.offline import OfflineSupportModel
from agent.settings import Settings


def make_chat_model(settings: Settings) -> BaseChatModel:
    """The chat model the agent and the summariser use."""
    if settings.model_is_offline:
        return OfflineSupportModel()
    provider, _, name = settings.model.partition(":")
    if provider != "openai" or not name:
        raise ConfigError(f"bad setting SUPPORT_MODEL={settings.model!r}: use 'offline' or "
                          "'openai:<model name>'")
    if settings.openai_api_key is None:
        raise ConfigError(f"SUPPORT_MODEL={settings.model} needs OPENAI_API_KEY (or "
                          "SUPPORT_OPENAI_API_KEY); unset SUPPORT_MODEL to use the offline model")
    from langchain_openai import ChatOpenAI  # imported here: only this path needs it

    return ChatOpenAI(
        model=name,
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
        temperature=0,
        timeout=settings.model_timeout_seconds,
        max_retries=2,
        # Token usage on streamed replies, so the history page can show it.
        stream_usage=True,
    )


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
