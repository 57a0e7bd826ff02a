"""Uplink benchmark: store→broker delivery against raw paho, latency, memory, and SQLite's commit ceiling.

    python bench/uplink.py [--events 100000] [--window 100] [--latency-seconds 15]

Everything runs against a private mosquitto started here (needs `mosquitto` installed), in one run:
(a) raw paho QoS 1 publish rate with the same application-side inflight window (the limit);
(b) borderpost's store→broker delivery rate for a backlog of N signed events (`borderpost uplink` as its own
    process) and its ratio to (a) — goal >= 0.7;
(c) record→PUBACK latency p50/p99 at 20 events/s, recorder and uplink in separate processes — goal p99 < 50 ms;
(d) the uplink process's peak resident memory while draining the backlog;
(e) SQLite single-row commit rate with synchronous=FULL on this disk, and the recording path's rate against it;
(f) record→PUBACK latency at 50 events/s while 10,000 signed commands arrive on the command topic, against the
    same run without the flood (`--flood-only` runs just this part).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from edge.config import parse  # noqa: E402
from edge.events.model import Crossing, Decision, DocumentSummary  # noqa: E402
from edge.recorder import Recorder  # noqa: E402
from edge.store import Store  # noqa: E402
from tests.support.broker import Mosquitto  # noqa: E402


def config_text(d: Path, url: str, window: int, keys: str = "") -> str:
    return (f'[identity]\npost="bench"\ndevice="d1"\nsigning_key="{d}/key.pem"\n'
            f'[keys]\n{keys}\n[store]\npath="{d}/store.db"\nmin_free_mb=0\n'
            f'[broker]\nurl="{url}"\ninflight_window={window}\ntelemetry_interval_s=3600\n')


def crossing(i: int) -> Crossing:
    return Crossing(post="bench", device="d1", role="kiosk", transaction=f"T{i:08d}",
                    document=DocumentSummary(format="TD3", document_code="P", issuing_state="UTO",
                                             document_number="L898902C3", nationality="UTO", surname="ERIKSSON",
                                             given_names="ANNA MARIA", birth_date="1974-08-12",
                                             expiry_date="2032-04-15", sex="F", valid=True,
                                             checks={"document_number": True, "birth_date": True,
                                                     "expiry_date": True, "composite": True}),
                    decision=Decision(outcome="admit", by="officer-1"))


def fill_backlog(d: Path, url: str, window: int, n: int) -> tuple[Path, int]:
    """N real signed events, written in transactions of 1000 (prefill only; not the measured path)."""
    cfg_path = d / "config.toml"
    cfg_path.write_text(config_text(d, url, window))
    cfg = parse(cfg_path.read_text())
    store = Store.open(cfg.store.path, min_free_mb=0)
    rec = Recorder(cfg, store)
    from edge.events import envelope
    from edge.recorder import TOPIC_CROSSING

    size = 0
    for start in range(0, n, 1000):
        with store.transaction() as tx:
            for i in range(start, min(n, start + 1000)):
                seq = tx.next_seq()
                ev = rec._event("crossing", crossing(i), seq)
                payload = envelope.encode(ev)
                size = len(payload)
                tx.add_event(seq=seq, event_id=ev["id"], kind="crossing", topic=TOPIC_CROSSING, payload=payload)
    store.close()
    return cfg_path, size


def raw_paho_rate(port: int, n: int, window: int, payload: bytes) -> float:
    """Publish N QoS 1 messages with at most `window` unacknowledged — the same discipline as the uplink."""
    acked = threading.Semaphore(0)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="raw-bench", protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(0)
    c.max_queued_messages_set(0)
    c.on_publish = lambda *a: acked.release()
    c.connect("127.0.0.1", port)
    c.loop_start()
    time.sleep(0.2)
    import socket

    c.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t0 = time.perf_counter()
    inflight = 0
    for _ in range(n):
        while inflight >= window:
            acked.acquire()
            inflight -= 1
        c.publish("bench/raw", payload, qos=1)
        inflight += 1
    for _ in range(inflight):
        acked.acquire()
    dt = time.perf_counter() - t0
    c.loop_stop()
    c.disconnect()
    return n / dt


def pending(db: Path) -> int:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("SELECT count(*) FROM events WHERE state='pending'").fetchone()[0]
    finally:
        con.close()


def peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def drain(cfg_path: Path, db: Path, n: int) -> tuple[float, int]:
    proc = subprocess.Popen([sys.executable, "-m", "edge", "uplink", "--config", str(cfg_path)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.perf_counter()
    first = None
    rss = 0
    try:
        while True:
            p = pending(db)
            if first is None and p < n:
                first = time.perf_counter()
            rss = max(rss, peak_rss_kb(proc.pid))
            if p == 0:
                break
            if time.perf_counter() - t0 > 600:
                raise RuntimeError("uplink did not drain the backlog in 10 minutes")
            time.sleep(0.05)
        end = time.perf_counter()
        rss = max(rss, peak_rss_kb(proc.pid))
    finally:
        proc.terminate()
        proc.wait(10)
    return n / (end - (first or t0)), rss


def latency(d: Path, url: str, window: int, seconds: float, rate: float = 20.0, keys: str = "",
            during: Callable[[], None] | None = None) -> list[float]:
    cfg_path = d / "config.toml"
    cfg_path.write_text(config_text(d, url, window, keys))
    cfg = parse(cfg_path.read_text())
    store = Store.open(cfg.store.path, min_free_mb=0)
    rec = Recorder(cfg, store)
    proc = subprocess.Popen([sys.executable, "-m", "edge", "uplink", "--config", str(cfg_path)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)  # connected
        if during is not None:
            threading.Thread(target=during, daemon=True).start()
        n = int(seconds * rate)
        t_next = time.monotonic()
        for i in range(n):
            t_next += 1 / rate
            rec.record_crossing(crossing(i))
            time.sleep(max(0.0, t_next - time.monotonic()))
        deadline = time.monotonic() + 30
        while store.stats().pending and time.monotonic() < deadline:
            time.sleep(0.05)
        rows = store.conn.execute("SELECT delivered_at - created_at FROM events WHERE state='delivered'").fetchall()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            print("the uplink did not stop within 10 s of SIGTERM: killed", file=sys.stderr)
            proc.kill()
            proc.wait()
        store.close()
    return [r[0] * 1000 for r in rows]


def flood(port: int, agency_key: Any, n: int = 10_000) -> Callable[[], None]:
    """N validly signed `ping` commands (distinct ids), sent after a second by mosquitto's own C client in its own
    process (`mosquitto_pub -l`, one message a line): the flood costs the broker and the uplink, not this process."""
    from edge.uplink import commands

    lines = b"".join(commands.sign("ping", {}, "bench/d1", agency_key, f"flood-{i}") + b"\n" for i in range(n))

    def run() -> None:
        time.sleep(1.0)
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-V", "mqttv5",
                        "-t", "borderpost/v1/bench/d1/cmd/ping", "-l"], input=lines, check=True, timeout=120)

    return run


def flood_latency(tmp_path: Path, url: str, port: int, window: int, seconds: float) -> dict[str, float]:
    """(f): the same 50 events/s with and without a command flood, in one run."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    agency = Ed25519PrivateKey.generate()
    pub = tmp_path / "agency_cmd.pub"
    pub.write_bytes(agency.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    keys = f'agency_command_public_key="{pub}"'
    out: dict[str, float] = {}
    for name, during in (("quiet", None), ("flood", flood(port, agency))):
        (tmp_path / name).mkdir()
        lat = latency(tmp_path / name, url, window, seconds, rate=50.0, keys=keys, during=during)
        out[f"f_{name}_recorded"] = int(seconds * 50.0)
        out[f"f_{name}_delivered_within_30s_after"] = len(lat)
        out[f"f_{name}_record_to_puback_p50_ms"] = round(statistics.median(lat), 2)
        out[f"f_{name}_record_to_puback_p99_ms"] = round(pct(lat, 99), 2)
        out[f"f_{name}_record_to_puback_max_ms"] = round(max(lat), 2)
    return out


def sqlite_ceiling(d: Path, seconds: float = 3.0) -> float:
    con = sqlite3.connect(d / "ceiling.db", isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("CREATE TABLE t(x BLOB)")
    blob = os.urandom(700)
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        con.execute("BEGIN IMMEDIATE")
        con.execute("INSERT INTO t VALUES (?)", (blob,))
        con.execute("COMMIT")
        n += 1
    return n / (time.perf_counter() - t0)


def recording_rate(d: Path, url: str, seconds: float = 3.0) -> float:
    (d / "config.toml").write_text(config_text(d, url, 100))
    cfg = parse((d / "config.toml").read_text())
    store = Store.open(cfg.store.path, min_free_mb=0)
    rec = Recorder(cfg, store)
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        rec.record_crossing(crossing(n))
        n += 1
    store.close()
    return n / (time.perf_counter() - t0)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--window", type=int, default=100)
    ap.add_argument("--latency-seconds", type=float, default=15.0)
    ap.add_argument("--flood-seconds", type=float, default=15.0)
    ap.add_argument("--flood-only", action="store_true", help="run only (f), the command-flood latency")
    ap.add_argument("--broker-queue", type=int, default=0,
                    help="the broker's per-client queue (max_queued_messages; 0 unlimited, mosquitto's default 1000)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out: dict[str, float | int] = {}
    with tempfile.TemporaryDirectory(prefix="bp-bench-") as tmp:
        tmp_path = Path(tmp)
        broker = Mosquitto(tmp_path / "broker", persistence=False, max_queued=args.broker_queue).start()
        try:
            (tmp_path / "flood").mkdir()
            out.update(flood_latency(tmp_path / "flood", broker.url, broker.port, args.window, args.flood_seconds))
            if args.flood_only:
                raise SystemExit(_print(out, args.json))
            (tmp_path / "backlog").mkdir()
            cfg_path, size = fill_backlog(tmp_path / "backlog", broker.url, args.window, args.events)
            out["payload_bytes"] = size
            out["a_raw_paho_msgs_per_s"] = round(raw_paho_rate(broker.port, args.events, args.window, b"x" * size))
            rate, rss = drain(cfg_path, tmp_path / "backlog" / "store.db", args.events)
            out["b_store_to_broker_events_per_s"] = round(rate)
            out["b_ratio_to_raw"] = round(rate / out["a_raw_paho_msgs_per_s"], 3)
            out["d_uplink_peak_rss_mb"] = round(rss / 1024, 1)
            (tmp_path / "lat").mkdir()
            lat = latency(tmp_path / "lat", broker.url, args.window, args.latency_seconds)
            out["c_latency_events"] = len(lat)
            out["c_record_to_puback_p50_ms"] = round(statistics.median(lat), 2)
            out["c_record_to_puback_p99_ms"] = round(pct(lat, 99), 2)
            out["c_record_to_puback_max_ms"] = round(max(lat), 2)
            out["e_sqlite_full_commits_per_s"] = round(sqlite_ceiling(tmp_path))
            (tmp_path / "rec").mkdir()
            out["e_recording_crossings_per_s"] = round(recording_rate(tmp_path / "rec", broker.url))
            out["e_recording_share_of_ceiling"] = round(out["e_recording_crossings_per_s"]
                                                        / out["e_sqlite_full_commits_per_s"], 3)
        finally:
            broker.stop()
    _print(out, args.json)


def _print(out: dict[str, float | int], as_json: bool) -> None:
    if as_json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:36} {v}")


if __name__ == "__main__":
    main()
