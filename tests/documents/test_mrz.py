"""ICAO 9303 parsing: specimens, the edge cases other parsers get wrong, and bad input."""

from __future__ import annotations

import datetime as dt

import pytest

from edge.documents import MrzResult, parse_mrz
from edge.documents.checkdigit import check_digit
from edge.documents.synth import make_mrz

TODAY = dt.date(2026, 11, 29)

# Doc 9303 specimens (Part 4 TD3, Part 5 TD1 incl. the long-number example, Part 6 TD2, Part 7 MRV-A/B)
TD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
TD1 = "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<"
TD1_LONG = "I<UTOD23145890<7349<<<<<<<<<<<\n3407127M9507122UTO<<<<<<<<<<<2\nSTEVENSON<<PETER<JOHN<<<<<<<<<"
TD2 = "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\nD231458907UTO7408122F1204159<<<<<<<6"
MRVA = "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL8988901C4XXX4009078F96121096ZE184226B<<<<<<"
MRVB = "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\nL8988901C4XXX4009078F9612109<<<<<<<<"


def p(text: str) -> MrzResult:
    return parse_mrz(text, TODAY)


def test_check_digit_examples() -> None:
    assert check_digit("L898902C3") == "6"
    assert check_digit("740812") == "2"
    assert check_digit("D23145890734") == "9"
    assert check_digit("AB<#") is None


@pytest.mark.parametrize(("text", "fmt"), [(TD3, "TD3"), (TD1, "TD1"), (TD2, "TD2"), (MRVA, "MRVA"), (MRVB, "MRVB")])
def test_specimens_are_valid(text: str, fmt: str) -> None:
    r = p(text)
    assert r.format == fmt
    assert r.valid, r.errors
    assert r.surname == "ERIKSSON" and r.given_names == "ANNA MARIA"
    assert r.sex == "F"
    assert r.issuing_state == "UTO"
    assert all(r.checks.values())


def test_td3_fields() -> None:
    r = p(TD3)
    assert r.to_dict() | {} == r.to_dict()
    d = r.to_dict()
    assert d["document_code"] == "P" and d["document_number"] == "L898902C3"
    assert d["birth_date"] == "1974-08-12" and d["expiry_date"] == "2012-04-15"
    assert d["optional_data"] == "ZE184226B" and d["expired"] is True and d["age"] == 52
    assert set(d["checks"]) == {"document_number", "birth_date", "expiry_date", "optional_data", "composite"}
    assert {"format", "document_code", "issuing_state", "surname", "given_names", "document_number", "nationality",
            "birth_date", "expiry_date", "sex", "optional_data", "valid", "checks", "corrections", "expired",
            "errors"} <= set(d)


def test_td1_long_document_number_overflow() -> None:
    r = p(TD1_LONG)
    assert r.valid, r.errors
    assert r.document_number == "D23145890734"
    assert r.optional_data is None


def test_td1_overflow_without_tail_is_an_error() -> None:
    bad = TD1_LONG.replace("D23145890<7349<<<", "D23145890<<<<<<<<")
    r = p(bad)
    assert not r.valid
    assert any("tail" in e for e in r.errors)


def test_td2_overflow_round_trips() -> None:
    lines = make_mrz("TD2", document_number="AB1234567890", issuing_state="D", nationality="D", optional_data="")
    r = p("\n".join(lines))
    assert r.valid, r.errors
    assert r.document_number == "AB1234567890"


def test_optional_data_check_digit_may_be_filler_when_empty() -> None:
    lines = make_mrz("TD3", optional_data="")
    lines[1] = lines[1][:42] + "<" + lines[1][43]
    assert p("\n".join(lines)).valid
    lines2 = make_mrz("TD3", optional_data="AB12345")
    lines2[1] = lines2[1][:42] + "<" + lines2[1][43:]
    r = p("\n".join(lines2))
    assert not r.valid and r.checks["optional_data"] is False


def test_germany_d_filler_and_crew_member_ac() -> None:
    lines = make_mrz("TD1", document_code="AC", issuing_state="D", nationality="D")
    assert lines[0].startswith("ACD<<")
    r = p("\n".join(lines))
    assert r.valid, r.errors
    assert r.issuing_state == "D" and r.nationality == "D" and r.document_code == "AC"


@pytest.mark.parametrize("code", ["EUE", "GBD", "GBN", "GBO", "GBP", "GBS", "UNO", "UNA", "UNK", "XXA", "XXB",
                                  "XXC", "XXX", "XOM", "XPO", "RKS"])
def test_icao_special_codes(code: str) -> None:
    r = p("\n".join(make_mrz("TD3", issuing_state=code, nationality=code)))
    assert r.valid, r.errors
    assert r.nationality == code


def test_unknown_state_code_is_an_error() -> None:
    r = p("\n".join(make_mrz("TD3", issuing_state="QQQ")))
    assert not r.valid
    assert any("issuing_state: unknown code" in e for e in r.errors)


def test_document_code_rules() -> None:
    assert not p("\n".join(make_mrz("TD1", document_code="IV"))).valid
    assert not p("\n".join(make_mrz("TD1", document_code="P<"))).valid
    assert p("\n".join(make_mrz("TD1", document_code="ID"))).valid


def test_names_primary_and_secondary() -> None:
    r = p("\n".join(make_mrz("TD3", surname="VAN DER BERG", given_names="JEAN PIERRE")))
    assert r.surname == "VAN DER BERG" and r.given_names == "JEAN PIERRE"
    r = p("\n".join(make_mrz("TD3", surname="LI", given_names="")))
    assert r.surname == "LI" and r.given_names is None


def test_unknown_date_parts() -> None:
    r = p("\n".join(make_mrz("TD3", birth_date="74<<<<")))
    assert r.valid, r.errors
    assert r.birth_date is None and r.age is None
    r = p("\n".join(make_mrz("TD3", birth_date="<<0812")))
    assert not r.valid


def test_century_rule_birth_not_in_future_and_expiry_window() -> None:
    lines = make_mrz("TD3", birth_date="250101", expiry_date="700101")
    r = p("\n".join(lines))
    assert r.birth_date == "2025-01-01" and r.expiry_date == "2070-01-01"
    r = parse_mrz("\n".join(lines), dt.date(2024, 6, 1))
    assert r.birth_date == "1925-01-01"
    r = parse_mrz("\n".join(make_mrz("TD3", expiry_date="800101")), dt.date(2026, 1, 1))
    assert r.expiry_date == "1980-01-01" and r.expired is True


def test_invalid_calendar_date_is_an_error() -> None:
    r = p("\n".join(make_mrz("TD3", birth_date="741332")))
    assert not r.valid and any("birth_date: not a valid date" in e for e in r.errors)


def test_sex_filler_is_x() -> None:
    assert p("\n".join(make_mrz("TD3", sex="<"))).sex == "X"


def test_digit_confusions_are_corrected_only_when_checks_verify() -> None:
    ocr = TD3.replace("7408122F1204159", "74O8122F12O4159").replace("<<<<<10", "<<<<<1O")
    r = p(ocr)
    assert r.valid, r.errors
    assert r.birth_date == "1974-08-12" and r.expiry_date == "2012-04-15"
    assert len(r.corrections) == 3 and all("'O' -> '0'" in c for c in r.corrections)
    # a letter that, read as a digit, still fails its check digit is left alone and reported
    wrong = TD3.replace("7408122F", "7408S22F")  # S reads as 5, and 5 does not verify either
    r = p(wrong)
    assert not r.valid and r.corrections == () and r.checks["birth_date"] is False


def test_single_line_mrz_is_split() -> None:
    assert p(TD3.replace("\n", "")).valid
    assert p(TD1.replace("\n", "")).valid


@pytest.mark.parametrize(("text", "needle"), [
    ("", "not_mrz: empty"),
    ("hello world, this is not a travel document", "not_mrz"),
    ("\x00\xff\x01binary" * 30, "not_mrz"),
    ("P" * 100_000, "not_mrz"),
])
def test_not_an_mrz(text: str, needle: str) -> None:
    r = p(text)
    assert not r.is_mrz and not r.valid
    assert any(needle in e for e in r.errors)


def test_truncated_line() -> None:
    r = p(TD3[:-3])
    assert r.format == "TD3" and not r.valid
    assert any("line_length: line 2 has 41 characters" in e for e in r.errors)


def test_three_lines_where_two_expected() -> None:
    l1, l2 = TD3.split("\n")
    r = p("\n".join([l1, l2, l2]))
    assert not r.valid
    assert any("line_count: 3 lines, TD3 has 2" in e for e in r.errors)


def test_lowercase_is_reported() -> None:
    r = p(TD3.lower())
    assert not r.valid
    assert any("lowercase" in e for e in r.errors)
    assert r.surname == "ERIKSSON"


def test_unknown_characters_are_reported() -> None:
    r = p(TD3.replace("ANNA", "AN#A"))
    assert not r.valid
    assert any("characters not allowed" in e for e in r.errors)


def test_non_string_input_does_not_raise() -> None:
    r = parse_mrz(b"P<UTO" * 20)  # type: ignore[arg-type]
    assert not r.valid and r.errors
