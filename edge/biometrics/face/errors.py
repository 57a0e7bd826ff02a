"""Errors returned as values: each says what went wrong with the picture, not where the code failed."""

from __future__ import annotations

from enum import StrEnum


class FaceError(StrEnum):
    NO_FACE = "no-face"                  # no face found (also a black, white or fully blurred frame)
    MULTIPLE_FACES = "multiple-faces"    # two or more faces of comparable size: whose is it?
    IMAGE_UNREADABLE = "image-unreadable"  # not an image, truncated, unsupported format
    IMAGE_TOO_LARGE = "image-too-large"  # more pixels than we agree to decode
    IMAGE_EMPTY = "image-empty"          # zero-sized or not a 2-D/3-D array
    MODELS_UNAVAILABLE = "models-unavailable"
