"""Reference solution, task 3: a refund pipeline that resumes after a crash from its checkpoints."""

from __future__ import annotations

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import START, StateGraph

from exercises.kit import StepCounter

# The nodes are the part of the task every learner is given (their solution.py starts as the
# starter); taking them from there keeps the reference and the starter in step.
from exercises.tasks.task3_resume.starter import NODE_NAMES, RefundState, make_nodes


def build_graph(checkpointer, counter: StepCounter):
    """The compiled pipeline: the four nodes in order, saved by `checkpointer` after each."""
    nodes = make_nodes(counter)
    builder = StateGraph(RefundState)
    builder.add_sequence([(name, nodes[name]) for name in NODE_NAMES])
    builder.add_edge(START, NODE_NAMES[0])
    return builder.compile(checkpointer=checkpointer)


def run(db_path: str, thread_id: str, request: str, counter: StepCounter) -> dict:
    """Run the pipeline from the start on `thread_id`, saved in the SQLite file `db_path`."""
    config = {"configurable": {"thread_id": thread_id}}
    with SqliteSaver.from_conn_string(db_path) as saver:
        return build_graph(saver, counter).invoke({"request": request}, config)


def resume(db_path: str, thread_id: str, counter: StepCounter) -> dict:
    """Finish the run on `thread_id` that a crash cut short; return the final state."""
    config = {"configurable": {"thread_id": thread_id}}
    with SqliteSaver.from_conn_string(db_path) as saver:
        # No input: LangGraph loads the thread's last checkpoint and runs only what is left.
        return build_graph(saver, counter).invoke(None, config)
