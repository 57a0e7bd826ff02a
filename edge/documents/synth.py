"""Synthetic, valid MRZs for tests, the simulator and benchmarks (pure; deterministic for a seeded rng).

The people are invented; no real traveller's data is ever used or committed.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from typing import Any

from edge.documents.checkdigit import check_digit
from edge.documents.layout import LAYOUTS, Layout

SURNAMES = ("ERIKSSON", "MUSTERMANN", "DUPONT", "GARCIA LOPEZ", "NGUYEN", "AL HASHIMI", "OKONKWO", "SMITH",
            "KOWALSKA", "RAMIREZ", "BEN SALAH", "O'BRIEN", "VAN DER BERG", "TANAKA", "HAIDARI", "DIALLO",
            "ROSSI", "IVANOVA", "MBEKI", "ABDULLAH", "SILVA", "LI", "KIM", "HANSEN", "MUELLER-LUEDENSCHEIDT")
GIVEN = ("ANNA MARIA", "ERIKA", "JEAN PIERRE", "LUCIA", "MINH", "FATIMA", "CHIDI", "JOHN", "ZOFIA", "ALI",
         "YUKI", "AMINATA", "MARCO", "OLGA", "THABO", "NOOR", "JOAO", "WEI", "JI HO", "ULLA", "", "MOHAMMED")
STATES = ("D", "FRA", "GBR", "USA", "ESP", "ITA", "NLD", "POL", "SWE", "TUN", "MAR", "EGY", "NGA", "SEN", "JPN",
          "KOR", "CHN", "BRA", "IND", "AFG", "UKR", "EUE", "GBD", "GBN", "UNO", "XXA", "XXB", "XXC", "XOM", "XPO",
          "UTO", "RKS", "JOR", "IRQ", "SYR", "CAN", "AUS")
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def mrz_text(value: str) -> str:
    """A printable name or field transliterated minimally to MRZ characters (spaces and hyphens → `<`)."""
    value = value.upper().replace("'", "")
    return re.sub(r"[^A-Z0-9]", "<", value)


def _yymmdd(value: dt.date | str | None) -> str:
    if isinstance(value, dt.date):
        return value.strftime("%y%m%d")
    return str(value)


def _random_date(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randrange((end - start).days))


def _name_field(surname: str, given: str, width: int) -> str:
    name = mrz_text(surname) + ("<<" + mrz_text(given) if given else "")
    return name[:width].ljust(width, "<")


def _defaults(fmt: str, rng: random.Random) -> dict[str, Any]:
    state = rng.choice(STATES)
    long_number = fmt in ("TD1", "TD2") and rng.random() < 0.1
    number_len = rng.choice((12, 13, 14)) if long_number else rng.choice((9, 9, 9, 8))
    birth = _random_date(rng, dt.date(1936, 1, 1), dt.date(2023, 12, 31))
    code = {"TD3": "P<", "MRVA": "V<", "MRVB": "V<"}.get(fmt) or rng.choice(("I<", "ID", "AC", "IP", "C<", "A<"))
    if fmt == "TD3" and rng.random() < 0.2:
        code = rng.choice(("PD", "PO", "PS"))
    return {
        "document_code": code,
        "issuing_state": state,
        "surname": rng.choice(SURNAMES),
        "given_names": rng.choice(GIVEN),
        "document_number": "".join(rng.choice(_ALNUM) for _ in range(number_len)),
        "nationality": state if rng.random() < 0.8 else rng.choice(STATES),
        "birth_date": birth,
        "expiry_date": _random_date(rng, max(dt.date(2016, 1, 1), birth + dt.timedelta(days=366)),
                                    dt.date(2036, 12, 31)),
        "sex": rng.choice("MFMF<"),
        "optional_data": "" if long_number else "".join(rng.choice(_ALNUM) for _ in range(rng.choice((0, 0, 5, 7)))),
        "optional_data_2": "",
    }


def make_mrz(fmt: str = "TD3", rng: random.Random | None = None, **fields: Any) -> list[str]:
    """Valid MRZ lines for one invented document of format `fmt`; `fields` override the random values.

    Dates may be `datetime.date` or raw `YYMMDD` strings (with `<` for unknown parts). A TD1/TD2
    document number longer than nine characters is written with the Doc 9303 overflow rule.
    """
    lay = LAYOUTS[fmt]
    rng = rng or random.Random()
    values = _defaults(fmt, rng)
    unknown = set(fields) - set(values)
    if unknown:
        raise TypeError(f"make_mrz: unknown fields {sorted(unknown)}")
    values.update(fields)
    chars = ["<"] * lay.total

    def put(name: str, value: str) -> None:
        a, b = lay.fields[name]
        chars[a:b] = list(value[: b - a].ljust(b - a, "<"))

    put("document_code", mrz_text(values["document_code"]).ljust(2, "<"))
    put("issuing_state", mrz_text(values["issuing_state"]))
    put("nationality", mrz_text(values["nationality"]))
    put("name", _name_field(values["surname"], values["given_names"], lay.fields["name"][1] - lay.fields["name"][0]))
    put("birth_date", _yymmdd(values["birth_date"]))
    put("expiry_date", _yymmdd(values["expiry_date"]))
    put("sex", values["sex"])
    overflowed = _put_number_and_optional(lay, put, mrz_text(values["document_number"]),
                                          mrz_text(values["optional_data"]))
    if "optional_data_2" in lay.fields:
        put("optional_data_2", mrz_text(values["optional_data_2"]))
    text = "".join(chars)
    for name, (data_field, cd_field) in lay.checked.items():
        if name == "document_number" and overflowed:
            continue  # written with the overflow rule
        a, b = lay.fields[data_field]
        put(cd_field, check_digit(text[a:b]) or "0")
        text = "".join(chars)
    if "optional_data_cd" in lay.fields and set(chars[slice(*lay.fields["optional_data"])]) == {"<"} \
            and fields.get("optional_data") is None and rng.random() < 0.5:
        put("optional_data_cd", "<")   # Doc 9303 Part 4 allows '<' (as well as '0') for an empty field
    text = "".join(chars)
    if lay.composite:
        put("composite", check_digit("".join(text[a:b] for a, b in lay.composite)) or "0")
    text = "".join(chars)
    return [text[i:i + lay.length] for i in range(0, lay.total, lay.length)]


def _put_number_and_optional(lay: Layout, put: Any, number: str, optional: str) -> bool:
    """Write the number (with the overflow rule when it is long) and the optional data; True if it overflowed."""
    if len(number) > 9 and lay.overflow:
        a, b = lay.fields[lay.overflow]
        tail = number[9:] + (check_digit(number) or "0")
        if len(tail) + 1 + len(optional) > b - a:
            raise ValueError(f"a {len(number)}-character document number and {len(optional)} characters of "
                             f"optional data do not fit {lay.fmt}")
        put("document_number", number[:9])
        put("document_number_cd", "<")
        put(lay.overflow, (tail + "<" + optional)[: b - a])
        return True
    if len(number) > 9:
        raise ValueError(f"{lay.fmt} has no room for a {len(number)}-character document number")
    put("document_number", number)
    put("optional_data", optional)
    return False
