"""Benchmark the agency ingest against its limit, with one mosquitto and one PostgreSQL started for this run.

  python bench/central.py [--events 10000] [--realistic-s 60] [--saturation-s 15]

Figures (all in the same run, same broker, same database server):
- limit: `mosquitto_sub` piped into PostgreSQL `COPY` of the same events, nothing verified;
- ingest rate with 1 and 2 `borderpost central serve` processes (shared subscription), every signature verified;
  both drain the same N events queued by the broker for their sessions, so the publisher is not measured. The
  ingest processes are started and connected first, paused (SIGSTOP) while the events are queued, and timed from
  their resume: Python's start-up (reported as `startup_s`) is not throughput. Their CPU time per event is
  reported too (`ingest_cpu_us_per_event`; the limit's `client_cpu_us_per_event` is mosquitto_sub's and psql's,
  the broker and the database server are left out of both): on a machine shared with other work it varies less
  than the rate;
- device-record -> central-commit latency p50/p99 at 400 devices x 1 crossing/min (a shortened window at that
  rate) and at saturation (events made and published as fast as one process can sign them);
- the verification ceiling: the CPU time of the ingest's own check of one event (`check_event`, in this process,
  the same events) and of its Ed25519 signature alone, and what every core of this machine could verify if it did
  nothing else, beside the goal's rate (half the limit).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402

from central import db, jcs  # noqa: E402
from central.db import open_db  # noqa: E402
from central.registry import RegistryCache  # noqa: E402
from central.simulate import Fleet, Publisher, run, signed_event  # noqa: E402
from central.verify import Accepted, check_event  # noqa: E402
from tests.central.postgres import start_postgres  # noqa: E402
from tests.support.broker import Mosquitto  # noqa: E402

PREFIX = "borderpost/v1"
TOPIC = f"{PREFIX}/+/+/events/#"


def load() -> str:
    """The machine's load average (1, 5, 15 min) when a figure was taken: other work shares these cores."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def count_events(engine: sa.engine.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(db.events)).scalar_one()


def make_session(port: int, client_id: str, topic: str) -> None:
    """Connect once with a persistent session and subscribe, then leave: the broker queues for it from now on."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    done = threading.Event()
    c.on_subscribe = lambda *a: done.set()
    c.connect("127.0.0.1", port, clean_start=False, properties=props)
    c.loop_start()
    c.subscribe(topic, qos=1)
    done.wait(10)
    c.disconnect()
    c.loop_stop()


def publish_all(url: str, events: list[tuple[str, bytes]]) -> float:
    t0 = time.monotonic()
    pub = Publisher(url, connections=2, window=1000)
    for i, (topic, payload) in enumerate(events):
        pub.publish(i, topic, payload)
    pub.drain(120)
    pub.close()
    return time.monotonic() - t0


def serve(db_url: str, broker_url: str, client_id: str, latency_log: Path | None = None,
          group: str = "central") -> tuple[subprocess.Popen, Path]:
    cmd = [sys.executable, "-m", "edge", "central", "serve", "--db", db_url, "--broker", broker_url,
           "--client-id", client_id, "--group", group]
    if latency_log:
        cmd += ["--latency-log", str(latency_log)]
    log = Path(tempfile.mkdtemp()) / "serve.log"
    with log.open("w") as err:
        return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err), log


def wait_ready(log: Path, timeout: float = 120.0) -> None:
    """Until `central serve` says it is connected (Python's start-up is not the ingest's throughput)."""
    end = time.monotonic() + timeout
    while "central ingest ready" not in log.read_text():
        if time.monotonic() > end:
            raise RuntimeError(f"central serve did not start: {log.read_text()[-400:]}")
        time.sleep(0.05)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_count(engine: sa.engine.Engine, target: int, timeout: float = 600.0) -> float:
    t0 = time.monotonic()
    while count_events(engine) < target and time.monotonic() - t0 < timeout:
        time.sleep(0.05)
    return time.monotonic()


def ingest_rate(pg, broker: Mosquitto, fleet: Fleet, events: list[tuple[str, bytes]], processes: int) -> dict:
    """The processes start, connect and are paused (SIGSTOP) while the events are queued, then resumed: the clock
    runs from the resume to the last commit, like the limit's from its start to the end of its COPY."""
    url = pg.createdb(f"bench_ingest_{processes}")
    engine = open_db(url)
    fleet.enrol(engine, "bench")
    ids = [f"bench-ingest-{processes}-{i}" for i in range(processes)]
    group = f"bench{processes}"   # its own group: a session left by an earlier run would keep a share
    for cid in ids:
        make_session(broker.port, cid, f"$share/{group}/{TOPIC}")
    spawned = time.monotonic()
    procs = [serve(url, broker.url, cid, group=group) for cid in ids]
    for _, log in procs:
        wait_ready(log)
    startup = time.monotonic() - spawned
    for p, _ in procs:
        p.send_signal(signal.SIGSTOP)
    publish_all(broker.url, events)
    cpu0 = sum(cpu_seconds(p.pid) for p, _ in procs)
    t0 = time.monotonic()
    for p, _ in procs:
        p.send_signal(signal.SIGCONT)
    end = wait_count(engine, len(events))
    cpu = sum(cpu_seconds(p.pid) for p, _ in procs) - cpu0
    stored = count_events(engine)
    for p, _ in procs:
        p.terminate()
        p.wait(30)
    engine.dispose()
    return {"processes": processes, "events": stored, "seconds": round(end - t0, 2),
            "events_per_s": round(stored / (end - t0), 1), "startup_s": round(startup, 1),
            "ingest_cpu_us_per_event": round(cpu / max(stored, 1) * 1e6), "load": load()}


def copy_limit(pg, broker: Mosquitto, events: list[tuple[str, bytes]]) -> dict:
    url = pg.createdb("bench_copy")
    engine = sa.create_engine(db.engine_url(url))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE raw (payload text)")
    make_session(broker.port, "bench-limit", TOPIC)
    publish_all(broker.url, events)
    psql = str(pg.bindir / "psql")
    pipeline = (f"mosquitto_sub -h 127.0.0.1 -p {broker.port} -V mqttv5 -c -i bench-limit -q 1 -t '{TOPIC}' "
                f"-C {len(events)} | {psql} -q -h 127.0.0.1 -p {pg.port} -U postgres -d bench_copy "
                "-c \"COPY raw (payload) FROM STDIN WITH (FORMAT text, DELIMITER E'\\x01')\"")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    r = subprocess.run(["bash", "-c", pipeline], capture_output=True, text=True, timeout=600, check=False)
    seconds = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)   # mosquitto_sub, psql and their shell
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    with engine.connect() as conn:
        n = conn.exec_driver_sql("SELECT count(*) FROM raw").scalar_one()
    engine.dispose()
    if r.returncode:
        raise RuntimeError(f"limit pipeline failed: {r.stderr[-400:]}")
    return {"events": n, "seconds": round(seconds, 2), "events_per_s": round(n / seconds, 1),
            "client_cpu_us_per_event": round(cpu / max(n, 1) * 1e6), "load": load()}


def cpu_per_call_us(work, items: list) -> float:  # type: ignore[no-untyped-def]
    """CPU microseconds per item of `work(item)`, after one warm-up pass over the first thousand."""
    for item in items[:1000]:
        work(item)
    t0 = time.process_time()
    for item in items:
        work(item)
    return (time.process_time() - t0) / len(items) * 1e6


def verification_ceiling(pg, fleet: Fleet, events: list[tuple[str, bytes]], limit_per_s: float) -> dict:
    """What verifying alone costs here: no broker, no database write, no hand-offs. If even this, on every core,
    cannot reach half the limit, no ingest design on this machine can."""
    url = pg.createdb("bench_verify")
    engine = open_db(url)
    fleet.enrol(engine, "bench")
    lookup = RegistryCache(engine, ttl=3600)
    checked = [check_event(t, p, PREFIX, lookup) for t, p in events]
    assert all(isinstance(c, Accepted) for c in checked), "a generated event did not verify"
    check_us = cpu_per_call_us(lambda tp: check_event(tp[0], tp[1], PREFIX, lookup), events)
    signed = []
    for c in checked:
        ev = c.event
        sig = base64.urlsafe_b64decode(ev["signature"] + "=" * (-len(ev["signature"]) % 4))
        msg = jcs.canonical_finite({k: v for k, v in ev.items() if k != "signature"})
        signed.append((lookup(c.post, c.device).verifier, msg, sig))
    signature_us = cpu_per_call_us(lambda v: v[0].verify(v[1], v[2]), signed)
    engine.dispose()
    cores = os.cpu_count() or 1
    return {"check_cpu_us_per_event": round(check_us, 1), "signature_cpu_us_per_event": round(signature_us, 1),
            "cores": cores, "ceiling_events_per_s_all_cores": round(cores * 1e6 / check_us),
            "goal_events_per_s": round(limit_per_s / 2), "load": load()}


def latencies(path: Path) -> dict:
    values = sorted(float(b) - float(a) for a, b in (line.split() for line in path.read_text().splitlines()))
    if not values:
        return {"events": 0}
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"events": len(values), "p50_ms": round(q[49] * 1000, 1), "p99_ms": round(q[98] * 1000, 1),
            "max_ms": round(values[-1] * 1000, 1)}


def latency_run(pg, broker: Mosquitto, fleet: Fleet, name: str, work) -> dict:  # type: ignore[no-untyped-def]
    url = pg.createdb(f"bench_latency_{name}")
    engine = open_db(url)
    fleet.enrol(engine, "bench")
    log = Path(tempfile.mkdtemp()) / "latency.log"
    proc, serve_log = serve(url, broker.url, f"bench-latency-{name}", log, group=f"latency-{name}")
    wait_ready(serve_log)
    time.sleep(0.5)                                   # subscribed
    sent = work()
    wait_count(engine, sent["events"], 120)
    proc.terminate()
    proc.wait(30)
    engine.dispose()
    return {**latencies(log), "offered_per_s": sent.get("events_per_s"), "load": load()}


def saturate(fleet: Fleet, broker_url: str, seconds: float) -> dict:
    pub = Publisher(broker_url, connections=2, window=1000)
    t0, n = time.monotonic(), 0
    while time.monotonic() - t0 < seconds:
        topic, payload = signed_event(fleet.devices[n % len(fleet.devices)], PREFIX)
        pub.publish(n, topic, payload)
        n += 1
    pub.drain(60)
    pub.close()
    return {"events": n, "events_per_s": round(n / (time.monotonic() - t0), 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10000)
    ap.add_argument("--posts", type=int, default=200)
    ap.add_argument("--devices", type=int, default=2)
    ap.add_argument("--realistic-s", type=float, default=60.0)
    ap.add_argument("--saturation-s", type=float, default=15.0)
    args = ap.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    tmp = Path(tempfile.mkdtemp(prefix="bench-central-"))
    broker = Mosquitto(tmp / "broker", persistence=False).start()
    pg = start_postgres()
    out: dict = {"devices": args.posts * args.devices}
    try:
        fleet = Fleet.create(args.posts, args.devices)
        t0 = time.monotonic()
        events = [signed_event(fleet.devices[i % len(fleet.devices)], PREFIX) for i in range(args.events)]
        out["build_events_per_s"] = round(args.events / (time.monotonic() - t0), 1)
        out["limit_mosquitto_sub_copy"] = copy_limit(pg, broker, events)
        print(json.dumps({"limit": out["limit_mosquitto_sub_copy"]}), flush=True)
        for n in (1, 2):
            out[f"ingest_{n}_process"] = ingest_rate(pg, broker, fleet, events, n)
            print(json.dumps(out[f"ingest_{n}_process"]), flush=True)
        limit = out["limit_mosquitto_sub_copy"]["events_per_s"]
        out["ratio_1_process"] = round(out["ingest_1_process"]["events_per_s"] / limit, 3)
        out["ratio_2_processes"] = round(out["ingest_2_process"]["events_per_s"] / limit, 3)
        out["verification_ceiling"] = verification_ceiling(pg, fleet, events, limit)
        print(json.dumps({"verification_ceiling": out["verification_ceiling"]}), flush=True)
        out["latency_realistic"] = latency_run(pg, broker, fleet, "realistic", lambda: run(
            fleet, broker.url, PREFIX, rate_per_min=1.0, duration_s=args.realistic_s))
        print(json.dumps({"latency_realistic": out["latency_realistic"]}), flush=True)
        out["latency_saturation"] = latency_run(pg, broker, fleet, "saturation",
                                                lambda: saturate(fleet, broker.url, args.saturation_s))
    finally:
        broker.stop()
        pg.stop()
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
