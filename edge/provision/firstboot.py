"""First boot on the appliance: turn a provisioning bundle on the boot partition into an installed identity.

`first_boot(root)` works on any root directory (tests use a temporary one; the unit passes `/`). Each step
is idempotent and every file is written atomically, so a power cut at any point is repaired by running it
again; the station's unit starts only once the `.provisioned` marker names the installed bundle, so it never
runs on a half-provisioned appliance.

Order, and why:
  validate    the whole bundle is checked before anything is touched
  unmark      re-provisioning with a different bundle: drop the old marker first
  install     config, certificates, secrets (0600, service user), technicians' SSH keys under /etc/borderpost
  device-key  the Ed25519 event-signing key, generated here, never shipped
  ssh-keys    this unit's own SSH host keys (the image has none)
  hostname
  mark        `.provisioned` names the bundle's digest
  cleanup     rename the bundle to `borderpost.remove`, zero and delete its secrets, leave a receipt
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import logging
import os
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.fsutil import atomic_write, ensure_dir, fsync_dir, shred_and_remove
from edge.provision.bundle import BUNDLE_DIR, MANIFEST, MEMBERS, Bundle, BundleError, load_bundle

log = logging.getLogger(__name__)

STEPS = ("validate", "unmark", "install", "device-key", "ssh-keys", "hostname", "mark", "cleanup")
BOOT_DIR = "boot/firmware"
ETC = "etc/borderpost"
MARKER = ".provisioned"
REMOVING = "borderpost.remove"
RECEIPT = "borderpost-provisioned.txt"
SSH_KEYS = ("ed25519", "ecdsa")


class FirstBootError(Exception):
    """First boot cannot go on; the message says what the technician should do."""


@dataclass
class FirstBootResult:
    action: str                          # "provisioned" | "already-provisioned"
    post: str = ""
    device: str = ""
    hostname: str = ""
    bundle_digest: str = ""
    device_key_id: str = ""
    ssh_fingerprints: dict[str, str] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Owner:
    uid: int
    gid: int


def _lookup_user(root: Path, user: str) -> _Owner:
    """The service user from the target root's own /etc/passwd (not the host's: root may be an image)."""
    try:
        for line in (root / "etc/passwd").read_text().splitlines():
            parts = line.split(":")
            if len(parts) >= 4 and parts[0] == user:
                return _Owner(int(parts[2]), int(parts[3]))
    except (OSError, ValueError):
        pass
    raise FirstBootError(f"service user {user!r} is not in {root / 'etc/passwd'}: the image is incomplete "
                         "(systemd-sysusers did not run)")


def _read_marker(path: Path) -> str | None:
    try:
        for line in path.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "bundle":
                return value.strip()
    except OSError:
        return None
    return None


def first_boot(
    root: Path,
    *,
    user: str = "borderpost",
    boot_dir: str = BOOT_DIR,
    now: dt.datetime | None = None,
    on_step: Callable[[str], None] | None = None,
    set_live_hostname: bool = False,
) -> FirstBootResult:
    """Install the bundle found on the boot partition under `root`; see the module docstring for the steps."""
    root = Path(root)
    boot = root / boot_dir
    etc = root / ETC
    marker = etc / MARKER
    result = FirstBootResult(action="provisioned")

    def done(step: str) -> None:
        result.steps.append(step)
        log.info("first boot: %s done", step)
        if on_step is not None:
            on_step(step)

    if (boot / REMOVING).exists() and _read_marker(marker):
        _finish_cleanup(boot)            # a power cut interrupted the last cleanup
    bundle_dir = boot / BUNDLE_DIR
    if not (bundle_dir / MANIFEST).exists():
        installed = _read_marker(marker)
        if installed:
            return FirstBootResult(action="already-provisioned", bundle_digest=installed)
        raise FirstBootError(f"no provisioning bundle at {bundle_dir} and this appliance is not provisioned: "
                             "flash it with `borderpost flash ... --provision BUNDLE`, or copy a bundle's files "
                             f"into {BUNDLE_DIR}/ on the boot partition")
    try:
        bundle = load_bundle(bundle_dir, now)
    except BundleError as exc:
        raise FirstBootError(f"the provisioning bundle was refused, nothing was changed: {exc}") from None
    owner = _lookup_user(root, user)
    result.post, result.device = bundle.manifest.post, bundle.manifest.device
    result.hostname, result.bundle_digest = bundle.manifest.hostname, bundle.digest
    done("validate")

    if _read_marker(marker) not in (None, bundle.digest):
        marker.unlink()
        fsync_dir(etc)
    done("unmark")

    _install(etc, bundle, owner)
    done("install")

    result.device_key_id = _device_key(root, bundle, owner)
    done("device-key")

    result.ssh_fingerprints = _ssh_host_keys(etc / "ssh")
    done("ssh-keys")

    _hostname(root, bundle.manifest.hostname, set_live_hostname)
    done("hostname")

    stamp = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0).isoformat()
    atomic_write(marker, (f"bundle={bundle.digest}\npost={result.post}\ndevice={result.device}\n"
                          f"installed={stamp}\n").encode(), 0o644, 0, 0)
    done("mark")

    _cleanup(boot, result)
    done("cleanup")
    return result


def _install(etc: Path, bundle: Bundle, owner: _Owner) -> None:
    ensure_dir(etc, 0o750, 0, owner.gid)
    ensure_dir(etc / "certs", 0o750, 0, owner.gid)
    ensure_dir(etc / "secrets", 0o700, owner.uid, owner.gid)
    for name, member in MEMBERS.items():
        dest = etc / member.dest
        if name not in bundle.files:
            with contextlib.suppress(FileNotFoundError):
                dest.unlink()         # left over from an earlier bundle that had it
            continue
        if member.secret:
            atomic_write(dest, bundle.files[name], 0o600, owner.uid, owner.gid)
        elif member.public:
            ensure_dir(dest.parent, 0o755, 0, 0)
            atomic_write(dest, bundle.files[name], 0o644, 0, 0)
        else:
            atomic_write(dest, bundle.files[name], 0o640, 0, owner.gid)


def _device_key(root: Path, bundle: Bundle, owner: _Owner) -> str:
    """Keep a valid existing key (re-provisioning must not change the device's signing identity)."""
    from edge.identity import key_id

    path = root / str(bundle.config.identity.signing_key).lstrip("/")
    ensure_dir(path.parent, 0o700, owner.uid, owner.gid)
    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if isinstance(key, Ed25519PrivateKey):
                path.chmod(0o600)
                os.chown(path, owner.uid, owner.gid)
                return key_id(key.public_key())
        except ValueError:
            pass
        path.replace(path.with_name(path.name + ".corrupt"))
        log.warning("first boot: the device key was unreadable; a new one is generated")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    atomic_write(path, pem, 0o600, owner.uid, owner.gid)
    return key_id(key.public_key())


def _ssh_host_keys(ssh: Path) -> dict[str, str]:
    """OpenSSH host keys made here, per device. The public half is written after the private one and is
    re-derived if missing, so an interrupted step finishes on the next run."""
    ensure_dir(ssh, 0o700, 0, 0)
    fingerprints = {}
    for kind in SSH_KEYS:
        priv_path = ssh / f"ssh_host_{kind}_key"
        key = None
        if priv_path.exists():
            try:
                key = serialization.load_ssh_private_key(priv_path.read_bytes(), password=None)
            except ValueError:
                key = None
        if key is None:
            key = Ed25519PrivateKey.generate() if kind == "ed25519" else ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                    serialization.NoEncryption())
            atomic_write(priv_path, pem, 0o600, 0, 0)
        pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        atomic_write(priv_path.with_name(priv_path.name + ".pub"), pub + b" root@borderpost\n", 0o644, 0, 0)
        fingerprints[kind] = _ssh_fingerprint(pub)
    return fingerprints


def _ssh_fingerprint(pub_line: bytes) -> str:
    blob = base64.b64decode(pub_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _hostname(root: Path, hostname: str, live: bool) -> None:
    """The persistent copy lives in /etc/borderpost (the root is read-only on the appliance, where
    /etc/hostname is a symlink to it); a writable root gets /etc/hostname itself too."""
    data = (hostname + "\n").encode()
    atomic_write(root / ETC / "hostname", data, 0o644, 0, 0)
    etc_hostname = root / "etc/hostname"
    if not etc_hostname.is_symlink():
        atomic_write(etc_hostname, data, 0o644, 0, 0)
    if live:
        try:
            socket.sethostname(hostname)
        except OSError as exc:
            log.warning("first boot: could not set the running hostname: %s", exc)


def _cleanup(boot: Path, result: FirstBootResult) -> None:
    receipt = (
        "borderpost appliance provisioned\n"
        f"post: {result.post}\ndevice: {result.device}\nhostname: {result.hostname}\n"
        f"bundle: {result.bundle_digest}\ndevice key id: {result.device_key_id}\n"
        + "".join(f"ssh host key {k}: {v}\n" for k, v in result.ssh_fingerprints.items())
        + "The bundle's secrets were deleted from this partition.\n"
    )
    atomic_write(boot / RECEIPT, receipt.encode(), 0o644)
    bundle_dir = boot / BUNDLE_DIR
    if bundle_dir.exists():
        removing = boot / REMOVING
        if removing.exists():
            shutil.rmtree(removing)
        bundle_dir.rename(removing)
        fsync_dir(boot)
    _finish_cleanup(boot)


def _finish_cleanup(boot: Path) -> None:
    removing = boot / REMOVING
    if not removing.exists():
        return
    for child in sorted(removing.iterdir()):
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            shred_and_remove(child)
    removing.rmdir()
    fsync_dir(boot)
