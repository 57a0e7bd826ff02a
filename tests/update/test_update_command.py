"""The agency's signed `update` command, end to end on this host: signed by central (central.update_command),
delivered by a real mosquitto to a running uplink, verified, then fetched over the device's mutual-TLS identity
from a local HTTPS server and its hash checked before `rauc install` (which, on this host without a RAUC
system, fails: that failure must come back as a clear final report). Progress and result are command results."""

from __future__ import annotations

import json
import time
import uuid

import paho.mqtt.publish as publish
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from central import commands as central_commands
from central.update_command import issue_update, update_args
from tests.support.broker import Collector
from tests.uplink.helpers import UplinkThread, make_post

TARGET = "post-t/dev-t"


@pytest.fixture
def device(tmp_path, broker, site):
    agency = Ed25519PrivateKey.generate()
    (tmp_path / "cmd.pem").write_bytes(agency.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    ident = site.device
    post = make_post(tmp_path, broker.url, keys=f'agency_command_public_key = "{tmp_path}/cmd.pem"',
                     broker_extra=f'ca_file = "{ident.ca_file}"\ncert_file = "{ident.cert_file}"\n'
                                  f'key_file = "{ident.key_file}"')
    sub = Collector(broker.port, "borderpost/v1/post-t/dev-t/cmd/+/result")
    up = UplinkThread(post)
    deadline = time.monotonic() + 10
    while not up.uplink.state.connected and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    yield post, agency, sub, up
    up.close()
    sub.close()


def _send(broker, payload: bytes) -> None:
    publish.single("borderpost/v1/post-t/dev-t/cmd/update", payload, qos=1, hostname="127.0.0.1", port=broker.port)


def _reports(sub, cid: str, final: bool = True, timeout: float = 30) -> list[dict]:
    def mine(s) -> list[dict]:
        return [d for d in (json.loads(p)["data"] for p in s.payloads("/result")) if d["command_id"] == cid]

    def done(s) -> bool:   # a refusal, or the final report after {"state": "started"}
        got = mine(s)
        return bool(got) and (not final or any(not d["ok"] or d["result"].get("state") in ("installed", "failed")
                                               for d in got))
    assert sub.wait_for(done, timeout), mine(sub)
    return mine(sub)


def test_a_signed_update_is_fetched_over_mtls_hash_checked_and_handed_to_rauc(device, broker, site, tmp_path):
    post, agency, sub, _up = device
    cid = str(uuid.uuid4())
    args = update_args(site.server.url("bundle.raucb"), site.digest.upper(), len(site.payload))
    _send(broker, central_commands.sign("update", args, TARGET, agency, cid, time.time()))
    got = _reports(sub, cid)
    assert got[0]["ok"] and got[0]["result"]["state"] == "started"
    final = got[-1]
    # fetched and checked (the server saw the device's certificate), then refused by this host's missing RAUC
    assert site.server.client_names, "the bundle was never fetched"
    assert not final["ok"] and final["result"] == {"state": "failed"}
    assert final["error"].startswith("update failed: rauc") and "sha256" not in final["error"]
    assert not list((post.cfg.store.path.parent / "update").glob("*")), "the fetched bundle is left behind"


def test_a_hash_mismatch_is_reported_and_nothing_is_installed(device, broker, site):
    _post, agency, sub, _up = device
    cid = str(uuid.uuid4())
    _send(broker, central_commands.sign("update", update_args(site.server.url("bundle.raucb"), "ab" * 32),
                                        TARGET, agency, cid, time.time()))
    final = _reports(sub, cid)[-1]
    assert not final["ok"] and "sha256 mismatch" in final["error"]


def test_forged_or_malformed_update_commands_are_refused_before_any_fetch(device, broker, site):
    _post, agency, sub, up = device
    good = update_args(site.server.url("bundle.raucb"), site.digest)
    forged = central_commands.sign("update", good, TARGET, Ed25519PrivateKey.generate(), "f1", time.time())
    _send(broker, forged)
    assert _reports(sub, "f1", final=False)[0]["error"] == "bad signature"
    plain_http = {**good, "url": good["url"].replace("https", "http")}
    _send(broker, central_commands.sign("update", plain_http, TARGET, agency, "f2", time.time()))
    r = _reports(sub, "f2", final=False)[0]
    assert not r["ok"] and "https" in r["error"]
    assert site.server.client_names == [] and up.uplink.state.rejected_commands == 1


def test_central_records_and_audits_the_update_command(tmp_path):
    from central.db import open_db

    engine = open_db(f"sqlite:///{tmp_path}/central.db")
    key = Ed25519PrivateKey.generate()
    args = update_args("https://updates.example/b.raucb", "cd" * 32, 1234)
    cid, payload = issue_update(engine, key, "post-t", "dev-t", args, actor="tech1")
    msg = json.loads(payload)
    assert msg["name"] == "update" and msg["args"] == args and msg["id"] == cid and msg["target"] == TARGET
    from edge.uplink import commands as device_commands

    verdict = device_commands.check(payload, "update", TARGET, key.public_key())
    assert isinstance(verdict, device_commands.Command) and verdict.args == args
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("select name, device, issued_by from commands where id = ?", (cid,)).fetchall()
        audit = conn.exec_driver_sql("select * from audit").fetchall()
    assert rows == [("update", "dev-t", "tech1")]
    assert any("command update" in str(a) for a in audit)
    for bad in (("http://x/b", "ab" * 32), ("https://x/b", "xyz")):
        with pytest.raises(ValueError):
            update_args(*bad)
