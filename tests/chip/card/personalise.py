"""Issue a test passport: a CSCA -> document signer PKI, LDS files, the SOD, the chip's keys.

Written from Doc 9303 parts 10-12 (and ISO/IEC 19794-5 for DG2), building DER with asn1crypto and the
card's own TLV helpers, never with edge.chip. `issue()` writes a directory the card process serves.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from asn1crypto import algos, cms, core
from asn1crypto import x509 as ax
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from PIL import Image

from tests.chip.card.ber import integer, oid, tlv
from tests.chip.card.oids import CA_OID, PK_ECDH_OID, pace_oid

WEIGHTS = (7, 3, 1)


def cd(s: str) -> str:
    val = {**{str(i): i for i in range(10)}, **{chr(65 + i): 10 + i for i in range(26)}, "<": 0}
    return str(sum(val[c] * WEIGHTS[i % 3] for i, c in enumerate(s)) % 10)


def td3(number: str = "C01X00T47", birth: str = "900101", expiry: str = "340101", sex: str = "F") -> str:
    number = number.ljust(9, "<")
    line1 = "P<UTOTRAVELLER<<TEST<CHIP".ljust(44, "<")
    optional = "<" * 14
    body = number + cd(number) + "UTO" + birth + cd(birth) + sex + expiry + cd(expiry) + optional + cd(optional)
    composite = cd(body[0:10] + body[13:20] + body[21:43])
    return line1 + "\n" + body + composite


def mrz_information(mrz: str) -> str:
    l2 = mrz.splitlines()[1]
    return l2[0:10] + l2[13:20] + l2[21:28]


@dataclass
class Pki:
    csca_key: ec.EllipticCurvePrivateKey
    csca: x509.Certificate
    ds_key: ec.EllipticCurvePrivateKey
    ds: x509.Certificate


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "UT"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_csca(cn: str = "CSCA Utopia test") -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn)).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_pki() -> Pki:
    csca_key, csca = make_csca()
    ds_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    ds = (x509.CertificateBuilder().subject_name(_name("Document Signer Utopia test")).issuer_name(csca.subject)
          .public_key(ds_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1800))
          .sign(csca_key, hashes.SHA256()))
    return Pki(csca_key, csca, ds_key, ds)


def face_jpeg(target: int = 20_000, fmt: str = "jpeg", seed: int = 7) -> bytes:
    """A synthetic portrait-sized image of about `target` bytes."""
    rnd = random.Random(seed)
    img = Image.new("RGB", (240, 320))
    px = img.load()
    for y in range(320):
        for x in range(240):
            px[x, y] = ((x + rnd.randrange(40)) % 256, (y + rnd.randrange(40)) % 256, (x * y // 97) % 256)
    best = b""
    if fmt == "jpeg":
        for q in range(95, 5, -1):
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=q)
            best = buf.getvalue()
            if len(best) <= target:
                break
        return best
    buf = io.BytesIO()
    img.save(buf, "JPEG2000", quality_mode="rates", quality_layers=[240 * 320 * 3 / target])
    return buf.getvalue()


def face_record(image: bytes, fmt: str, width: int = 240, height: int = 320) -> bytes:
    """ISO/IEC 19794-5:2005 facial record: general header, facial information, image information, image."""
    info = (b"\x00\x00"            # feature points
            + bytes([2, 1, 1])     # gender, eye colour, hair colour
            + b"\x00\x00\x00" + b"\x00\x00" + b"\x00\x00\x00" + b"\x00\x00\x00")
    image_info = bytes([1, 0 if fmt == "jpeg" else 1]) + width.to_bytes(2, "big") + height.to_bytes(2, "big") \
        + bytes([1, 2]) + b"\x00\x00" + b"\x00\x00"
    block = (4 + len(info) + len(image_info) + len(image)).to_bytes(4, "big") + info + image_info + image
    return b"FAC\x00" + b"010\x00" + (14 + len(block)).to_bytes(4, "big") + b"\x00\x01" + block


def dg2(image: bytes, fmt: str) -> bytes:
    header = tlv(0xA1, tlv(0x80, b"\x01\x01") + tlv(0x81, b"\x02") + tlv(0x87, b"\x01\x01") + tlv(0x88, b"\x00\x08"))
    template = tlv(0x7F60, header + tlv(0x5F2E, face_record(image, fmt)))
    return tlv(0x75, tlv(0x7F61, tlv(0x02, b"\x01") + template))


def spki(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def pace_info(cipher: str = "AES", param: int = 13) -> bytes:
    return tlv(0x30, tlv(0x06, oid(pace_oid(cipher))) + integer(2) + integer(param))


def signed_data(content_type: str, content: bytes, key, cert: x509.Certificate, rsa_pss: bool = False) -> bytes:
    """CMS ContentInfo(SignedData) with signed attributes, as states sign SODs and master lists."""
    digest = hashlib.sha256(content).digest()
    attrs = cms.CMSAttributes([
        cms.CMSAttribute({"type": "content_type", "values": [content_type]}),
        cms.CMSAttribute({"type": "message_digest", "values": [digest]}),
    ])
    if isinstance(key, rsa.RSAPrivateKey) and rsa_pss:
        sig = key.sign(attrs.dump(), padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
        sig_algo = algos.SignedDigestAlgorithm({"algorithm": "rsassa_pss", "parameters": algos.RSASSAPSSParams({
            "hash_algorithm": {"algorithm": "sha256"},
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
            "salt_length": 32})})
    elif isinstance(key, rsa.RSAPrivateKey):
        sig = key.sign(attrs.dump(), padding.PKCS1v15(), hashes.SHA256())
        sig_algo = algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa"})
    else:
        sig = key.sign(attrs.dump(), ec.ECDSA(hashes.SHA256()))
        sig_algo = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})
    acert = ax.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    si = cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
            {"issuer": acert.issuer, "serial_number": acert.serial_number})}),
        "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
        "signed_attrs": attrs,
        "signature_algorithm": sig_algo,
        "signature": sig,
    })
    sd = cms.SignedData({
        "version": "v3",
        "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
        "encap_content_info": {"content_type": content_type, "content": core.ParsableOctetString(content)},
        "certificates": [acert],
        "signer_infos": [si],
    })
    return cms.ContentInfo({"content_type": "signed_data", "content": sd}).dump()


def sod(files: dict[int, bytes], pki: Pki) -> bytes:
    """EF.SOD: the LDS security object (SHA-256 of each data group) signed by the document signer."""
    hashes_der = b"".join(tlv(0x30, integer(n) + tlv(0x04, hashlib.sha256(v).digest()))
                          for n, v in sorted(files.items()))
    lso = tlv(0x30, integer(0) + tlv(0x30, tlv(0x06, oid("2.16.840.1.101.3.4.2.1"))) + tlv(0x30, hashes_der))
    return tlv(0x77, signed_data("2.23.136.1.1.1", lso, pki.ds_key, pki.ds))


def master_list(cscas: list[x509.Certificate], signer_key, signer: x509.Certificate) -> bytes:
    certs = b"".join(c.public_bytes(serialization.Encoding.DER) for c in cscas)
    content = tlv(0x30, integer(0) + tlv(0x31, certs))
    return signed_data("2.23.136.1.1.2", content, signer_key, signer)


@dataclass
class Spec:
    mrz: str = field(default_factory=td3)
    pace: bool = True
    chip_auth: bool = True
    active_auth: bool = False
    dg11_dg12: bool = False           # additional personal and document details
    active_auth_ecdsa: bool = False   # DG15 holds an EC key (plain ECDSA-SHA256) rather than RSA (ISO 9796-2)
    short_le: bool = False
    pace_cipher: str = "AES"          # "AES" (128) or "3DES"
    pace_param: int = 13              # 13 brainpoolP256r1, 12 NIST P-256
    can: str = ""                     # the card access number PACE also accepts (empty: MRZ only)
    face_format: str = "jpeg"
    face_image: bytes = b""           # a given JPEG / JPEG 2000 portrait (e.g. a simulated traveller's); else synthetic
    face_bytes: int = 20_000
    tamper: str = ""                  # "dg2_after_signing" | "sod_garbage" | "dg2_malformed" | "dg14_unsigned"
    #                                   | "clone" (the chip's CA/AA private keys are not the signed ones)
    pull_after: int = 0               # bytes of DG2 served before the card leaves the field (0: never)


def issue(spec: Spec, pki: Pki, out: Path) -> Path:
    """Write the card directory: files/<FID>.bin, the chip's private keys, config.json."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "files").mkdir(exist_ok=True)
    image = spec.face_image or face_jpeg(spec.face_bytes, spec.face_format)
    dgs: dict[int, bytes] = {1: tlv(0x61, tlv(0x5F1F, spec.mrz.replace("\n", "").encode()))}
    dgs[2] = dg2(image, spec.face_format)
    if spec.dg11_dg12:
        dgs[11] = tlv(0x6B, tlv(0x5C, b"\x5f\x0e\x5f\x2b") + tlv(0x5F0E, b"TRAVELLER<<TEST<CHIP")
                      + tlv(0x5F2B, b"19900101"))
        dgs[12] = tlv(0x6C, tlv(0x5C, b"\x5f\x19\x5f\x26") + tlv(0x5F19, b"UTOPIA") + tlv(0x5F26, b"20240101"))
    if spec.tamper == "dg2_malformed":
        dgs[2] = tlv(0x75, tlv(0x7F61, tlv(0x02, b"\x01") + tlv(0x7F60, tlv(0x5F2E, b"FAC\x00010\x00\xff\xff"))))
    config: dict = {"mrz_information": mrz_information(spec.mrz), "pace": spec.pace, "short_le": spec.short_le,
                    "chip_auth": spec.chip_auth, "active_auth": spec.active_auth, "pull_after": spec.pull_after,
                    "pace_cipher": spec.pace_cipher, "pace_param": spec.pace_param, "can": spec.can}
    infos = []
    if spec.chip_auth:
        ca_key = ec.generate_private_key(ec.BrainpoolP256R1())
        (out / "ca_key.pem").write_bytes(ca_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        infos.append(tlv(0x30, tlv(0x06, oid(CA_OID)) + integer(1)))
        infos.append(tlv(0x30, tlv(0x06, oid(PK_ECDH_OID)) + spki(ca_key.public_key())))
    if spec.pace:
        infos.append(pace_info(spec.pace_cipher, spec.pace_param))
    if spec.active_auth:
        if spec.active_auth_ecdsa:
            aa_key = ec.generate_private_key(ec.SECP256R1())
            # ActiveAuthenticationInfo: version 1, ecdsa-plain-SHA256 (BSI TR-03111)
            infos.append(tlv(0x30, tlv(0x06, oid("2.23.136.1.1.5")) + integer(1)
                             + tlv(0x06, oid("0.4.0.127.0.7.1.1.4.1.3"))))
        else:
            aa_key = rsa.generate_private_key(65537, 1024)
        (out / "aa_key.pem").write_bytes(aa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        dgs[15] = tlv(0x6F, spki(aa_key.public_key()))
    if infos:
        dgs[14] = tlv(0x6E, tlv(0x31, b"".join(infos)))
    if spec.tamper == "clone":          # a copy of the signed files on a chip without the original's keys
        for name in ("ca_key.pem", "aa_key.pem"):
            if (out / name).exists():
                old = serialization.load_pem_private_key((out / name).read_bytes(), None)
                new = (ec.generate_private_key(old.curve) if isinstance(old, ec.EllipticCurvePrivateKey)
                       else rsa.generate_private_key(65537, old.key_size))
                (out / name).write_bytes(new.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    signed = dict(dgs)
    if spec.tamper == "dg14_unsigned":
        signed.pop(14, None)
    the_sod = sod(signed, pki)
    if spec.tamper == "dg2_after_signing":
        body = bytearray(dgs[2])
        body[len(body) // 2] ^= 0x01
        dgs[2] = bytes(body)
    if spec.tamper == "sod_garbage":
        the_sod = tlv(0x77, bytes(random.Random(3).randrange(256) for _ in range(600)))
    tags = {1: 0x61, 2: 0x75, 11: 0x6B, 12: 0x6C, 14: 0x6E, 15: 0x6F}
    com = tlv(0x60, tlv(0x5F01, b"0107") + tlv(0x5F36, b"040000") + tlv(0x5C, bytes(tags[n] for n in sorted(dgs))))
    files = {0x011E: com, 0x011D: the_sod, **{0x0100 + n: v for n, v in dgs.items()}}
    if spec.pace:
        files[0x011C] = tlv(0x31, pace_info(spec.pace_cipher, spec.pace_param))
    for fid, data in files.items():
        (out / "files" / f"{fid:04X}.bin").write_bytes(data)
    (out / "config.json").write_text(json.dumps(config))
    return out


def write_pem(cert: x509.Certificate, path: Path) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path
