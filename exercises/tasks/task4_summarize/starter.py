"""Task 4: summarising and pruning, so a long conversation keeps a bounded state.

Read BRIEF.md first. Grade this file with:  support-agent grade 4
"""

from __future__ import annotations

# You will need some of these:
# from langchain_core.messages import HumanMessage, RemoveMessage, SystemMessage
# from langgraph.graph import END, START, MessagesState, StateGraph
# from langgraph.prebuilt import ToolNode, tools_condition
# from exercises.kit import offline_model, shop_tools, summarize

MAX_MESSAGES = 12  # fixed by the brief: at most this many messages after a turn, system included

# TODO 1: a state class: MessagesState plus `summary: str`.


def messages_to_fold(messages):
    """The oldest whole turns to take out so that at most MAX_MESSAGES remain ([] if none)."""
    # TODO 2: nothing to fold while len(messages) <= MAX_MESSAGES.
    # TODO 3: leave the system message (messages[0]) out of the reckoning: it always stays.
    # TODO 4: a turn starts at a HumanMessage; pick the earliest turn start that leaves few
    #         enough messages, and return everything before it (never cut inside a turn).
    raise NotImplementedError("messages_to_fold: choose the oldest whole turns to fold")


def build_agent(checkpointer):
    """Return the compiled agent graph, checkpointing into `checkpointer`."""
    # TODO 5: bind the shop tools to the offline model.
    # TODO 6: an "agent" node that calls the model with the messages and, when there is a
    #         summary, a SystemMessage carrying it right after the system prompt.
    # TODO 7: a "summarize" node: fold messages_to_fold(...) into the summary with
    #         summarize(previous_summary, folded) and remove them with RemoveMessage(id=...).
    # TODO 8: edges: START -> agent; agent -> tools or, when no tool is asked for, summarize;
    #         tools -> agent; summarize -> END.
    # TODO 9: compile with the checkpointer you are given.
    raise NotImplementedError("build_agent: build and compile the graph")
