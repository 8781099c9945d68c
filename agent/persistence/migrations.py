"""The app's own tables (thread registry, shop data, ledger), as an ordered list of migrations.

Each migration runs once per database, in order, inside one transaction. Append new ones;
never edit a migration that has shipped. Migrations hold schema only: data such as the demo
shop is applied by whoever opens a new database (`migrate(..., on_create=...)`) or on request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from agent.core.db import Database, Dialect, Session

# A fixed key so that several processes starting at once migrate one at a time (PostgreSQL).
MIGRATION_LOCK_KEY = 4_242_001

_IDENTITY = {
    "sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "postgres": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
}


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Session, Dialect], None]


def _run_sql(*statements: str) -> Callable[[Session, Dialect], None]:
    def apply(session: Session, dialect: Dialect) -> None:
        for statement in statements:
            session.execute(statement.replace("{identity_pk}", _IDENTITY[dialect]))

    return apply


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "shop tables, ledger, tickets and the thread registry", _run_sql(
        """CREATE TABLE support_users (
            user_id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            display_name TEXT NOT NULL,
            email TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('customer', 'supervisor'))
        )""",
        """CREATE TABLE support_orders (
            order_id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            customer_id TEXT NOT NULL REFERENCES support_users (user_id),
            items TEXT NOT NULL,
            amount_cents BIGINT NOT NULL,
            currency TEXT NOT NULL,
            status TEXT NOT NULL
                CHECK (status IN ('processing', 'shipped', 'delivered', 'cancelled')),
            carrier TEXT,
            tracking_number TEXT,
            shipping_address TEXT NOT NULL,
            placed_at TEXT NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX support_orders_by_customer"
        " ON support_orders (tenant, customer_id, placed_at)",
        # One row per side effect. The idempotency key (thread + tool call) makes a replayed
        # tool find its earlier effect instead of doing it again; `result` is what it answered.
        """CREATE TABLE support_ledger (
            entry_id {identity_pk},
            idempotency_key TEXT NOT NULL UNIQUE,
            tenant TEXT NOT NULL,
            customer_id TEXT NOT NULL,
            order_id TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('refund', 'cancellation', 'address_change')),
            amount_cents BIGINT NOT NULL DEFAULT 0,
            details TEXT NOT NULL,
            result TEXT NOT NULL,
            thread_id TEXT,
            created_at DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX support_ledger_by_order ON support_ledger (order_id, kind)",
        """CREATE TABLE support_tickets (
            ticket_id TEXT PRIMARY KEY,
            idempotency_key TEXT NOT NULL UNIQUE,
            tenant TEXT NOT NULL,
            customer_id TEXT NOT NULL,
            subject TEXT NOT NULL,
            details TEXT NOT NULL,
            status TEXT NOT NULL,
            result TEXT NOT NULL,
            thread_id TEXT,
            created_at DOUBLE PRECISION NOT NULL
        )""",
        """CREATE TABLE support_threads (
            thread_id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            user_id TEXT NOT NULL,
            title TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL
        )""",
        # Listing a user's threads newest first reads this index only, never the checkpoints.
        "CREATE INDEX support_threads_by_owner"
        " ON support_threads (tenant, user_id, updated_at DESC)",
        "CREATE INDEX support_threads_by_status ON support_threads (tenant, status, updated_at)",
    )),
    # Migration 2 once put the demo shop into every database, production included. Seeding
    # is now a separate step (agent/domain/seed.py); databases it seeded keep their data, and
    # the version stays taken so that the numbering of every database remains the same.
    Migration(2, "seed customers, supervisors and orders (retired: seeding is a separate step)",
              lambda session, dialect: None),
    Migration(3, "list a tenant's threads by activity (supervisors' history page)", _run_sql(
        "CREATE INDEX support_threads_by_tenant ON support_threads (tenant, updated_at DESC)",
    )),
    Migration(4, "users can be disabled; one account per e-mail address", _run_sql(
        "ALTER TABLE support_users ADD COLUMN disabled_at DOUBLE PRECISION",
        # Sign-in through an identity provider finds the account by e-mail, whatever its case.
        "CREATE UNIQUE INDEX support_users_by_email ON support_users (lower(email))",
    )),
    Migration(5, "delivery dates, the audit trail of decisions, and customer feedback", _run_sql(
        "ALTER TABLE support_orders ADD COLUMN delivered_at TEXT",
        # One row per decision or handoff step. The key (thread + tool call or message) makes a
        # step that runs again after a crash find its row instead of writing a second one.
        """CREATE TABLE support_audit (
            audit_id {identity_pk},
            idempotency_key TEXT NOT NULL UNIQUE,
            tenant TEXT NOT NULL,
            thread_id TEXT,
            customer_id TEXT NOT NULL,
            actor_id TEXT NOT NULL,
            action TEXT NOT NULL,
            tool TEXT,
            before_args TEXT,
            after_args TEXT,
            reason TEXT NOT NULL DEFAULT '',
            outcome TEXT NOT NULL,
            ok INTEGER NOT NULL DEFAULT 1,
            created_at DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX support_audit_by_tenant ON support_audit (tenant, created_at)",
        # A thumbs up/down per reply, a 1-5 rating per closed conversation ('' message id);
        # rating again replaces the earlier score.
        """CREATE TABLE support_feedback (
            tenant TEXT NOT NULL,
            thread_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            message_id TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('reply', 'conversation')),
            score INTEGER NOT NULL,
            comment TEXT NOT NULL DEFAULT '',
            created_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (thread_id, user_id, message_id)
        )""",
        "CREATE INDEX support_feedback_by_tenant ON support_feedback (tenant, created_at)",
    )),
    Migration(6, "the app's secret keys (the seal on supervisors' decisions)", _run_sql(
        """CREATE TABLE support_secrets (
            name TEXT PRIMARY KEY,
            secret TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL
        )""",
    )),
    Migration(7, "API tokens for LangGraph Server (only their hashes)", _run_sql(
        """CREATE TABLE support_api_tokens (
            token_hash TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES support_users (user_id),
            created_at DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX support_api_tokens_by_user ON support_api_tokens (user_id)",
    )),
    Migration(8, "attachments: the index of customers' files, and PostgreSQL's blob table",
              lambda session, dialect: _attachment_tables(session, dialect)),
    Migration(9, "PostgreSQL: drop the saver's thread_id-only indexes (their primary keys lead "
                 "with thread_id); with young statistics the planner read a thread's every "
                 "write and blob through them, so each step read more rows as threads grew",
              lambda session, dialect: _on_postgres(session, dialect, *(
                  f"DROP INDEX IF EXISTS {index}" for index in (
                      "checkpoints_thread_id_idx", "checkpoint_blobs_thread_id_idx",
                      "checkpoint_writes_thread_id_idx")))),
    Migration(11, "thread counts per user and per tenant, kept by triggers (a page of threads "
                  "says 'of N' without counting a big customer's every thread)",
              lambda session, dialect: _thread_counts(session, dialect)),
    Migration(12, "thread pages in index order whatever the statistics: the indexes end with "
                  "the pages' thread_id tie-break and a customer's leads with user_id alone, "
                  "so no plan sorts a big customer's every thread (a table loaded faster than "
                  "autovacuum analyses it got one)",
              lambda session, dialect: _page_indexes(session, dialect)),
)


def _page_indexes(session: Session, dialect: Dialect) -> None:
    """Replace the registry's page indexes by ones matching the pages' ORDER BY exactly."""
    # User ids are unique across tenants (support_users' primary key): one equality, whose
    # default estimate (no statistics yet) is still large enough for the planner to walk
    # the index for a page; two equalities multiplied it down to "a row or two", for which
    # sorting everything looked cheaper.
    session.execute("CREATE INDEX support_threads_owner_page ON support_threads"
                    " (user_id, updated_at DESC, thread_id DESC)")
    session.execute("CREATE INDEX support_threads_tenant_page ON support_threads"
                    " (tenant, updated_at DESC, thread_id DESC)")
    session.execute("DROP INDEX support_threads_by_owner")
    session.execute("DROP INDEX support_threads_by_tenant")


def _attachment_tables(session: Session, dialect: Dialect) -> None:
    """The attachment index (every saver kind) and the PostgreSQL blob store's table."""
    session.execute("""CREATE TABLE support_attachments (
        attachment_id TEXT PRIMARY KEY,
        blob_id TEXT NOT NULL,
        thread_id TEXT NOT NULL,
        tenant TEXT NOT NULL,
        user_id TEXT NOT NULL,
        name TEXT NOT NULL,
        content_type TEXT NOT NULL,
        size BIGINT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    )""")
    session.execute("CREATE INDEX support_attachments_by_thread"
                    " ON support_attachments (thread_id, created_at)")
    session.execute("CREATE INDEX support_attachments_by_blob ON support_attachments (blob_id)")
    if dialect == "postgres":
        session.execute("""CREATE TABLE support_blobs (
            blob_id TEXT PRIMARY KEY,
            data BYTEA NOT NULL,
            size BIGINT NOT NULL,
            written_at DOUBLE PRECISION NOT NULL
        )""")
        session.execute("CREATE INDEX support_blobs_by_age ON support_blobs (written_at)")


def _on_postgres(session: Session, dialect: Dialect, *statements: str) -> None:
    """Run statements on PostgreSQL only (LangGraph's PostgreSQL tables; none on SQLite)."""
    if dialect == "postgres":
        for statement in statements:
            session.execute(statement)


def migrate(db: Database, *, on_create: Callable[[Session], object] | None = None) -> int:
    """Bring the app tables up to date; return the schema version. Safe to run concurrently.

    `on_create` runs in the same transaction when this call created the tables (a new
    database), so concurrent first opens see it done or not begun, never half done.
    """
    with db.transaction() as session:
        if db.dialect == "postgres":
            session.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK_KEY,))
        session.execute(
            "CREATE TABLE IF NOT EXISTS support_migrations ("
            " version INTEGER PRIMARY KEY, description TEXT NOT NULL,"
            " applied_at DOUBLE PRECISION NOT NULL)"
        )
        applied = {row["version"] for row in
                   session.fetch_all("SELECT version FROM support_migrations")}
        created = not applied
        current = max(applied, default=0)
        for migration in MIGRATIONS:
            # Each missing one, not only those above the highest: migrations written side by
            # side may land in either order.
            if migration.version in applied:
                continue
            migration.apply(session, db.dialect)
            session.execute(
                "INSERT INTO support_migrations (version, description, applied_at)"
                " VALUES (?, ?, ?)",
                (migration.version, migration.description, time.time()),
            )
            current = max(current, migration.version)
        if created and on_create is not None:
            on_create(session)
    return current


def schema_version(db: Database) -> int:
    """The highest migration applied to this database (0 when none)."""
    row = db.fetch_one("SELECT MAX(version) AS version FROM support_migrations")
    return (row or {}).get("version") or 0


def _thread_counts(session: Session, dialect: Dialect) -> None:
    """Counters of threads per (tenant, user) and per tenant (user ''), kept by triggers on
    the registry so that every path that adds or removes a thread (the desk, retention, a
    hand-written DELETE) keeps them true, in the same transaction."""
    session.execute("""CREATE TABLE support_thread_counts (
        tenant TEXT NOT NULL,
        user_id TEXT NOT NULL,
        threads BIGINT NOT NULL,
        PRIMARY KEY (tenant, user_id)
    )""")
    session.execute("""INSERT INTO support_thread_counts (tenant, user_id, threads)
        SELECT tenant, user_id, COUNT(*) FROM support_threads GROUP BY tenant, user_id
        UNION ALL
        SELECT tenant, '', COUNT(*) FROM support_threads GROUP BY tenant""")
    upsert = """INSERT INTO support_thread_counts (tenant, user_id, threads)
            VALUES ({row}.tenant, {row}.user_id, {delta}), ({row}.tenant, '', {delta})
            ON CONFLICT (tenant, user_id)
            DO UPDATE SET threads = support_thread_counts.threads + {delta}"""
    if dialect == "sqlite":
        for event, row, delta in (("INSERT", "NEW", 1), ("DELETE", "OLD", -1)):
            session.execute(f"""CREATE TRIGGER support_thread_counts_{event.lower()}
                AFTER {event} ON support_threads FOR EACH ROW BEGIN
                {upsert.format(row=row, delta=delta)}; END""")
        return
    session.execute(f"""CREATE FUNCTION support_count_threads() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                {upsert.format(row="NEW", delta=1)};
            ELSE
                {upsert.format(row="OLD", delta=-1)};
            END IF;
            RETURN NULL;
        END $$""")
    session.execute("""CREATE TRIGGER support_thread_counts AFTER INSERT OR DELETE
        ON support_threads FOR EACH ROW EXECUTE FUNCTION support_count_threads()""")
