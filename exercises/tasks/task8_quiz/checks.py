"""Task 8 checks: a multiple-choice knowledge check, answered in answers.toml.

Nothing the learner writes runs here: the check reads their TOML with `tomllib` and compares
each answer with the key below. The same question list writes the starter (see `answers_toml`),
so the questions the learner reads and the ones graded cannot drift apart.
"""

from __future__ import annotations

import json
import textwrap
import tomllib
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from exercises.grader.checks import Check, CheckContext, CheckFailed
from exercises.tasks import Task

LEARNER_FILE = "answers.toml"


@dataclass(frozen=True)
class Question:
    """One quiz question: its wording, its options by letter, the right letter and why."""

    key: str
    title: str
    text: str
    options: dict[str, str]
    answer: str
    explanation: str
    hint: str


QUESTIONS: tuple[Question, ...] = (
    Question(
        "q1", "a crash with no checkpointer",
        "An agent compiled without a checkpointer has been chatting with a customer for a few "
        "turns: it has collected their name and their email address. Then the server process "
        "is killed. What is left of that conversation when the customer writes again?",
        {"a": "The last completed turn is lost; the earlier turns are still there.",
         "b": "Nothing: the whole conversation lived only in the dead process's memory.",
         "c": "The name and email, because LangGraph writes every HumanMessage to disk.",
         "d": "All the messages, but not the tool results, which need a checkpointer."},
        "b",
        "Without a checkpointer nothing about the conversation is written outside the process, "
        "so when the process dies the whole conversation dies with it and the customer starts "
        "again. A durable checkpointer (SQLite, PostgreSQL) is what lets a new process load the "
        "thread and carry on.",
        "where does the conversation live when no checkpointer saves it? (tasks 1 and 2)"),
    Question(
        "q2", "InMemorySaver in production",
        "You deploy the agent with InMemorySaver on three instances behind a load balancer, "
        "and a week later you redeploy. What happens to the customers' conversations?",
        {"a": "They survive: InMemorySaver writes its checkpoints to disk when the process "
              "shuts down.",
         "b": "They survive the redeploy, though each instance only serves its own customers.",
         "c": "They are all lost at the redeploy, and even before it each instance had its own "
              "memory, so a customer sent to another instance found no history.",
         "d": "Only the conversations that were in the middle of a run are lost."},
        "c",
        "InMemorySaver keeps checkpoints in a dict inside one process. It is never written "
        "anywhere, so a restart or redeploy forgets every thread, and separate instances never "
        "see each other's threads. It is for tests and demos; production needs a shared, "
        "durable saver such as PostgresSaver.",
        "what does InMemorySaver share with other processes, and what survives a restart? "
        "(tasks 1 and 2)"),
    Question(
        "q3", "two customers on one thread id",
        "Because of a bug, every browser session gets the thread id \"session-1\". Two "
        "different customers chat with the agent at the same time. What happens?",
        {"a": "They read and write the same checkpoints, so the model answers each customer "
              "with the other's messages in view (names, orders, emails): a privacy leak.",
         "b": "LangGraph sees a second user and quietly opens a separate thread for them.",
         "c": "The second customer gets an error until the first conversation ends.",
         "d": "Nothing visible: the thread id only decides where checkpoints are stored, not "
              "what the model is shown."},
        "a",
        "The thread id is the only thing a checkpointer uses to find a conversation; it knows "
        "nothing about users. Everything saved on \"session-1\" is loaded for whoever uses it, "
        "so give every conversation its own unguessable id and check that it belongs to the "
        "signed-in customer.",
        "what does the checkpointer use to find a conversation, and does it know who is asking? "
        "(task 1)"),
    Question(
        "q4", "a 500-message thread",
        "A support thread has grown to 500 messages, and every turn sends all of them to the "
        "model. Which statement is true?",
        {"a": "No problem: the checkpointer stores only the newest message of each step.",
         "b": "LangGraph summarises any thread longer than 100 messages on its own.",
         "c": "Only storage grows; by default the model is shown just the last 20 messages.",
         "d": "Every turn loads and saves a big checkpoint, each model call gets slower and "
              "dearer, and sooner or later the context window overflows: trim or summarise "
              "old messages."},
        "d",
        "The messages list is part of the state, so each checkpoint carries all of it and each "
        "model call is sent all of it: storage, latency, cost and, at some point, the context "
        "limit all grow with the thread. Keep a summary plus the recent messages, and remove "
        "the old ones from state (RemoveMessage).",
        "what is in each checkpoint, and what does the model get shown each turn? (task 4)"),
    Question(
        "q5", "when checkpoints are written",
        "During one invoke of a graph compiled with a checkpointer, when does LangGraph save "
        "a checkpoint?",
        {"a": "Once, when the run has finished.",
         "b": "After every super-step (each round of nodes that run together), and once for "
              "the input at the start.",
         "c": "After every token the model streams.",
         "d": "Only when a node calls interrupt()."},
        "b",
        "LangGraph runs a graph in super-steps and saves a checkpoint at the end of each one, "
        "so a crash loses at most the step that was running. Streamed tokens are never "
        "checkpointed, and you do not have to wait for the end of the run to have a saved "
        "state.",
        "look at a thread's checkpoint history: how many checkpoints does one turn write, and "
        "which node wrote each? (tasks 3 and 7)"),
    Question(
        "q6", "invoke(None, config) after a stop",
        "A run on thread \"t-42\" was cut short: the process was killed after the agent node "
        "had finished and its checkpoint was saved, but before the tools node ran. Later you "
        "call graph.invoke(None, {\"configurable\": {\"thread_id\": \"t-42\"}}). What happens?",
        {"a": "It resumes from the thread's last checkpoint and runs what was still pending "
              "(the tools node), without running the finished agent node again.",
         "b": "It starts a new, empty conversation on t-42 and deletes the old checkpoints.",
         "c": "It raises an error, because the input of invoke must not be None.",
         "d": "It replays the whole thread from its first checkpoint, calling the model again "
              "for every turn."},
        "a",
        "Input None means \"no new input: continue this thread\". LangGraph loads the latest "
        "checkpoint, sees which nodes are still due, and runs only those. That is how a "
        "crashed or paused run is finished.",
        "what does LangGraph load when a thread id is given, and what is still to run after "
        "it? (task 3)"),
    Question(
        "q7", "forking from an old checkpoint",
        "You take the config of an old checkpoint on a thread (its checkpoint_id), change the "
        "state with graph.update_state(old_config, ...) and continue from there. What happens "
        "to the checkpoints that came after the old one?",
        {"a": "They are deleted, because the thread now follows the new history.",
         "b": "They are overwritten one by one as the new run reaches the same steps.",
         "c": "They stay as they were; the new checkpoints branch off from the old one (the "
              "first has it as its parent), and the newest becomes the thread's latest state.",
         "d": "They move to a new thread id, so the original conversation can still be "
              "opened."},
        "c",
        "Checkpoints are never edited. update_state, or invoking with an old checkpoint_id, "
        "writes a new checkpoint whose parent is the old one, and the run goes on from there: "
        "a fork. The original branch stays in the history untouched, and the thread's latest "
        "state is now the newest checkpoint, on the new branch.",
        "list the thread's history after a fork: which checkpoint is each new one's parent? "
        "(task 7)"),
    Question(
        "q8", "an idempotency key for refunds",
        "The agent's refund tool writes to a payments ledger. Why should it pass an "
        "idempotency key, such as the thread id plus the tool call id?",
        {"a": "So the payment provider can rate-limit each customer.",
         "b": "Because LangGraph refuses to run a tool that has no key.",
         "c": "To make refunds faster, by letting the ledger cache the result.",
         "d": "Because a step can run again (after a crash the pending tools node is replayed), "
              "and with the key a repeat finds the first refund instead of paying it twice."},
        "d",
        "LangGraph saves state between steps, not inside them, so a step that was cut short is "
        "run again from its last checkpoint, side effects and all. A key that is the same on "
        "every replay makes the refund happen once, however many times the step runs.",
        "what happens to a tool's side effects when its step is replayed after a crash? "
        "(tasks 3 and 6)"),
)

QUESTION_KEYS = frozenset(question.key for question in QUESTIONS)

_TOML_KINDS = {bool: "true/false", int: "a number", float: "a number", list: "a list",
               dict: "a table"}


class AnswersError(Exception):
    """The answers file cannot be read at all; the message is one line for the learner."""


def read_answers(path: Path) -> dict[str, Any]:
    """The learner's TOML as a dict, or AnswersError saying, in one line, what is wrong."""
    try:
        # utf-8-sig: some editors on Windows put a byte-order mark before the first line.
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise AnswersError(f"{path.name} is not UTF-8 text; save it as UTF-8 and grade "
                           "again") from None
    except OSError as exc:
        raise AnswersError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends with "(at line N, column M)": the learner's way to the error.
        raise AnswersError(f"{path.name} is not valid TOML: {exc}; write each answer as "
                           'q1 = "b", with the quotes') from None


def answer_of(data: dict[str, Any], question: Question) -> tuple[str | None, str]:
    """(the learner's letter, "") if it is an option, else (None, why it cannot be graded)."""
    key = question.key
    letters = _letters(question)
    if key not in data:
        table = _table_holding(data, key)
        if table:
            return None, (f"{key} is inside the [{table}] table, so it is not read as an "
                          "answer: in TOML every key after a [table] line belongs to that "
                          f"table. Put {key} = \"…\" above any [table] line")
        return None, (f"{key} is not answered yet: there is no {key} line; add "
                      f'{key} = "…" with one of the letters {letters}')
    value = data[key]
    if not isinstance(value, str):
        kind = _TOML_KINDS.get(type(value), "a date or time")
        return None, (f"{key} = {_shown(value)} is {kind}, not a letter in quotes; write it "
                      f'as {key} = "…" with one of the letters {letters}')
    letter = value.strip().lower()
    if not letter:
        return None, (f'{key} is not answered yet: put one of the letters {letters} between '
                      f'the quotes of {key} = ""')
    if letter not in question.options:
        return None, (f"{key} = {_shown(value)} is not one of the options; answer with "
                      f"one of the letters {letters}, in quotes")
    return letter, ""


def check_question(question: Question, context: CheckContext) -> None:
    """The learner's answer to `question` is its right option."""
    try:
        data = read_answers(context.learner_path)
    except AnswersError as exc:
        raise CheckFailed(str(exc), expected='a TOML file of lines like q1 = "b"') from None
    letter, problem = answer_of(data, question)
    if letter is None:
        raise CheckFailed(problem, expected=f"one of the letters {_letters(question)}")
    if letter != question.answer:
        raise CheckFailed(f'you answered "{letter}": {question.options[letter]}',
                          expected=f'"{question.answer}": {question.options[question.answer]}')


def print_explanations(console: Console, path: Path | None) -> None:
    """After grading: each question, its right answer and why, with the learner's answer marked."""
    console.print("\n[bold]Task 8 · knowledge check: your answers, and why[/]")
    data: dict[str, Any] = {}
    if path is None:
        console.print(f"[yellow]No {LEARNER_FILE} found, so none of your answers are shown.[/]")
    else:
        try:
            data = read_answers(path)
        except AnswersError as exc:
            console.print(f"[red]{escape(str(exc))}[/]")
    for question in QUESTIONS:
        letter, _ = answer_of(data, question)
        right = question.answer
        answered = True
        if letter == right:
            mark = f"[green]✓ your answer, {right}, is right[/]"
        elif letter is not None:
            mark = f"[red]✗ you answered {escape(letter)}; the answer is {right}[/]"
        elif question.key in data and str(data[question.key]).strip():
            # Something was written, but not a letter: show it (escaped, it is theirs).
            mark = (f"[red]✗ you wrote {escape(_shown(data[question.key]))}, which is not an "
                    f"option; the answer is {right}[/]")
        elif table := _table_holding(data, question.key):
            mark = (f"[yellow]· not read (it is inside the \\[{escape(table)}] table); move it "
                    "above the table and grade again to see the explanation[/]")
            answered = False
        else:
            # The answer is only revealed once the learner has committed to one.
            mark = "[yellow]· not answered yet: answer it and grade again to see the explanation[/]"
            answered = False
        console.print(f"\n[bold]{question.key} · {escape(question.title)}[/]  {mark}")
        if not answered:
            continue
        width = max(40, min(console.width, 100) - 2)
        for text, style in ((question.text, ""), (f"{right}) {question.options[right]}", "bold"),
                            (question.explanation, "dim")):
            # Wrapped here, indented under the heading; the CLI's console does not wrap lines.
            for line in textwrap.wrap(text, width):
                console.print(Text("  " + line, style=style), highlight=False)


def answers_toml(answers: dict[str, str] | None = None) -> str:
    """The answers file: every question and its options as comments, then its `qN = ""` line."""
    answers = answers or {}
    lines = ["# Task 8 — Knowledge check. Read BRIEF.md first; grade with: support-agent grade 8",
             "#",
             "# Answer each question with the letter of one option, in quotes, e.g. q1 = \"b\".",
             "# Only the qN lines are read; the comments are for you.", ""]
    for number, question in enumerate(QUESTIONS, start=1):
        lines += textwrap.wrap(f"{number}. {question.text}", 96, initial_indent="# ",
                               subsequent_indent="#    ")
        for letter, option in question.options.items():
            lines += textwrap.wrap(f"{letter}) {option}", 96, initial_indent="#   ",
                                   subsequent_indent="#      ")
        lines += [f'{question.key} = "{answers.get(question.key, "")}"', ""]
    return "\n".join(lines)


def _shown(value: Any, limit: int = 40) -> str:
    """A learner's value as TOML would spell it (strings in double quotes), kept short."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _letters(question: Question) -> str:
    letters = list(question.options)
    return ", ".join(letters[:-1]) + " or " + letters[-1]


def _table_holding(data: dict[str, Any], key: str, prefix: str = "") -> str:
    """The dotted name of a table in `data` that holds `key` (a misplaced answer), or ""."""
    for name, value in data.items():
        tables = value if isinstance(value, list) else [value]
        for table in tables:
            if not isinstance(table, dict):
                continue
            dotted = f"{prefix}{name}"
            if key in table:
                return dotted
            found = _table_holding(table, key, dotted + ".")
            if found:
                return found
    return ""


TASK = Task(
    number=8, slug="task8_quiz", title="Knowledge check", minutes=15,
    learner_file=LEARNER_FILE, starter_file="starter.toml",
    checks=tuple(
        Check(question.key, question.title, 1, question.hint, partial(check_question, question),
              timeout=10)
        for question in QUESTIONS),
)
