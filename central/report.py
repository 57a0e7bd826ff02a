"""`central report`: crossings by day, post, direction, nationality, sex, age band and outcome, as CSV or Parquet.

Every count under MIN_CELL is hidden (empty in CSV, null in Parquet, with `suppressed` true): exports leave
the agency, and a small count can name a traveller.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from central import stats

REPORT_DIMS = ("day", "post", "direction", "nationality", "sex", "age_band", "outcome")
COLUMNS = (*REPORT_DIMS, "count", "suppressed")


def rows(engine: Engine, frm: dt.date, to: dt.date) -> list[dict[str, Any]]:
    return stats.suppress(stats.counts(engine, REPORT_DIMS, frm, to))


def to_csv(data: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in data:
        w.writerow({**r, "day": r["day"].isoformat(), "count": "" if r["count"] is None else r["count"],
                    "suppressed": "true" if r["suppressed"] else "false"})
    return buf.getvalue()


def write_parquet(data: list[dict[str, Any]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("day", pa.date32())] + [(c, pa.string()) for c in REPORT_DIMS[1:]]
                       + [("count", pa.int64()), ("suppressed", pa.bool_())])
    table = pa.Table.from_pylist([{c: r[c] for c in COLUMNS} for r in data], schema=schema)
    pq.write_table(table, path)
