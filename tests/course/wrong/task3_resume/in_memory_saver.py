"""Wrong: build_graph() ignores the checkpointer it is given and keeps checkpoints in memory."""

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import START, StateGraph

from exercises.tasks.task3_resume.starter import NODE_NAMES, RefundState, make_nodes

EXPECTED_FAILURES = {"checkpoint-per-node", "resume-finishes", "no-rerun", "same-final-state"}


def build_graph(checkpointer, counter):
    nodes = make_nodes(counter)
    builder = StateGraph(RefundState)
    builder.add_sequence([(name, nodes[name]) for name in NODE_NAMES])
    builder.add_edge(START, NODE_NAMES[0])
    return builder.compile(checkpointer=InMemorySaver())  # gone when the process dies


def run(db_path, thread_id, request, counter):
    config = {"configurable": {"thread_id": thread_id}}
    with SqliteSaver.from_conn_string(db_path) as saver:
        return build_graph(saver, counter).invoke({"request": request}, config)


def resume(db_path, thread_id, counter):
    config = {"configurable": {"thread_id": thread_id}}
    with SqliteSaver.from_conn_string(db_path) as saver:
        return build_graph(saver, counter).invoke(None, config)
