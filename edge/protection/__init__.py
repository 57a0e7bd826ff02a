"""Protection screening and referrals: indicators an officer records, sealed to the agency's protection recipient.

A referral names people at risk (children, victims of trafficking, people asking for asylum): it leaves the
booth only sealed (HPKE to the protection recipient's X25519 key) and never appears in clear in lists, logs,
telemetry or the technician console.
"""

from edge.protection.referral import REFERRAL_INFO, Referral, SealedReferral, open_referral, seal_referral
from edge.protection.screening import DEFAULT_QUESTIONS, Partner, Question, ScreeningError, indicators

__all__ = [
    "DEFAULT_QUESTIONS",
    "REFERRAL_INFO",
    "Partner",
    "Question",
    "Referral",
    "ScreeningError",
    "SealedReferral",
    "indicators",
    "open_referral",
    "seal_referral",
]
