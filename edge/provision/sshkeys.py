"""Technicians' SSH public keys, as a provisioning bundle carries them (OpenSSH `authorized_keys` lines).

Checked when the bundle is made and again when it is installed: sshd silently ignores a line it cannot use,
so a typo would otherwise lock the field technician out of a remote post without a word. Each line is
`[options] type base64 [comment]`; the key must parse and be strong enough, the options must be ones
sshd knows (`from="10.1.0.0/16"` to pin the technicians' network is the useful one).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa",
             "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")
MIN_RSA_BITS = 2048
# authorized_keys options sshd accepts (sshd(8) AUTHORIZED_KEYS FILE FORMAT); a misspelt one disables the line
OPTIONS = frozenset({
    "agent-forwarding", "cert-authority", "command", "environment", "expiry-time", "from", "no-agent-forwarding",
    "no-port-forwarding", "no-pty", "no-touch-required", "no-user-rc", "no-X11-forwarding", "permitlisten",
    "permitopen", "port-forwarding", "principals", "pty", "restrict", "tunnel", "user-rc", "verify-required",
    "X11-forwarding",
})
MAX_KEYS = 64
_OPTION = re.compile(r'([A-Za-z0-9-]+)(?:="((?:[^"\\]|\\.)*)")?')


@dataclass(frozen=True)
class AuthorizedKey:
    type: str
    fingerprint: str          # SHA256:... as `ssh-keygen -lf` prints it
    comment: str
    options: str


def _split_options(line: str) -> tuple[str, str]:
    """(options, rest): options end at the first space outside double quotes."""
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"' and (i == 0 or line[i - 1] != "\\"):
            quoted = not quoted
        elif ch in " \t" and not quoted:
            return line[:i], line[i:].lstrip()
    raise ValueError("options but no key")


def _check_options(options: str) -> None:
    pos = 0
    while pos < len(options):
        m = _OPTION.match(options, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"cannot read the options {options[:60]!r}")
        if m.group(1) not in OPTIONS:
            raise ValueError(f"unknown option {m.group(1)!r} (sshd would ignore the whole line)")
        pos = m.end()
        if pos < len(options):
            if options[pos] != ",":
                raise ValueError(f"cannot read the options {options[:60]!r}")
            pos += 1


def _blob_type(blob: bytes) -> str:
    if len(blob) < 4:
        raise ValueError("key data too short")
    (n,) = struct.unpack(">I", blob[:4])
    if n > len(blob) - 4:
        raise ValueError("key data truncated")
    return blob[4:4 + n].decode("ascii", "replace")


def parse_line(line: str) -> AuthorizedKey:
    """One `authorized_keys` line; ValueError says what is wrong with it."""
    options = ""
    first = line.split(None, 1)[0] if line.split() else ""
    if first.startswith(("ssh-", "ecdsa-", "sk-")) and first not in KEY_TYPES:
        raise ValueError(f"key type {first!r} is not accepted (types: {', '.join(KEY_TYPES)})")
    if first not in KEY_TYPES:
        options, line = _split_options(line)
        _check_options(options)
    parts = line.split(None, 2)
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise ValueError(f"not a public key line (types: {', '.join(KEY_TYPES)})")
    kind, b64 = parts[0], parts[1]
    try:
        blob = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the key is not valid base64") from None
    inner = _blob_type(blob)
    if inner != kind:
        raise ValueError(f"the key data is a {inner!r} key, the line says {kind!r}")
    if not kind.startswith("sk-"):   # cryptography cannot load FIDO (sk-) keys; their type was checked above
        try:
            key = serialization.load_ssh_public_key(f"{kind} {b64}".encode())
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise ValueError(f"the key does not parse: {exc}") from None
        if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
            raise ValueError(f"RSA key of {key.key_size} bits: at least {MIN_RSA_BITS} are needed")
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return AuthorizedKey(kind, f"SHA256:{digest}", parts[2].strip() if len(parts) > 2 else "", options)


def parse_authorized_keys(data: bytes) -> list[AuthorizedKey]:
    """Every key of an `authorized_keys` file (blank lines and # comments skipped); ValueError names the line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    keys: list[AuthorizedKey] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            keys.append(parse_line(line))
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
    if not keys:
        raise ValueError("no key in the file")
    if len(keys) > MAX_KEYS:
        raise ValueError(f"{len(keys)} keys: at most {MAX_KEYS}")
    return keys
