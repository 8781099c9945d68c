"""Reference solution, task 7: list a thread's checkpoints, replay from one, fork from one."""

from __future__ import annotations

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from exercises.kit import SYSTEM_PROMPT, offline_model, shop_tools


def build_agent(checkpointer):
    """The support agent of task 1, checkpointing into the saver it is given."""
    tools = shop_tools()
    model = offline_model().bind_tools(tools)

    def agent(state: MessagesState) -> dict:
        return {"messages": [model.invoke([SystemMessage(SYSTEM_PROMPT), *state["messages"]])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode(tools))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    return builder.compile(checkpointer=checkpointer)


def _config(thread_id: str, checkpoint_id: str | None = None) -> dict:
    # checkpoint_ns "" is the top-level graph's namespace; update_state needs it spelled out
    # when it is given a config it did not get from the saver itself.
    configurable = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def list_history(graph, thread_id: str) -> list[dict]:
    """Every checkpoint of the thread, newest first: id, step, next nodes, message count."""
    return [{"checkpoint_id": snapshot.config["configurable"]["checkpoint_id"],
             "step": snapshot.metadata["step"],
             "next": list(snapshot.next),
             "messages": len(snapshot.values.get("messages", []))}
            for snapshot in graph.get_state_history(_config(thread_id))]


def replay(graph, thread_id: str, checkpoint_id: str) -> dict:
    """Run the graph again from a checkpoint (no new input); the final state's values."""
    # With a checkpoint_id and no input, LangGraph loads that checkpoint and runs what was
    # next there; the new checkpoints form a branch whose parent is that checkpoint.
    return graph.invoke(None, _config(thread_id, checkpoint_id))


def fork(graph, thread_id: str, checkpoint_id: str, new_text: str) -> str:
    """Replace the customer message at a checkpoint with `new_text` and run a new branch."""
    snapshot = graph.get_state(_config(thread_id, checkpoint_id))
    original = snapshot.values["messages"][-1]
    # The same id makes add_messages replace the message instead of appending a second one.
    edited = HumanMessage(new_text, id=original.id)
    # update_state on an old checkpoint writes a new checkpoint whose parent is that one:
    # the start of a branch. as_node="__start__" makes the graph run "agent" next, exactly as
    # after the original message arrived.
    branch = graph.update_state(snapshot.config, {"messages": [edited]}, as_node=START)
    graph.invoke(None, branch)
    return graph.get_state(_config(thread_id)).config["configurable"]["checkpoint_id"]
