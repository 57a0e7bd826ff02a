"""`borderpost simulate --ui` serves the three UIs until Ctrl-C; `borderpost officers` manages accounts."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from kiosk_ui.service import free_port

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge", *args], cwd=ROOT, input=stdin, capture_output=True,
                          text=True, timeout=timeout)


def test_simulate_ui_serves_kiosk_booth_and_tech_until_interrupted(tmp_path, broker):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", "simulate", "--ui", "--ui-port", str(port), "-n", "2",
         "--broker", broker.url, "--store", str(tmp_path / "store.db")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C" in line:
                break
        text = "".join(lines)
        assert f"http://127.0.0.1:{port}/kiosk" in text, text + proc.stderr.read() if proc.poll() else text
        password = next(ln.split()[-1] for ln in lines if ln.startswith("booth:"))
        base = f"http://127.0.0.1:{port}"
        for path, marker in (("/kiosk?lang=ar", 'dir="rtl"'), ("/booth", "password"), ("/tech", "password")):
            r = httpx.get(base + path, follow_redirects=True, timeout=10)
            assert r.status_code == 200 and marker in r.text, path
        c = httpx.Client(base_url=base, follow_redirects=True)
        page = c.get("/booth/signin").text
        csrf = page.split('name="csrf" value="')[1].split('"')[0]
        r = c.post("/booth/signin", data={"csrf": csrf, "user": "officer1", "password": password})
        assert r.status_code == 200 and "officer1" in r.text
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "2/2 travellers recorded, 2 acknowledged" in out
    assert "Traceback" not in err


def test_officers_cli_add_list_lock_and_refuse_weak(tmp_path):
    store = str(tmp_path / "store.db")
    config = tmp_path / "config.toml"
    config.write_text(f'[identity]\npost = "p"\ndevice = "d"\nsigning_key = "{tmp_path}/k.pem"\n'
                      f'[store]\npath = "{store}"\nmin_free_mb = 0\n')
    out = cli("officers", "add", "alice", "--config", str(config), "--password-stdin", stdin="long enough pw\n")
    assert out.returncode == 0, out.stderr
    weak = cli("officers", "add", "bob", "--config", str(config), "--password-stdin", stdin="short\n")
    assert weak.returncode == 2 and "at least" in weak.stderr and "Traceback" not in weak.stderr
    dup = cli("officers", "add", "alice", "--config", str(config), "--password-stdin", stdin="long enough pw\n")
    assert dup.returncode == 2 and "exists" in dup.stderr
    bad = cli("officers", "add", "../x", "--config", str(config), "--password-stdin", stdin="long enough pw\n")
    assert bad.returncode == 2
    listing = json.loads(cli("officers", "list", "--json", "--config", str(config)).stdout)
    assert listing == [{"id": "alice", "name": "alice", "role": "officer", "disabled": False, "failures": 0,
                        "locked_until": None}]
    assert cli("officers", "disable", "alice", "--config", str(config)).returncode == 0
    assert json.loads(cli("officers", "list", "--json", "--config", str(config)).stdout)[0]["disabled"] is True
    assert cli("officers", "unlock", "nobody", "--config", str(config)).returncode == 2
    from edge.store import Store

    s = Store.open(store)
    try:
        row = s.conn.execute("SELECT hash FROM accounts WHERE id = 'alice'").fetchone()[0]
        assert row.startswith("$argon2id$") and "long enough" not in row
        assert [e["action"] for e in s.audit_entries()][:2] == ["account.disabled", "account.added"]
    finally:
        s.close()


def test_station_serves_the_uis_when_enabled(tmp_path):
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(f'[identity]\npost = "p"\ndevice = "d"\nsigning_key = "{tmp_path}/k.pem"\n'
                      f'[store]\npath = "{tmp_path}/store.db"\nmin_free_mb = 0\n'
                      f'[broker]\nurl = "mqtt://127.0.0.1:1"\n'
                      f'[ui]\nport = {port}\n'
                      f'[devices.mrz]\nbackend = "mrz_serial"\nsimulated = true\nport = "simulated"\n')
    proc = subprocess.Popen([sys.executable, "-m", "edge", "station", "--config", str(config)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/kiosk?lang=fr", timeout=2).status_code
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert status == 200, proc.stderr.read() if proc.poll() is not None else "no answer"
        assert httpx.get(f"http://127.0.0.1:{port}/tech", follow_redirects=True).url.path == "/tech/signin"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
