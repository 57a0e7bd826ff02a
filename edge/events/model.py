"""The versioned payloads (CloudEvents `data`) of every message the appliance sends.

These pydantic models are the contract with the agency: `schemas/*.json` is generated from them
(`borderpost events schema`), and a test keeps the committed files equal to the models. A breaking
change bumps the `SCHEMA_VERSION` of that kind and its CloudEvents `type`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

TYPE_PREFIX = "org.borderpost"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DocumentSummary(_Strict):
    """What was read from the travel document (MRZ) and how it checked out."""

    format: str | None = Field(None, description="TD1, TD2, TD3, MRVA or MRVB")
    document_code: str | None = None
    issuing_state: str | None = None
    document_number: str | None = None
    nationality: str | None = None
    surname: str | None = None
    given_names: str | None = None
    birth_date: str | None = Field(None, description="YYYY-MM-DD, null when unknown")
    expiry_date: str | None = None
    sex: Literal["M", "F", "X"] | None = None
    optional_data: str | None = None
    valid: bool = False
    expired: bool | None = None
    checks: dict[str, bool] = {}
    corrections: list[str] = []
    errors: list[str] = []
    uncertain_fields: dict[str, list[str]] = Field(
        {}, description="fields the reading could not settle -> the other values seen (the officer confirms them)")
    confirmed_fields: dict[str, str] = Field(
        {}, description="uncertain field -> how the officer settled it: 'as_read', 'alternative' or 'typed' "
        "(the field above then holds the officer's value)")
    source: str | None = Field(None, description="which device or image the MRZ came from")


class FaceResult(_Strict):
    quality: float | None = Field(None, ge=0, le=100)
    acceptable: bool | None = None
    feedback: list[str] = []
    algorithm: str | None = Field(None, description="quality algorithm/version, e.g. 'borderpost-faceq/1' "
                                  "(OFIQ-style components; not OFIQ)")
    match_score: float | None = None
    threshold: float | None = None
    match: bool | None = None


class FingerResult(_Strict):
    finger: str
    quality: float | None = Field(None, ge=0, le=100)
    acceptable: bool | None = None
    feedback: list[str] = []
    algorithm: str | None = Field(None, description="quality algorithm/version: 'nfiq2/<nbis-python version>', "
                                  "or 'borderpost-fq/<n>' where NFIQ 2 could not run")
    replaces: str | None = Field(None, description="the finger of the post's sequence this one stands in for "
                                 "(the same finger of the other hand)")
    skipped: Literal["missing", "injured", "poor_quality"] | None = Field(
        None, description="why this finger was not taken (then `acceptable` is not true)")


class CheckVerdict(_Strict):
    """One check's finding about the traveller (`edge.lane.checks`): what the kiosk may say, what the officer sees."""

    check: str = Field(description="the check's id, e.g. 'document.expiry', 'alerts.watchlist'")
    outcome: Literal["pass", "warn", "confirm", "fail", "not_run"] = Field(
        description="confirm: an officer must confirm something (e.g. an uncertain document field) before a decision")
    reason_codes: list[str] = []
    message: str | None = Field(
        None, description="traveller-safe message key for the kiosk; never reveals why an officer must see them")
    detail: dict[str, str | int | float | bool | None] = Field(
        {}, description="what the officer sees at the booth (never shown to the traveller)")


class Decision(_Strict):
    outcome: Literal["admit", "refuse", "refer", "handover", "abandoned", "recorded"]
    by: str = Field(description="'kiosk', or the officer's id")
    reason_codes: list[str] = []
    note: str | None = None


class DeclaredIdentity(_Strict):
    """Who a person without a usable document says they are, as the officer recorded it."""

    surname: str = Field(min_length=1, max_length=80)
    given_names: str | None = Field(None, max_length=120)
    birth_date: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD when known")
    estimated_age: int | None = Field(None, ge=0, le=130, description="when the date of birth is not known")
    nationality: str | None = Field(None, pattern=r"^[A-Z]{3}$", description="declared, ICAO code")
    sex: Literal["M", "F", "X"] | None = None
    reason: Literal["none", "lost", "destroyed", "seized_fraudulent"] = Field(
        description="why there is no document: never had one, lost, destroyed, seized as fraudulent")


class SealedProtection(_Strict):
    """A protection referral sealed to the protection recipient (HPKE, bound to this crossing's event id).

    Nothing about the referral is readable here: not the partner, not the indicators."""

    recipient_key_id: str
    ciphertext: str = Field(description="base64 of enc || sealed JSON (edge.protection.Referral)")


class Crossing(_Strict):
    """One traveller's crossing (or abandoned attempt) at this appliance.

    Version 2: `document` may be null for a person without a document (`declared_identity` then says who they
    say they are), `answers` holds the kiosk questions' answers, `protection` a sealed referral."""

    schema_version: Literal[2] = 2
    post: str
    device: str
    role: Literal["kiosk", "booth"]
    transaction: str = Field(description="the transaction code shown to the traveller")
    direction: Literal["entry", "exit"] | None = None
    document: DocumentSummary | None = None
    declared_identity: DeclaredIdentity | None = None
    answers: dict[str, str] = Field({}, description="kiosk question id -> the answer's option id")
    face: FaceResult | None = None
    fingerprints: list[FingerResult] = []
    decision: Decision
    alerts: list[str] = []
    checks: list[CheckVerdict] = Field([], description="every check's verdict, in the order the lane ran them")
    biometric_samples: str | None = Field(
        None, description="id of the sealed biometric event that goes with this crossing, if samples were sent"
    )
    protection: SealedProtection | None = None


class CrossingV1(_Strict):
    """The version-1 crossing (document always read): still accepted from appliances not yet updated."""

    EVENT_NAME: ClassVar[str] = "crossing"

    schema_version: Literal[1] = 1
    post: str
    device: str
    role: Literal["kiosk", "booth"]
    transaction: str = Field(description="the transaction code shown to the traveller")
    direction: Literal["entry", "exit"] | None = None
    document: DocumentSummary | None = None
    face: FaceResult | None = None
    fingerprints: list[FingerResult] = []
    decision: Decision
    alerts: list[str] = []
    checks: list[CheckVerdict] = Field([], description="every check's verdict, in the order the lane ran them")
    biometric_samples: str | None = Field(
        None, description="id of the sealed biometric event that goes with this crossing, if samples were sent"
    )


class SealedBiometrics(_Strict):
    """Biometric samples encrypted to the agency (HPKE, RFC 9180: X25519, HKDF-SHA256, ChaCha20-Poly1305)."""

    schema_version: Literal[1] = 1
    crossing_id: str
    suite: Literal["HPKE-X25519-HKDF_SHA256-CHACHA20_POLY1305"] = "HPKE-X25519-HKDF_SHA256-CHACHA20_POLY1305"
    recipient_key_id: str
    ciphertext: str = Field(description="base64 of enc || sealed JSON {face: b64 JPEG, fingerprints: {...}}")


class Status(_Strict):
    schema_version: Literal[1] = 1
    state: Literal["online", "offline"]
    version: str
    started_at: str | None = None
    uptime_s: float | None = None


class Telemetry(_Strict):
    schema_version: Literal[1] = 1
    queue_depth: int
    parked: int
    delivered_total: int
    oldest_pending_age_s: float | None
    db_size_mb: float
    disk_free_mb: float
    storage_full: bool
    devices: dict[str, str] = {}
    commands_dropped: int = 0   # commands the uplink shed unanswered since it started (a flood on cmd/)
    store_problem: str | None = None   # why the store takes no new crossings (full, damaged); see edge.store
    sequence_loss: dict[str, int | bool] | None = None   # numbers committed then lost with a WAL: first, last
    # the applied alert list (edge.alerts): None when the post takes no list; age since the agency issued it
    alert_list_version: int | None = None
    alert_list_entries: int | None = None
    alert_list_age_hours: float | None = None
    alert_list_stale: bool | None = None


class CommandResult(_Strict):
    schema_version: Literal[1] = 1
    command_id: str | None
    name: str
    ok: bool
    result: dict = {}
    error: str | None = None


KINDS: dict[str, type[BaseModel]] = {
    "crossing": Crossing,
    "crossing_v1": CrossingV1,    # read only: a version-1 consumer's and an old appliance's events
    "biometrics": SealedBiometrics,
    "status": Status,
    "telemetry": Telemetry,
    "command_result": CommandResult,
}


def event_type(kind: str) -> str:
    """CloudEvents `type` for a payload kind, versioned: org.borderpost.crossing.v1."""
    model = KINDS[kind]
    version = model.model_fields["schema_version"].default
    name = getattr(model, "EVENT_NAME", kind)
    return f"{TYPE_PREFIX}.{name}.v{version}"
