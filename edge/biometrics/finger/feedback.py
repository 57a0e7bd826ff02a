"""Every message key the fingerprint pipeline can give the traveller, most important first.

The UI translates these keys (ar/en/fr); the English here is the reference wording, not UI text.
The first four mirror NFIQ 2's actionable feedback (empty image, uniform image, too few minutiae,
too little foreground); the rest say what to change when the print is merely poor.
"""

from __future__ import annotations

FEEDBACK_KEYS: dict[str, str] = {
    "finger.place_finger": "Please place your finger on the sensor.",            # NFIQ 2: empty image
    "finger.clean_sensor": "The sensor needs cleaning. Please ask an officer.",   # NFIQ 2: uniform image
    "finger.centre_finger": "Please put your finger in the middle of the sensor.",  # NFIQ 2: too little foreground
    "finger.press_flat": "Please lay the flat of your finger on the sensor.",    # NFIQ 2: too few minutiae
    "finger.press_firmer": "Please press a little more firmly.",
    "finger.press_lighter": "Please press more lightly.",
    "finger.dry_finger": "Your finger is too dry. Please breathe on it or touch your forehead, then try again.",
    "finger.wipe_finger": "Your finger is too wet. Please wipe it and try again.",
    "finger.hold_still": "Please hold your finger still.",
    "finger.try_again": "Please lift your finger and place it again.",
}

FEEDBACK_ORDER: tuple[str, ...] = tuple(FEEDBACK_KEYS)


def ordered(keys: set[str] | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The keys, de-duplicated, most important first; unknown keys are a programming error."""
    wanted = set(keys)
    unknown = wanted - set(FEEDBACK_KEYS)
    if unknown:
        raise ValueError(f"unknown feedback keys: {sorted(unknown)}")
    return tuple(k for k in FEEDBACK_ORDER if k in wanted)
