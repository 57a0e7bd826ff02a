"""Counting crossings: the same queries for `central stats`, the dashboard and the exports.

Exports and the dashboard's tables hide every cell under `MIN_CELL` people (`suppress`): a count of 1 at a
small post on one day can name a traveller.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from central import db

MIN_CELL = 5
DIMENSIONS = ("day", "post", "device", "direction", "nationality", "sex", "age_band", "outcome", "decided_by")


def summary(engine: Engine) -> dict[str, Any]:
    """What `central stats --json` prints (the issue's contract, plus a little)."""
    with engine.connect() as conn:
        events = conn.execute(sa.select(sa.func.count()).select_from(db.events)).scalar_one()
        crossings = conn.execute(sa.select(sa.func.count()).select_from(db.crossings)).scalar_one()
        quarantined = conn.execute(sa.select(sa.func.count()).select_from(db.quarantine)).scalar_one()
        devices = conn.execute(sa.select(sa.func.count()).select_from(db.devices)
                               .where(db.devices.c.state == "active")).scalar_one()
        gaps = conn.execute(sa.select(sa.func.count()).select_from(db.gaps)).scalar_one()
        by_post = dict(conn.execute(sa.select(db.events.c.post, sa.func.count()).group_by(db.events.c.post)
                                    .order_by(db.events.c.post)).all())
        by_reason = dict(conn.execute(sa.select(db.quarantine.c.reason_code, sa.func.count())
                                      .group_by(db.quarantine.c.reason_code)).all())
    return {"events": events, "quarantined": quarantined, "devices": devices, "gaps": gaps,
            "by_post": by_post, "crossings": crossings, "quarantined_by_reason": by_reason}


def _period(frm: dt.date | None, to: dt.date | None) -> list[Any]:
    c = db.crossings.c
    where = []
    if frm is not None:
        where.append(c.day >= frm)
    if to is not None:
        where.append(c.day <= to)
    return where


def counts(engine: Engine, dims: tuple[str, ...], frm: dt.date | None = None, to: dt.date | None = None,
           where: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Crossings counted by the given dimensions (any of DIMENSIONS), in the period (days inclusive)."""
    bad = [d for d in dims if d not in DIMENSIONS]
    if bad:
        raise ValueError(f"unknown dimension {bad[0]!r} (one of {', '.join(DIMENSIONS)})")
    cols = [db.crossings.c[d] for d in dims]
    q = (sa.select(*cols, sa.func.count().label("count")).where(*_period(frm, to), *where)
         .group_by(*cols).order_by(*cols))
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(q).mappings()]
    for r in rows:
        if isinstance(r.get("day"), str):
            r["day"] = dt.date.fromisoformat(r["day"])
    return rows


def reason_codes(engine: Engine, outcomes: tuple[str, ...], frm: dt.date | None = None,
                 to: dt.date | None = None) -> dict[str, int]:
    """How often each reason code came with these outcomes (refusal codes, hand-over reasons)."""
    c = db.crossings.c
    q = (sa.select(c.reason_codes, sa.func.count()).where(c.outcome.in_(outcomes), *_period(frm, to))
         .group_by(c.reason_codes))
    tally: Counter[str] = Counter()
    with engine.connect() as conn:
        for codes, n in conn.execute(q):
            for code in (codes or "").split() or ["(none)"]:
                tally[code] += n
    return dict(tally.most_common())


def alert_hits(engine: Engine, frm: dt.date | None = None, to: dt.date | None = None) -> list[dict[str, Any]]:
    return counts(engine, ("day", "post"), frm, to, where=(db.crossings.c.alert_hits > 0,))


def entries_and_exits(engine: Engine, max_stay_days: int = 90, now: dt.datetime | None = None) -> dict[str, int]:
    """Admitted entries paired with a later exit of the same traveller; unpaired entries older than the stay
    limit are overstays (the traveller is known only by the keyed pseudonym)."""
    now = now or dt.datetime.now(dt.UTC)
    entry = db.crossings.alias("entry")
    exit_ = db.crossings.alias("exit_")
    admitted = sa.and_(entry.c.direction == "entry", entry.c.outcome == "admit", entry.c.traveller.is_not(None))
    left = sa.exists().where(exit_.c.traveller == entry.c.traveller, exit_.c.direction == "exit",
                             exit_.c.time > entry.c.time)
    cutoff = now - dt.timedelta(days=max_stay_days)
    with engine.connect() as conn:
        entries = conn.execute(sa.select(sa.func.count()).select_from(entry).where(admitted)).scalar_one()
        paired = conn.execute(sa.select(sa.func.count()).select_from(entry).where(admitted, left)).scalar_one()
        over = conn.execute(sa.select(sa.func.count()).select_from(entry)
                            .where(admitted, ~left, entry.c.time < cutoff)).scalar_one()
    return {"entries": entries, "paired_with_exit": paired, "still_in": entries - paired, "overstays": over,
            "max_stay_days": max_stay_days}


def suppress(rows: list[dict[str, Any]], key: str = "count") -> list[dict[str, Any]]:
    """Cells under MIN_CELL become None with `suppressed` True (exports and shared tables)."""
    out = []
    for r in rows:
        small = r[key] < MIN_CELL
        out.append({**r, key: None if small else r[key], "suppressed": small})
    return out


def fleet(engine: Engine, now: float | None = None) -> list[dict[str, Any]]:
    """Every enrolled device with what it last said: status, version, telemetry, gaps."""
    import json

    now = now or time.time()
    d, f = db.devices, db.fleet
    open_gaps = (sa.select(db.gaps.c.post, db.gaps.c.device, sa.func.count().label("gaps"),
                           sa.func.sum(db.gaps.c.to_seq - db.gaps.c.from_seq + 1).label("missing"))
                 .group_by(db.gaps.c.post, db.gaps.c.device).subquery())
    q = (sa.select(d.c.post, d.c.device, d.c.state, d.c.key_id, f.c.high_seq, f.c.last_seen, f.c.status,
                   f.c.version, f.c.telemetry, f.c.telemetry_at, open_gaps.c.gaps, open_gaps.c.missing)
         .select_from(d.outerjoin(f, sa.and_(f.c.post == d.c.post, f.c.device == d.c.device))
                      .outerjoin(open_gaps, sa.and_(open_gaps.c.post == d.c.post,
                                                    open_gaps.c.device == d.c.device)))
         .order_by(d.c.post, d.c.device))
    out = []
    with engine.connect() as conn:
        for r in conn.execute(q).mappings():
            tele = json.loads(r["telemetry"]) if r["telemetry"] else {}
            out.append({
                "post": r["post"], "device": r["device"], "state": r["state"], "key_id": r["key_id"],
                "status": r["status"] or "unknown", "version": r["version"],
                "last_seen_s_ago": None if r["last_seen"] is None else round(now - r["last_seen"], 1),
                "high_seq": r["high_seq"] or 0, "gaps": r["gaps"] or 0, "missing": int(r["missing"] or 0),
                "queue_depth": tele.get("queue_depth"), "oldest_pending_s": tele.get("oldest_pending_age_s"),
                "parked": tele.get("parked"), "alert_list_version": tele.get("alert_list_version"),
                "health": health(tele, r["telemetry_at"], now),
            })
    return out


def health(tele: dict[str, Any], at: float | None, now: float, stale_s: float = 600.0) -> str:
    """One word from the last telemetry: ok, degraded (a device not ready, storage full, backlog), stale, unknown."""
    if not tele or at is None:
        return "unknown"
    if now - at > stale_s:
        return "stale"
    bad = [name for name, st in (tele.get("devices") or {}).items() if st not in ("ready", "busy")]
    if tele.get("storage_full") or bad or (tele.get("oldest_pending_age_s") or 0) > 300:
        return "degraded"
    return "ok"
