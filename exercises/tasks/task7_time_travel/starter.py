"""Task 7: time travel. List a thread's checkpoints, replay from one, fork from one.

Read BRIEF.md first. Grade this file with:  support-agent grade 7
"""

from __future__ import annotations

# You will need some of these:
# from langchain_core.messages import HumanMessage, SystemMessage
# from langgraph.graph import START, MessagesState, StateGraph
# from langgraph.prebuilt import ToolNode, tools_condition
# from exercises.kit import SYSTEM_PROMPT, offline_model, shop_tools


def build_agent(checkpointer):
    """Return the compiled support agent, checkpointing into `checkpointer`."""
    # TODO 1: the agent of task 1 (an "agent" node with the shop tools bound, a "tools" node,
    #         START -> agent, tools_condition, tools -> agent).
    # TODO 2: compile it with the checkpointer you are given (SQLite or PostgreSQL).
    raise NotImplementedError("build_agent: build the agent and compile it with checkpointer")


def list_history(graph, thread_id: str) -> list[dict]:
    """Every checkpoint of the thread, newest first: checkpoint_id, step, next, messages."""
    # TODO 3: walk graph.get_state_history(...) for the thread (it yields newest first).
    # TODO 4: one dict per snapshot: the id from snapshot.config, the step from
    #         snapshot.metadata, next as a list of node names, and the number of messages.
    raise NotImplementedError("list_history: one dict per checkpoint, newest first")


def replay(graph, thread_id: str, checkpoint_id: str) -> dict:
    """Run the graph again from a checkpoint, with no new input; the final state values."""
    # TODO 5: a config naming both the thread and the checkpoint.
    # TODO 6: invoke with None as the input, and return what invoke returns.
    raise NotImplementedError("replay: invoke(None, config with the checkpoint_id)")


def fork(graph, thread_id: str, checkpoint_id: str, new_text: str) -> str:
    """Replace the customer message at a checkpoint with `new_text`, run on; the new head's id."""
    # TODO 7: load the state at that checkpoint (its last message is the customer's).
    # TODO 8: update_state at that checkpoint with a HumanMessage(new_text) that carries the
    #         old message's id, so it replaces the message instead of adding one.
    # TODO 9: invoke(None, ...) with the config update_state returned: the new branch runs.
    # TODO 10: return the checkpoint id of the branch's last checkpoint.
    raise NotImplementedError("fork: edit the message at the checkpoint, run, return the head")
