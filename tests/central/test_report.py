"""Exports: counts under five people are hidden; CSV and Parquet carry the same rows; CLI errors are one line."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from datetime import UTC, datetime

import pyarrow.parquet as pq

from central import report, stats
from central.rows import age_band, crossing_row, parse_time
from central.store import Batch, EventStore
from central.verify import check_event
from tests.central.helpers import PREFIX, device, event, lookup_of
from tests.central.procs import borderpost


def test_age_bands_and_times():
    assert age_band("2000-06-15", dt.date(2018, 6, 14)) == "0-17"
    assert age_band("2000-06-15", dt.date(2018, 6, 15)) == "18-29"
    assert age_band("1950-01-01", dt.date(2026, 1, 1)) == "60+"
    assert age_band(None, dt.date(2026, 1, 1)) == age_band("garbage", dt.date(2026, 1, 1)) == "unknown"
    assert parse_time("2026-11-29T04:41:22.123Z") == datetime(2026, 11, 29, 4, 41, 22, 123000, tzinfo=UTC)


def test_a_crossing_row_names_no_one():
    dev = device()
    _, payload = event(dev)
    a = check_event(f"{PREFIX}/post-a/kiosk-1/events/crossing", payload, PREFIX, lookup_of(dev))
    row = crossing_row(a.event, b"k" * 32)
    doc = a.event["data"]["document"]
    values = {str(v) for v in row.values()}
    assert doc["document_number"] not in values and doc["birth_date"] not in values
    assert row["traveller"] == crossing_row(a.event, b"k" * 32)["traveller"] != crossing_row(a.event, b"j" * 32)[
        "traveller"]


def test_small_cells_are_hidden_in_csv_and_parquet(engine, tmp_path):
    store = EventStore(engine)
    dev = device()
    when = datetime(2026, 3, 3, 12, tzinfo=UTC)
    batch = Batch()
    for i in range(9):
        topic, payload = event(dev, when=when)
        a = check_event(topic, payload, PREFIX, lookup_of(dev))
        a.event["data"].update(direction="entry" if i < 6 else "exit")
        a.event["data"]["document"].update(nationality="GHA", sex="F", birth_date="1990-01-01")
        a.event["data"]["decision"].update(outcome="admit")
        batch.accepted.append((a, payload.decode(), time.time()))
    store.write(batch)
    data = report.rows(engine, dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    assert [(r["direction"], r["count"], r["suppressed"]) for r in data] == [("entry", 6, False), ("exit", None, True)]
    rows = list(csv.DictReader(io.StringIO(report.to_csv(data))))
    assert [(r["direction"], r["count"], r["suppressed"]) for r in rows] == [("entry", "6", "false"),
                                                                             ("exit", "", "true")]
    report.write_parquet(data, tmp_path / "r.parquet")
    table = pq.read_table(tmp_path / "r.parquet").to_pylist()
    assert [(r["direction"], r["count"], r["day"]) for r in table] == [("entry", 6, dt.date(2026, 3, 3)),
                                                                       ("exit", None, dt.date(2026, 3, 3))]
    assert stats.entries_and_exits(engine)["entries"] == 6
    assert report.rows(engine, dt.date(2026, 4, 1), dt.date(2026, 4, 30)) == []


def test_cli_report_and_stats(db_url, tmp_path):
    out = borderpost("central", "stats", "--db", db_url, "--json")
    assert out.returncode == 0, out.stderr
    import json

    s = json.loads(out.stdout)
    assert {"events", "quarantined", "devices", "gaps", "by_post"} <= set(s) and s["events"] == 0
    bad = borderpost("central", "report", "--db", db_url, "--from", "2026-13-01", "--to", "2026-01-01")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    ok = borderpost("central", "report", "--db", db_url, "--from", "2026-01-01", "--to", "2026-01-31")
    assert ok.returncode == 0 and ok.stdout.startswith("day,post,direction")
    nodb = borderpost("central", "stats", "--db", "mysql://x")
    assert nodb.returncode == 2 and "unsupported database URL" in nodb.stderr
    badjson = borderpost("central", "enroll", "--db", db_url, "-", stdin="{}")
    assert badjson.returncode == 2 and "post must be" in badjson.stderr
    not_a_bundle = tmp_path / "list.bin"
    not_a_bundle.write_bytes(b"hello")
    alerts = borderpost("central", "alerts", "publish", "--db", db_url, "--broker", "mqtt://127.0.0.1:1",
                        str(not_a_bundle))
    assert alerts.returncode == 2 and "alerts publish:" in alerts.stderr and "Traceback" not in alerts.stderr
