"""The questions the kiosk asks every traveller (purpose of travel, intended length of stay, as EES kiosks ask).

Each question has options; the traveller picks one per question on the result screen and the answers (question
id -> option id) go into the crossing event. A post replaces them with `[protection] kiosk_questions`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from edge.lane.session import SessionError

LANGUAGES = ("ar", "en", "fr")


class Option(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_]{0,30}$")
    text: dict[str, str]


class KioskQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,30}$")
    text: dict[str, str]
    options: tuple[Option, ...] = Field(min_length=2, max_length=12)

    def model_post_init(self, _ctx: object) -> None:
        for label in (self.text, *(o.text for o in self.options)):
            missing = [lang for lang in LANGUAGES if not label.get(lang)]
            if missing:
                raise ValueError(f"kiosk question {self.id}: no text in {', '.join(missing)}")


def _o(oid: str, en: str, fr: str, ar: str) -> Option:
    return Option(id=oid, text={"en": en, "fr": fr, "ar": ar})


DEFAULT_KIOSK_QUESTIONS: tuple[KioskQuestion, ...] = (
    KioskQuestion(id="purpose", text={"en": "What is the main purpose of your journey?",
                                      "fr": "Quel est le but principal de votre voyage ?",
                                      "ar": "ما الغرض الرئيسي من رحلتك؟"}, options=(
        _o("tourism", "Tourism or visit", "Tourisme ou visite", "سياحة أو زيارة"),
        _o("family", "Family", "Famille", "عائلة"),
        _o("business", "Business", "Affaires", "أعمال"),
        _o("work", "Work", "Travail", "عمل"),
        _o("study", "Study", "Études", "دراسة"),
        _o("transit", "Transit", "Transit", "عبور"),
        _o("other", "Other", "Autre", "غير ذلك"))),
    KioskQuestion(id="stay", text={"en": "How long do you intend to stay?",
                                   "fr": "Combien de temps comptez-vous rester ?",
                                   "ar": "كم تنوي أن تبقى؟"}, options=(
        _o("up_to_7", "Up to 7 days", "Jusqu'à 7 jours", "حتى 7 أيام"),
        _o("8_to_30", "8 to 30 days", "8 à 30 jours", "من 8 إلى 30 يومًا"),
        _o("31_to_90", "31 to 90 days", "31 à 90 jours", "من 31 إلى 90 يومًا"),
        _o("over_90", "More than 90 days", "Plus de 90 jours", "أكثر من 90 يومًا"))),
)


def kiosk_questions(cfg: Any) -> tuple[KioskQuestion, ...]:
    raw = getattr(getattr(cfg, "protection", None), "kiosk_questions", None) or []
    return tuple(KioskQuestion.model_validate(q) for q in raw) or DEFAULT_KIOSK_QUESTIONS


def checked_answers(questions: Sequence[KioskQuestion], answers: Mapping[str, str]) -> dict[str, str]:
    """Only known questions and their options (a skipped question is simply not answered)."""
    out: dict[str, str] = {}
    for q in questions:
        a = answers.get(q.id)
        if a:
            if a not in {o.id for o in q.options}:
                raise SessionError(f"unknown answer to {q.id}")
            out[q.id] = a
    return out


def answer(lane: Any, kid: str, answers: Mapping[str, str]) -> None:
    """The traveller's answers on the result screen: into the session and, when it already waits for an officer,
    into its queued transaction (the decision's crossing carries them)."""
    with lane.lock:
        s = lane.kiosks.get(kid)
        if s is None or not s.finished or s.ending is None or s.ending.value == "abandoned":
            raise SessionError("no finished crossing to answer for")
        s.answers = checked_answers(lane.kiosk_questions, answers)
        s.version += 1
        row = lane.store.conn.execute("SELECT data FROM queue WHERE code = ?", (s.code,)).fetchone()
        if row is not None:
            data = json.loads(row[0])
            data["answers"] = s.answers
            with lane.store.transaction():
                lane.store.conn.execute("UPDATE queue SET data = ? WHERE code = ?", (json.dumps(data), s.code))
            lane.queue_version += 1
