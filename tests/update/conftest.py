"""An agency PKI (tests/support/pki.py), a device certificate from provisioning's own issuer, and a bundle server."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from edge.provision import pki
from edge.update.fetch import Identity
from tests.support.pki import CA
from tests.update.https_server import BundleServer


@dataclass
class Site:
    ca: CA
    device: Identity
    server: BundleServer
    payload: bytes
    digest: str


def device_identity(ca: CA, directory: Path, post: str = "post-t", device: str = "dev-t") -> Identity:
    key, key_pem = pki.new_client_key()
    cert = pki.issue_client_cert(ca_cert=ca.cert, ca_key=ca.key, post=post, device=device,
                                 public_key=key.public_key(), now=dt.datetime.now(dt.UTC))
    (directory / "device.crt").write_bytes(cert)
    (directory / "device.key").write_bytes(key_pem)
    (directory / "device.key").chmod(0o600)
    return Identity(directory / "device.crt", directory / "device.key", ca.cert_path)


@pytest.fixture
def site(tmp_path: Path):
    ca = CA(tmp_path / "agency")
    srv_crt, srv_key = ca.issue("localhost", server=True)
    root = tmp_path / "www"
    root.mkdir()
    payload = os.urandom(3 * 1024 * 1024 + 17)   # several chunks, not a multiple of one
    (root / "bundle.raucb").write_bytes(payload)
    with BundleServer(root, srv_crt, srv_key, ca.cert_path) as server:
        yield Site(ca, device_identity(ca, tmp_path), server, payload, hashlib.sha256(payload).hexdigest())
