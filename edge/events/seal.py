"""Seal biometric samples to the agency's X25519 public key with HPKE (RFC 9180, base mode).

HPKE is the IETF standard for exactly this (one-shot public-key encryption with an AEAD); the
appliance can seal but never open what it sent. Without an agency key configured, nothing is sealed
and samples are not sent at all (the caller checks `encryption_key` for None).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from edge.events.model import SealedBiometrics
from edge.identity import load_public_pem

_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
_INFO = b"borderpost biometrics v1"


class SealError(Exception):
    pass


def recipient_key_id(public: X25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_recipient(path: Path) -> X25519PublicKey:
    return load_public_pem(path, X25519PublicKey, "the agency's X25519 encryption key", SealError)


def seal_json(payload: Any, recipient: X25519PublicKey, info: bytes) -> str:
    """HPKE-encrypt a JSON-able payload, bound to `info` (what it is and which crossing); base64 text."""
    plaintext = json.dumps(payload, separators=(",", ":")).encode()
    return base64.b64encode(_SUITE.encrypt(plaintext, recipient, info=info)).decode()


def open_json(ciphertext: str, private: X25519PrivateKey, info: bytes) -> Any:
    """The recipient's side (the agency's, and the tests'): decrypt and parse."""
    return json.loads(_SUITE.decrypt(base64.b64decode(ciphertext), private, info=info))


def seal(samples: dict[str, Any], recipient: X25519PublicKey, crossing_id: str) -> SealedBiometrics:
    """Encrypt JSON-able samples (images as base64) bound to the crossing id (as HPKE info)."""
    return SealedBiometrics(
        crossing_id=crossing_id,
        recipient_key_id=recipient_key_id(recipient),
        ciphertext=seal_json(samples, recipient, _INFO + b"|" + crossing_id.encode()),
    )


def unseal(sealed: SealedBiometrics, private: X25519PrivateKey) -> dict[str, Any]:
    """The agency's side (and the tests'): decrypt and parse."""
    return open_json(sealed.ciphertext, private, _INFO + b"|" + sealed.crossing_id.encode())
