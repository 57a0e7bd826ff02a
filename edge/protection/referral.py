"""A protection referral, sealed to the agency's protection recipient (HPKE, as biometric samples are).

Only the sealed form is stored or sent. What stays readable is what delivery needs: the crossing it
belongs to, the recipient's key id, and that a referral exists (the booth lists show "referral: sealed").
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from edge.events.seal import open_json, recipient_key_id, seal_json

REFERRAL_INFO = b"borderpost protection referral v1"


class Referral(BaseModel):
    """What the officer recorded; lives in memory only until sealed."""

    model_config = ConfigDict(extra="forbid")

    partner: str                                  # a configured partner's code
    indicators: list[str] = Field(default_factory=list)
    answers: dict[str, bool] = Field(default_factory=dict)
    note: str = Field(default="", max_length=4000)
    officer: str
    declared_identity: dict[str, Any] | None = None


class SealedReferral(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    crossing_id: str
    recipient_key_id: str
    ciphertext: str                               # base64 of the HPKE ciphertext


def _info(crossing_id: str) -> bytes:
    return REFERRAL_INFO + b"|" + crossing_id.encode()


def seal_referral(referral: Referral, recipient: X25519PublicKey, crossing_id: str) -> SealedReferral:
    """Encrypt the referral to the protection recipient, bound to the crossing (a copy cannot be moved)."""
    return SealedReferral(crossing_id=crossing_id, recipient_key_id=recipient_key_id(recipient),
                          ciphertext=seal_json(referral.model_dump(mode="json"), recipient, _info(crossing_id)))


def open_referral(sealed: SealedReferral, private: X25519PrivateKey) -> Referral:
    """The protection recipient's side (and the tests')."""
    return Referral.model_validate(open_json(sealed.ciphertext, private, _info(sealed.crossing_id)))
