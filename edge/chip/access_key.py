"""The access key BAC and PACE derive from the optically read MRZ (Doc 9303 part 11 section 9.7.2)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from edge.documents.checkdigit import check_digit

_LINE = re.compile(r"^[A-Z0-9<]+$")


@dataclass(frozen=True)
class MrzKey:
    mrz: str                 # the MRZ lines joined (what DG1 must hold)
    document_number: str
    birth_date: str          # YYMMDD
    expiry_date: str         # YYMMDD

    @property
    def information(self) -> str:
        """Document number, birth and expiry dates, each followed by its check digit."""
        parts = (self.document_number, self.birth_date, self.expiry_date)
        return "".join(p + (check_digit(p) or "<") for p in parts)


def mrz_key(text: str) -> MrzKey:
    """Fields from a TD1, TD2 or TD3 MRZ; ValueError for anything else (the CLI's exit 2)."""
    lines = [ln.strip().replace(" ", "") for ln in text.strip().splitlines() if ln.strip()]
    if not lines or not all(_LINE.match(ln) for ln in lines):
        raise ValueError("not an MRZ: expected lines of A-Z, 0-9 and '<'")
    shape = (len(lines), len(lines[0]))
    if shape == (3, 30) and all(len(ln) == 30 for ln in lines):
        l1, l2 = lines[0], lines[1]
        number = l1[5:14]
        if l1[14] == "<":                      # long document number: the rest sits in the optional data
            rest = l1[15:30].split("<", 1)[0]
            number = number + rest[:-1]
        dob, exp = l2[0:6], l2[8:14]
    elif shape[0] == 2 and shape[1] in (36, 44) and len(lines[1]) == shape[1]:
        l2 = lines[1]
        number, dob, exp = l2[0:9], l2[13:19], l2[21:27]
    else:
        raise ValueError("not an MRZ: expected 3 lines of 30, or 2 lines of 36 or 44 characters")
    if not (dob.isdigit() and exp.isdigit()):
        raise ValueError("MRZ birth or expiry date is not six digits")
    return MrzKey("".join(lines), number, dob, exp)
