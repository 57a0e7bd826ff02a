"""`borderpost alerts keygen|sign|import|status` as a technician and the agency use them (real processes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from edge.alerts.entries import dump_entries
from tests.alerts.helpers import document, person


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge", "alerts", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_sign_import_status_and_refusals(tmp_path: Path) -> None:
    assert run("keygen", "agency.pem", "agency.pub", cwd=tmp_path).returncode == 0
    assert (tmp_path / "agency.pem").stat().st_mode & 0o077 == 0
    (tmp_path / "config.toml").write_text(f"""
[identity]
post = "p"
device = "d"
[keys]
alert_list_public_key = "{tmp_path}/agency.pub"
[store]
path = "{tmp_path}/var/borderpost.db"
""")
    (tmp_path / "list.jsonl").write_bytes(dump_entries([person("p1", "DIALLO", "AMADOU"), document("d1", "MLI", "A1")]))
    signed = run("sign", "--key", "agency.pem", "--version", "10", "list.jsonl", cwd=tmp_path)
    assert signed.returncode == 0 and "version 10, 2 lines" in signed.stdout
    old = run("sign", "--key", "agency.pem", "--version", "9", "-o", "old.bundle", "list.jsonl", cwd=tmp_path)
    assert old.returncode == 0
    ok = run("import", "--config", "config.toml", "list.bundle", cwd=tmp_path)
    assert ok.returncode == 0 and "applied snapshot version 10: 2 entries" in ok.stdout
    st = json.loads(run("status", "--config", "config.toml", "--json", cwd=tmp_path).stdout)
    assert (st["version"], st["entries"], st["source"], st["stale"]) == (10, 2, "import:list.bundle", False)

    back = run("import", "--config", "config.toml", "old.bundle", cwd=tmp_path)
    assert back.returncode == 2 and "refused: older: version 9" in back.stderr and "Traceback" not in back.stderr
    (tmp_path / "cut.bundle").write_bytes((tmp_path / "list.bundle").read_bytes()[:-7])
    cut = run("import", "--config", "config.toml", "cut.bundle", cwd=tmp_path)
    assert cut.returncode == 2 and "truncated" in cut.stderr
    (tmp_path / "bad.jsonl").write_text('{"id": "x", "kind": "person"}\n')
    bad = run("sign", "--key", "agency.pem", "bad.jsonl", cwd=tmp_path)
    assert bad.returncode == 2 and "bad.jsonl: line 1: action" in bad.stderr
    missing = run("import", "--config", "config.toml", "nope.bundle", cwd=tmp_path)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert json.loads(run("status", "--config", "config.toml", "--json", cwd=tmp_path).stdout)["version"] == 10
