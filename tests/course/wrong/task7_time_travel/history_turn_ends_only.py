"""Wrong: list_history() keeps only the checkpoints that end a turn, so most are missing."""

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from exercises.kit import SYSTEM_PROMPT, offline_model, shop_tools

EXPECTED_FAILURES = {"history-complete"}


def build_agent(checkpointer):
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


def _config(thread_id, checkpoint_id=None):
    configurable = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def list_history(graph, thread_id):
    return [{"checkpoint_id": s.config["configurable"]["checkpoint_id"],
             "step": s.metadata["step"], "next": list(s.next),
             "messages": len(s.values.get("messages", []))}
            for s in graph.get_state_history(_config(thread_id))
            if not s.next]  # "the in-between checkpoints are noise"


def replay(graph, thread_id, checkpoint_id):
    return graph.invoke(None, _config(thread_id, checkpoint_id))


def fork(graph, thread_id, checkpoint_id, new_text):
    snapshot = graph.get_state(_config(thread_id, checkpoint_id))
    edited = HumanMessage(new_text, id=snapshot.values["messages"][-1].id)
    branch = graph.update_state(snapshot.config, {"messages": [edited]}, as_node=START)
    graph.invoke(None, branch)
    return graph.get_state(_config(thread_id)).config["configurable"]["checkpoint_id"]
