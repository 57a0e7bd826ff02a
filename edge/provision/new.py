"""`provision new`: make one appliance's bundle on the technician's (or the agency's) machine.

The client key is generated here and never leaves the bundle except onto the appliance, unless the key
holder brings a CSR (and its key) instead. The bundle is checked with `load_bundle` before we say it is done.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from edge.provision import pki, sshkeys, tomlout
from edge.provision.bundle import (
    FORMAT,
    MANIFEST,
    Bundle,
    BundleError,
    default_hostname,
    installed_path,
    load_bundle,
    sha256,
)


@dataclass
class NewBundle:
    post: str
    device: str
    role: str
    broker_url: str
    agency_ca_cert: Path
    agency_ca_key: Path
    broker_ca: Path | None = None          # trust anchor for the broker; default: the agency CA
    csr: Path | None = None                # sign this request instead of generating a key ...
    client_key: Path | None = None         # ... whose private key is this
    agency_encryption_key: Path | None = None
    agency_command_key: Path | None = None
    credentials: Path | None = None        # "username:password"
    base_config: Path | None = None
    hostname: str | None = None
    days: int = pki.CLIENT_CERT_DAYS
    allow_simulated: bool = False
    technician_keys: Path | None = None    # authorized_keys lines for the borderpost-tech account


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BundleError(f"{what} {path}: cannot read: {exc.strerror or exc}") from None


def _base_config(path: Path | None) -> dict[str, Any]:
    if path is not None:
        text = _read(path, "--base-config").decode("utf-8", errors="replace")
        source = str(path)
    else:
        try:
            text = (resources.files("edge") / "_data" / "config.example.toml").read_text(encoding="utf-8")
        except (FileNotFoundError, ModuleNotFoundError):
            text = (Path(__file__).resolve().parents[2] / "examples" / "config.toml").read_text(encoding="utf-8")
        source = "the example config"
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BundleError(f"{source}: not valid TOML: {exc}") from None


def _config(spec: NewBundle, have: set[str]) -> dict[str, Any]:
    data = _base_config(spec.base_config)
    simulated = [n for n, d in data.get("devices", {}).items() if isinstance(d, dict) and d.get("simulated")]
    if simulated and not spec.allow_simulated:
        raise BundleError(f"the base config has simulated devices ({', '.join(simulated)}): a real appliance "
                          "needs real ones (give --base-config, or --allow-simulated for a demo unit)")
    ident = data.setdefault("identity", {})
    ident.update(post=spec.post, device=spec.device, role=spec.role)
    broker = data.setdefault("broker", {})
    broker.update(url=spec.broker_url, ca_file=str(installed_path("ca.pem")),
                  cert_file=str(installed_path("client.pem")), key_file=str(installed_path("client.key")))
    broker.pop("credentials_file", None)
    if "broker.credentials" in have:
        broker["credentials_file"] = str(installed_path("broker.credentials"))
    keys = data.setdefault("keys", {})
    keys.pop("agency_encryption_public_key", None)
    keys.pop("agency_command_public_key", None)
    if "agency_x25519.pem" in have:
        keys["agency_encryption_public_key"] = str(installed_path("agency_x25519.pem"))
    if "agency_commands_ed25519.pem" in have:
        keys["agency_command_public_key"] = str(installed_path("agency_commands_ed25519.pem"))
    return data


def _client(spec: NewBundle, now: dt.datetime) -> tuple[bytes, bytes]:
    ca_cert = pki.load_cert(_read(spec.agency_ca_cert, "--agency-ca-cert"), f"--agency-ca-cert {spec.agency_ca_cert}")
    ca_key = pki.load_private_key(_read(spec.agency_ca_key, "--agency-ca-key"), f"--agency-ca-key {spec.agency_ca_key}")
    if spec.csr is not None:
        if spec.client_key is None:
            raise BundleError("--csr needs --client-key: the appliance needs the private key the request was made with")
        csr = pki.load_csr(_read(spec.csr, "--csr"), f"--csr {spec.csr}")
        key_pem = _read(spec.client_key, "--client-key")
        key = pki.load_private_key(key_pem, f"--client-key {spec.client_key}")
        if not pki.supported_client_key(key):
            raise BundleError(f"--client-key {spec.client_key}: use an EC, RSA or Ed25519 key")
        if csr.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) \
                != key.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo):
            raise BundleError("--csr and --client-key do not belong together (different public keys)")
        public = csr.public_key()
    else:
        key, key_pem = pki.new_client_key()
        public = key.public_key()
    cert_pem = pki.issue_client_cert(ca_cert=ca_cert, ca_key=ca_key, post=spec.post, device=spec.device,
                                     public_key=public, now=now, days=spec.days)
    return cert_pem, key_pem


def _write_private(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def make_bundle(spec: NewBundle, out: Path, now: dt.datetime | None = None) -> Bundle:
    """Write the bundle into `out` (created; must not exist or be empty) and return it, checked."""
    now = now or dt.datetime.now(dt.UTC)
    try:
        cert_pem, key_pem = _client(spec, now)
    except pki.PkiError as exc:
        raise BundleError(str(exc)) from None
    files: dict[str, bytes] = {
        "ca.pem": _read(spec.broker_ca or spec.agency_ca_cert, "--broker-ca"),
        "client.pem": cert_pem,
        "client.key": key_pem,
    }
    try:
        pki.load_cert(files["ca.pem"], f"--broker-ca {spec.broker_ca or spec.agency_ca_cert}")
    except pki.PkiError as exc:
        raise BundleError(str(exc)) from None
    if spec.credentials is not None:
        cred = _read(spec.credentials, "--credentials").strip()
        if b":" not in cred or b"\n" in cred:
            raise BundleError(f"--credentials {spec.credentials}: expected one line 'username:password'")
        files["broker.credentials"] = cred + b"\n"
    if spec.agency_encryption_key is not None:
        files["agency_x25519.pem"] = _read(spec.agency_encryption_key, "--agency-encryption-key")
    if spec.agency_command_key is not None:
        files["agency_commands_ed25519.pem"] = _read(spec.agency_command_key, "--agency-command-key")
    if spec.technician_keys is not None:
        keys = _read(spec.technician_keys, "--technician-keys")
        try:
            sshkeys.parse_authorized_keys(keys)
        except ValueError as exc:
            raise BundleError(f"--technician-keys {spec.technician_keys}: {exc}") from None
        files["technicians.keys"] = keys
    files["config.toml"] = tomlout.dumps(_config(spec, set(files))).encode()
    manifest = {
        "format": FORMAT,
        "created": now.replace(microsecond=0).isoformat(),
        "post": spec.post,
        "device": spec.device,
        "role": spec.role,
        "hostname": spec.hostname or default_hostname(spec.post, spec.device),
        "files": {name: sha256(data) for name, data in sorted(files.items())},
    }
    if out.exists() and any(out.iterdir()):
        raise BundleError(f"{out}: exists and is not empty; choose a new --out directory")
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name, data in files.items():
        _write_private(out / name, data, 0o600)
    _write_private(out / MANIFEST, tomlout.dumps(manifest).encode(), 0o600)
    return load_bundle(out, now)
