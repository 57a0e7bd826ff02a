"""The matching rules the issue pins, one by one, and `alerts match` on odd input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.alerts.entries import dump_entries
from edge.alerts.match import NAME_ONLY_THRESHOLD, THRESHOLD, Matcher, mrz_cut
from tests.alerts.helpers import document, person

LIST = [
    document("d-de", "D", "C01X00T47", document_code="P", surname="SCHMIDT", given_names="ANNA"),
    document("d-fr", "FRA", "12AB34567"),
    person("p-hassan", "AL HASSAN", "MUHAMMAD ABDUL RAHMAN", "1985-03-07", nationality="SYR", sex="M"),
    person("p-ouedraogo", "OUEDRAOGO", "ABDOULAYE", "1979"),
    person("p-diallo", "DIALLO", "FATOUMATA BINTOU", "1990-11"),
    person("p-muller", "MÜLLER", "JÜRGEN", None),
    person("p-long", "VANDERBERGHENHUIJSENS", "ALEXANDRA MAGDALENA CHRISTINA", "1970-01-02"),
    person("p-typo", "KOWALCZYK", "BARTOSZ", "1982-06-15"),
    person("p-ould", "OULDMOHAMED", "SIDI", None),
]
M = Matcher.from_entries(LIST)


def ids(traveller: dict) -> list[str]:
    return [h.id for h in M.match(traveller)]


@pytest.mark.parametrize("traveller", [
    {"issuing_state": "D", "document_number": "C01X00T47"},
    {"issuing_state": "DEU", "document_number": "CO1XOOT47"},          # O/0 read as letters
    {"issuing_state": "D<<", "document_number": "C01X00T47<"},          # MRZ filler
    {"issuing_state": "FRA", "document_number": "I2AB34567", "surname": "NOBODY"},   # I/1; name does not matter
])
def test_documents_match_on_state_and_number_alone(traveller: dict) -> None:
    assert "d-de" in ids(traveller) or "d-fr" in ids(traveller)


def test_another_state_or_number_is_no_document_hit() -> None:
    assert ids({"issuing_state": "FRA", "document_number": "C01X00T47"}) == []
    assert ids({"issuing_state": "DEU", "document_number": "C01X00T48"}) == []


def test_document_code_and_holder_name_only_inform_the_why() -> None:
    [hit] = M.match({"issuing_state": "DEU", "document_number": "C01X00T47", "document_code": "ID",
                     "surname": "OTHER", "given_names": "PERSON"})
    assert hit.score == 1.0
    assert "document code: differs" in hit.why and "holder name: differs or not read" in hit.why


@pytest.mark.parametrize(("surname", "given", "birth"), [
    ("AL HASSAN", "MUHAMMAD ABDUL RAHMAN", "1985-03-07"),       # as listed
    ("ALHASSAN", "MOHAMED ABDULRAHMAN", "1985-03-07"),          # particles joined, Arabic spelling
    ("EL-HASSAN", "MOHAMMED ABDEL RAHMANE", "1985-03-07"),
    ("MUHAMMAD ABDUL RAHMAN", "AL HASSAN", "1985-03-07"),       # surname and given names swapped
    ("AL HASSAN", "MUHAMMAD", "1985-03-07"),                    # a given name dropped
    ("AL HASSAN", "MUHAMMAD ABDUL RAHMAN", "1985-07-03"),       # day and month swapped
    ("AL HASAN", "MUHAMMAD ABDUL RAHMAN", "1985-03-07"),        # one letter dropped
    ("AL HASSAN", "MUHAMMMAD ABDUL RAHMAN", "1985-03-07"),      # one letter doubled
    ("HASSAN", "MUHAMMAD ABDUL RAHMAN", "1985-03-07"),          # particle dropped
    ("HASSAN", "MOHAMMED ABDELRAHMAN", "1985-03-07"),
])
def test_person_variants_hit(surname: str, given: str, birth: str) -> None:
    assert "p-hassan" in ids({"surname": surname, "given_names": given, "birth_date": birth})


@pytest.mark.parametrize(("surname", "given", "birth", "entry"), [
    ("WEDRAOGO", "ABDULAI", "1979-05-05", "p-ouedraogo"),          # Sahel spelling; entry has the year only
    ("JALLOW", "FATIMATA BINTU", "1990-11-23", "p-diallo"),        # entry has year and month
    ("DIALLO", "FATOUMATA BINTOU AMINATA", "1990-11-01", "p-diallo"),   # a middle name added
    ("KOWALCZYK", "BARTOSZ", "1982-06-15", "p-typo"),
    ("KOWALCZKY", "BARTOSZ", "1982-06-15", "p-typo"),              # neighbours swapped
    ("KOWALCZYK", "BARTISZ", "1982-06-15", "p-typo"),              # one letter replaced
    ("OULD MOHAMED", "SIDI", "1975-05-05", "p-ould"),              # particle joined / apart, no date on the entry
])
def test_spellings_partial_dates_and_typos_hit(surname: str, given: str, birth: str, entry: str) -> None:
    assert entry in ids({"surname": surname, "given_names": given, "birth_date": birth})


@pytest.mark.parametrize("given", ["JURGEN", "JUERGEN"])
@pytest.mark.parametrize("surname", ["MULLER", "MUELLER"])
def test_diacritics_fold_either_icao_way_and_no_birth_date_needs_the_full_name(surname: str, given: str) -> None:
    hits = M.match({"surname": surname, "given_names": given, "birth_date": "1960-01-01"})
    assert [h.id for h in hits] == ["p-muller"]
    assert hits[0].score >= NAME_ONLY_THRESHOLD
    assert any("full name only" in w for w in hits[0].why)


def test_without_a_birth_date_the_entry_needs_every_name() -> None:
    assert ids({"surname": "MULLER", "given_names": "", "birth_date": "1960-01-01"}) == []


def test_a_name_cut_at_the_mrz_length_still_hits() -> None:
    # TD3: 39 characters for SURNAME<<GIVEN<NAMES; the last given name is cut.
    sur, giv = "VANDERBERGHENHUIJSENS", "ALEXANDRA MAGDA"
    assert mrz_cut(sur, giv) == (len(sur) + 2 + len(giv) in (30, 31, 39))
    giv = "ALEXANDRA MAGDALEN"[: 39 - len(sur) - 2]
    assert mrz_cut(sur, giv)
    assert "p-long" in ids({"surname": sur, "given_names": giv, "birth_date": "1970-01-02"})


def test_the_birth_date_must_agree() -> None:
    assert ids({"surname": "AL HASSAN", "given_names": "MUHAMMAD ABDUL RAHMAN", "birth_date": "1986-03-07"}) == []
    assert ids({"surname": "DIALLO", "given_names": "FATOUMATA BINTOU", "birth_date": "1990-12-01"}) == []


def test_near_misses_with_the_same_birth_date_do_not_hit() -> None:
    for surname, names in [("AL HASSAN", "OMAR"), ("HADDAD", "MUHAMMAD ABDUL RAHMAN"),
                           ("AL HASSAN", "MUHAMMAD ABDUL KARIM"), ("SMITH", "JOHN")]:
        assert ids({"surname": surname, "given_names": names, "birth_date": "1985-03-07"}) == [], (surname, names)


def test_nationality_and_sex_adjust_but_never_veto() -> None:
    base = {"surname": "AL HASSAN", "given_names": "MUHAMMAD ABDUL RAHMAN", "birth_date": "1985-03-07"}
    same = M.match({**base, "nationality": "SYR", "sex": "M"})[0]
    other = M.match({**base, "nationality": "JOR", "sex": "F"})[0]
    assert same.id == other.id == "p-hassan"
    assert same.score > other.score >= THRESHOLD
    assert "nationality: differs" in other.why and "sex: differs" in other.why


def test_hits_are_best_first_and_explain_themselves() -> None:
    m = Matcher.from_entries([person("a", "DIALLO", "AMADOU", "1980-01-01"),
                              person("b", "JALLOW", "AHMADU", "1980-01-01"),
                              document("c", "SEN", "A1234567")])
    hits = m.match({"surname": "DIALLO", "given_names": "AMADOU", "birth_date": "1980-01-01",
                    "issuing_state": "SEN", "document_number": "A1234567"})
    assert {h.id for h in hits[:2]} == {"a", "c"} and hits[0].score == hits[1].score == 1.0
    assert hits[2].id == "b" and hits[2].score < 1.0
    assert hits[2].why[0].startswith("name: DIALLO~JALLOW spelling")
    assert all(0 <= h.score <= 1 for h in hits)


odd = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
                   lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                   max_leaves=8)
fields = st.sampled_from(["surname", "given_names", "birth_date", "issuing_state", "document_number",
                          "nationality", "sex", "document_code"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(fields, odd | st.text(alphabet="AEIOUMHDLSN<- 0123456789?", max_size=45), max_size=8))
def test_match_never_raises_on_odd_travellers(traveller: dict) -> None:
    for h in M.match(traveller):
        assert 0 <= h.score <= 1


def test_cli_match_prints_one_line_per_traveller(tmp_path: Path) -> None:
    lst = tmp_path / "list.jsonl"
    lst.write_bytes(dump_entries(LIST))
    travellers = [
        json.dumps({"issuing_state": "DEU", "document_number": "CO1XOOT47"}),
        "not json", "[1, 2]", "", '{"surname": 5}', "\udcff".encode("utf-8", "surrogateescape").decode("latin-1"),
        json.dumps({"surname": "ELHASSAN", "given_names": "MOHAMED", "birth_date": "1985-03-07"}),
    ]
    run = subprocess.run([sys.executable, "-m", "edge", "alerts", "match", "--list", str(lst)],
                         input="\n".join(travellers) + "\n", capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    out = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(out) == len(travellers)
    assert [h["id"] for h in out[0]["hits"]] == ["d-de"]
    assert out[1]["hits"] == [] and out[6]["hits"][0]["id"] == "p-hassan"
    assert set(out[6]["hits"][0]) == {"id", "score", "kind", "why"}


def test_cli_match_refuses_a_bad_list_naming_the_line(tmp_path: Path) -> None:
    lst = tmp_path / "list.jsonl"
    lst.write_bytes(dump_entries(LIST) + b'{"id": "x"}\n')
    run = subprocess.run([sys.executable, "-m", "edge", "alerts", "match", "--list", str(lst)], input="",
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and f"line {len(LIST) + 1}:" in run.stderr and "Traceback" not in run.stderr


# ---------------------------------------------------------------- blocking (which entries are compared at all)
def _candidates(m: Matcher, traveller: dict) -> set[str]:
    from edge.alerts.match import Traveller
    from edge.alerts.packed import SEP

    return {m.persons.packed[n].split(SEP, 1)[0] for n in m.persons.candidates(Traveller.from_obj(traveller))}


def test_a_short_name_one_letter_off_is_still_compared_within_the_birth_date() -> None:
    m = Matcher.from_entries([person("p1", "KEITA", "MUSA", "1980-01-02")])
    t = {"surname": "KEIRA", "given_names": "MUSA", "birth_date": "1980-01-02"}      # KT / KR: one edit apart
    assert [h.id for h in m.match(t)] == ["p1"]


def test_a_year_only_entry_is_compared_when_a_name_is_near_not_for_every_traveller_of_that_year() -> None:
    m = Matcher.from_entries([person("p1", "OUEDRAOGO", "ABDOULAYE", "1975")])
    assert [h.id for h in m.match({"surname": "WEDRAOGO", "given_names": "ABDULAI",
                                   "birth_date": "1975-07-08"})] == ["p1"]
    assert _candidates(m, {"surname": "DUPONT", "given_names": "MARIE", "birth_date": "1975-07-08"}) == set()


def test_two_names_of_the_traveller_spelt_alike_pair_with_two_names_of_the_entry_not_one() -> None:
    m = Matcher.from_entries([person("u1", "OUSMANE", "YASMINE", None), person("u2", "KHALED", "OUSMANE", None)])
    t = {"surname": "USMAN", "given_names": "YASMIN", "birth_date": "1990-01-01"}     # both are ASMN
    assert [h.id for h in m.match(t)] == ["u1"]
    assert "u2" not in _candidates(m, t)         # its one shared name cannot pair with both of the traveller's
