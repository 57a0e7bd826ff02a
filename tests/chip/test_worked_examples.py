"""Doc 9303 part 11's worked examples (appendix D: BAC and secure messaging; appendix G: PACE-GM-ECDH)."""

from __future__ import annotations

import hashlib

import pytest

from edge.chip import bac, pace, sm
from edge.chip.apdu import Command, split_response
from edge.chip.ecc import BRAINPOOL_P256R1
from edge.chip.errors import AccessDenied, ProtocolError

H = bytes.fromhex
MRZ_INFO = "L898902C<369080619406236"


def test_bac_keys_from_mrz():
    assert bac.key_seed(MRZ_INFO).hex().upper() == "239AB9CB282DAF66231DC5A4DF6BFBAE"
    k_enc, k_mac = bac.access_keys(MRZ_INFO)
    assert k_enc.hex().upper() == "AB94FDECF2674FDFB9B391F85D7F76F2"
    assert k_mac.hex().upper() == "7962D9ECE03D1ACD4C76089DCE131543"


def test_bac_mutual_authentication_and_session_keys():
    k_enc, k_mac = bac.access_keys(MRZ_INFO)
    rnd_ic, rnd_ifd, k_ifd = H("4608F91988702212"), H("781723860C06C226"), H("0B795240CB7049B01C19B33E32804F0B")
    data = bac.mutual_auth_data(k_enc, k_mac, rnd_ifd, rnd_ic, k_ifd)
    assert data.hex().upper() == (
        "72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F25F1448EEA8AD90A7")
    resp = H("46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F2F2D235D074D7449")
    keys = bac.session_from_response(k_enc, k_mac, resp, rnd_ifd, rnd_ic, k_ifd)
    assert keys.ks_enc.hex().upper() == "979EC13B1CBFE9DCD01AB0FED307EAE5"
    assert keys.ks_mac.hex().upper() == "F1CB1F1FB5ADF208806B89DC579DC1F8"
    assert keys.ssc == 0x887022120C06C226


def _example_keys() -> sm.SessionKeys:
    return sm.SessionKeys("3DES", H("979EC13B1CBFE9DCD01AB0FED307EAE5"), H("F1CB1F1FB5ADF208806B89DC579DC1F8"),
                          0x887022120C06C226)


def test_secure_messaging_select_and_reads():
    keys = _example_keys()
    assert sm.wrap(keys, Command(0x00, 0xA4, 0x02, 0x0C, H("011E"))).hex().upper() == (
        "0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800")
    assert sm.unwrap(keys, H("990290008E08FA855A5D4C50A8ED9000")) == (b"", 0x9000)
    assert sm.wrap(keys, Command(0x00, 0xB0, 0x00, 0x00, le=4)).hex().upper() == (
        "0CB000000D9701048E08ED6705417E96BA5500")
    data, sw = sm.unwrap(keys, H("8709019FF0EC34F9922651990290008E08AD55CC17140B2DED9000"))
    assert (data.hex().upper(), sw) == ("60145F01", 0x9000)
    assert sm.wrap(keys, Command(0x00, 0xB0, 0x00, 0x04, le=0x12)).hex().upper() == (
        "0CB000040D9701128E082EA28A70F3C7B53500")
    data, sw = sm.unwrap(keys, H("871901FB9235F4E4037F2327DCC8964F1F9B8C30F42C8E2FFF224A99029000"
                                 "8E08C8B2787EAEA07D749000"))
    assert data.hex().upper() == "04303130365F36063034303030305C026175"


def test_secure_messaging_refuses_a_tampered_response():
    keys = _example_keys()
    sm.wrap(keys, Command(0x00, 0xA4, 0x02, 0x0C, H("011E")))
    with pytest.raises(ProtocolError, match="MAC"):
        sm.unwrap(keys, H("990290018E08FA855A5D4C50A8ED9000"))   # DO99 changed after the chip's MAC


class ScriptedChannel:
    """Replays the chip's answers of a worked example and records what the reader sent."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = [H(a.replace(" ", "")) for a in answers]
        self.sent: list[str] = []

    def transmit(self, apdu: bytes) -> bytes:
        self.sent.append(apdu.hex().upper())
        return self.answers.pop(0)

    def send(self, cmd: Command) -> tuple[bytes, int]:
        return split_response(self.transmit(cmd.encode()))


PACE_ANSWERS = [
    "9000",
    "7C12 8010 95A3A016522EE98D01E76CB6B98B42C3 9000",
    "7C43 8241 04824FBA91C9CBE26BEF53A0EBE7342A3BF178CEA9F45DE0B70AA601651FBA3F57"
    "30D8C879AAA9C9F73991E61B58F4D52EB87A0A0C709A49DC63719363CCD13C54 9000",
    "7C43 8441 049E880F842905B8B3181F7AF7CAA9F0EFB743847F44A306D2D28C1D9EC65DF6DB"
    "7764B22277A2EDDC3C265A9F018F9CB852E111B768B326904B59A0193776F094 9000",
    "7C0A 8608 3ABB9674BCE93C08 9000",
]


def test_pace_generic_mapping_worked_example():
    info = pace.PaceInfo("0.4.0.127.0.7.2.2.4.2.2", 2, 13)
    password = pace.mrz_password("T22000129364081251010318")
    assert pace.password_key(password, info).hex().upper() == "89DED1B26624EC1E634C1989302849DD"
    scalars = iter([0x7F4EF07B9EA82FD78AD689B38D0BC78CF21F249D953BC46F4C6E19259C010F99,
                    0xA73FB703AC1436A18E0CFA5ABB3F7BEC7A070E7A6788486BEE230C4A22762595])
    ch = ScriptedChannel(PACE_ANSWERS)
    keys = pace.perform_pace(ch, password, info, rand_scalar=lambda _c: next(scalars))
    assert ch.sent == [
        "0022C1A412800A04007F0007020204020283010184010D",
        "10860000027C0000",
        "10860000457C438141047ACF3EFC982EC45565A4B155129EFBC74650DCBFA6362D896F"
        "C70262E0C2CC5E544552DCB6725218799115B55C9BAA6D9F6BC3A9618E70C25AF71777A9C4922D00",
        "10860000457C438341042DB7A64C0355044EC9DF190514C625CBA2CEA48754887122"
        "F3A5EF0D5EDD301C3556F3B3B186DF10B857B58F6A7EB80F20BA5DC7BE1D43D9BF850149FBB3646200",
        "008600000C7C0A8508C2B0BD78D94BA86600",
    ]
    assert (keys.cipher, keys.ssc) == ("AES", 0)
    assert keys.ks_enc.hex().upper() == "F5F0E35C0D7161EE6724EE513A0D9A7F"
    assert keys.ks_mac.hex().upper() == "FE251C7858B356B24514B3BD5F4297D1"


def test_pace_mapped_generator_of_the_example():
    c = BRAINPOOL_P256R1
    s = 0x3F00C4D39D153F2B2A214A078D899B22
    h = c.mul(0x498FF49756F2DC1587840041839A85982BE7761D14715FB091EFA7BCE9058560,
              c.mul(0x7F4EF07B9EA82FD78AD689B38D0BC78CF21F249D953BC46F4C6E19259C010F99, c.g))
    assert h == (0x60332EF2450B5D247EF6D3868397D398852ED6E8CAF6FFEEF6BF85CA57057FD5,
                 0x0840CA7415BAF3E43BD414D35AA4608B93A2CAF3A4E3EA4E82C9C13D03EB7181)
    g = c.add(c.mul(s, c.g), h)
    assert c.encode(g).hex().upper() == (
        "048CED63C91426D4F0EB1435E7CB1D74A46723A0AF21C89634F65A9AE87A9265E2"
        "8C879506743F8611AC33645C5B985C80B5F09A0B83407C1B6A4D857AE76FE522")


def test_pace_wrong_password_is_access_denied():
    info = pace.PaceInfo("0.4.0.127.0.7.2.2.4.2.2", 2, 13)
    ch = ScriptedChannel([*PACE_ANSWERS[:4], "6300"])
    with pytest.raises(AccessDenied):
        pace.perform_pace(ch, hashlib.sha1(b"wrong").digest(), info)
    assert len(ch.sent) == 5      # one attempt, no retries
