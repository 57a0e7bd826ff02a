"""Alert-list hits at the booth: what the officer sees of each, their finding, and the decision waiting for it.

The hits are the ones the `alerts.lists` verdict recorded when the traveller's document was read (their ids in
the verdict's detail); the entries are looked up in the list as it is now (an entry since removed shows its id
only). Who saw which hit and each finding ("same person" / "not the same person") go to the audit log through
edge.alerts; the findings are kept with the queued transaction, and the decision waits until every hit has one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from edge.lane.queue import Queued

ALERT_CHECK = "alerts.lists"


def hit_ids(q: Queued) -> list[str]:
    """The hit ids the alert-list verdict recorded for this transaction (none: no hit)."""
    for v in q.checks:
        if v.check == ALERT_CHECK and "alerts.hit" in v.reason_codes:
            raw = v.detail.get("hit_ids")
            return [h for h in str(raw or "").split(",") if h]
    return []


def list_version(q: Queued) -> int | None:
    for v in q.checks:
        if v.check == ALERT_CHECK:
            version = v.detail.get("list_version")
            return int(version) if isinstance(version, int | float) else None
    return None


def open_hits(q: Queued) -> list[str]:
    """The hits the officer has not yet marked."""
    done = q.data.get("resolutions", {})
    return [h for h in hit_ids(q) if h not in done]


def alert_check(checks: Sequence[Any]) -> Any:
    return next((c for c in checks if getattr(c, "id", None) == ALERT_CHECK and hasattr(c, "booth_hits")), None)


def booth_hits(lane: Any, q: Queued, officer: str) -> list[dict[str, Any]]:
    """Each recorded hit with its entry (as the list has it now) and the officer's finding; the viewing is audited."""
    ids = hit_ids(q)
    if not ids:
        return []
    check = alert_check(lane.checks)
    found = {h["id"]: h for h in (check.booth_hits(q.document) if check is not None and q.document else [])}
    done = q.data.get("resolutions", {})
    out = [{**found.get(h, {"id": h, "kind": None, "score": None, "why": None, "reason": None, "action": None,
                           "entry": {}}), "resolution": done.get(h)} for h in ids]
    from edge.alerts.check import record_seen

    with lane.lock:
        record_seen(lane.store, officer, q.code, list_version(q), ids)
    return out


def resolve_hit(lane: Any, code: str, officer: str, hit_id: str, same_person: bool) -> bool:
    """Record the officer's finding on one hit of a queued transaction; False when there is no such hit."""
    from edge.alerts.check import record_resolution

    with lane.lock:
        q = lane.get(code)
        if q is None or hit_id not in hit_ids(q):
            return False
        data = dict(q.data)
        data["resolutions"] = {**data.get("resolutions", {}), hit_id: same_person}
        record_resolution(lane.store, officer, code, list_version(q), hit_id, same_person)
        with lane.store.transaction():
            lane.store.conn.execute("UPDATE queue SET data = ? WHERE code = ?", (json.dumps(data), code))
        lane.queue_version += 1
        return True
