"""A person without a document, at the booth: the declared identity, a booth photo, the checks that apply.

The officer records who the person says they are and why there is no document. The lane takes one photo
from the booth camera (the UI never touches a device), runs the checks that can judge a declared identity
(alert lists by name and birth date) and puts the person in the officer queue like a kiosk hand-over, so
the transaction page, hit findings, protection screening and the signed decision are the same for everyone.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from drivers.contract import DeviceKind
from edge.events.model import DeclaredIdentity, DocumentSummary, FingerResult
from edge.lane.checks import Context, run_check
from edge.lane.document import new_transaction_code
from edge.lane.media import jpeg, png

log = logging.getLogger("borderpost.lane.undocumented")

REASONS = ("none", "lost", "destroyed", "seized_fraudulent")
DECLARED_CHECKS = ("alerts.",)        # checks that judge a person by name and birth date, not a document
PHOTO_WAIT_S = 3.0
DEFAULT_FINGERS = ("right_index", "left_index")   # when the post's policy takes none at the kiosk


def as_document(declared: DeclaredIdentity) -> DocumentSummary:
    """The declared identity in the shape the name-and-birth-date checks read (no number, not a document)."""
    return DocumentSummary(surname=declared.surname.upper(), given_names=(declared.given_names or "").upper() or None,
                           birth_date=declared.birth_date, nationality=declared.nationality, sex=declared.sex,
                           valid=False, source="declared")


def booth_photo(lane: Any, wait_s: float = PHOTO_WAIT_S) -> bytes | None:
    """One frame from the booth camera as JPEG (not the page camera); None when there is none or it gives none."""
    cam = lane.devices.first(DeviceKind.CAMERA, exclude=lane.cfg.policy.portrait_camera)
    if cam is None or cam.device is None:
        return None
    try:
        for result in cam.device.stream(duration=wait_s):
            if result.ok and result.sample is not None:
                return jpeg(result.sample.data, 90)
    except Exception as exc:     # a camera fault: the officer records the person without a photo
        log.warning("booth photo failed: %s", type(exc).__name__)
    return None


def booth_fingers(lane: Any) -> tuple[list[FingerResult], dict[str, bytes]]:
    """One capture of each of the post's fingers (or both index fingers) on the booth sensor; what was taken."""
    dev = lane.devices.first(DeviceKind.FINGERPRINT)
    if dev is None or dev.device is None:
        return [], {}
    from edge.lane.finger_capture import capture_finger, wait_for_lift

    results: list[FingerResult] = []
    images: dict[str, bytes] = {}
    on_glass = False
    for finger in tuple(lane.cfg.policy.fingerprints) or DEFAULT_FINGERS:
        try:
            if on_glass and not wait_for_lift(dev.device, lane.options.finger_attempt_s):
                # the finger before never left the glass: it is not taken again as this one
                results.append(FingerResult(finger=finger, acceptable=False, feedback=["finger.lift"]))
                continue
            cap = capture_finger(dev.device, finger, timeout=lane.options.finger_attempt_s, retries=0)
            on_glass = cap.image is not None
        except Exception as exc:   # a sensor fault: recorded as not taken
            log.warning("booth fingerprint failed: %s", type(exc).__name__)
            results.append(FingerResult(finger=finger, acceptable=False, feedback=["finger.device_unavailable"]))
            continue
        if cap.image is not None and cap.quality is not None:
            images[f"finger_{finger}.png"] = png(cap.image)
        results.append(cap.result())
    return results, images


def has_sensor(lane: Any) -> bool:
    dev = lane.devices.first(DeviceKind.FINGERPRINT)
    return dev is not None and dev.device is not None


def declared_verdicts(lane: Any, declared: DeclaredIdentity) -> list[Any]:
    ctx = Context(document=as_document(declared), steps=frozenset({"declared"}))
    return [run_check(c, ctx) for c in lane.checks if c.id.startswith(DECLARED_CHECKS)]


def take_undocumented(lane: Any, officer: str, declared: DeclaredIdentity, photo: bool = True,
                      fingers: bool = False) -> str:
    """Queue a person without a document; returns the transaction code the booth opens."""
    code = new_transaction_code()
    image = booth_photo(lane) if photo else None
    prints, print_images = booth_fingers(lane) if fingers else ([], {})
    verdicts = declared_verdicts(lane, declared)
    alerts = ["document.none"] + [r for v in verdicts if v.outcome == "fail" for r in v.reason_codes]
    data = {"language": lane.cfg.ui.default_language, "reasons": ["document.none"], "alerts": alerts,
            "message": None, "document": None, "declared_identity": declared.model_dump(mode="json"),
            "face": None, "fingerprints": [f.model_dump(mode="json") for f in prints],
            "checks": [v.model_dump(mode="json") for v in verdicts]}
    images = {**({"face_live.jpg": image} if image else {}), **print_images}
    with lane.lock:
        if images:
            lane.images[code] = images
        sealed = lane.atrest.seal_samples(images, code) if images and lane.atrest is not None else None
        with lane.store.transaction() as tx:
            lane.store.conn.execute(
                "INSERT INTO queue(code, created_at, ending, data, doc_key, samples) VALUES (?,?,?,?,?,?)",
                (code, time.time(), "handover", json.dumps(data), None, sealed))
            tx.audit(officer, "booth.undocumented", code, {"reason": declared.reason, "photo": image is not None,
                                                                   "fingers": len(print_images)})
        lane.queue_version += 1
        lane.changed.notify_all()
    return code
