"""ICAO Doc 9303 code tables: three-letter state/organisation codes (Part 3) and document codes (Parts 4-7).

Kept as literal tables (no pycountry dependency) because Doc 9303 adds codes ISO 3166 does not have:
Germany's one-letter `D`, the EU, British nationality classes, UN and stateless codes, and
international organisations. Codes are stored without `<` padding (`D<<` → `D`).
"""

from __future__ import annotations

# ISO 3166-1 alpha-3 (as used by Doc 9303 Part 3), Germany is `D` in MRZs (DEU is not used there, but is
# accepted because some non-German readers and test generators emit it).
_ISO_ALPHA3_TEXT = """
ABW AFG AGO AIA ALA ALB AND ARE ARG ARM ASM ATA ATF ATG AUS AUT AZE BDI BEL BEN BES BFA BGD BGR BHR BHS
BIH BLM BLR BLZ BMU BOL BRA BRB BRN BTN BVT BWA CAF CAN CCK CHE CHL CHN CIV CMR COD COG COK COL COM CPV
CRI CUB CUW CXR CYM CYP CZE DEU DJI DMA DNK DOM DZA ECU EGY ERI ESH ESP EST ETH FIN FJI FLK FRA FRO FSM
GAB GBR GEO GGY GHA GIB GIN GLP GMB GNB GNQ GRC GRD GRL GTM GUF GUM GUY HKG HMD HND HRV HTI HUN IDN IMN
IND IOT IRL IRN IRQ ISL ISR ITA JAM JEY JOR JPN KAZ KEN KGZ KHM KIR KNA KOR KWT LAO LBN LBR LBY LCA LIE
LKA LSO LTU LUX LVA MAC MAF MAR MCO MDA MDG MDV MEX MHL MKD MLI MLT MMR MNE MNG MNP MOZ MRT MSR MTQ MUS
MWI MYS MYT NAM NCL NER NFK NGA NIC NIU NLD NOR NPL NRU NZL OMN PAK PAN PCN PER PHL PLW PNG POL PRI PRK
PRT PRY PSE PYF QAT REU ROU RUS RWA SAU SDN SEN SGP SGS SHN SJM SLB SLE SLV SMR SOM SPM SRB SSD STP SUR
SVK SVN SWE SWZ SXM SYC SYR TCA TCD TGO THA TJK TKL TKM TLS TON TTO TUN TUR TUV TWN TZA UGA UKR UMI URY
USA UZB VAT VCT VEN VGB VIR VNM VUT WLF WSM YEM ZAF ZMB ZWE
"""
ISO_ALPHA3 = frozenset(_ISO_ALPHA3_TEXT.split())

# Doc 9303 Part 3 additions: codes that are not ISO 3166-1 alpha-3 but appear in MRZs.
ICAO_SPECIAL: dict[str, str] = {
    "D": "Germany",
    "EUE": "European Union",
    "GBD": "British Overseas Territories Citizen",
    "GBN": "British National (Overseas)",
    "GBO": "British Overseas Citizen",
    "GBP": "British Protected Person",
    "GBS": "British Subject",
    "RKS": "Kosovo",
    "UNO": "United Nations Organization or one of its officials",
    "UNA": "Specialized agency of the United Nations or one of its officials",
    "UNK": "Resident of Kosovo to whom a travel document has been issued by UNMIK",
    "XBA": "African Development Bank",
    "XIM": "African Export-Import Bank",
    "XCC": "Caribbean Community or one of its emissaries",
    "XCE": "Council of Europe",
    "XCO": "Common Market for Eastern and Southern Africa",
    "XEC": "Economic Community of West African States",
    "XES": "Organization of Eastern Caribbean States",
    "XMP": "International Criminal Police Organization (liaison)",
    "XOM": "Sovereign Military Order of Malta or one of its emissaries",
    "XDC": "Southern African Development Community",
    "XPO": "International Criminal Police Organization (INTERPOL)",
    "XXA": "Stateless person (1954 Convention)",
    "XXB": "Refugee (1951 Convention)",
    "XXC": "Refugee (other than 1951 Convention)",
    "XXX": "Person of unspecified nationality",
    "UTO": "Utopia (the fictional state of ICAO Doc 9303 specimens)",
    "ANT": "Netherlands Antilles (historic, still on valid documents)",
    "NTZ": "Neutral Zone (historic)",
    "YUG": "Yugoslavia (historic)",
    "SCG": "Serbia and Montenegro (historic)",
    "CSK": "Czechoslovakia (historic)",
    "ZAR": "Zaire (historic)",
    "TMP": "East Timor (historic)",
}

STATE_CODES = ISO_ALPHA3 | frozenset(ICAO_SPECIAL)

# Document codes (first character; second is at the issuing state's discretion, with the exceptions below).
DOCUMENT_TYPES: dict[str, str] = {
    "P": "passport (TD3)",
    "V": "visa (MRV-A, MRV-B)",
    "I": "identity card / official travel document (TD1, TD2)",
    "A": "official travel document (TD1, TD2)",
    "C": "official travel document (TD1, TD2)",
}

# Well-known two-letter codes, for display; any other second letter is accepted when the first is valid.
KNOWN_DOCUMENT_CODES: dict[str, str] = {
    "P<": "passport",
    "PD": "diplomatic passport (state practice)",
    "PO": "official passport (state practice)",
    "PS": "service passport (state practice)",
    "V<": "visa",
    "I<": "identity card",
    "ID": "identity card",
    "IP": "passport card",
    "AC": "crew member certificate",
    "A<": "official travel document",
    "C<": "official travel document",
}

FORMAT_FIRST_LETTERS: dict[str, frozenset[str]] = {
    "TD1": frozenset("ACI"),
    "TD2": frozenset("ACI"),
    "TD3": frozenset("P"),
    "MRVA": frozenset("V"),
    "MRVB": frozenset("V"),
}


def state_ok(code: str) -> bool:
    """True for a code Doc 9303 Part 3 knows (ISO alpha-3 or an ICAO addition); `code` is without fillers."""
    return code in STATE_CODES


def document_code_problem(code: str, fmt: str) -> str | None:
    """Why a two-character document code is not acceptable for `fmt`, or None.

    Doc 9303 Part 5/6: A, C or I first; the second character must not be V, and C after A only as
    `AC` (crew member certificate, which is therefore valid). Part 4: P first for passports.
    """
    if len(code) != 2 or not all(c.isalpha() or c == "<" for c in code):
        return f"document code {code!r} is not two letters"
    first, second = code
    allowed = FORMAT_FIRST_LETTERS.get(fmt, frozenset())
    if first not in allowed:
        return f"document code {code!r} cannot start a {fmt} document (expected {'/'.join(sorted(allowed))})"
    if first in "ACI" and second == "V":
        return f"document code {code!r}: V is not allowed as second character"
    return None
