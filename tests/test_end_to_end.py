"""The whole thin path through the real CLI: simulated MRZ reader (PTY) → station → SQLite → uplink → mosquitto."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from edge.documents import fastpath
from tests.conftest import write_config
from tests.support.broker import Collector

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, timeout: float = 180, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def ids_with_valid_signatures(payloads: list[bytes], pubkey: Path) -> set[str]:
    """Verify through the CLI the central side would use (`events verify`) and return the distinct ids."""
    lines = pubkey.parent / "received.jsonl"
    lines.write_bytes(b"\n".join(payloads) + b"\n")
    out = cli("events", "verify", str(lines), "--key", str(pubkey))
    verdicts = [json.loads(x) for x in out.stdout.splitlines()]
    assert out.returncode == 0 and verdicts and all(v["ok"] for v in verdicts), out.stdout + out.stderr
    return {v["id"] for v in verdicts}


def public_key(config: Path) -> Path:
    out = cli("identity", "show", "--config", str(config), "--json")
    assert out.returncode == 0, out.stderr
    path = config.parent / "device.pub.pem"
    path.write_text(json.loads(out.stdout)["public_key_pem"])
    return path


def test_simulate_20_travellers_reach_the_broker(tmp_path, broker):
    sub = Collector(broker.port, "borderpost/v1/+/+/events/crossing")
    # the thin path: a post with only the MRZ reader (the lane's face and finger steps: tests/ui, tests/session)
    config = write_config(tmp_path, broker.url)
    out = cli("simulate", "--travellers", "20", "--broker", broker.url, "--config", str(config), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["recorded"] == 20 and result["pending"] == 0
    assert sub.wait_for(lambda s: len({json.loads(p)["id"] for p in s.payloads()}) >= 20, 20)
    events = [json.loads(p) for p in sub.payloads()]
    assert len({e["id"] for e in events}) == 20
    docs = [e["data"]["document"] for e in events]
    assert all(d["valid"] and d["format"] in {"TD1", "TD2", "TD3"} for d in docs)
    sub.close()


def test_simulate_without_broker_keeps_events_and_says_why(tmp_path):
    store = tmp_path / "s.db"
    out = cli("simulate", "--travellers", "3", "--broker", "mqtt://127.0.0.1:9", "--store", str(store),
              "--timeout", "3", "--config", str(write_config(tmp_path)))
    assert out.returncode == 1
    assert "3 events not acknowledged" in out.stderr and "Traceback" not in out.stderr
    stats = cli("events", "stats", "--config", str(write_config(tmp_path)), "--store", str(store), "--json")
    assert json.loads(stats.stdout)["pending"] == 3


def test_offline_backlog_survives_uplink_kill_9_and_broker_restarts(tmp_path, broker):
    """Issue 4's acceptance: 300 offline crossings, uplink killed -9 repeatedly, broker restarted: all arrive."""
    config = write_config(tmp_path, broker_url=broker.url,
                          devices='[devices.mrz]\nbackend = "mrz_serial"\nsimulated = true\nport = "sim"\n')
    out = cli("simulate", "--travellers", "300", "--offline", "--config", str(config))
    assert out.returncode == 0, out.stderr
    stats = json.loads(cli("events", "stats", "--config", str(config), "--json").stdout)
    assert stats["pending"] == 300
    sub = Collector(broker.port, "borderpost/v1/post-t/dev-t/events/crossing")
    rng = random.Random(3)

    def start():
        return subprocess.Popen([sys.executable, "-m", "edge", "uplink", "--config", str(config)], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    proc = start()
    try:
        for i in range(5):
            time.sleep(rng.uniform(0.05, 0.4))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            if i % 2:
                broker.restart()
            proc = start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            stats = json.loads(cli("events", "stats", "--config", str(config), "--json").stdout)
            if stats["pending"] == 0:
                break
            time.sleep(0.5)
        assert stats["pending"] == 0 and stats["delivered"] == 300
    finally:
        proc.kill()
        proc.wait()
    assert sub.wait_for(lambda s: len({json.loads(p)["id"] for p in s.payloads()}) >= 300, 30)
    ids = ids_with_valid_signatures(sub.payloads(), public_key(config))
    assert len(ids) == 300
    sub.close()


def test_doctor_reports_devices_store_and_broker(tmp_path, broker):
    config = write_config(tmp_path, broker_url=broker.url,
                          devices='[devices.mrz]\nbackend = "mrz_serial"\nsimulated = true\nport = "sim"\n')
    out = cli("doctor", "--config", str(config), "--json")
    report = json.loads(out.stdout)
    assert out.returncode == 0, report
    assert report["devices"][0]["name"] == "mrz" and report["devices"][0]["status"] == "ready"
    assert report["store"]["ok"] and report["broker"]["status"] == "reachable"
    scan = next(r for r in report["runtimes"] if r["name"] == "mrz scan")
    assert scan["status"] == fastpath.IMPLEMENTATION
    broker.stop()
    out = cli("doctor", "--config", str(config), "--json")
    assert out.returncode == 1 and json.loads(out.stdout)["broker"]["status"] == "unreachable"
    table = cli("doctor", "--config", str(config))
    assert "unreachable" in table.stdout and "Traceback" not in table.stderr


def test_doctor_missing_serial_port_is_disconnected_not_a_crash(tmp_path):
    config = write_config(tmp_path, devices='[devices.mrz]\nbackend = "mrz_serial"\nport = "/dev/does-not-exist"\n')
    out = cli("doctor", "--config", str(config), "--json")
    report = json.loads(out.stdout)
    assert out.returncode == 1 and report["devices"][0]["status"] == "disconnected"


def test_events_list_shows_no_personal_data(tmp_path):
    config = write_config(tmp_path, devices='[devices.mrz]\nbackend = "mrz_serial"\nsimulated = true\nport = "s"\n')
    assert cli("simulate", "--travellers", "5", "--offline", "--config", str(config)).returncode == 0
    listing = cli("events", "list", "--config", str(config), "--json")
    rows = [json.loads(x) for x in listing.stdout.splitlines()]
    assert len(rows) == 5 and all(r["state"] == "pending" for r in rows)
    db_names = {json.loads(p)["data"]["document"]["surname"] for p in _payloads(tmp_path / "store.db")}
    assert not any(name and name in listing.stdout for name in db_names)


def _payloads(db: Path) -> list[bytes]:
    import sqlite3

    con = sqlite3.connect(db)
    try:
        return [r[0] for r in con.execute("SELECT payload FROM events")]
    finally:
        con.close()


def test_corrupt_store_refuses_to_start_and_is_left_untouched(tmp_path):
    config = write_config(tmp_path)
    (tmp_path / "store.db").write_bytes(b"not a database at all" * 50)
    before = (tmp_path / "store.db").read_bytes()
    for args in (["uplink"], ["events", "stats"], ["station"]):
        out = cli(*args, "--config", str(config), timeout=30)
        assert out.returncode == 2 and "left untouched" in out.stderr and "Traceback" not in out.stderr
    assert (tmp_path / "store.db").read_bytes() == before


def test_unusable_agency_keys_are_a_one_line_error_at_start(tmp_path):
    """A key path in [keys] that is missing or not a key: exit 2 naming the file, for every command that loads it."""
    (tmp_path / "not-a-key.pem").write_text("hello\n")
    enc = write_config(tmp_path, extra=f'[keys]\nagency_encryption_public_key = "{tmp_path}/missing.pem"\n',
                       devices='[devices.mrz]\nbackend = "mrz_serial"\nsimulated = true\nport = "s"\n')
    cmd = (tmp_path / "cmd").with_suffix(".toml")
    cmd.write_text(enc.read_text().replace("agency_encryption_public_key", "agency_command_public_key")
                   .replace("missing.pem", "not-a-key.pem"))
    for args in (["station", "--config", str(enc)], ["simulate", "--offline", "-n", "1", "--config", str(enc)],
                 ["uplink", "--config", str(cmd)], ["simulate", "-n", "1", "--timeout", "1", "--config", str(cmd)]):
        out = cli(*args, timeout=60)
        assert out.returncode == 2 and "Traceback" not in out.stderr, (args, out.stderr)
        assert ("missing.pem" in out.stderr or "not-a-key.pem" in out.stderr), (args, out.stderr)


def test_simulate_fails_when_the_broker_refuses_the_events(tmp_path):
    """Refused (parked) is not acknowledged: `simulate` must not exit 0 when the broker took none of the events."""
    from tests.support.broker import Mosquitto

    m = Mosquitto(tmp_path / "b", extra=["max_packet_size 900"]).start()   # smaller than any crossing event
    try:
        out = cli("simulate", "--travellers", "2", "--broker", m.url, "--store", str(tmp_path / "s.db"),
                  "--timeout", "20", "--json", "--config", str(write_config(tmp_path)))
        assert out.returncode == 1, out.stdout + out.stderr
        assert "refused" in out.stderr and "parked" in out.stderr and "Traceback" not in out.stderr
    finally:
        m.stop()
