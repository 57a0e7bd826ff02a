"""Turn a finished crossing into signed events in the store, in one transaction.

The crossing event and (when the agency's key is configured and samples were taken) its sealed
biometrics event are numbered, signed and written together with an audit entry, or not at all.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from edge import clock
from edge.config import Config
from edge.events import envelope
from edge.events.model import Crossing, SealedProtection
from edge.events.seal import load_recipient, seal
from edge.identity import DeviceKey, load_or_create_key
from edge.protection import Referral, seal_referral
from edge.store import Store

TOPIC_CROSSING = "events/crossing"
TOPIC_BIOMETRICS = "events/biometrics"


@dataclass(frozen=True)
class Recorded:
    event_id: str
    sequence: int
    biometrics_event_id: str | None = None


def summary_of(crossing: Crossing) -> dict[str, Any]:
    """What listings and queues may show: no names, no document number, no dates of birth."""
    doc = crossing.document
    return {
        "transaction": crossing.transaction,
        "outcome": crossing.decision.outcome,
        "by": crossing.decision.by,
        "document_format": doc.format if doc else None,
        "document_valid": doc.valid if doc else None,
        "nationality": doc.nationality if doc else None,
        "alerts": len(crossing.alerts),
        "declared": crossing.declared_identity is not None,
        "referral": crossing.protection is not None,     # that one exists (sealed), never what it says
    }


class ProtectionUnavailable(RuntimeError):
    """A referral was made but no protection recipient key is configured: it is never stored in clear."""


class Recorder:
    def __init__(self, cfg: Config, store: Store, key: DeviceKey | None = None,
                 recipient: X25519PublicKey | None = None) -> None:
        self.cfg = cfg
        self.store = store
        self.key = key or load_or_create_key(cfg.identity.signing_key)
        if recipient is None and cfg.keys.agency_encryption_public_key:
            recipient = load_recipient(cfg.keys.agency_encryption_public_key)
        self.recipient = recipient
        path = getattr(getattr(cfg, "protection", None), "recipient_public_key", None)
        self.protection_recipient = load_recipient(path) if path else None

    def _event(self, kind: str, data: Any, seq: int, event_id: str | None = None) -> dict[str, Any]:
        return envelope.build(
            kind, data, key=self.key.private, post=self.cfg.identity.post, device=self.cfg.identity.device,
            sequence=seq, time=clock.utc_now(), clock_synced=clock.clock_synchronised(), event_id=event_id,
        )

    def record_crossing(self, crossing: Crossing, samples: dict[str, bytes] | None = None,
                        actor: str = "station", referral: Referral | None = None) -> Recorded:
        """Write the crossing (and sealed samples, if any and a key is configured; a referral, sealed to the
        protection recipient and bound to this crossing). Raises StorageFull, ProtectionUnavailable."""
        if referral is not None and self.protection_recipient is None:
            raise ProtectionUnavailable("no [protection] recipient_public_key: a referral cannot be sealed")
        self.store.ensure_capacity()
        crossing_id = envelope.new_event_id()
        if referral is not None and self.protection_recipient is not None:
            sealed_ref = seal_referral(referral, self.protection_recipient, crossing_id)
            crossing = crossing.model_copy(update={"protection": SealedProtection(
                recipient_key_id=sealed_ref.recipient_key_id, ciphertext=sealed_ref.ciphertext)})
        bio_id = None
        sealed = None
        if samples and self.recipient is not None:
            encoded = {name: base64.b64encode(blob).decode() for name, blob in samples.items()}
            sealed = seal(encoded, self.recipient, crossing_id)
            bio_id = envelope.new_event_id()
            crossing = crossing.model_copy(update={"biometric_samples": bio_id})
        with self.store.transaction() as tx:
            seq = tx.next_seq()
            event = self._event("crossing", crossing, seq, crossing_id)
            tx.add_event(seq=seq, event_id=crossing_id, kind="crossing", topic=TOPIC_CROSSING,
                         payload=envelope.encode(event), summary=summary_of(crossing))
            if sealed is not None and bio_id is not None:
                bseq = tx.next_seq()
                bevent = self._event("biometrics", sealed, bseq, bio_id)
                tx.add_event(seq=bseq, event_id=bio_id, kind="biometrics", topic=TOPIC_BIOMETRICS,
                             payload=envelope.encode(bevent), biometric=True,
                             summary={"crossing": crossing_id})
            tx.audit(actor, "crossing.recorded", crossing_id,
                     {"transaction": crossing.transaction, "outcome": crossing.decision.outcome, "seq": seq})
        return Recorded(crossing_id, seq, bio_id)
