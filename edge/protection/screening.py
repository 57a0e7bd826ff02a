"""The protection checklist: short yes/no questions in ar/en/fr, each raising an indicator when answered yes.

The defaults follow the indicators border-management programmes screen for at entry (UNHCR/IOM practice):
an unaccompanied or separated child, signs of trafficking, a request for asylum, medical or urgent needs.
A post can replace them in the config (`[protection] questions`); partners to refer to are config too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

LANGUAGES = ("ar", "en", "fr")


class ScreeningError(ValueError):
    """Answers that do not fit the checklist (an unknown question, a missing required answer)."""


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,40}$")
    indicator: str = Field(pattern=r"^[a-z][a-z0-9_.]{1,60}$")   # recorded when the answer is yes
    text: dict[str, str]                                        # language -> question, for ar, en and fr

    def model_post_init(self, _ctx: object) -> None:
        missing = [lang for lang in LANGUAGES if not self.text.get(lang)]
        if missing:
            raise ValueError(f"question {self.id}: no text in {', '.join(missing)}")


class Partner(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=r"^[A-Z0-9][A-Z0-9_-]{1,20}$")
    name: str = Field(min_length=1, max_length=120)


DEFAULT_QUESTIONS: tuple[Question, ...] = (
    Question(id="child_alone", indicator="child.unaccompanied_or_separated", text={
        "en": "Is the person a child travelling without a parent or legal guardian?",
        "fr": "La personne est-elle un enfant voyageant sans parent ni tuteur légal ?",
        "ar": "هل الشخص طفل يسافر دون أحد الوالدين أو وصي قانوني؟"}),
    Question(id="trafficking_signs", indicator="trafficking.indicators", text={
        "en": "Are there signs of trafficking (documents held by someone else, fear, controlled answers, debt)?",
        "fr": "Y a-t-il des signes de traite (documents détenus par un tiers, peur, réponses dictées, dette) ?",
        "ar": "هل توجد علامات اتجار بالبشر (وثائق يحتفظ بها شخص آخر، خوف، إجابات موجَّهة، دَين)؟"}),
    Question(id="asylum", indicator="asylum.request", text={
        "en": "Does the person ask for asylum or say they fear returning to their country?",
        "fr": "La personne demande-t-elle l'asile ou dit-elle craindre de retourner dans son pays ?",
        "ar": "هل يطلب الشخص اللجوء أو يقول إنه يخشى العودة إلى بلده؟"}),
    Question(id="urgent_needs", indicator="medical.urgent_needs", text={
        "en": "Does the person need medical care or other urgent help?",
        "fr": "La personne a-t-elle besoin de soins médicaux ou d'une autre aide urgente ?",
        "ar": "هل يحتاج الشخص إلى رعاية طبية أو مساعدة عاجلة أخرى؟"}),
)


def indicators(questions: Sequence[Question], answers: Mapping[str, bool]) -> list[str]:
    """The indicators raised by the answers (in checklist order); every question must be answered."""
    known = {q.id for q in questions}
    unknown = sorted(set(answers) - known)
    if unknown:
        raise ScreeningError(f"answers to unknown questions: {', '.join(unknown)}")
    missing = [q.id for q in questions if q.id not in answers]
    if missing:
        raise ScreeningError(f"unanswered: {', '.join(missing)}")
    return [q.indicator for q in questions if answers[q.id] is True]
