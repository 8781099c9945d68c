"""Wrong: resume() retries the request on a new thread id, leaving the crashed thread unfinished."""

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import START, StateGraph

from exercises.tasks.task3_resume.starter import NODE_NAMES, RefundState, make_nodes

EXPECTED_FAILURES = {"resume-finishes", "no-rerun"}


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
    with SqliteSaver.from_conn_string(db_path) as saver:
        graph = build_graph(saver, counter)
        crashed = graph.get_state({"configurable": {"thread_id": thread_id}})
        retry = {"configurable": {"thread_id": f"{thread_id}-retry"}}
        return graph.invoke({"request": crashed.values["request"]}, retry)
