"""Where each field sits in each MRZ format (ICAO Doc 9303 Parts 4-7), as offsets into the lines joined.

One table per format so the parser, the generator and the OCR corrector agree on a single source.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Layout:
    fmt: str
    lines: int
    length: int
    fields: dict[str, tuple[int, int]]          # name -> [start, end) in the joined text
    checked: dict[str, tuple[str, ...]]         # check name -> (data field names..., check-digit field name)
    composite: tuple[tuple[int, int], ...] = ()  # ranges the composite check digit covers
    overflow: str | None = None                  # optional field that carries a long document number's tail

    @property
    def total(self) -> int:
        return self.lines * self.length


TD1 = Layout(
    "TD1", 3, 30,
    fields={
        "document_code": (0, 2), "issuing_state": (2, 5), "document_number": (5, 14), "document_number_cd": (14, 15),
        "optional_data": (15, 30),
        "birth_date": (30, 36), "birth_date_cd": (36, 37), "sex": (37, 38), "expiry_date": (38, 44),
        "expiry_date_cd": (44, 45), "nationality": (45, 48), "optional_data_2": (48, 59), "composite": (59, 60),
        "name": (60, 90),
    },
    checked={
        "document_number": ("document_number", "document_number_cd"),
        "birth_date": ("birth_date", "birth_date_cd"),
        "expiry_date": ("expiry_date", "expiry_date_cd"),
    },
    composite=((5, 30), (30, 37), (38, 45), (48, 59)),
    overflow="optional_data",
)

TD2 = Layout(
    "TD2", 2, 36,
    fields={
        "document_code": (0, 2), "issuing_state": (2, 5), "name": (5, 36),
        "document_number": (36, 45), "document_number_cd": (45, 46), "nationality": (46, 49),
        "birth_date": (49, 55), "birth_date_cd": (55, 56), "sex": (56, 57), "expiry_date": (57, 63),
        "expiry_date_cd": (63, 64), "optional_data": (64, 71), "composite": (71, 72),
    },
    checked=TD1.checked,
    composite=((36, 46), (49, 56), (57, 71)),
    overflow="optional_data",
)

TD3 = Layout(
    "TD3", 2, 44,
    fields={
        "document_code": (0, 2), "issuing_state": (2, 5), "name": (5, 44),
        "document_number": (44, 53), "document_number_cd": (53, 54), "nationality": (54, 57),
        "birth_date": (57, 63), "birth_date_cd": (63, 64), "sex": (64, 65), "expiry_date": (65, 71),
        "expiry_date_cd": (71, 72), "optional_data": (72, 86), "optional_data_cd": (86, 87), "composite": (87, 88),
    },
    checked={**TD1.checked, "optional_data": ("optional_data", "optional_data_cd")},
    composite=((44, 54), (57, 64), (65, 87)),
)

MRVA = Layout(
    "MRVA", 2, 44,
    fields={
        "document_code": (0, 2), "issuing_state": (2, 5), "name": (5, 44),
        "document_number": (44, 53), "document_number_cd": (53, 54), "nationality": (54, 57),
        "birth_date": (57, 63), "birth_date_cd": (63, 64), "sex": (64, 65), "expiry_date": (65, 71),
        "expiry_date_cd": (71, 72), "optional_data": (72, 88),
    },
    checked=TD1.checked,
)

MRVB = Layout(
    "MRVB", 2, 36,
    fields={
        "document_code": (0, 2), "issuing_state": (2, 5), "name": (5, 36),
        "document_number": (36, 45), "document_number_cd": (45, 46), "nationality": (46, 49),
        "birth_date": (49, 55), "birth_date_cd": (55, 56), "sex": (56, 57), "expiry_date": (57, 63),
        "expiry_date_cd": (63, 64), "optional_data": (64, 72),
    },
    checked=TD1.checked,
)

LAYOUTS: dict[str, Layout] = {lay.fmt: lay for lay in (TD1, TD2, TD3, MRVA, MRVB)}

# Positions that can only hold a digit (check digits) or a digit / `<` (dates): where O/0-style
# OCR confusions may be corrected.
DIGIT_FIELDS = ("birth_date", "birth_date_cd", "expiry_date", "expiry_date_cd", "document_number_cd",
                "optional_data_cd", "composite")


def layout_for(n_lines: int, length: int, first_char: str) -> Layout | None:
    """The layout for exactly `n_lines` lines of `length` characters (V first → visa), or None."""
    if (n_lines, length) == (3, 30):
        return TD1
    if (n_lines, length) == (2, 36):
        return MRVB if first_char == "V" else TD2
    if (n_lines, length) == (2, 44):
        return MRVA if first_char == "V" else TD3
    return None
