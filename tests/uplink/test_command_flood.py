"""A command flood must not starve delivery (issue 19 item 3): bounded, rate-limited, drops counted."""

from __future__ import annotations

import subprocess
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.uplink import commands, inbox
from tests.support.broker import Collector
from tests.uplink.helpers import UplinkThread, make_post

FLOOD = 3000


def test_crossings_are_delivered_through_a_command_flood_and_the_drops_are_counted(tmp_path, broker):
    agency = Ed25519PrivateKey.generate()
    (tmp_path / "cmd.pem").write_bytes(agency.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    post = make_post(tmp_path, broker.url, keys=f'agency_command_public_key = "{tmp_path}/cmd.pem"')
    results = Collector(broker.port, "borderpost/v1/post-t/dev-t/cmd/+/result", client_id="results")
    up = UplinkThread(post)
    try:
        deadline = time.monotonic() + 10
        while not up.uplink.state.connected and time.monotonic() < deadline:
            time.sleep(0.02)
        flood = b"".join(commands.sign("ping", {}, "post-t/dev-t", agency, f"flood-{i}") + b"\n"
                         for i in range(FLOOD))
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1", "-V", "mqttv5",
                        "-t", "borderpost/v1/post-t/dev-t/cmd/ping", "-l"], input=flood, check=True, timeout=60)
        post.record(100)   # recorded behind the whole flood, which sits at the broker and in the uplink
        deadline = time.monotonic() + 60
        while post.store.stats().pending and time.monotonic() < deadline:
            time.sleep(0.02)
        answered_when_delivered = len(results.payloads("/result"))
        assert post.store.stats().pending == 0 and post.store.stats().delivered == 100
        # the events did not wait for the commands ahead of them: most of the flood was still unanswered
        assert answered_when_delivered < FLOOD // 2
        # the flood is shed, counted, and reported in telemetry; what is answered stays within the rate
        assert results.wait_for(lambda _s: up.uplink.state.commands_dropped > 0, 30)
        assert up.uplink.telemetry().commands_dropped == up.uplink.state.commands_dropped
        span = time.time() - up.uplink.state.started
        assert len(results.payloads("/result")) <= inbox.COMMAND_RATE * (span + 1)
    finally:
        up.close()
        results.close()


def test_token_bucket_allows_the_rate_and_one_burst_only() -> None:
    bucket = commands.TokenBucket(10.0, now=0.0)
    assert sum(bucket.take(now=0.0) for _ in range(50)) == 10          # the burst, then nothing
    taken = sum(bucket.take(now=t / 100) for t in range(1, 301))        # 3 s more, asked 100 times a second
    assert 29 <= taken <= 31
