"""Real users instead of demo seeds in a migration: `seed --demo`, `users add|list|set-role|
disable|enable`, and a disabled account that can do nothing.

A new SQLite file (the embedded default) and the memory saver start with the demo shop; a new
PostgreSQL database starts empty until `support-agent seed --demo` (or SUPPORT_SEED_DEMO=1).
The CLI runs as real processes on real databases (see tests/test_cli.py's `Cli`).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from support.services import ADMIN_URL, START_POSTGRES, missing_service
from test_cli import Cli

from agent.domain.seed import ORDERS, USERS
from agent.errors import AccountDisabled, InvalidInput, NotAllowed, NotFound
from agent.persistence.db import SqliteDatabase
from agent.persistence.migrations import MIGRATIONS
from agent.service import SupportDesk
from agent.settings import Settings

DEMO_USERS = {user.user_id for user in USERS}
REFUND = "Please refund ORD-1001, the boots leak"


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    """A brand-new, never-opened PostgreSQL database of this test's own (not the template)."""
    name = f"sa_users_{secrets.token_hex(6)}"
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f"CREATE DATABASE {name}")
    except psycopg.OperationalError as exc:
        missing_service(f"PostgreSQL is not reachable at {ADMIN_URL} ({exc}). "
                        f"Start it with: {START_POSTGRES}")
    try:
        yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def pg_cli(empty_postgres_url: str, tmp_path: Path) -> Cli:
    """The CLI on a fresh PostgreSQL database nobody has seeded."""
    return Cli({"SUPPORT_SAVER": "postgres", "SUPPORT_POSTGRES_URL": empty_postgres_url},
               tmp_path)


@pytest.fixture
def sqlite_cli(tmp_path: Path) -> Cli:
    """The CLI on a fresh SQLite file (the embedded default, so it starts with the demo shop)."""
    return Cli({"SUPPORT_SAVER": "sqlite",
                "SUPPORT_SQLITE_PATH": str(tmp_path / "data" / "users.db")}, tmp_path)


@pytest.fixture
def sqlite_desk(make_settings: Callable[..., Settings]) -> Iterator[SupportDesk]:
    """A desk on a fresh SQLite file (demo shop included)."""
    with SupportDesk.open(make_settings("sqlite")) as desk:
        yield desk


def count(desk: SupportDesk, table: str) -> int:
    """Rows in one of the app tables."""
    row = desk.persistence.db.fetch_one(f"SELECT COUNT(*) AS n FROM {table}")
    assert row is not None
    return int(row["n"])


def user_ids(desk: SupportDesk) -> set[str]:
    """Everyone with an account."""
    return {user.user_id for user in desk.users()}


# --- the demo seed is a step, not a migration ---------------------------------------------------


def test_migrations_do_not_load_the_demo_seed() -> None:
    """Dependencies run one way: the migrations never import the seed data."""
    code = ("import sys, agent.persistence.migrations; "
            "assert 'agent.domain.seed' not in sys.modules, 'migrations import the seed'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.postgres
def test_fresh_postgres_database_has_no_demo_data_until_seeded(pg_cli: Cli) -> None:
    """No demo users or orders on a new PostgreSQL database; `seed --demo` adds them, once."""
    assert pg_cli.json("users", "list", "--json") == []
    assert "unknown user 'alice'" in pg_cli.fails("ask", "--user", "alice", "hello")

    first = pg_cli.ok("seed", "--demo").stdout
    assert f"added {len(USERS)} demo users" in first, first
    assert f"added {len(ORDERS)} demo orders" in first, first
    listed = pg_cli.json("users", "--json")
    assert {u["user_id"] for u in listed} == DEMO_USERS
    assert all(not u["disabled"] for u in listed)

    second = pg_cli.ok("seed", "--demo").stdout
    assert "nothing added" in second and "added" not in second.replace("nothing added", ""), second
    assert pg_cli.json("users", "list", "--json") == listed
    assert "ORD-1002" in pg_cli.ask("alice", "Where is ORD-1002?")["reply"]


@pytest.mark.postgres
def test_fresh_postgres_desk_is_empty_and_seeding_twice_adds_nothing(
        empty_postgres_url: str) -> None:
    """The façade sees the same: no users, no orders; a second seed reports nothing added."""
    with SupportDesk.open(saver="postgres", postgres_url=empty_postgres_url) as desk:
        assert desk.users() == []
        assert count(desk, "support_orders") == 0
        first = desk.seed_demo()
        assert set(first.users_added) == DEMO_USERS
        assert set(first.orders_added) == {order.order_id for order in ORDERS}
        second = desk.seed_demo()
        assert second.users_added == () and second.orders_added == ()
        assert count(desk, "support_users") == len(USERS)
        assert count(desk, "support_orders") == len(ORDERS)


@pytest.mark.postgres
def test_seed_demo_setting_seeds_a_new_postgres_database(empty_postgres_url: str) -> None:
    """SUPPORT_SEED_DEMO=1 asks for the demo shop on PostgreSQL's first start too."""
    with SupportDesk.open(saver="postgres", postgres_url=empty_postgres_url,
                          seed_demo=True) as desk:
        assert user_ids(desk) == DEMO_USERS
        assert count(desk, "support_orders") == len(ORDERS)


@pytest.mark.parametrize("saver", ["memory", "sqlite"])
def test_embedded_default_starts_with_the_demo_shop(
        saver: str, make_settings: Callable[..., Settings]) -> None:
    """The Quickstart is unchanged: a new SQLite file (or the memory saver) has the demo shop."""
    with SupportDesk.open(make_settings(saver)) as desk:
        assert user_ids(desk) == DEMO_USERS
        assert count(desk, "support_orders") == len(ORDERS)


@pytest.mark.parametrize("saver", ["memory", "sqlite"])
def test_seed_demo_off_gives_an_empty_embedded_database(
        saver: str, make_settings: Callable[..., Settings]) -> None:
    """SUPPORT_SEED_DEMO=0: even the embedded default starts without demo data."""
    with SupportDesk.open(make_settings(saver, seed_demo=False)) as desk:
        assert desk.users() == []
        assert count(desk, "support_orders") == 0


def test_seed_demo_env_variable_is_read(sqlite_cli: Cli) -> None:
    """The setting comes from the environment like every other one."""
    assert sqlite_cli.json("users", "--json", env={"SUPPORT_SEED_DEMO": "0"}) == []


def test_embedded_seed_happens_once_not_on_every_start(
        make_settings: Callable[..., Settings]) -> None:
    """Reopening a file does not seed again: a demo order changed since stays changed."""
    settings = make_settings("sqlite")
    with SupportDesk.open(settings) as desk:
        desk.persistence.db.execute("DELETE FROM support_orders WHERE order_id = 'ORD-1102'")
    with SupportDesk.open(settings) as desk:
        assert count(desk, "support_orders") == len(ORDERS) - 1


def test_database_seeded_by_the_old_migration_keeps_its_demo_data(
        tmp_path: Path, make_settings: Callable[..., Settings]) -> None:
    """A file migrated to version 3 when migration 2 still seeded keeps its users and orders."""
    path = tmp_path / "old.db"
    old = SqliteDatabase(path)
    with old.transaction() as session:
        session.execute("CREATE TABLE support_migrations (version INTEGER PRIMARY KEY,"
                        " description TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)")
        for migration in MIGRATIONS[:3]:
            migration.apply(session, "sqlite")
            session.execute("INSERT INTO support_migrations VALUES (?, ?, 0)",
                            (migration.version, migration.description))
        old_migration_2_seed(session)
    old.close()
    with SupportDesk.open(make_settings("sqlite", sqlite_path=path, seed_demo=False)) as desk:
        assert user_ids(desk) == DEMO_USERS
        assert count(desk, "support_orders") == len(ORDERS)
        assert not desk.user("alice").disabled
        assert desk.seed_demo().users_added == ()


def old_migration_2_seed(session) -> None:
    """What the old migration 2 wrote: the demo users and orders, in the columns of its day."""
    tenant_of = {user.user_id: user.tenant for user in USERS}
    for user in USERS:
        session.execute("INSERT INTO support_users (user_id, tenant, display_name, email, role)"
                        " VALUES (?, ?, ?, ?, ?)", (user.user_id, user.tenant, user.display_name,
                                                    user.email, user.role))
    for order in ORDERS:
        items = [{"sku": sku, "name": name, "qty": qty, "price_cents": price}
                 for sku, name, qty, price in order.items]
        session.execute(
            "INSERT INTO support_orders (order_id, tenant, customer_id, items, amount_cents,"
            " currency, status, carrier, tracking_number, shipping_address, placed_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, 'USD', ?, ?, ?, ?, ?, 0)",
            (order.order_id, tenant_of[order.customer_id], order.customer_id, json.dumps(items),
             order.amount_cents, order.status, order.carrier, order.tracking_number,
             order.shipping_address, order.placed_at))


def test_seed_does_not_give_demo_orders_to_a_real_user_with_a_demo_id(
        make_settings: Callable[..., Settings]) -> None:
    """A real `alice` added first is not overwritten, and gets none of the demo orders."""
    with SupportDesk.open(make_settings("sqlite", seed_demo=False)) as desk:
        desk.add_user("alice", display_name="Alice Real", email="alice@real.example",
                      role="customer", tenant="initech")
        report = desk.seed_demo()
        assert "alice" in report.users_skipped and "alice" not in report.users_added
        assert "ORD-1001" not in report.orders_added
        assert desk.user("alice").display_name == "Alice Real"
        assert count(desk, "support_orders") == len([o for o in ORDERS
                                                     if o.customer_id != "alice"])


# --- users add | list | set-role | disable --------------------------------------------------------


@pytest.mark.postgres
def test_added_user_signs_in_and_chats(pg_cli: Cli, empty_postgres_url: str) -> None:
    """`users add` on an unseeded PostgreSQL database: the user signs in and chats by CLI."""
    added = pg_cli.ok("users", "add", "frank", "--name", "Frank Ocean",
                      "--email", "Frank@Example.com", "--role", "customer",
                      "--tenant", "initech").stdout
    assert "frank" in added and "initech" in added
    pg_cli.ok("users", "add", "pat", "--name", "Pat Lee", "--email", "pat@example.com",
              "--role", "supervisor", "--tenant", "initech")
    with SupportDesk.open(saver="postgres", postgres_url=empty_postgres_url) as desk:
        frank = desk.user("frank")
        assert (frank.display_name, frank.email, frank.role, frank.tenant) == \
            ("Frank Ocean", "Frank@Example.com", "customer", "initech")
        assert desk.user_by_email("frank@example.com") == frank  # OIDC matching ignores case
        assert desk.user_by_email("pat@example.com").is_supervisor

    turn = pg_cli.ask("frank", "My name is Frank")
    assert turn["status"] == "active"
    again = pg_cli.ask("frank", "What's my name?", "--thread", turn["thread_id"])
    assert "Frank" in again["reply"]
    threads = pg_cli.json("threads", "--user", "frank", "--json")
    assert [t["thread_id"] for t in threads["threads"]] == [turn["thread_id"]]
    assert "nothing is waiting" in pg_cli.ok("approvals", "--user", "pat").stdout
    # The supervisor of initech reads frank's thread; nobody else's tenant is involved.
    assert "My name is Frank" in pg_cli.ok("show", "--user", "pat", turn["thread_id"]).stdout
    listed = {u["user_id"]: u for u in pg_cli.json("users", "list", "--json")}
    assert listed["frank"] == {"user_id": "frank", "display_name": "Frank Ocean",
                               "email": "Frank@Example.com", "role": "customer",
                               "tenant": "initech", "disabled": False}


def test_users_listing_shows_everyone_bare_and_explicit(sqlite_cli: Cli) -> None:
    """Bare `users` is still the listing; `users list` is the same; both name every user."""
    bare = sqlite_cli.ok("users").stdout
    explicit = sqlite_cli.ok("users", "list").stdout
    assert bare == explicit
    for user in USERS:
        assert user.user_id in bare and user.display_name in bare


def _entry_points(thread_id: str, checkpoint_id: str) -> dict[str, Callable[[SupportDesk,
                                                                             str], Any]]:
    """Every SupportDesk call that acts as a user, with arguments that would otherwise work."""
    return {
        "user": lambda d, u: d.user(u),
        "remembered_profile": lambda d, u: d.remembered_profile(u),
        "create_thread": lambda d, u: d.create_thread(u, "x"),
        "list_threads": lambda d, u: d.list_threads(u),
        "rename_thread": lambda d, u: d.rename_thread(u, thread_id, "renamed"),
        "close_thread": lambda d, u: d.close_thread(u, thread_id),
        "delete_thread": lambda d, u: d.delete_thread(u, thread_id),
        "view_thread": lambda d, u: d.view_thread(u, thread_id),
        "send_message": lambda d, u: d.send_message(u, "hello", thread_id=thread_id),
        "send_new_thread": lambda d, u: d.send_message(u, "hello"),
        "ask": lambda d, u: d.ask(u, "hello"),
        "resume": lambda d, u: d.resume(u, thread_id),
        "history": lambda d, u: d.history(u, thread_id),
        "state_at": lambda d, u: d.state_at(u, thread_id, checkpoint_id),
        "replay": lambda d, u: d.replay(u, thread_id, checkpoint_id),
        "fork": lambda d, u: d.fork(u, thread_id, checkpoint_id, "Where is ORD-1003?"),
        "export_thread": lambda d, u: d.export_thread(u, thread_id),
        "ledger": lambda d, u: d.ledger(u),
        "tenant_threads": lambda d, u: d.tenant_threads(u),
        "interrupted_threads": lambda d, u: d.interrupted_threads(u),
        "pending_approvals": lambda d, u: d.pending_approvals(u),
        "decide_approval": lambda d, u: d.decide_approval(u, thread_id, {"action": "approve"}),
    }


@pytest.mark.parametrize("who", ["alice", "sam"])
def test_a_disabled_user_can_do_nothing(sqlite_desk: SupportDesk, who: str) -> None:
    """Every entry point refuses a disabled customer or supervisor, saying the account is
    disabled, and changes nothing; enabling the account again restores access."""
    desk = sqlite_desk
    turn = desk.ask("alice", REFUND)
    assert turn.status == "awaiting_approval"
    checkpoint = next(c for c in desk.history("alice", turn.thread_id) if c.can_fork)
    before = desk.view_thread("alice", turn.thread_id)

    assert desk.disable_user(who).disabled
    refused = []
    for name, call in _entry_points(turn.thread_id, checkpoint.checkpoint_id).items():
        with pytest.raises(AccountDisabled) as caught:
            call(desk, who)
        assert f"account {who} is disabled" in str(caught.value), name
        refused.append(name)
    assert isinstance(caught.value, NotAllowed) and caught.value.exit_code == 2
    with pytest.raises(AccountDisabled):
        desk.user_by_email("alice@example.com" if who == "alice" else "sam@acme.example.com")

    after = desk.view_thread("sam" if who == "alice" else "alice", turn.thread_id)
    assert after.thread.title == before.thread.title
    assert [m.text for m in after.messages] == [m.text for m in before.messages]
    assert after.pending_approvals and desk.shop.ledger() == []  # nothing was decided
    assert who in user_ids(desk) and desk.shop.get_user(who).disabled  # listed, marked

    desk.enable_user(who)
    assert not desk.user(who).disabled
    if who == "sam":
        assert desk.pending_approvals("sam")
    else:
        assert desk.list_threads("alice").total == 1


@pytest.mark.postgres
def test_disabled_user_is_refused_by_the_cli(pg_cli: Cli) -> None:
    """On the command line a disabled account gets one `error:` line and exit 2."""
    pg_cli.ok("users", "add", "frank", "--name", "Frank Ocean", "--email", "frank@example.com",
              "--role", "customer", "--tenant", "initech")
    thread_id = pg_cli.ask("frank", "hello")["thread_id"]
    assert "frank" in pg_cli.ok("users", "disable", "frank").stdout
    for args in (("ask", "--user", "frank", "hello again"),
                 ("ask", "--user", "frank", "--thread", thread_id, "hello again"),
                 ("threads", "--user", "frank"),
                 ("show", "--user", "frank", thread_id),
                 ("history", "--user", "frank", thread_id),
                 ("chat", "--user", "frank")):
        assert "account frank is disabled" in pg_cli.fails(*args, input="/quit\n"), args
    listed = {u["user_id"]: u for u in pg_cli.json("users", "list", "--json")}
    assert listed["frank"]["disabled"] is True
    assert "disabled" in pg_cli.ok("users").stdout
    pg_cli.ok("users", "enable", "frank")
    assert pg_cli.ask("frank", "hello again", "--thread", thread_id)["status"] == "active"


def test_set_role_changes_what_a_user_may_do(sqlite_cli: Cli) -> None:
    """bob made a supervisor reviews approvals and no longer chats; made a customer, chats."""
    waiting = sqlite_cli.ask("alice", REFUND)
    assert waiting["status"] == "awaiting_approval"
    assert "is not a supervisor" in sqlite_cli.fails("approvals", "--user", "bob")

    assert "supervisor" in sqlite_cli.ok("users", "set-role", "bob", "supervisor").stdout
    pending = sqlite_cli.json("approvals", "--user", "bob", "--json")
    assert [p["thread_id"] for p in pending] == [waiting["thread_id"]]
    assert "is a supervisor" in sqlite_cli.fails("ask", "--user", "bob", "hello")

    sqlite_cli.ok("users", "set-role", "bob", "customer")
    assert sqlite_cli.ask("bob", "Where is ORD-1102?")["status"] == "active"
    assert "is not a supervisor" in sqlite_cli.fails("approvals", "--user", "bob")


# --- bad input --------------------------------------------------------------------------------


GOOD = {"display_name": "Frank Ocean", "email": "frank@example.com", "role": "customer",
        "tenant": "acme"}


@pytest.mark.parametrize(("user_id", "changes", "error", "words"), [
    ("alice", {}, InvalidInput, "user alice exists already"),
    ("ALICE", {}, InvalidInput, "user alice exists already"),
    ("frank", {"email": "ALICE@example.com"}, InvalidInput,
     "ALICE@example.com belongs to user alice already"),
    ("", {}, InvalidInput, "'' is not a valid user id"),
    ("frank ocean", {}, InvalidInput, "'frank ocean' is not a valid user id"),
    ("../etc", {}, InvalidInput, "'../etc' is not a valid user id"),
    ("f" * 65, {}, InvalidInput, "is not a valid user id"),
    ("frank", {"email": "frank"}, InvalidInput, "'frank' is not a valid e-mail address"),
    ("frank", {"email": "frank@"}, InvalidInput, "is not a valid e-mail address"),
    ("frank", {"email": "a b@example.com"}, InvalidInput, "is not a valid e-mail address"),
    ("frank", {"email": "frank@example.com\n"}, InvalidInput, "is not a valid e-mail address"),
    ("frank", {"role": "admin"}, InvalidInput, "unknown role 'admin'; use customer or supervisor"),
    ("frank", {"tenant": "Acme Corp"}, InvalidInput, "'Acme Corp' is not a valid tenant"),
    ("frank", {"display_name": "   "}, InvalidInput, "the display name is empty"),
    ("frank", {"display_name": "Frank\x1b[2J"}, InvalidInput,
     "the display name has control characters"),
])
def test_adding_a_user_with_bad_input_is_refused(sqlite_desk: SupportDesk, user_id: str,
                                                 changes: dict[str, str], error: type,
                                                 words: str) -> None:
    """Each mistake gets an error that names it; nothing is added."""
    before = sqlite_desk.users()
    with pytest.raises(error) as caught:
        sqlite_desk.add_user(user_id, **{**GOOD, **changes})
    assert words in str(caught.value)
    assert sqlite_desk.users() == before


def test_unknown_users_and_roles_are_refused(sqlite_desk: SupportDesk) -> None:
    """set-role, disable and enable name an unknown user or role clearly."""
    with pytest.raises(NotFound, match="unknown user 'mallory'"):
        sqlite_desk.set_user_role("mallory", "supervisor")
    with pytest.raises(NotFound, match="unknown user 'mallory'"):
        sqlite_desk.disable_user("mallory")
    with pytest.raises(NotFound, match="unknown user 'mallory'"):
        sqlite_desk.enable_user("mallory")
    with pytest.raises(InvalidInput, match="unknown role 'root'"):
        sqlite_desk.set_user_role("bob", "root")
    assert sqlite_desk.user("bob").role == "customer"


def test_cli_user_errors_are_one_line_exit_2(sqlite_cli: Cli) -> None:
    """Duplicates, bad ids and e-mails, unknown users and roles: one `error:` line, exit 2."""
    add = ("users", "add", "--name", "Frank Ocean", "--role", "customer", "--tenant", "acme")
    assert "user alice exists already" in sqlite_cli.fails(*add, "alice",
                                                           "--email", "f@example.com")
    assert "belongs to user bob already" in sqlite_cli.fails(*add, "frank",
                                                             "--email", "bob@example.com")
    assert "not a valid user id" in sqlite_cli.fails(*add, "Frank Ocean",
                                                     "--email", "f@example.com")
    assert "not a valid e-mail address" in sqlite_cli.fails(*add, "frank", "--email", "nope")
    assert "unknown role 'admin'" in sqlite_cli.fails("users", "set-role", "bob", "admin")
    assert "unknown user 'mallory'" in sqlite_cli.fails("users", "disable", "mallory")
    assert "--demo" in sqlite_cli.fails("seed")
    assert "frank" not in sqlite_cli.ok("users", "list").stdout
