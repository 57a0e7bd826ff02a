"""Protection screening at the booth: the post's checklist and partners, and a referral held until sealed.

The officer's answers and the chosen partner become an `edge.protection.Referral` kept in memory only, keyed
by transaction; the decision hands it to the recorder, which seals it to the protection recipient bound to the
crossing event. The audit log records that a screening happened and by whom, never its content.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edge.protection import DEFAULT_QUESTIONS, Partner, Question, Referral, ScreeningError, indicators


@dataclass(frozen=True)
class ProtectionSettings:
    questions: tuple[Question, ...]
    partners: tuple[Partner, ...]
    sealing: bool                     # a recipient key is configured: referrals can be made

    @classmethod
    def from_config(cls, cfg: Any) -> ProtectionSettings:
        p = getattr(cfg, "protection", None)
        questions = tuple(Question.model_validate(q) for q in (p.questions if p else [])) or DEFAULT_QUESTIONS
        partners = tuple(Partner.model_validate(x) for x in (p.partners if p else []))
        return cls(questions, partners, bool(p and p.recipient_public_key))


@dataclass
class Referrals:
    """Referrals waiting for the decision, in memory only (a restart loses them: the officer screens again)."""

    settings: ProtectionSettings
    _by_code: dict[str, Referral] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def screen(self, code: str, officer: str, answers: Mapping[str, bool], partner: str | None, note: str,
               declared: dict[str, Any] | None = None) -> list[str]:
        """Record a screening (and a referral when a partner is chosen); the indicators raised."""
        raised = indicators(self.settings.questions, answers)
        if partner:
            if partner not in {p.code for p in self.settings.partners}:
                raise ScreeningError("unknown partner")
            if not self.settings.sealing:
                raise ScreeningError("no protection recipient key is configured")
            with self._lock:
                self._by_code[code] = Referral(partner=partner, indicators=raised, answers=dict(answers),
                                               note=note[:4000], officer=officer, declared_identity=declared)
        return raised

    def pending(self, code: str) -> bool:
        with self._lock:
            return code in self._by_code

    def take(self, code: str) -> Referral | None:
        with self._lock:
            return self._by_code.pop(code, None)

    def put_back(self, code: str, referral: Referral) -> None:
        with self._lock:
            self._by_code.setdefault(code, referral)
