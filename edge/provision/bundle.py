"""The provisioning bundle: everything one appliance needs to become itself, in one directory.

On the boot partition it is `borderpost/`: `provision.toml` (who the appliance is, and the SHA-256 of every
other file), `config.toml` (the appliance's config, validated by `edge.config`), the broker CA, the client
certificate and key, and optionally broker credentials, the agency's public keys and the field
technicians' SSH public keys. `load_bundle` checks
all of it before anything is installed, so a bad bundle is refused whole, never half-applied.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from cryptography.exceptions import UnsupportedAlgorithm
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge import config as cfgmod
from edge.provision import pki, sshkeys

BUNDLE_DIR = "borderpost"
MANIFEST = "provision.toml"
FORMAT = 1
_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
TECH_USER = "borderpost-tech"


@dataclass(frozen=True)
class Member:
    """A file a bundle may carry: where it is installed under /etc/borderpost, and whether it is a secret.

    `public` files are root's and world-readable: sshd reads a user's authorized keys as that user.
    """

    name: str
    dest: str
    secret: bool
    required: bool
    public: bool = False


MEMBERS: dict[str, Member] = {m.name: m for m in (
    Member("config.toml", "config.toml", secret=False, required=True),
    Member("ca.pem", "certs/ca.pem", secret=False, required=True),
    Member("client.pem", "certs/client.pem", secret=False, required=True),
    Member("client.key", "secrets/client.key", secret=True, required=True),
    Member("broker.credentials", "secrets/broker.credentials", secret=True, required=False),
    Member("agency_x25519.pem", "certs/agency_x25519.pem", secret=False, required=False),
    Member("agency_commands_ed25519.pem", "certs/agency_commands_ed25519.pem", secret=False, required=False),
    # field technicians' SSH public keys: the only way into the appliance (user borderpost-tech, key only)
    Member("technicians.keys", f"authorized_keys/{TECH_USER}", secret=False, required=False, public=True),
)}
ETC = PurePosixPath("/etc/borderpost")


def installed_path(name: str) -> PurePosixPath:
    """Where a member lives on the appliance (the config written by `provision new` points at these)."""
    return ETC / MEMBERS[name].dest


class BundleError(Exception):
    """A bundle that must not be installed, with the reason in words."""


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal[1]
    created: dt.datetime
    post: str = Field(pattern=_ID)
    device: str = Field(pattern=_ID)
    role: Literal["kiosk", "booth"]
    hostname: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    files: dict[str, str]


@dataclass(frozen=True)
class Bundle:
    path: Path
    manifest: Manifest
    digest: str                              # SHA-256 of provision.toml: it names every file's digest
    files: dict[str, bytes] = field(repr=False)
    config: cfgmod.Config = field(repr=False)
    cert_not_after: dt.datetime

    @property
    def secrets(self) -> list[str]:
        return [n for n in self.files if MEMBERS[n].secret]

    @property
    def technician_keys(self) -> list[sshkeys.AuthorizedKey]:
        data = self.files.get("technicians.keys")
        return sshkeys.parse_authorized_keys(data) if data is not None else []


def default_hostname(post: str, device: str) -> str:
    raw = f"bp-{post}-{device}".lower().replace("_", "-")
    return raw[:63].rstrip("-")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_manifest(path: Path) -> tuple[Manifest, bytes]:
    mpath = path / MANIFEST
    try:
        raw = mpath.read_bytes()
    except FileNotFoundError:
        raise BundleError(f"{path}: no {MANIFEST}: not a provisioning bundle") from None
    except OSError as exc:
        raise BundleError(f"{mpath}: cannot read: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BundleError(f"{mpath}: not valid TOML: {exc}") from None
    if data.get("format") != FORMAT:
        raise BundleError(f"{mpath}: format {data.get('format')!r} is not {FORMAT}: made by another version")
    try:
        return Manifest.model_validate(data), raw
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = ".".join(str(p) for p in e["loc"])
        raise BundleError(f"{mpath}: {loc}: {e['msg']}") from None


def load_bundle(path: Path, now: dt.datetime | None = None) -> Bundle:
    """Read and check a bundle: file digests, config, certificates. Raises BundleError on the first problem."""
    now = now or dt.datetime.now(dt.UTC)
    manifest, raw = _read_manifest(path)
    unknown = sorted(set(manifest.files) - set(MEMBERS))
    if unknown:
        raise BundleError(f"{path}: unknown file(s) in {MANIFEST}: {', '.join(unknown)}")
    missing = [m.name for m in MEMBERS.values() if m.required and m.name not in manifest.files]
    if missing:
        raise BundleError(f"{path}: {MANIFEST} lists no {', '.join(missing)}")
    files: dict[str, bytes] = {}
    for name, want in manifest.files.items():
        try:
            data = (path / name).read_bytes()
        except FileNotFoundError:
            raise BundleError(f"{path}: {name} is missing (listed in {MANIFEST})") from None
        except OSError as exc:
            raise BundleError(f"{path / name}: cannot read: {exc.strerror or exc}") from None
        if sha256(data) != want.lower():
            raise BundleError(f"{path / name}: checksum mismatch: the file was changed or corrupted after "
                              "the bundle was made")
        files[name] = data
    config = _check_config(path, manifest, files)
    not_after = _check_certs(manifest, files, now)
    if "technicians.keys" in files:
        try:
            sshkeys.parse_authorized_keys(files["technicians.keys"])
        except ValueError as exc:
            raise BundleError(f"{path / 'technicians.keys'}: {exc}") from None
    return Bundle(path, manifest, sha256(raw), files, config, not_after)


def _check_config(path: Path, manifest: Manifest, files: dict[str, bytes]) -> cfgmod.Config:
    try:
        cfg = cfgmod.parse(files["config.toml"].decode("utf-8"), str(path / "config.toml"))
    except UnicodeDecodeError:
        raise BundleError(f"{path / 'config.toml'}: not UTF-8 text") from None
    except cfgmod.ConfigError as exc:
        raise BundleError(str(exc)) from None
    ident = cfg.identity
    if (ident.post, ident.device, ident.role) != (manifest.post, manifest.device, manifest.role):
        raise BundleError(f"{path}: config.toml is for {ident.post}/{ident.device} ({ident.role}) but "
                          f"{MANIFEST} says {manifest.post}/{manifest.device} ({manifest.role})")
    return cfg


def _check_certs(manifest: Manifest, files: dict[str, bytes], now: dt.datetime) -> dt.datetime:
    try:
        ca = pki.load_cert(files["ca.pem"], "ca.pem")
        cert = pki.load_cert(files["client.pem"], "client.pem")
        key = pki.load_private_key(files["client.key"], "client.key")
        pki.check_key_matches(cert, key, "client.pem")
        pki.check_validity(cert, now, "client.pem")
        pki.check_validity(ca, now, "ca.pem")
        if cert.issuer == ca.subject:
            pki.check_issued_by(cert, ca, "client.pem")
        if pki.identity_of(cert) != (manifest.post, manifest.device):
            raise pki.PkiError(f"client.pem: the certificate is for {pki.common_name(cert)!r}, this bundle is for "
                               f"{manifest.post + '/' + manifest.device!r}")
    except pki.PkiError as exc:
        raise BundleError(str(exc)) from None
    except UnsupportedAlgorithm as exc:
        raise BundleError(f"unsupported key or certificate algorithm: {exc}") from None
    return cert.not_valid_after_utc
