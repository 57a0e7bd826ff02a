"""The agency's database: one SQLAlchemy Core code path over SQLite (one machine) and PostgreSQL (an agency).

Why SQLAlchemy Core: the same statements (upserts, RETURNING, date grouping) on both engines without an ORM's
session state. Versioned migrations live in `MIGRATIONS`; `crossings` is range-partitioned by month on
PostgreSQL (a partition per month, made on first use), a plain table on SQLite.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("applied_at", sa.Float, nullable=False),
)

devices = sa.Table(
    "devices", metadata,
    sa.Column("post", sa.Text, primary_key=True),
    sa.Column("device", sa.Text, primary_key=True),
    sa.Column("key_id", sa.Text),
    sa.Column("public_key_b64", sa.Text),          # raw Ed25519 public key; null: enrolled from a bundle, no key yet
    sa.Column("state", sa.Text, nullable=False),    # active | revoked | awaiting_key
    sa.Column("enrolled_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float),
)

fleet = sa.Table(
    "fleet", metadata,
    sa.Column("post", sa.Text, primary_key=True),
    sa.Column("device", sa.Text, primary_key=True),
    sa.Column("high_seq", sa.BigInteger, nullable=False, default=0),
    sa.Column("last_event_at", sa.Float),
    sa.Column("last_seen", sa.Float),
    sa.Column("status", sa.Text),
    sa.Column("status_at", sa.Float),
    sa.Column("version", sa.Text),
    sa.Column("telemetry", sa.Text),                # JSON of the last telemetry data
    sa.Column("telemetry_at", sa.Float),
)

events = sa.Table(
    "events", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("post", sa.Text, nullable=False),
    sa.Column("device", sa.Text, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("time", sa.Text, nullable=False),      # the device's RFC 3339 time, as signed
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("signature", sa.Text, nullable=False),  # Ed25519 is deterministic: same signature = same content
    sa.Column("payload", sa.Text, nullable=False),
    sa.Index("ix_events_device_seq", "post", "device", "seq"),
)

crossings = sa.Table(
    "crossings", metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("time", sa.DateTime(timezone=True), primary_key=True),  # partition key on PostgreSQL
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("post", sa.Text, nullable=False),
    sa.Column("device", sa.Text, nullable=False),
    sa.Column("role", sa.Text),
    sa.Column("direction", sa.Text),
    sa.Column("nationality", sa.Text),
    sa.Column("sex", sa.Text),
    sa.Column("age_band", sa.Text),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("decided_by", sa.Text),               # "kiosk" or "officer" (never the officer's id)
    sa.Column("reason_codes", sa.Text),             # space-separated
    sa.Column("alert_hits", sa.Integer, nullable=False, default=0),
    sa.Column("traveller", sa.Text),                # pseudonym (keyed hash) of the document, to pair entries and exits
    sa.Index("ix_crossings_day_post", "day", "post"),
    sa.Index("ix_crossings_traveller_time", "traveller", "time"),
    sa.Index("ix_crossings_outcome", "outcome", "day"),
)

quarantine = sa.Table(
    "quarantine", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("event_id", sa.Text),
    sa.Column("reason_code", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("payload", sa.LargeBinary),           # kept (cut to a limit) for the investigation
    sa.Index("ix_quarantine_reason", "reason_code"),
)

gaps = sa.Table(
    "gaps", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("post", sa.Text, nullable=False),
    sa.Column("device", sa.Text, nullable=False),
    sa.Column("from_seq", sa.BigInteger, nullable=False),
    sa.Column("to_seq", sa.BigInteger, nullable=False),
    sa.Column("opened_at", sa.Float, nullable=False),
    sa.Column("resend_at", sa.Float),
    sa.Column("resends", sa.Integer, nullable=False, default=0),
    sa.Index("ix_gaps_device", "post", "device", "from_seq"),
)

commands = sa.Table(
    "commands", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("post", sa.Text, nullable=False),
    sa.Column("device", sa.Text, nullable=False),
    sa.Column("args", sa.Text, nullable=False),
    sa.Column("issued_at", sa.Float, nullable=False),
    sa.Column("issued_by", sa.Text, nullable=False),
    sa.Column("result_ok", sa.Boolean),
    sa.Column("result", sa.Text),
    sa.Column("result_at", sa.Float),
)

audit = sa.Table(
    "audit", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False, default=""),
)

users = sa.Table(
    "users", metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),      # analyst (read-only)
    sa.Column("created_at", sa.Float, nullable=False),
)

settings = sa.Table(
    "settings", metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

web_sessions = sa.Table(
    "web_sessions", metadata,
    sa.Column("token_hash", sa.Text, primary_key=True),
    sa.Column("user", sa.Text, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)


class DatabaseError(Exception):
    """A database URL or server we cannot use, said in one line."""


def engine_url(url: str) -> str:
    """`sqlite:///PATH` or `postgresql://...` (psycopg 3 is the driver either way it is spelt)."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith(("sqlite:///", "postgresql+psycopg://")):
        return url
    raise DatabaseError(f"unsupported database URL {url.split('://')[0]!r}: use sqlite:///PATH or postgresql://...")


def connect(url: str) -> Engine:
    """An engine; SQLite in WAL with FULL sync and BEGIN IMMEDIATE (several ingest processes take turns)."""
    try:
        engine = sa.create_engine(engine_url(url), pool_pre_ping=True)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise DatabaseError(f"cannot use database URL: {exc}") from None
    if engine.dialect.name == "sqlite":
        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None      # we say BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(conn) -> None:  # type: ignore[no-untyped-def]
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    return engine


# ---------------------------------------------------------------------------------------------- migrations
def _m1_initial(conn: Connection) -> None:
    pg = conn.dialect.name == "postgresql"
    metadata.create_all(conn, tables=[t for t in metadata.sorted_tables
                                      if t.name not in ("crossings", "schema_version")])
    if pg:
        conn.exec_driver_sql(
            "CREATE TABLE crossings (event_id text NOT NULL, time timestamptz NOT NULL, day date NOT NULL,"
            " post text NOT NULL, device text NOT NULL, role text, direction text, nationality text, sex text,"
            " age_band text, outcome text NOT NULL, decided_by text, reason_codes text,"
            " alert_hits integer NOT NULL DEFAULT 0, traveller text, PRIMARY KEY (event_id, time))"
            " PARTITION BY RANGE (time)")
        for ix in crossings.indexes:
            ix.create(conn)
    else:
        crossings.create(conn)


MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "initial: registry, events, crossings (monthly partitions on PostgreSQL), quarantine, gaps, commands, audit",
     _m1_initial),
]


def migrate(engine: Engine) -> list[int]:
    """Apply every migration not yet applied, each in its own transaction; returns those applied."""
    applied: list[int] = []
    with engine.begin() as conn:
        schema_version.create(conn, checkfirst=True)
    for version, name, step in MIGRATIONS:
        with engine.begin() as conn:
            if conn.execute(sa.select(schema_version.c.version).where(schema_version.c.version == version)).first():
                continue
            if conn.dialect.name == "postgresql":  # two processes starting together: one migrates, one waits
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7301)")
                if conn.execute(sa.select(schema_version.c.version)
                                .where(schema_version.c.version == version)).first():
                    continue
            step(conn)
            conn.execute(schema_version.insert().values(version=version, name=name, applied_at=time.time()))
            applied.append(version)
    return applied


def current_version(engine: Engine) -> int:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("schema_version"):
            return 0
        return conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0


def open_db(url: str) -> Engine:
    """Connect and bring the schema up to date; DatabaseError with the reason when the server is not usable."""
    engine = connect(url)
    try:
        migrate(engine)
    except sa.exc.OperationalError as exc:
        raise DatabaseError(f"cannot open the database: {str(exc.orig).strip().splitlines()[0]}") from None
    return engine


# ---------------------------------------------------------------------------------------------- partitions
def month_bounds(day: dt.date) -> tuple[dt.date, dt.date]:
    start = day.replace(day=1)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return start, end


@dataclass
class Partitions:
    """Monthly partitions of `crossings` on PostgreSQL, created once per month before rows go in."""

    known: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ensure(self, engine: Engine, days: set[dt.date]) -> None:
        if engine.dialect.name != "postgresql":
            return
        for day in days:
            start, end = month_bounds(day)
            name = f"crossings_y{start.year:04d}m{start.month:02d}"
            if name in self.known:
                continue
            with self.lock, engine.begin() as conn:
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7302)")  # one creator at a time
                conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF crossings FOR VALUES "
                                     f"FROM ('{start.isoformat()} 00:00+00') TO ('{end.isoformat()} 00:00+00')")
            self.known.add(name)


def partition_names(engine: Engine) -> list[str]:
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'crossings' ORDER BY 1").all()
    return [r[0] for r in rows]


def setting(engine: Engine, name: str, make: Callable[[], str]) -> str:
    """A value kept in the database (e.g. the pseudonym key), made once by whoever asks first."""
    for _ in range(2):
        try:
            with engine.begin() as conn:
                row = conn.execute(sa.select(settings.c.value).where(settings.c.name == name)).first()
                if row:
                    return row[0]
                value = make()
                conn.execute(settings.insert().values(name=name, value=value))
                return value
        except sa.exc.IntegrityError:  # another process made it between our read and write: read theirs
            continue
    raise DatabaseError(f"setting {name!r} could not be read or made")


def add_audit(conn: Connection, actor: str, action: str, target: str, detail: str = "") -> None:
    conn.execute(audit.insert().values(at=time.time(), actor=actor, action=action, target=target, detail=detail))
