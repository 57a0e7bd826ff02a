"""Shared fixtures for the appliance tests: an agency CA made per session, bundles, a temporary root."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from cryptography.x509.oid import NameOID

from edge.provision.new import NewBundle, make_bundle

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
SERVICE_UID, SERVICE_GID = 990, 990

BASE_CONFIG = """\
[identity]
post = "placeholder"
device = "placeholder"

[ui]
port = 8080

[policy]
fingerprints = ["right_index"]
"""


def pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_ca(directory: Path, *, not_before: dt.datetime, not_after: dt.datetime, name: str = "Agency CA"):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{name.replace(' ', '_')}.pem", directory / f"{name.replace(' ', '_')}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(pem_key(key))
    return cert_path, key_path


@dataclass
class Agency:
    ca_cert: Path
    ca_key: Path
    base_config: Path
    encryption_key: Path
    command_key: Path
    credentials: Path
    technician_keys: Path

    def spec(self, **kw) -> NewBundle:
        args = dict(post="post-7", device="kiosk-01", role="kiosk", broker_url="mqtts://broker.example:8883",
                    agency_ca_cert=self.ca_cert, agency_ca_key=self.ca_key, base_config=self.base_config,
                    agency_encryption_key=self.encryption_key, agency_command_key=self.command_key,
                    credentials=self.credentials, technician_keys=self.technician_keys)
        args.update(kw)
        return NewBundle(**args)


@pytest.fixture(scope="session")
def agency(tmp_path_factory: pytest.TempPathFactory) -> Agency:
    d = tmp_path_factory.mktemp("agency")
    ca_cert, ca_key = make_ca(d, not_before=NOW - dt.timedelta(days=30), not_after=NOW + dt.timedelta(days=3650))
    base = d / "base.toml"
    base.write_text(BASE_CONFIG)
    enc = d / "agency_x25519.pem"
    enc.write_bytes(x25519.X25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    cmd = d / "agency_cmd.pem"
    cmd.write_bytes(ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    cred = d / "cred.txt"
    cred.write_text("kiosk-01:s3cret-pass\n")
    return Agency(ca_cert, ca_key, base, enc, cmd, cred, technician_keys(d / "technicians.keys"))


def ssh_public_line(key) -> str:
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def technician_keys(path: Path) -> Path:
    """Two technicians: one pinned to the agency's network (an sshd option), one plain, as an agency would write."""
    path.write_text("# field technicians, region north\n"
                    f'from="10.20.0.0/16",no-agent-forwarding {ssh_public_line(ed25519.Ed25519PrivateKey.generate())}'
                    " amina@agency\n\n"
                    f"{ssh_public_line(ec.generate_private_key(ec.SECP256R1()))} tech-laptop-7\n")
    return path


@pytest.fixture(scope="session")
def bundle_dir(agency: Agency, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One valid bundle, made once; tests copy it before changing anything."""
    out = tmp_path_factory.mktemp("bundle") / "b"
    make_bundle(agency.spec(), out, NOW)
    return out


def make_root(base: Path) -> Path:
    """A minimal target root: what the image provides before first boot (users, an empty /etc/borderpost)."""
    root = base / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/bash\n"
        f"borderpost:x:{SERVICE_UID}:{SERVICE_GID}:borderpost:/var/lib/borderpost:/usr/sbin/nologin\n"
    )
    (root / "boot/firmware").mkdir(parents=True)
    (root / "var/lib").mkdir(parents=True)
    return root


def put_bundle(root: Path, bundle: Path) -> Path:
    dest = root / "boot/firmware/borderpost"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(bundle, dest)
    return dest
