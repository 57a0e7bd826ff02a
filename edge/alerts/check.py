"""The alert-list check of every crossing, and what the booth shows and records about its hits.

A hit hands the traveller to an officer: the verdict is `fail` with the kiosk's neutral "see an officer"
message (never that there is a hit). The event carries the list version and the hit ids, never an entry's
content. A stale list (older than `[alerts] stale_after_hours`) warns the officer, or hands every traveller
over when `[alerts] stale_policy = "hand_over"`; no list at all counts as stale.

For the booth (wiring is the UI's): `AlertListCheck.booth_hits(document)` gives each hit's entry, reason,
action, score and why; `record_seen` and `record_resolution` write the audit log (who saw which hit, and the
officer's "same person" / "not the same person"); `unresolved(hit_ids, resolutions)` says what is still open.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from edge.alerts.db import AlertDB, AlertDBError
from edge.alerts.match import Hit, Matcher
from edge.lane.checks import SEE_OFFICER, Context, Stage, Verdict, verdict

log = logging.getLogger(__name__)
CHECK_ID = "alerts.lists"
TELEMETRY_PREFIX = "alert_list_"


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The agency's alert-list key (PEM); ValueError with a one-line reason."""
    try:
        key = load_pem_public_key(Path(path).read_bytes())
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the alert-list key: {exc.strerror or exc}") from None
    except ValueError:
        raise ValueError(f"{path}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path}: the alert-list key must be Ed25519")
    return key


def open_db(cfg: Any) -> AlertDB:
    """The post's alert database (beside the store), verifying with `[keys] alert_list_public_key` when set."""
    path = cfg.keys.alert_list_public_key
    return AlertDB.beside(cfg.store.path, load_public_key(path) if path else None)


def document_fields(document: Any) -> dict[str, Any]:
    """A traveller as the matcher reads one, from a DocumentSummary or a mapping."""
    names = ("document_code", "issuing_state", "document_number", "surname", "given_names", "birth_date",
             "nationality", "sex")
    if isinstance(document, Mapping):
        return {k: document.get(k) for k in names}
    return {k: getattr(document, k, None) for k in names}


def check_traveller(matcher: Matcher, document: Any) -> list[Hit]:
    """The hits for one traveller's document read, best first (pure over the matcher)."""
    return matcher.match(document_fields(document))


def telemetry(status: Mapping[str, Any]) -> dict[str, Any]:
    """The telemetry's alert-list fields (edge.events.model.Telemetry) from `AlertDB.status()`: version,
    entries, age in hours since the agency issued it, and whether it is past the stale policy's hours."""
    return {f"{TELEMETRY_PREFIX}{k}": status.get(k) for k in ("version", "entries", "age_hours", "stale")}


class AlertListCheck:
    """`alerts.lists`: runs right after the document is read."""

    id = CHECK_ID
    stage = Stage.DOCUMENT

    def __init__(self, db: AlertDB, stale_after_hours: float = 48.0, stale_policy: str = "warn") -> None:
        self.db = db
        self.stale_after_hours = stale_after_hours
        self.stale_policy = stale_policy
        self._matcher: Matcher | None = None
        self._version: int | None = None
        self._loading = True
        self._lock = threading.Lock()
        self._ready = threading.Event()
        # Opened into memory at start, in the background; the first traveller waits for it (never unchecked).
        threading.Thread(target=self._build, args=(db.version(),), name="alerts-load", daemon=True).start()

    # ------------------------------------------------------------ the list in memory
    def _build(self, version: int | None) -> None:
        try:
            m = self.db.matcher()
        except AlertDBError as exc:
            log.error("alert list: %s", exc)
            m = Matcher()
        with self._lock:
            self._matcher, self._version, self._loading = m, version, False
        self._ready.set()

    def matcher(self) -> tuple[Matcher, int | None]:
        """The matcher of the applied list; a newer version is loaded in the background while the old one serves."""
        self._ready.wait()
        version = self.db.version()
        with self._lock:
            assert self._matcher is not None
            if self._version != version and not self._loading:
                self._loading = True
                threading.Thread(target=self._build, args=(version,), name="alerts-load", daemon=True).start()
            return self._matcher, self._version

    def status(self) -> dict[str, Any]:
        return self.db.status(stale_after_hours=self.stale_after_hours)

    # ------------------------------------------------------------ the check
    def run(self, ctx: Context) -> Verdict:
        if ctx.document is None:
            return verdict(self, "not_run")
        matcher, version = self.matcher()
        st = self.db.status(stale_after_hours=self.stale_after_hours, with_counts=False)
        hits = check_traveller(matcher, ctx.document)
        detail: dict[str, Any] = {"list_version": version, "list_age_hours": st["age_hours"], "stale": st["stale"]}
        if hits:
            return verdict(self, "fail", ["alerts.hit"], SEE_OFFICER, hits=len(hits),
                           hit_ids=",".join(h.id for h in hits)[:2000], **detail)
        if st["stale"]:
            reason = "alerts.no_list" if version is None else "alerts.list_stale"
            if self.stale_policy == "hand_over":
                return verdict(self, "fail", [reason], SEE_OFFICER, **detail)
            return verdict(self, "warn", [reason], **detail)
        return verdict(self, "pass", **detail)

    # ------------------------------------------------------------ the booth
    def booth_hits(self, document: Any) -> list[dict[str, Any]]:
        """Each hit for the booth: id, kind, score, why, and the entry's reason, action and stored fields."""
        matcher, version = self.matcher()
        out = []
        for h in check_traveller(matcher, document):
            entry = self.db.entry(h.id)
            fields = entry.to_dict() if entry is not None else {"id": h.id, "kind": h.kind}
            out.append({"id": h.id, "kind": h.kind, "score": round(h.score, 3), "why": h.why,
                        "reason": fields.get("reason"), "action": fields.get("action") or h.action,
                        "entry": fields, "list_version": version})
        return out


def check_from_config(cfg: Any) -> AlertListCheck | None:
    """The lane's factory: None when the post has no alert-list key (no list can be verified)."""
    if cfg.keys.alert_list_public_key is None:
        return None
    return AlertListCheck(open_db(cfg), cfg.alerts.stale_after_hours, cfg.alerts.stale_policy)


# ---------------------------------------------------------------- the audit log
def record_seen(store: Any, officer: str, session: str, list_version: int | None, hit_ids: Iterable[str]) -> None:
    """The officer was shown these hits (ids only in the log)."""
    with store.transaction() as tx:
        tx.audit(officer, "alerts.hits_seen", session, {"list_version": list_version, "hit_ids": list(hit_ids)})


def record_resolution(store: Any, officer: str, session: str, list_version: int | None, hit_id: str,
                      same_person: bool) -> None:
    """The officer's finding on one hit: the same person, or not the same person."""
    with store.transaction() as tx:
        tx.audit(officer, "alerts.hit_resolved", session,
                 {"list_version": list_version, "hit_id": hit_id,
                  "resolution": "same_person" if same_person else "not_same_person", "at": time.time()})


def unresolved(hit_ids: Iterable[str], resolutions: Mapping[str, bool]) -> list[str]:
    """The hits the officer has not yet marked (the decision waits until this is empty)."""
    return [h for h in hit_ids if h not in resolutions]
