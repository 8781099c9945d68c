"""Insights: figures from a scripted conversation whose answers are known, and the Parquet export.

The conversation runs on the offline model, whose token counts are deterministic (one per
word, plus one per message and per tool call), through the real SupportDesk on SQLite and
PostgreSQL. The figures are read through the façade and the `support-agent analytics` command;
the export is read back by DuckDB and pyarrow.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from agent import cli
from agent.analytics.prices import PriceTable, parse_price_table
from agent.errors import InvalidInput, NotAllowed
from agent.service import SupportDesk, collect
from agent.settings import Settings

PRICES = "offline=2/8"  # dollars per million tokens in / out
REFUND = "Please refund ORD-1001, the boots leak"
CANCEL = "Please cancel ORD-1102, I ordered it twice"

# What the script below writes, step by step (agent/graph.py):
# alice: input, __start__, load_memory, agent (asks to refund), screen, approval (sam approves),
#   actions, agent (reply); input, __start__, load_memory, agent (asks tools), tools, agent.
# bob: input, __start__, load_memory, agent, screen, approval (sam rejects), actions, agent.
ALICE_NODES = {"input": 2, "__start__": 2, "load_memory": 2, "agent": 4, "screen": 1,
               "approval": 1, "actions": 1, "tools": 1}
BOB_NODES = {"input": 1, "__start__": 1, "load_memory": 1, "agent": 2, "screen": 1,
             "approval": 1, "actions": 1}
ALICE_TOKENS = (442, 45)
BOB_TOKENS = (173, 21)
DAVE_TOKENS = (174, 19)  # another tenant's: never in acme's figures


def cost(tokens: tuple[int, int]) -> float:
    return (tokens[0] * 2 + tokens[1] * 8) / 1_000_000


def script(desk: SupportDesk) -> dict[str, str]:
    """Two acme customers and one globex customer; approvals decided; feedback given."""
    alice = desk.ask("alice", REFUND)
    assert alice.status == "awaiting_approval", alice.reply
    collect(desk.decide_approval("sam", alice.thread_id, {"action": "approve"}))
    desk.ask("alice", "Where is ORD-1002?", thread_id=alice.thread_id)
    bob = desk.ask("bob", CANCEL)
    assert bob.status == "awaiting_approval", bob.reply
    collect(desk.decide_approval("sam", bob.thread_id,
                                 {"action": "reject", "reason": "already packed"}))
    dave = desk.ask("dave", "Please cancel ORD-2002, ordered twice")
    collect(desk.decide_approval("gina", dave.thread_id, {"action": "approve"}))
    replies = [m for m in desk.view_thread("alice", alice.thread_id).messages
               if m.role == "assistant" and m.text]
    desk.rate_reply("alice", alice.thread_id, replies[-1].id, 1)
    desk.rate_reply("alice", alice.thread_id, replies[0].id, -1)
    desk.close_with_rating("alice", alice.thread_id, 4)
    return {"alice": alice.thread_id, "bob": bob.thread_id, "dave": dave.thread_id}


@pytest.fixture(params=[pytest.param("sqlite", id="sqlite"),
                        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)])
def priced(request, make_settings) -> Settings:
    """Settings with a price for the offline model, on each database."""
    return make_settings(request.param, model_prices=PRICES)


@pytest.fixture
def scripted(priced: Settings):
    """A desk after the script, and the script's thread ids."""
    with SupportDesk.open(priced) as desk:
        yield desk, script(desk)


def test_the_offline_model_reports_usage_that_sums_to_the_figures(scripted) -> None:
    """Each AI message carries usage_metadata; the figures are exactly their sum."""
    desk, threads = scripted
    state = desk.turns.state(threads["alice"]).values
    usage = [m.usage_metadata for m in state["messages"] if m.type == "ai"]
    assert all(usage), usage
    assert (sum(u["input_tokens"] for u in usage),
            sum(u["output_tokens"] for u in usage)) == ALICE_TOKENS


def test_figures_per_node_thread_and_tenant_match_the_script(scripted) -> None:
    """Checkpoints per node, turns, tokens, cost, approvals, refunds and feedback, exactly."""
    desk, threads = scripted
    report = desk.insights("sam")
    assert report.tenant == "acme"

    runs = {row["node"]: row["runs"] for row in report.nodes}
    assert runs == {node: ALICE_NODES.get(node, 0) + BOB_NODES.get(node, 0)
                    for node in {*ALICE_NODES, *BOB_NODES}}
    by_node = {row["node"]: row for row in report.nodes}
    # Steps that wait for people are counted, never timed; the others are timed.
    assert by_node["input"]["p50_s"] is None and by_node["approval"]["p95_s"] is None
    assert by_node["agent"]["p50_s"] >= 0 and by_node["agent"]["p95_s"] >= \
        by_node["agent"]["p50_s"]
    assert by_node["agent"]["bytes_written"] > 0

    per_thread = {row["thread_id"]: row for row in report.threads}
    assert set(per_thread) == {threads["alice"], threads["bob"]}  # never dave's (globex)
    alice, bob = per_thread[threads["alice"]], per_thread[threads["bob"]]
    assert (alice["turns"], alice["checkpoints"]) == (2, sum(ALICE_NODES.values()))
    assert (bob["turns"], bob["checkpoints"]) == (1, sum(BOB_NODES.values()))
    assert (alice["tokens_in"], alice["tokens_out"]) == ALICE_TOKENS
    assert (bob["tokens_in"], bob["tokens_out"]) == BOB_TOKENS
    assert alice["cost_usd"] == pytest.approx(cost(ALICE_TOKENS))
    assert bob["cost_usd"] == pytest.approx(cost(BOB_TOKENS))
    assert [row["thread_id"] for row in report.threads] == [threads["alice"], threads["bob"]]
    assert (alice["title"], alice["customer_name"]) == (REFUND, "Alice Martin")

    totals = report.totals
    assert (totals["threads"], totals["turns"], totals["checkpoints"]) == (2, 3, 22)
    assert (totals["tokens_in"], totals["tokens_out"]) == (615, 66)
    assert totals["cost_usd"] == pytest.approx(cost(ALICE_TOKENS) + cost(BOB_TOKENS))
    assert (report.models, report.unpriced_models) == (["offline"], [])

    assert report.decisions == {"approve": 1, "reject": 1} and report.approvals == 2
    assert report.approval_waits["waits"] == 2
    assert report.approval_waits["p95_s"] >= report.approval_waits["p50_s"] > 0
    [sam] = report.supervisors
    assert (sam["supervisor"], sam["name"], sam["decisions"], sam["approved"],
            sam["rejected"], sam["edited"], sam["replied"]) == \
        ("sam", "Sam Rivera", 2, 1, 1, 0, 0)
    assert sam["wait_p50_s"] > 0

    assert report.money == [{"tenant": "acme", "kind": "refund", "entries": 1,
                             "amount_cents": 12900, "customers": 1}]
    assert report.satisfaction == {"thumbs_up": 1, "thumbs_down": 1, "ratings": 1,
                                   "average_stars": 4.0}
    assert report.stars == {1: 0, 2: 0, 3: 0, 4: 1, 5: 0}

    globex = desk.insights("gina")
    assert [row["thread_id"] for row in globex.threads] == [threads["dave"]]
    assert (globex.totals["tokens_in"], globex.totals["tokens_out"]) == DAVE_TOKENS
    assert globex.decisions == {"approve": 1}
    assert [m["kind"] for m in globex.money] == ["cancellation"]
    assert globex.satisfaction["ratings"] == 0


def test_a_time_range_before_the_script_counts_nothing(scripted) -> None:
    """[since, until) filters every figure; an empty range is all zeros, not an error."""
    desk, _ = scripted
    report = desk.insights("sam", since=0, until=86400)
    assert (report.totals["checkpoints"], report.approvals, report.money, report.threads) == \
        (0, 0, [], [])
    assert report.approval_waits["p50_s"] is None


def test_only_supervisors_read_insights_and_the_range_must_be_a_range(scripted) -> None:
    desk, _ = scripted
    with pytest.raises(NotAllowed, match="alice is not a supervisor"):
        desk.insights("alice")
    with pytest.raises(InvalidInput, match="before its end"):
        desk.insights("sam", since=100, until=100)


def test_the_command_prints_the_headline_figures(scripted, priced, monkeypatch,
                                                 capsys) -> None:
    """`support-agent analytics --user sam` on the same database prints the same numbers."""
    _, threads = scripted
    monkeypatch.setenv("SUPPORT_MODEL_PRICES", PRICES)
    monkeypatch.setattr(cli.out, "width", 200)
    flags = (["--saver", "sqlite", "--sqlite-path", str(priced.sqlite_path)]
             if priced.saver == "sqlite" else ["--saver", "postgres", "--postgres-url",
                                                priced.postgres_url])
    assert cli.main(["analytics", "--user", "sam", *flags]) == 0
    out = capsys.readouterr().out
    headline = re.search(r"│ (\d+) +│ (\d+) +│ (\d+) +│ ([\d,]+) +│ ([\d,]+) +│ (\S+) +│ (\d+) +│",
                         out)
    assert headline and headline.groups() == ("2", "3", "22", "615", "66", "$0.0018", "2")
    assert threads["alice"] in out and threads["bob"] in out and threads["dave"] not in out
    assert re.search(r"│ agent +│ 6 +│", out) and re.search(r"│ approval +│ 2 +│ - +│ - +│", out)
    assert re.search(r"│ Sam Rivera +│ 2 +│ 1 +│ 0 +│ 1 +│ 0 +│", out)
    assert re.search(r"│ refund +│ 1 +│ \$129\.00 +│ 1 +│", out)
    assert "1 thumbs up, 1 thumbs down; 1 conversations rated, 4.0 stars on average" in out

    assert cli.main(["analytics", "--user", "alice", *flags]) == 2
    assert "alice is not a supervisor" in capsys.readouterr().err
    assert cli.main(["analytics", *flags]) == 2
    assert "--user is required" in capsys.readouterr().err


def test_the_parquet_export_is_partitioned_incremental_and_text_free(scripted,
                                                                     tmp_path: Path) -> None:
    """DuckDB and pyarrow read it; a second export adds only new rows; no text by default."""
    desk, _ = scripted
    target = tmp_path / "lake"
    first = desk.export_insights(target)
    assert first.rows == 30  # 14 + 8 (acme) + 8 (globex): every tenant, with a tenant column
    assert all(re.search(r"checkpoints/year=\d{4}/month=\d{1,2}/day=\d{1,2}/part-.*\.parquet$",
                         f) for f in first.files)

    table = ds.dataset(target / "checkpoints", format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 30 and "text" not in table.column_names
    assert {"year", "month", "day", "tenant", "node", "tokens_in"} <= set(table.column_names)
    assert pq.read_table(first.files[0]).num_rows > 0

    con = duckdb.connect()
    glob = str(target / "checkpoints" / "**" / "*.parquet")
    per_tenant = dict(con.execute(
        "SELECT tenant, sum(tokens_in) FROM read_parquet(?, hive_partitioning = true)"
        " GROUP BY tenant", [glob]).fetchall())
    assert per_tenant == {"acme": 615, "globex": DAVE_TOKENS[0]}
    raw = b"".join(Path(f).read_bytes() for f in first.files)
    assert b"boots leak" not in raw and b"ORD-1002" not in raw

    assert desk.export_insights(target).rows == 0  # nothing new
    desk.ask("alice", "Where is ORD-1003?")  # a new thread: input, __start__, memory, agent...
    third = desk.export_insights(target)
    assert 0 < third.rows < 10
    total = con.execute("SELECT count(*), count(DISTINCT checkpoint_id) FROM "
                        "read_parquet(?, hive_partitioning = true)", [glob]).fetchone()
    assert total == (30 + third.rows, 30 + third.rows)  # nothing exported twice

    with pytest.raises(InvalidInput, match="without --with-text"):
        desk.export_insights(target, with_text=True)
    texts = desk.export_insights(tmp_path / "with-text", with_text=True)
    words = duckdb.connect().execute(
        "SELECT string_agg(text, ' ') FROM read_parquet(?, hive_partitioning = true)",
        [str(tmp_path / "with-text" / "checkpoints" / "**" / "*.parquet")]).fetchone()[0]
    assert texts.rows == total[0] and "boots leak" in words


def test_the_export_command_and_its_watermark(scripted, priced, capsys, tmp_path) -> None:
    """`support-agent analytics export --parquet DIR` says what it wrote, then nothing new."""
    flags = (["--saver", "sqlite", "--sqlite-path", str(priced.sqlite_path)]
             if priced.saver == "sqlite" else ["--saver", "postgres", "--postgres-url",
                                                priced.postgres_url])
    target = str(tmp_path / "lake")
    assert cli.main(["analytics", "export", "--parquet", target, *flags]) == 0
    assert "exported 30 new checkpoint rows from 3 threads" in capsys.readouterr().out
    assert cli.main(["analytics", "export", "--parquet", target, *flags]) == 0
    assert "exported 0 new checkpoint rows" in capsys.readouterr().out
    assert (tmp_path / "lake" / "_watermark.json").exists()


def test_the_price_table_setting() -> None:
    """MODEL=IN/OUT per million tokens; a provider's bare model name finds its entry."""
    table = PriceTable(parse_price_table("openai:gpt-4.1-mini=0.40/1.60, offline=0/0"))
    assert table.price("gpt-4.1-mini") == (0.40, 1.60)
    assert table.cost("openai:gpt-4.1-mini", 1_000_000, 500_000) == pytest.approx(1.2)
    assert table.price("anthropic:claude") is None and table.cost("x", 10, 10) == 0
    with pytest.raises(ValueError, match="is not MODEL=IN/OUT"):
        parse_price_table("offline=2")
