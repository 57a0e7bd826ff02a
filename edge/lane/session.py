"""One traveller's transaction as an explicit state machine, shared by auto mode, the kiosk and the booth.

language -> document -> chip (when the post reads chips) -> face (when the post takes one) -> fingerprints
(when the post asks) -> checks -> result. The post's checks (`edge.lane.checks`) run when their stage is
done: a failing check hands the traveller over with its reason codes. Every step has a
deadline with a warning before it fires, a retry budget, and cancel. Whenever the kiosk cannot help
(expired, invalid or unreadable document, no face match, no usable print, a device missing) the
session ends in a hand-over to an officer with the reason. The machine is pure: the caller passes
`now` (monotonic seconds) and does the I/O (devices, store) around it, so every path is testable
without a clock or a device.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from edge.biometrics.finger.sequence import Plan, Skip, fingers_covered
from edge.events.model import Crossing, Decision, DocumentSummary, FaceResult, FingerResult
from edge.lane.checks import SEE_OFFICER, Check, Context, Stage, Verdict, default_checks, run_check


class Step(StrEnum):
    LANGUAGE = "language"
    DOCUMENT = "document"
    CHIP = "chip"
    FACE = "face"
    FINGERS = "fingers"
    RESULT = "result"          # terminal: `ending` says how it ended


class Ending(StrEnum):
    COMPLETE = "complete"      # everything passed: the traveller goes to the officer's desk to be admitted
    HANDOVER = "handover"      # the kiosk could not help: an officer takes over (reason codes say why)
    ABANDONED = "abandoned"    # cancelled by the traveller or timed out


class SessionError(Exception):
    """An action that the current step does not accept (a stale or tampered request)."""


@dataclass(frozen=True)
class Timing:
    """Per-step time limits (seconds) and how long before the limit the warning shows."""

    language: float = 90.0
    document: float = 60.0
    chip: float = 30.0
    face: float = 45.0
    fingers: float = 60.0
    result: float = 30.0           # the final screen resets the kiosk after this
    warn_before: float = 15.0

    def limit(self, step: Step) -> float:
        return float(getattr(self, step.value))


@dataclass(frozen=True)
class Rules:
    """What the post asks (from `[policy]`) and how many tries each step allows after the first."""

    fingerprints: tuple[str, ...] = ()  # the finger sequence, e.g. EES: the four fingers of the right hand
    finger_fallback: bool = True       # the same finger of the other hand stands in for one that cannot be taken
    face_match_required: bool = True
    retries: int = 2
    timing: Timing = field(default_factory=Timing)
    face: bool = True                  # take a live face (auto mode: only when the post has a camera)
    chip: bool = False                 # read the document's chip (a chip reader and a chip step are present)
    checks: tuple[Check, ...] = field(default_factory=default_checks)


@dataclass(frozen=True)
class Tick:
    """What `tick` found: whether to show the 'are you still there?' warning, and seconds left."""

    warn: bool
    remaining: float
    expired: bool


LANGUAGES = ("ar", "en", "fr")

# Why the steps ended, as the traveller may be told it (reason code -> message key); nothing about checks.
TOLD: dict[str, str] = {
    "document.unreadable": "result.document_unreadable",
    "face.no_match": "result.face_not_matched",
    "face.no_capture": "result.face_not_captured",
    "face.low_quality": "result.face_not_captured",
    "finger.low_quality": "result.finger_not_captured",
    "finger.device_unavailable": "result.finger_not_captured",
}


@dataclass
class Session:
    """One traveller. Created at the language screen; ends at RESULT with an `ending`."""

    code: str
    rules: Rules
    now: float
    language: str = "en"
    step: Step = Step.LANGUAGE
    ending: Ending | None = None
    reasons: list[str] = field(default_factory=list)   # hand-over / abandon reason codes
    document: DocumentSummary | None = None
    chip: Any = None                                    # the chip step's result (edge.chip)
    face: FaceResult | None = None
    fingerprints: list[FingerResult] = field(default_factory=list)   # taken, and those skipped with the reason
    finger_plan: Plan | None = None                     # the finger sequence's progress (made at the finger step)
    tries: dict[str, int] = field(default_factory=dict)
    feedback: tuple[str, ...] = ()                      # what the current step asks the traveller to change
    entered_at: float = 0.0
    deadline: float = 0.0
    version: int = 0                                    # bumped on every change: the UIs' live updates
    verdicts: dict[str, Verdict] = field(default_factory=dict)   # check id -> verdict, in the order run
    attended: bool = False                              # a walk-up at a booth (no kiosk screen)
    written: bool = False                               # the lane has queued or recorded it
    reached: set[str] = field(default_factory=set)      # the steps entered so far
    answers: dict[str, str] = field(default_factory=dict)   # kiosk question id -> option id

    def __post_init__(self) -> None:
        self._enter(self.step, self.now)

    # ---------------------------------------------------------------- bookkeeping
    def _enter(self, step: Step, now: float) -> None:
        self.reached.add(step.value)
        self.step = step
        self.entered_at = now
        self.deadline = now + self.rules.timing.limit(step)
        self.feedback = ()
        self.version += 1

    def _expect(self, *steps: Step) -> None:
        if self.step not in steps:
            raise SessionError(f"not possible at step {self.step.value}")

    def _end(self, ending: Ending, now: float, reasons: list[str] | None = None) -> None:
        self.ending = ending
        self.reasons = sorted(set(self.reasons) | set(reasons or []))
        self._run_checks(None)          # every check not yet run, on what is known: the record has them all
        self._enter(Step.RESULT, now)

    def context(self) -> Context:
        return Context(document=self.document, chip=self.chip, face=self.face,
                       fingerprints=tuple(self.fingerprints), fingers_required=self.rules.fingerprints,
                       face_match_required=self.rules.face_match_required, steps=frozenset(self.reached))

    def _run_checks(self, stage: Stage | None) -> list[str]:
        """Run the stage's checks not yet run (None: all remaining); the reason codes of those that failed."""
        ctx = self.context()
        failed: list[str] = []
        for check in self.rules.checks:
            if check.id in self.verdicts or (stage is not None and check.stage is not stage):
                continue
            v = self.verdicts[check.id] = run_check(check, ctx)
            if v.outcome in ("fail", "confirm"):     # confirm: an officer settles it at the booth
                failed.extend(v.reason_codes or [f"{check.id}.fail"])
        return failed

    def _after_stage(self, stage: Stage, now: float) -> bool:
        """Run a stage's checks; False (and a hand-over) when one failed."""
        failed = self._run_checks(stage)
        if failed:
            self._end(Ending.HANDOVER, now, failed)
            return False
        return True

    def _complete(self, now: float) -> None:
        if self._after_stage(Stage.FINAL, now):
            self._end(Ending.COMPLETE, now)

    def message(self) -> str | None:
        """What the kiosk's result screen tells the traveller: the first failed check's own message (document
        expired, face not matched, ...), else what ended the steps (document unreadable, no fingerprint), else the
        neutral "an officer will finish" of a check that must not say why (an alert-list hit)."""
        failed = [v.message for v in self.verdicts.values() if v.outcome in ("fail", "confirm") and v.message]
        specific = [m for m in failed if m != SEE_OFFICER]
        if specific:
            return specific[0]
        told = next((TOLD[r] for r in self.reasons if r in TOLD), None) if self.ending is Ending.HANDOVER else None
        return told or (failed[0] if failed else None)

    def _retry_or_handover(self, now: float, reason: str, feedback: tuple[str, ...] = ()) -> bool:
        """Count a failed try; False (and a hand-over) once the budget is spent."""
        n = self.tries.get(self.step.value, 0) + 1
        self.tries[self.step.value] = n
        if n > self.rules.retries:
            self._end(Ending.HANDOVER, now, [reason])
            return False
        self.feedback = feedback
        self.deadline = now + self.rules.timing.limit(self.step)
        self.version += 1
        return True

    @property
    def finished(self) -> bool:
        return self.step is Step.RESULT

    @property
    def started(self) -> bool:
        """A traveller has given something (a document): abandoning now is worth an event."""
        return self.document is not None

    def _tries_key(self) -> str:
        return f"finger:{self.next_finger()}" if self.step is Step.FINGERS else self.step.value

    def tries_used(self) -> int:
        """Failed tries at what the traveller is asked now (the finger now, on the finger step)."""
        return self.tries.get(self._tries_key(), 0)

    def tries_left(self) -> int:
        return max(0, self.rules.retries - self.tries_used())

    # ---------------------------------------------------------------- traveller actions
    def choose_language(self, language: str, now: float) -> None:
        if language not in LANGUAGES:
            raise SessionError(f"unknown language {language!r}")
        self._expect(Step.LANGUAGE)
        self.language = language
        self._enter(Step.DOCUMENT, now)

    def set_language(self, language: str) -> None:
        """Switch language on any screen (the traveller may have picked the wrong one)."""
        if language not in LANGUAGES:
            raise SessionError(f"unknown language {language!r}")
        self.language = language
        self.version += 1

    def document_read(self, doc: DocumentSummary, now: float) -> None:
        """A document was read and checked. Invalid or expired: an officer must see it."""
        self._expect(Step.DOCUMENT)
        self.document = doc
        if not self._after_stage(Stage.DOCUMENT, now):
            return
        if self.rules.chip:
            self._enter(Step.CHIP, now)
        else:
            self._after_chip(now)

    def chip_read(self, result: Any, now: float) -> None:
        """The chip step's result (read, authenticated or not: the chip checks judge it)."""
        self._expect(Step.CHIP)
        self.chip = result
        if self._after_stage(Stage.CHIP, now):
            self._after_chip(now)

    def chip_unreadable(self, now: float) -> bool:
        """No chip answered or it could not be read: try again, or hand over."""
        self._expect(Step.CHIP)
        return self._retry_or_handover(now, "chip.unreadable", ("chip.try_again",))

    def _after_chip(self, now: float) -> None:
        if self.rules.face:
            self._enter(Step.FACE, now)
        else:
            self._after_face(now)

    def document_unreadable(self, now: float) -> bool:
        """The reader saw a document but no usable MRZ: try again, or hand over."""
        self._expect(Step.DOCUMENT)
        return self._retry_or_handover(now, "document.unreadable", ("document.try_again",))

    def face_feedback(self, keys: tuple[str, ...]) -> None:
        """Live hints while the camera looks for a good frame (no try is counted)."""
        self._expect(Step.FACE)
        if keys != self.feedback:
            self.feedback = keys
            self.version += 1

    def face_captured(self, result: FaceResult, now: float) -> None:
        """A face was captured (and compared with the portrait when there is one)."""
        self._expect(Step.FACE)
        if result.acceptable is False:
            self._retry_or_handover(now, "face.low_quality", tuple(result.feedback))
            return
        if result.match is False:
            self.face = result
            self._retry_or_handover(now, "face.no_match", ("face.look_straight",))
            return
        if result.match is None and self.rules.face_match_required:
            self.face = result
            # a data page that is another document than the one read may be a swap: the officer must see that
            page = ["page.other_document"] if "page.other_document" in result.feedback else []
            self._end(Ending.HANDOVER, now, ["face.not_compared", *page])
            return
        self.face = result
        self._after_face(now)

    def face_failed(self, feedback: tuple[str, ...], now: float) -> bool:
        """No acceptable frame within one capture attempt."""
        self._expect(Step.FACE)
        return self._retry_or_handover(now, "face.no_capture", feedback)

    def _after_face(self, now: float) -> None:
        if self.rules.fingerprints:
            self._enter(Step.FINGERS, now)
        else:
            self._complete(now)

    def _plan(self) -> Plan:
        if self.finger_plan is None:
            self.finger_plan = Plan(sequence=self.rules.fingerprints, fallback=self.rules.finger_fallback)
        return self.finger_plan

    def next_finger(self) -> str | None:
        """The finger to place now (the plan's next, a stand-in from the other hand included); None when done."""
        step = self._plan().next_finger()
        return step[0] if step is not None else None

    def finger_replaces(self) -> str | None:
        """The sequence finger the one asked for now stands in for (the kiosk says why), else None."""
        step = self._plan().next_finger()
        return step[1] if step is not None else None

    def finger_feedback(self, keys: tuple[str, ...]) -> None:
        """What the traveller should do now at the sensor, e.g. lift the finger just taken (no try is counted)."""
        self._expect(Step.FINGERS)
        if keys != self.feedback:
            self.feedback = keys
            self.version += 1

    def finger_captured(self, result: FingerResult, now: float) -> None:
        self._expect(Step.FINGERS)
        finger = self.next_finger()
        if result.finger != finger:
            raise SessionError(f"unexpected finger {result.finger!r}")
        replaces = self.finger_replaces()
        if not result.acceptable:
            key = f"finger:{finger}"
            self.tries[key] = self.tries.get(key, 0) + 1
            if self.tries[key] <= self.rules.retries:
                self.feedback = tuple(result.feedback[:2])
                self.deadline = now + self.rules.timing.limit(self.step)
                self.version += 1
                return
            self._finger_done(result.model_copy(update={"replaces": replaces, "skipped": Skip.POOR_QUALITY.value}),
                              Skip.POOR_QUALITY, now)
            return
        self._finger_done(result.model_copy(update={"replaces": replaces}), None, now)

    def finger_unavailable(self, reason: Literal["missing", "injured"], now: float) -> None:
        """The traveller (or officer) says the finger asked for is missing or injured: the plan moves on."""
        self._expect(Step.FINGERS)
        finger = self.next_finger()
        if finger is None:
            raise SessionError("no finger is asked for")
        self._finger_done(FingerResult(finger=finger, acceptable=None, replaces=self.finger_replaces(),
                                       skipped=reason), Skip(reason), now)

    def _finger_done(self, result: FingerResult, skipped: Skip | None, now: float) -> None:
        self.finger_plan = self._plan().record(result.finger, skipped is None, skipped=skipped, quality=result.quality)
        self.fingerprints.append(result)
        if not self.finger_plan.done:
            self._enter(Step.FINGERS, now)
            return
        uncovered = [f for f in self.rules.fingerprints if not fingers_covered(self.fingerprints, f)]
        if not uncovered:
            self._complete(now)
            return
        poor = any(r.skipped == Skip.POOR_QUALITY.value for r in self.fingerprints)
        self._end(Ending.HANDOVER, now, ["finger.low_quality" if poor else "finger.unavailable"])

    def device_unavailable(self, kind: Literal["document", "chip", "face", "finger"], now: float) -> None:
        """The step's device is missing or broken: nobody can do this step here; an officer can."""
        if self.finished:
            return
        self._end(Ending.HANDOVER, now, [f"{kind}.device_unavailable"])

    def ask_for_help(self, now: float) -> None:
        """The traveller pressed 'I need help' on any step."""
        if not self.finished:
            self._end(Ending.HANDOVER, now, ["traveller.asked_for_help"])

    def cancel(self, now: float) -> None:
        if not self.finished:
            self._end(Ending.ABANDONED, now, ["traveller.cancelled"])

    def extend(self, now: float) -> None:
        """'I need more time': the warning goes away and the step's clock restarts."""
        self.deadline = now + self.rules.timing.limit(self.step)
        self.version += 1

    def peek(self, now: float) -> Tick:
        """The clock's state without acting on it (for rendering)."""
        remaining = self.deadline - now
        if remaining <= 0:
            return Tick(warn=False, remaining=0.0, expired=True)
        return Tick(warn=remaining <= self.rules.timing.warn_before, remaining=remaining, expired=False)

    def tick(self, now: float) -> Tick:
        """Check the clock. An expired step abandons the session (the result screen just resets)."""
        remaining = self.deadline - now
        if remaining <= 0:
            if not self.finished:
                self._end(Ending.ABANDONED, now, ["timeout." + self.step.value])
            return Tick(warn=False, remaining=0.0, expired=True)
        return Tick(warn=remaining <= self.rules.timing.warn_before, remaining=remaining, expired=False)

    # ---------------------------------------------------------------- the record
    def alerts(self) -> list[str]:
        out = list(self.reasons) if self.ending is Ending.HANDOVER else []
        doc = self.document
        if doc is not None:
            if doc.expired and "document.expired" not in out:
                out.append("document.expired")
            if not doc.valid and "document.invalid" not in out and "document.uncertain" not in out:
                out.append("document.invalid")
        if self.face is not None and self.face.match is False and "face.no_match" not in out:
            out.append("face.no_match")
        return out

    def crossing(self, *, post: str, device: str, decision: Decision,
                 direction: Literal["entry", "exit"] | None = None,
                 role: Literal["kiosk", "booth"] = "kiosk") -> Crossing:
        """The crossing event's payload for this session with the given decision."""
        return Crossing(post=post, device=device, role=role, transaction=self.code, direction=direction,
                        document=self.document, face=self.face, fingerprints=list(self.fingerprints),
                        decision=decision, alerts=self.alerts(), checks=list(self.verdicts.values()),
                        answers=dict(self.answers))

    def abandoned_crossing(self, *, post: str, device: str) -> Crossing:
        return self.crossing(post=post, device=device,
                             decision=Decision(outcome="abandoned", by="kiosk", reason_codes=list(self.reasons)))
