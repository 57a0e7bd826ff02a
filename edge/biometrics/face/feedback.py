"""Every message key the face pipeline can give the traveller, in the order a screen should show them.

The UI translates these keys (ar/en/fr); the English here is the reference wording, not UI text.
Only the first one or two keys of a report are meant to be shown at a time.
"""

from __future__ import annotations

FEEDBACK_KEYS: dict[str, str] = {
    "face.none": "We cannot see your face. Please stand in front of the camera.",
    "face.multiple": "Only one person in front of the camera, please.",
    "face.move_closer": "Please move closer to the camera.",
    "face.move_back": "Please move back a little.",
    "face.center": "Please move so that your face is in the middle of the screen.",
    "face.look_straight": "Please look straight at the camera.",
    "face.straighten_head": "Please hold your head straight.",
    "face.open_eyes": "Please keep your eyes open.",
    "face.close_mouth": "Please close your mouth.",
    "face.more_light": "Your face is too dark. Please step into the light.",
    "face.less_light": "Your face is too bright. Please step out of direct light.",
    "face.even_light": "Your face is unevenly lit. Please turn towards the light.",
    "face.hold_still": "Please hold still.",
    "face.plain_background": "Please stand in front of a plain background.",
}

FEEDBACK_ORDER: tuple[str, ...] = tuple(FEEDBACK_KEYS)


def ordered(keys: set[str] | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The keys, de-duplicated, most important first."""
    wanted = set(keys)
    return tuple(k for k in FEEDBACK_ORDER if k in wanted)
