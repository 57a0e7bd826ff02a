"""Alert lists go out from central on the retained topics edge/alerts reads, and each publication is audited."""

from __future__ import annotations

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from central import db
from central.alerts import publish
from edge.alerts.bundle import make_bundle
from tests.support.broker import Collector


def test_a_signed_bundle_is_published_retained_and_audited(engine, broker):
    bundle = make_bundle(b"", Ed25519PrivateKey.generate(), version=7)
    said = publish(engine, broker.url, "borderpost/v1", [bundle], actor="alice")
    assert "snapshot 7" in said
    late = Collector(broker.port, "borderpost/v1/_alerts/#", client_id="late-post")   # retained: a post that
    assert late.wait_for(lambda c: c.payloads("snapshot/manifest"), timeout=10)    # connects later gets it
    assert late.wait_for(lambda c: c.payloads("snapshot/chunk/0"), timeout=10)
    assert all(retained for _, _, retained in late.messages)
    late.close()
    with engine.connect() as conn:
        trail = conn.execute(sa.select(db.audit.c.actor, db.audit.c.action, db.audit.c.detail)).all()
    assert trail == [("alice", "alerts publish", "snapshot version 7, 0 entries")]
