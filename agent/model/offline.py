"""The offline support model: a deterministic LangChain chat model that needs no key or network."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from agent.model.brain import respond

_TOKEN = re.compile(r"\S+\s*|\s+")


class OfflineSupportModel(BaseChatModel):
    """Understands the support intents, emits real tool calls, streams word by word."""

    @property
    def _llm_type(self) -> str:
        return "offline-support"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable | BaseTool],
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Offer tools to the model, as any LangChain chat model does."""
        return self.bind(tools=[convert_to_openai_tool(tool) for tool in tools], **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = respond(messages, _tool_names(kwargs))
        message.usage_metadata = offline_usage(messages, message)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = respond(messages, _tool_names(kwargs))
        usage = offline_usage(messages, message)
        if message.tool_calls:
            chunk = AIMessageChunk(
                content=message.content,
                usage_metadata=usage,
                tool_call_chunks=[
                    {"name": call["name"], "args": json.dumps(call["args"]), "id": call["id"],
                     "index": index, "type": "tool_call_chunk"}
                    for index, call in enumerate(message.tool_calls)
                ],
            )
            yield ChatGenerationChunk(message=chunk)
            return
        pieces = _TOKEN.findall(message.text) or [""]
        for index, piece in enumerate(pieces):
            # The usage rides on the last chunk, as providers send it at the end of a stream.
            last = index == len(pieces) - 1
            chunk = ChatGenerationChunk(message=AIMessageChunk(
                content=piece, usage_metadata=usage if last else None))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk


def offline_usage(messages: list[BaseMessage], reply: AIMessage) -> UsageMetadata:
    """Deterministic token counts: one token per word, plus one per message and per tool call.

    A stand-in for a provider's usage report, so that token and cost figures are testable.
    """
    tokens_in = sum(len(m.text.split()) + 1 for m in messages)
    tokens_out = len(reply.text.split()) + sum(
        len(json.dumps(call["args"], sort_keys=True).split()) + 1 for call in reply.tool_calls)
    return UsageMetadata(input_tokens=tokens_in, output_tokens=tokens_out,
                         total_tokens=tokens_in + tokens_out)


def _tool_names(kwargs: dict[str, Any]) -> set[str]:
    return {tool["function"]["name"] for tool in kwargs.get("tools", [])}
