"""Wrong: fork() sends new_text as a new message on the thread, continuing the original branch."""

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from exercises.kit import SYSTEM_PROMPT, offline_model, shop_tools

EXPECTED_FAILURES = {"fork-edits-message", "original-branch-unchanged"}


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
            for s in graph.get_state_history(_config(thread_id))]


def replay(graph, thread_id, checkpoint_id):
    return graph.invoke(None, _config(thread_id, checkpoint_id))


def fork(graph, thread_id, checkpoint_id, new_text):
    graph.invoke({"messages": [HumanMessage(new_text)]}, _config(thread_id))
    return graph.get_state(_config(thread_id)).config["configurable"]["checkpoint_id"]
