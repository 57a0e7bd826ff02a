"""Object identifiers the test passport uses (Doc 9303 part 11 section 9.2)."""

from __future__ import annotations

PACE_OID = "0.4.0.127.0.7.2.2.4.2.2"       # id-PACE-ECDH-GM-AES-CBC-CMAC-128
CA_OID = "0.4.0.127.0.7.2.2.3.2.2"         # id-CA-ECDH-AES-CBC-CMAC-128
PK_ECDH_OID = "0.4.0.127.0.7.2.2.1.2"


def pace_oid(cipher: str = "AES") -> str:
    """id-PACE-ECDH-GM-3DES-CBC-CBC (.1) or -AES-CBC-CMAC-128 (.2)."""
    return "0.4.0.127.0.7.2.2.4.2.1" if cipher == "3DES" else PACE_OID
