"""Task 1: a support agent that remembers a conversation, with InMemorySaver.

Read BRIEF.md first. Grade this file with:  support-agent grade 1
"""

from __future__ import annotations

# You will need some of these:
# from langchain_core.messages import HumanMessage, SystemMessage
# from langgraph.checkpoint.memory import InMemorySaver
# from langgraph.graph import START, MessagesState, StateGraph
# from langgraph.prebuilt import ToolNode, tools_condition
# from exercises.kit import SYSTEM_PROMPT, offline_model, shop_tools


def build_agent():
    """Return the compiled agent graph, checkpointing into memory."""
    # TODO 1: bind the shop tools to the offline model.
    # TODO 2: an "agent" node that calls the model with the system prompt and the messages.
    # TODO 3: a "tools" node (ToolNode) and the edges agent -> tools -> agent.
    # TODO 4: compile with a checkpointer that keeps checkpoints in memory.
    raise NotImplementedError("build_agent: build and compile the graph")


def ask(graph, thread_id: str, text: str) -> str:
    """Send one customer message on a thread; return the agent's reply text."""
    # TODO 5: invoke the graph with the message and a config naming the thread.
    # TODO 6: return the text of the last message in the result.
    raise NotImplementedError("ask: invoke the graph on the thread and return the reply")
