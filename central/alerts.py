"""Alert lists to every post: signed bundles (`edge.alerts`, issue 18) published on their retained topics, audited.

The bundles are made and signed with the agency's list key by `borderpost alerts sign`; this side checks that
each is a bundle, publishes it with `edge.alerts.sync.publish_list` (chunks, then the manifest, retained, QoS 1)
and records who published which version.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from central import db
from central.ingest import broker_address


def publish(engine: Engine, broker_url: str, prefix: str, bundles: list[bytes], *, actor: str,
            ca_file: Path | None = None, username: str | None = None, password: str | None = None) -> str:
    import ssl

    from edge.alerts.bundle import read_header
    from edge.alerts.sync import publish_list

    headers = [read_header(b) for b in bundles]        # BundleError (a ValueError) before anything is sent
    host, port, tls = broker_address(broker_url)
    tls_args = {"ca_certs": str(ca_file) if ca_file else None, "cert_reqs": ssl.CERT_REQUIRED} if tls else None
    n = publish_list(host, port, prefix, bundles, tls=tls_args,
                     auth=(username, password or "") if username else None)
    with engine.begin() as conn:
        for h in headers:
            db.add_audit(conn, actor, "alerts publish", "all posts",
                         f"{h['kind']} version {h['version']}, {h['entries']} entries")
    versions = ", ".join(f"{h['kind']} {h['version']}" for h in headers)
    return f"published {versions} in {n} retained messages"
