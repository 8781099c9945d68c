"""Wrong: resume() sends the request again, so the thread starts over and redoes every node."""

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import START, StateGraph

from exercises.tasks.task3_resume.starter import NODE_NAMES, RefundState, make_nodes

EXPECTED_FAILURES = {"no-rerun"}


def build_graph(checkpointer, counter):
    nodes = make_nodes(counter)
    builder = StateGraph(RefundState)
    builder.add_sequence([(name, nodes[name]) for name in NODE_NAMES])
    builder.add_edge(START, NODE_NAMES[0])
    return builder.compile(checkpointer=checkpointer)


def run(db_path, thread_id, request, counter):
    config = {"configurable": {"thread_id": thread_id}}
    with SqliteSaver.from_conn_string(db_path) as saver:
        return build_graph(saver, counter).invoke({"request": request}, config)


def resume(db_path, thread_id, counter):
    config = {"configurable": {"thread_id": thread_id}}
    with SqliteSaver.from_conn_string(db_path) as saver:
        graph = build_graph(saver, counter)
        request = graph.get_state(config).values["request"]
        return graph.invoke({"request": request}, config)  # input again: a new run from START
