"""Storage on SQLite and PostgreSQL: once per id, conflicts quarantined, gaps opened and filled, registry audited."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import sqlalchemy as sa

from central import db, registry, stats
from central.store import Batch, EventStore
from central.verify import CONFLICT, Accepted, check_event
from tests.central.helpers import PREFIX, device, enrolment, event, lookup_of


def accepted(dev, *a, **kw) -> tuple[Accepted, str, float]:
    topic, payload = event(dev, *a, **kw)
    out = check_event(topic, payload, PREFIX, lookup_of(dev))
    assert isinstance(out, Accepted), out
    return out, payload.decode(), time.time()


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def open_gaps(engine) -> list[tuple[int, int]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(db.gaps.c.from_seq, db.gaps.c.to_seq)
                                               .order_by(db.gaps.c.from_seq))]


def test_an_event_is_stored_once_however_often_it_comes(engine):
    store = EventStore(engine)
    dev = device()
    one = accepted(dev)
    w1 = store.write(Batch(accepted=[one, one]))
    w2 = store.write(Batch(accepted=[one]))
    assert (w1.stored, w2.stored, w2.duplicates) == (1, 0, 1)
    assert count(engine, db.events) == 1 and count(engine, db.crossings) == 1
    assert count(engine, db.quarantine) == 0


def test_same_id_different_content_keeps_the_first(engine):
    store = EventStore(engine)
    dev = device()
    first = accepted(dev)
    eid = first[0].event_id
    from edge.events import envelope

    ev = json.loads(first[1])
    ev["data"]["transaction"] = "T-OTHER"
    del ev["signature"]
    ev["signature"] = envelope._b64u(dev.key.sign(envelope.canonical(ev)))
    second = check_event(f"{PREFIX}/post-a/kiosk-1/events/crossing", json.dumps(ev).encode(), PREFIX,
                         lookup_of(dev))
    assert isinstance(second, Accepted) and second.event_id == eid
    store.write(Batch(accepted=[first]))
    store.write(Batch(accepted=[(second, json.dumps(ev), time.time())]))
    with engine.connect() as conn:
        kept = json.loads(conn.execute(sa.select(db.events.c.payload)).scalar_one())
        reasons = conn.execute(sa.select(db.quarantine.c.reason_code, db.quarantine.c.event_id)).all()
    assert kept["data"]["transaction"] != "T-OTHER"
    assert reasons == [(CONFLICT, eid)]


def test_two_contents_of_one_id_in_one_batch_keep_the_first_and_its_crossing_row(engine):
    from edge.events import envelope

    store = EventStore(engine)
    dev = device()
    first = accepted(dev)
    ev = json.loads(first[1])
    ev["data"]["direction"] = "exit" if ev["data"]["direction"] != "exit" else "entry"
    del ev["signature"]
    ev["signature"] = envelope._b64u(dev.key.sign(envelope.canonical(ev)))
    second = check_event(f"{PREFIX}/post-a/kiosk-1/events/crossing", json.dumps(ev).encode(), PREFIX,
                         lookup_of(dev))
    assert isinstance(second, Accepted)
    written = store.write(Batch(accepted=[first, (second, json.dumps(ev), time.time())]))
    assert (written.stored, written.quarantined) == (1, 1)
    with engine.connect() as conn:
        direction = conn.execute(sa.select(db.crossings.c.direction)).scalar_one()
        reasons = conn.execute(sa.select(db.quarantine.c.reason_code)).scalars().all()
    assert direction == json.loads(first[1])["data"]["direction"] and reasons == [CONFLICT]


def test_gaps_open_and_fill_by_sequence(engine):
    store = EventStore(engine)
    dev = device()
    store.write(Batch(accepted=[accepted(dev, 1), accepted(dev, 2), accepted(dev, 6)]))
    assert open_gaps(engine) == [(3, 5)]
    store.write(Batch(accepted=[accepted(dev, 4)]))
    assert open_gaps(engine) == [(3, 3), (5, 5)]
    store.write(Batch(accepted=[accepted(dev, 3), accepted(dev, 5), accepted(dev, 7)]))
    assert open_gaps(engine) == []
    assert stats.summary(engine)["gaps"] == 0


def test_crossings_go_to_monthly_partitions_on_postgresql(engine):
    store = EventStore(engine)
    dev = device()
    store.write(Batch(accepted=[accepted(dev, 1, when=datetime(2026, 1, 31, 23, 59, tzinfo=UTC)),
                                accepted(dev, 2, when=datetime(2026, 2, 1, 0, 1, tzinfo=UTC))]))
    assert count(engine, db.crossings) == 2
    if engine.dialect.name == "postgresql":
        assert {"crossings_y2026m01", "crossings_y2026m02"} <= set(db.partition_names(engine))
        with engine.connect() as conn:
            n = conn.exec_driver_sql("SELECT count(*) FROM crossings_y2026m02").scalar_one()
        assert n == 1


def test_migrations_are_versioned_and_idempotent(engine):
    assert db.current_version(engine) == db.MIGRATIONS[-1][0]
    assert db.migrate(engine) == []


def test_enrol_and_revoke_are_audited(engine):
    dev = device()
    assert "enrolled" in registry.enrol(engine, enrolment(dev), "alice")
    assert "unchanged" in registry.enrol(engine, enrolment(dev), "alice")
    assert registry.revoke(engine, dev.post, dev.device, "bob", "stolen")
    assert not registry.revoke(engine, dev.post, dev.device, "bob")
    cache = registry.RegistryCache(engine)
    assert cache(dev.post, dev.device).state == "revoked"
    with engine.connect() as conn:
        trail = conn.execute(sa.select(db.audit.c.actor, db.audit.c.action, db.audit.c.target)
                             .order_by(db.audit.c.id)).all()
    assert trail == [("alice", "enrol", "post-a/kiosk-1"), ("bob", "revoke", "post-a/kiosk-1")]
    assert stats.summary(engine)["devices"] == 0


def test_stats_summary_counts_by_post(engine):
    store = EventStore(engine)
    a, b = device("post-a"), device("post-b")
    store.write(Batch(accepted=[accepted(a), accepted(a), accepted(b)]))
    s = stats.summary(engine)
    assert (s["events"], s["by_post"], s["quarantined"]) == (3, {"post-a": 2, "post-b": 1}, 0)


def test_a_bundle_enrols_the_device_awaiting_its_key(engine, tmp_path):
    from tests.central.helpers import identity_json

    (tmp_path / "borderpost").mkdir()
    (tmp_path / "borderpost" / "provision.toml").write_text(
        'format = 1\ncreated = 2026-11-30T00:00:00Z\npost = "post-a"\ndevice = "kiosk-1"\nrole = "kiosk"\n'
        'hostname = "bp-post-a-kiosk-1"\n[files]\n')
    said = registry.enrol(engine, registry.parse_bundle(tmp_path), "alice")
    assert "awaiting its key" in said
    cache = registry.RegistryCache(engine)
    assert cache("post-a", "kiosk-1").state == "awaiting_key"
    dev = device()
    assert "re-enrolled" in registry.enrol(engine, registry.parse_identity(identity_json(dev)), "alice")
    cache.refresh()
    assert cache("post-a", "kiosk-1").state == "active"
