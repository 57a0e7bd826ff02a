"""Checks: every finding about a traveller is one object with one interface, giving one `Verdict`.

A check reads the crossing's `Context` (document summary, chip result, face and finger results, what the
post asks) and returns a `Verdict`: its id, an outcome (pass | warn | confirm | fail | not_run), reason codes, a
traveller-safe message key for the kiosk and officer detail for the booth. The event carries every verdict.

How the lane runs them
    Each check names the `stage` after which it can decide: `document` (right after the MRZ is read),
    `chip` (after the chip step) or `final` (after face and fingers). The lane runs a stage's checks as soon
    as that stage is done; a `fail` ends the session in a hand-over to an officer with the check's reason
    codes (the traveller sees only the check's `message` key), and so does a `confirm` (nothing is wrong
    yet, but an officer must confirm something, e.g. an uncertain document field, before deciding). A `warn`
    lets the kiosk go on and shows the officer why to look. When the session ends, every check not yet run
    runs once on what is known, so the event has a verdict from each (`not_run` when its input never came).
    A check that raises gives `fail` with `check.error`: a check that cannot decide must not let a traveller
    through unseen.

How to add a check
    1. Write a class with `id` (a dotted name, e.g. `alerts.lists`), `stage`, and `run(ctx) -> Verdict`;
       keep `run` fast and free of device I/O (a local lookup is fine). Return `not_run` when the input
       it needs is missing.
    2. Register a factory `(Config) -> Check | None` under its id with `register_check` (None: not
       configured on this post, skipped), or list it in `EXTENSIONS` as "module:function" so the lane
       imports it only when that package is installed.
    3. The post chooses and orders its checks with `[policy] checks = [...]`; without it every known
       check whose factory returns one runs, built-ins first.
    A traveller-safe `message` never says what was found (an alert-list hit reads like any other
    "please see an officer"); the officer's `detail` may.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from edge.events.model import CheckVerdict as Verdict
from edge.events.model import DocumentSummary, FaceResult, FingerResult

__all__ = [
    "SEE_OFFICER",
    "Check",
    "CheckError",
    "Context",
    "Stage",
    "Verdict",
    "available_checks",
    "build_checks",
    "register_check",
    "run_check",
]

SEE_OFFICER = "result.see_officer"     # the kiosk's neutral message key: never says why


class Stage(StrEnum):
    DOCUMENT = "document"
    CHIP = "chip"
    FINAL = "final"


class CheckError(ValueError):
    """The post's check list names an unknown check (a configuration error)."""


@dataclass(frozen=True)
class Context:
    """What a check may look at: the crossing so far and what the post asks."""

    document: DocumentSummary | None = None
    chip: Any = None                               # the chip step's result (edge.chip) when a chip was read
    face: FaceResult | None = None
    fingerprints: tuple[FingerResult, ...] = ()
    fingers_required: tuple[str, ...] = ()
    face_match_required: bool = True
    steps: frozenset[str] = frozenset()            # the steps the session reached (empty: not said)
    extra: Mapping[str, Any] = field(default_factory=dict)   # other steps' results, by step name


@runtime_checkable
class Check(Protocol):
    id: str
    stage: Stage

    def run(self, ctx: Context) -> Verdict: ...


def verdict(check: Check | str, outcome: str, reasons: Iterable[str] = (), message: str | None = None,
            **detail: str | int | float | bool | None) -> Verdict:
    """A verdict for `check` (shorthand for check authors)."""
    cid = check if isinstance(check, str) else check.id
    return Verdict(check=cid, outcome=outcome, reason_codes=list(reasons), message=message, detail=detail)


def run_check(check: Check, ctx: Context) -> Verdict:
    """Run one check; an exception becomes a `fail` (the officer sees the error type, never a traceback)."""
    try:
        out = check.run(ctx)
    except Exception as exc:  # a broken check hands the traveller to an officer rather than waving them through
        return verdict(check, "fail", ["check.error"], SEE_OFFICER, error=type(exc).__name__)
    if out.check != check.id:
        return out.model_copy(update={"check": check.id})
    return out


# ---------------------------------------------------------------- the built-in checks
class DocumentValidity:
    """The MRZ parsed and its check digits agree; a reading with uncertain fields (an imaged page whose two
    opinions differ, a look-alike repair) is `confirm`: the officer settles those fields at the booth."""

    id = "document.validity"
    stage = Stage.DOCUMENT

    def run(self, ctx: Context) -> Verdict:
        doc = ctx.document
        if doc is None:
            return verdict(self, "not_run")
        if doc.valid:
            return verdict(self, "pass", format=doc.format)
        if doc.uncertain_fields and all(doc.checks.values()) and all(e.startswith("uncertain:") for e in doc.errors):
            # every check digit verifies but the reading could not settle some fields: an officer confirms them
            return verdict(self, "confirm", ["document.uncertain"], SEE_OFFICER, format=doc.format,
                           uncertain=", ".join(sorted(doc.uncertain_fields)))
        failed = [name for name, ok in sorted(doc.checks.items()) if not ok]
        return verdict(self, "fail", ["document.invalid"], SEE_OFFICER, format=doc.format,
                       failed=", ".join(failed or doc.errors)[:200] or None)


class DocumentExpiry:
    """The document has not expired (a document whose expiry could not be read is not judged here)."""

    id = "document.expiry"
    stage = Stage.DOCUMENT

    def run(self, ctx: Context) -> Verdict:
        doc = ctx.document
        if doc is None or doc.expired is None:
            return verdict(self, "not_run")
        if doc.expired:
            return verdict(self, "fail", ["document.expired"], "result.document_expired",
                           expiry_date=doc.expiry_date)
        return verdict(self, "pass", expiry_date=doc.expiry_date)


class FaceMatch:
    """The live face matches the document portrait (when the post requires the comparison)."""

    id = "face.match"
    stage = Stage.FINAL

    def run(self, ctx: Context) -> Verdict:
        face = ctx.face
        if face is None:
            return verdict(self, "not_run")
        scores = {"score": face.match_score, "threshold": face.threshold, "quality": face.quality}
        if face.match is True:
            return verdict(self, "pass", **scores)
        if face.match is False:
            return verdict(self, "fail", ["face.no_match"], "result.face_not_matched", **scores)
        reasons = ["face.not_compared", *[f for f in face.feedback if f.startswith("page.")]]
        outcome = "fail" if ctx.face_match_required else "warn"
        return verdict(self, outcome, reasons, SEE_OFFICER if outcome == "fail" else None, **scores)


class FingerCapture:
    """Every finger the post asks for was captured with acceptable quality."""

    id = "finger.capture"
    stage = Stage.FINAL

    def run(self, ctx: Context) -> Verdict:
        if not ctx.fingers_required or (ctx.steps and "fingers" not in ctx.steps):
            return verdict(self, "not_run")
        from edge.biometrics.finger.sequence import fingers_covered

        good = {f.finger: f for f in ctx.fingerprints if f.acceptable}
        missing = [f for f in ctx.fingers_required if not fingers_covered(ctx.fingerprints, f)]
        detail: dict[str, Any] = {f"quality.{f.finger}": f.quality for f in good.values()}
        detail |= {f"replaces.{f.finger}": f.replaces for f in good.values() if f.replaces}
        detail |= {f"skipped.{f.finger}": f.skipped for f in ctx.fingerprints if f.skipped}
        if missing:
            return verdict(self, "fail", ["finger.low_quality"], "result.finger_not_captured",
                           missing=", ".join(missing), **detail)
        return verdict(self, "pass", **detail)


# ---------------------------------------------------------------- the post's list
CheckFactory = Callable[[Any], "Check | None"]

_FACTORIES: dict[str, CheckFactory] = {
    DocumentValidity.id: lambda _cfg: DocumentValidity(),
    DocumentExpiry.id: lambda _cfg: DocumentExpiry(),
    FaceMatch.id: lambda _cfg: FaceMatch(),
    FingerCapture.id: lambda _cfg: FingerCapture(),
}

# Checks of packages that may not be installed yet: id -> "module:factory" (imported only when present).
EXTENSIONS: dict[str, str] = {
    "alerts.lists": "edge.alerts.check:check_from_config",
    "chip.authentication": "edge.chip.check:check_from_config",
}


def register_check(check_id: str, factory: CheckFactory) -> None:
    """Make a check available to `build_checks` (its factory gets the post's Config; None: not configured)."""
    _FACTORIES[check_id] = factory


def _factory(check_id: str) -> CheckFactory | None:
    if check_id in _FACTORIES:
        return _FACTORIES[check_id]
    spec = EXTENSIONS.get(check_id)
    if spec is None:
        raise CheckError(f"policy.checks: unknown check {check_id!r} (known: {', '.join(available_checks())})")
    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module.startswith(exc.name):
            return None            # that package is not part of this build
        raise


def available_checks() -> list[str]:
    return [*_FACTORIES, *(k for k in EXTENSIONS if k not in _FACTORIES)]


def build_checks(cfg: Any, names: Sequence[str] | None = None) -> tuple[Check, ...]:
    """The post's checks in order: `names` (or `[policy] checks`), else every available one that is configured."""
    if names is None:
        names = getattr(getattr(cfg, "policy", None), "checks", None)
    explicit = names is not None
    out: list[Check] = []
    for check_id in (names if explicit else available_checks()):
        factory = _factory(check_id)
        try:
            check = factory(cfg) if factory is not None else None
        except Exception as exc:  # a check the post has but cannot set up must stop the start, in one line
            raise CheckError(f"check {check_id}: cannot be set up: {type(exc).__name__}: {exc}") from exc
        if check is None and explicit and factory is None:
            raise CheckError(f"policy.checks: {check_id!r} is not installed on this appliance")
        if check is not None:
            out.append(check)
    return tuple(out)


def default_checks() -> tuple[Check, ...]:
    """The built-ins alone (tests and tools that have no Config)."""
    return (DocumentValidity(), DocumentExpiry(), FaceMatch(), FingerCapture())
