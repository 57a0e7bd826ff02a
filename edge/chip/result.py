"""What one chip read found: the access method, the files read, and each verdict (JSON for the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edge.chip.clone import CloneVerdict
from edge.chip.lds import FaceImage


@dataclass
class PassiveAuth:
    sod_signature: bool = False
    csca_chain: bool | None = None          # None: no CSCA given
    hashes: dict[int, bool] = field(default_factory=dict)
    signer: str | None = None               # the document signer's subject (no personal data)
    reasons: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.sod_signature and self.csca_chain is True and bool(self.hashes) and all(self.hashes.values())


@dataclass
class ChipResult:
    access: str | None = None               # "BAC" | "PACE"
    error: str | None = None                # set when the read stopped (access refused, card pulled, ...)
    error_kind: str | None = None           # "access_denied" | "card_removed" | "protocol" | "malformed" | ...
    data_groups: list[int] = field(default_factory=list)
    files: dict[int, bytes] = field(default_factory=dict)   # data groups read, raw (personal data)
    dg1_mrz: str | None = None
    mrz_match: bool | None = None
    face: FaceImage | None = None
    passive: PassiveAuth = field(default_factory=PassiveAuth)
    clone: CloneVerdict = field(default_factory=lambda: CloneVerdict("not_supported", None))
    problems: list[str] = field(default_factory=list)       # malformed files and the like
    seconds: dict[str, float] = field(default_factory=dict)  # access, read, verify
    apdus: int = 0
    bytes_exchanged: int = 0                                # command + response bytes on the wire

    @property
    def valid(self) -> bool:
        return (self.error is None and self.access is not None and self.passive.ok and self.mrz_match is True
                and 1 in self.passive.hashes and self.clone.passed is not False and not self.problems)

    @property
    def face_bytes(self) -> bytes | None:
        """DG2's image (JPEG or JPEG 2000) for the face match's reference."""
        return self.face.data if self.face else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "access": self.access,
            "dg1_mrz": self.dg1_mrz,
            "mrz_match": self.mrz_match,
            "data_groups": self.data_groups,
            "face_image": ({"format": self.face.format, "bytes": len(self.face.data), "width": self.face.width,
                            "height": self.face.height} if self.face else None),
            "passive_auth": {
                "sod_signature": self.passive.sod_signature,
                "csca_chain": self.passive.csca_chain,
                "hashes": {str(k): v for k, v in sorted(self.passive.hashes.items())},
                "signer": self.passive.signer,
                "reasons": self.passive.reasons,
            },
            "clone_check": self.clone.method,
            "clone_check_passed": self.clone.passed,
            "clone_check_reason": self.clone.reason or None,
            "problems": self.problems,
            "error": self.error,
            "error_kind": self.error_kind,
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
            "apdus": self.apdus,
            "bytes_exchanged": self.bytes_exchanged,
            "valid": self.valid,
        }
