"""An agency PKI and a broker run from `borderpost broker config`, for the mutual-TLS tests."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.provision import pki
from tests.support.broker import Mosquitto, free_port
from tests.support.pki import CA

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Agency:
    dir: Path
    ca: CA
    broker: Mosquitto

    def device(self, post: str, device: str) -> tuple[Path, Path]:
        return self._issue(f"{post}_{device}", lambda pub, now: pki.issue_client_cert(
            ca_cert=self.ca.cert, ca_key=self.ca.key, post=post, device=device, public_key=pub, now=now))

    def service(self, name: str) -> tuple[Path, Path]:
        return self._issue(name, lambda pub, now: pki.issue_service_cert(
            ca_cert=self.ca.cert, ca_key=self.ca.key, name=name, public_key=pub, now=now))

    def _issue(self, stem: str, make) -> tuple[Path, Path]:
        key, key_pem = pki.new_client_key()
        cert = make(key.public_key(), dt.datetime.now(dt.UTC))
        (self.dir / f"{stem}.crt").write_bytes(cert)
        (self.dir / f"{stem}.key").write_bytes(key_pem)
        (self.dir / f"{stem}.key").chmod(0o600)
        return self.dir / f"{stem}.crt", self.dir / f"{stem}.key"

    def tls(self, cert: tuple[Path, Path]) -> dict:
        return {"ca_certs": str(self.ca.cert_path), "certfile": str(cert[0]), "keyfile": str(cert[1])}

    def broker_extra(self, cert: tuple[Path, Path]) -> str:
        return f'ca_file = "{self.ca.cert_path}"\ncert_file = "{cert[0]}"\nkey_file = "{cert[1]}"'


def start_agency(tmp_path: Path) -> Agency:
    """CA, server certificate, `borderpost broker config` (the product's CLI), and mosquitto running it."""
    d = tmp_path / "agency"
    ca = CA(d)
    srv_crt, srv_key = ca.issue("localhost", server=True)
    port = free_port()
    out = d / "broker"
    r = subprocess.run([sys.executable, "-m", "edge", "broker", "config", "--ca", str(ca.cert_path),
                        "--cert", str(srv_crt), "--key", str(srv_key), "--out", str(out), "--port", str(port),
                        "--bind", "127.0.0.1", "--data-dir", str(d / "data"), "--service", "central-1"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    (d / "data").mkdir()
    broker = Mosquitto(d / "run", port=port, config=out / "mosquitto.conf").start()
    return Agency(d, ca, broker)


@dataclass
class Client:
    """A raw MQTT v5 client recording what happens to it (no automatic reconnect: a kick must stay visible)."""

    agency: Agency
    cert: tuple[Path, Path]
    client_id: str
    log: list[tuple] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5,
                        reconnect_on_failure=False)
        c.tls_set(**self.agency.tls(self.cert))
        c.on_connect = lambda _c, _u, _f, rc, _p: self._add("connect", str(rc))
        c.on_disconnect = lambda _c, _u, _f, rc, _p: self._add("disconnect", str(rc))
        c.on_publish = lambda _c, _u, mid, rc, _p: self._add("puback", mid, rc.value)
        c.on_subscribe = lambda _c, _u, mid, rcs, _p: self._add("suback", mid, [r.value for r in rcs])
        c.on_message = lambda _c, _u, m: self._add("message", m.topic, m.payload)
        c.connect("127.0.0.1", self.agency.broker.port, keepalive=30)
        c.loop_start()
        self.client = c
        assert self.wait(lambda: self.kinds("connect")), f"{self.client_id} could not connect: {self.log}"

    def _add(self, *item) -> None:
        with self.lock:
            self.log.append(item)

    def kinds(self, kind: str) -> list[tuple]:
        with self.lock:
            return [e for e in self.log if e[0] == kind]

    def wait(self, predicate, timeout: float = 10.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            time.sleep(0.02)
        return bool(predicate())

    def publish(self, topic: str, payload: bytes = b"x", retain: bool = False) -> int:
        """The PUBACK reason code the broker answered (0 success, 16 no subscribers, 135 not authorised)."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        assert self.wait(lambda: any(e[1] == info.mid for e in self.kinds("puback")))
        return next(e[2] for e in self.kinds("puback") if e[1] == info.mid)

    def subscribe(self, topic: str) -> list[int]:
        _rc, mid = self.client.subscribe(topic, qos=1)
        assert self.wait(lambda: any(e[1] == mid for e in self.kinds("suback")))
        return next(e[2] for e in self.kinds("suback") if e[1] == mid)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
