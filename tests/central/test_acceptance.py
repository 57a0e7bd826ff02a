"""Issue 12's acceptance, on SQLite and on PostgreSQL: three real `borderpost simulate` posts publish to one
mosquitto; `central serve` is killed with -9 and restarted mid-stream and still stores every crossing once; a
forged event and a genuine one re-published under another post's topic are quarantined; a gap the post opened
(events published before the agency ever subscribed) is filled by the automatic signed resend."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion

from central import db, stats
from tests.central.procs import REPO, Serve, borderpost, enrol_post, post_config

pytestmark = pytest.mark.slow
TRAVELLERS = 20


def wait_until(predicate, timeout: float = 60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return bool(predicate())


def test_three_posts_every_crossing_once_through_kill_9_and_bad_events_quarantined(tmp_path: Path, broker, engine,
                                                                                     db_url: str):
    configs = [post_config(tmp_path / f"post-{i}", f"post-{i}", broker.url) for i in (1, 2, 3)]
    for c in configs:
        assert "enrolled" in enrol_post(c, db_url)
    serve = Serve(tmp_path / "central", db_url, broker.url).start()
    posts = [subprocess.Popen([sys.executable, "-m", "edge", "simulate", "--config", str(c), "--travellers",
                               str(TRAVELLERS), "--seed", str(i), "--timeout", "120"], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i, c in enumerate(configs)]
    try:
        assert wait_until(lambda: stats.summary(engine)["events"] >= 8, 90), serve.log.read_text()[-500:]
        serve.kill()                                        # mid-stream, nothing flushed, nothing said
        killed_at = stats.summary(engine)["events"]
        time.sleep(1.0)                                     # the posts go on publishing meanwhile
        serve.start()
        for p in posts:
            _, err = p.communicate(timeout=180)
            assert p.returncode == 0, err[-800:]
        total = 3 * TRAVELLERS
        assert wait_until(lambda: stats.summary(engine)["events"] >= total, 60)
        s = stats.summary(engine)
        assert killed_at < total
        assert (s["events"], s["crossings"], s["quarantined"]) == (total, total, 0)
        assert s["by_post"] == {f"post-{i}": TRAVELLERS for i in (1, 2, 3)}
        assert s["gaps"] == 0

        with engine.connect() as conn:
            payload = conn.execute(sa.select(db.events.c.payload).where(db.events.c.post == "post-1")
                                   .limit(1)).scalar_one()
        forged = json.loads(payload)
        forged["id"] = forged["id"][:-4] + "beef"
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="intruder", protocol=mqtt.MQTTv5)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        pub.publish("borderpost/v1/post-1/kiosk-1/events/crossing", json.dumps(forged), qos=1).wait_for_publish(5)
        pub.publish("borderpost/v1/post-2/kiosk-1/events/crossing", payload, qos=1).wait_for_publish(5)
        pub.disconnect()
        pub.loop_stop()
        assert wait_until(lambda: stats.summary(engine)["quarantined"] >= 2, 30)
        s = stats.summary(engine)
        assert s["quarantined_by_reason"] == {"bad_signature": 1, "wrong_topic": 1}
        assert s["events"] == total
        assert wait_until(lambda: all(r["status"] == "offline" for r in stats.fleet(engine)), 20)
        fleet = stats.fleet(engine)
        assert [r["post"] for r in fleet] == ["post-1", "post-2", "post-3"]
        assert all(r["high_seq"] == TRAVELLERS and r["version"] for r in fleet)
    finally:
        for p in posts:
            if p.poll() is None:
                p.kill()
        serve.stop()


def test_a_gap_is_filled_by_the_automatic_resend(tmp_path: Path, broker, engine, db_url: str):
    from edge import simulate
    from edge.config import load

    key_path = tmp_path / "agency" / "commands.pem"
    made = borderpost("central", "keys", "init", str(key_path))
    assert made.returncode == 0, made.stderr
    config = post_config(tmp_path / "post-g", "post-g", broker.url, command_key=key_path.with_suffix(".pub.pem"))
    store = tmp_path / "post-g" / "store.db"             # the same store later: the sequence goes on from 4
    early = borderpost("simulate", "--config", str(config), "--store", str(store), "--travellers", "3", timeout=120)
    assert early.returncode == 0, early.stderr            # acknowledged by the broker; nobody was subscribed
    enrol_post(config, db_url)
    serve = Serve(tmp_path / "central", db_url, broker.url, "--command-key", str(key_path),
                  "--gap-grace", "1").start()
    cfg, _ = load(config)
    keep = threading.Event()
    post = threading.Thread(target=simulate.run, args=(cfg, 3), kwargs={"keep_running": keep, "timeout": 60},
                            daemon=True)
    post.start()
    try:
        assert wait_until(lambda: stats.summary(engine)["events"] >= 3, 60)
        filled = wait_until(lambda: stats.summary(engine)["events"] == 6 and stats.summary(engine)["gaps"] == 0, 90)
        assert filled, (stats.summary(engine), serve.log.read_text()[-2000:])
        with engine.connect() as conn:
            sent = conn.execute(sa.select(db.commands.c.name, db.commands.c.args, db.commands.c.issued_by)).all()
            answered = conn.execute(sa.select(db.commands.c.result_ok)).scalars().all()
        assert sent[0] == ("resend", json.dumps({"from_seq": 1}), "central:gap")
        assert wait_until(lambda: _answered(engine), 20), answered
        assert [r["gaps"] for r in stats.fleet(engine)] == [0]
        ping = borderpost("central", "command", "ping", "post-g/kiosk-1", "--db", db_url, "--broker", broker.url,
                          "--key", str(key_path), "--wait", "20")
        assert ping.returncode == 0, ping.stderr
        answer = json.loads(ping.stdout)["result"]
        assert answer["ok"] and answer["result"]["pong"] is True
        with engine.connect() as conn:
            actions = conn.execute(sa.select(db.audit.c.action).order_by(db.audit.c.id)).scalars().all()
        assert actions[-2:] == ["command resend", "command ping"]
    finally:
        keep.set()
        post.join(30)
        serve.stop()


def _answered(engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(sa.select(db.commands.c.result_ok)).scalars().first() is True
