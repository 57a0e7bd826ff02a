"""Provisioning bundles: made by `provision new`, refused whole when anything is wrong."""

from __future__ import annotations

import datetime as dt
import shutil
import stat
import tomllib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.provision import tomlout
from edge.provision.bundle import BundleError, load_bundle, sha256
from edge.provision.new import make_bundle
from tests.appliance.conftest import NOW, Agency, make_ca, pem_key


def _copy(bundle_dir: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "b"
    shutil.copytree(bundle_dir, dest)
    return dest


def _rewrite(path: Path, name: str, data: bytes) -> None:
    """Replace a member and fix the manifest digest, as a careless (or malicious) editor would."""
    (path / name).write_bytes(data)
    manifest = (path / "provision.toml").read_text()
    old = tomllib.loads(manifest)["files"][name]
    (path / "provision.toml").write_text(manifest.replace(old, sha256(data)))


def test_new_bundle_is_complete_and_private(bundle_dir: Path) -> None:
    b = load_bundle(bundle_dir, NOW)
    assert (b.manifest.post, b.manifest.device, b.manifest.hostname) == ("post-7", "kiosk-01", "bp-post-7-kiosk-01")
    assert set(b.files) == {"config.toml", "ca.pem", "client.pem", "client.key", "broker.credentials",
                            "agency_x25519.pem", "agency_commands_ed25519.pem", "technicians.keys"}
    assert sorted(b.secrets) == ["broker.credentials", "client.key"]
    for f in bundle_dir.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    cfg = b.config
    assert cfg.broker.url == "mqtts://broker.example:8883"
    assert str(cfg.broker.key_file) == "/etc/borderpost/secrets/client.key"
    assert str(cfg.broker.credentials_file) == "/etc/borderpost/secrets/broker.credentials"
    assert str(cfg.keys.agency_command_public_key) == "/etc/borderpost/certs/agency_commands_ed25519.pem"
    assert cfg.policy.fingerprints == ["right_index"]          # kept from the base config
    cert = x509.load_pem_x509_certificate(b.files["client.pem"])
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "post-7/kiosk-01"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "post-7"


def test_csr_is_signed_and_its_key_carried(agency: Agency, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ignored")]))
           .sign(key, hashes.SHA256()))
    (tmp_path / "d.csr").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "d.key").write_bytes(pem_key(key))
    b = make_bundle(agency.spec(csr=tmp_path / "d.csr", client_key=tmp_path / "d.key"), tmp_path / "out", NOW)
    assert b.files["client.key"] == pem_key(key)
    other = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "o.key").write_bytes(pem_key(other))
    with pytest.raises(BundleError, match="do not belong together"):
        make_bundle(agency.spec(csr=tmp_path / "d.csr", client_key=tmp_path / "o.key"), tmp_path / "out2", NOW)


def test_expired_agency_ca_refused(tmp_path: Path, agency: Agency) -> None:
    cert, key = make_ca(tmp_path, not_before=NOW - dt.timedelta(days=400), not_after=NOW - dt.timedelta(days=1))
    with pytest.raises(BundleError, match="agency CA: the certificate expired on"):
        make_bundle(agency.spec(agency_ca_cert=cert, agency_ca_key=key), tmp_path / "out", NOW)


def test_simulated_base_config_needs_consent(agency: Agency, tmp_path: Path) -> None:
    base = tmp_path / "sim.toml"
    base.write_text('[identity]\npost = "p"\ndevice = "d"\n\n[devices.cam]\nbackend = "camera_sim"\nsimulated = true\n')
    with pytest.raises(BundleError, match="simulated devices"):
        make_bundle(agency.spec(base_config=base), tmp_path / "o1", NOW)
    b = make_bundle(agency.spec(base_config=base, allow_simulated=True), tmp_path / "o2", NOW)
    assert b.config.devices["cam"].simulated


def test_existing_output_refused(agency: Agency, tmp_path: Path) -> None:
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "x").write_text("x")
    with pytest.raises(BundleError, match="not empty"):
        make_bundle(agency.spec(), tmp_path / "o", NOW)


def test_tampered_file_refused(bundle_dir: Path, tmp_path: Path) -> None:
    b = _copy(bundle_dir, tmp_path)
    (b / "config.toml").write_text((b / "config.toml").read_text().replace("post-7", "post-8"))
    with pytest.raises(BundleError, match=r"config\.toml: checksum mismatch"):
        load_bundle(b, NOW)


def test_key_not_matching_certificate_refused(bundle_dir: Path, tmp_path: Path) -> None:
    b = _copy(bundle_dir, tmp_path)
    _rewrite(b, "client.key", pem_key(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(BundleError, match="does not match its private key"):
        load_bundle(b, NOW)


def test_expired_client_certificate_refused(bundle_dir: Path) -> None:
    with pytest.raises(BundleError, match=r"client\.pem: the certificate expired on"):
        load_bundle(bundle_dir, NOW + dt.timedelta(days=900))


def test_certificate_from_another_ca_refused(bundle_dir: Path, tmp_path: Path) -> None:
    b = _copy(bundle_dir, tmp_path)
    # same subject name as the real CA, different key: the signature check must catch it
    forged_cert, _ = make_ca(tmp_path / "forged", not_before=NOW - dt.timedelta(days=1),
                             not_after=NOW + dt.timedelta(days=10))
    _rewrite(b, "ca.pem", forged_cert.read_bytes())
    with pytest.raises(BundleError, match="not issued by the given CA"):
        load_bundle(b, NOW)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("format = 1", "format = 2"), "format 2 is not 1"),
        (lambda t: t.replace('role = "kiosk"', 'role = "tower"'), "role"),
        (lambda t: t + '\n[extra]\nx = 1\n', "extra"),
        (lambda t: t.replace("[files]", '[files]\n"evil.sh" = "00"'), "unknown file"),
        (lambda t: t.replace('"client.key"', '"client-key"'), "unknown file"),
        (lambda t: t.replace('device = "kiosk-01"', 'device = "kiosk-02"'), "config.toml is for post-7/kiosk-01"),
        (lambda t: "not = [toml", "not valid TOML"),
    ],
)
def test_bad_manifest_refused(bundle_dir: Path, tmp_path: Path, edit, message: str) -> None:
    b = _copy(bundle_dir, tmp_path)
    (b / "provision.toml").write_text(edit((b / "provision.toml").read_text()))
    with pytest.raises(BundleError, match=message):
        load_bundle(b, NOW)


def test_missing_member_refused(bundle_dir: Path, tmp_path: Path) -> None:
    b = _copy(bundle_dir, tmp_path)
    (b / "client.key").unlink()
    with pytest.raises(BundleError, match=r"client\.key is missing"):
        load_bundle(b, NOW)
    with pytest.raises(BundleError, match="not a provisioning bundle"):
        load_bundle(tmp_path, NOW)


_keys = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
_scalars = (st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False)
            | st.text(st.characters(blacklist_categories=("Cs",)), max_size=20))
_values = _scalars | st.lists(st.integers(-100, 100), max_size=4) | st.lists(st.text(max_size=5), max_size=3)
_tables = st.recursive(st.dictionaries(_keys, _values, max_size=5),
                       lambda inner: st.dictionaries(_keys, _values | inner, max_size=4), max_leaves=20)


# Recursive tables of any Unicode can be slow to draw on a loaded 2-core machine: a health check, not a defect.
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_tables)
def test_toml_writer_round_trips(data: dict) -> None:
    assert tomllib.loads(tomlout.dumps(data)) == data


@given(st.binary(max_size=300))
def test_any_manifest_bytes_give_bundle_error_only(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    d = tmp_path_factory.mktemp("fuzz")
    (d / "provision.toml").write_bytes(data)
    with pytest.raises(BundleError):
        load_bundle(d, NOW)


def test_a_bad_technician_key_refuses_the_bundle_before_first_boot(bundle_dir: Path, tmp_path: Path) -> None:
    """An editor appends a key by hand and fixes the digest: a line sshd would ignore must not lock technicians out."""
    b = _copy(bundle_dir, tmp_path)
    keys = (b / "technicians.keys").read_bytes() + b'from=10.0.0.0/8 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI x\n'
    _rewrite(b, "technicians.keys", keys)
    with pytest.raises(BundleError, match=r"technicians\.keys: line 5: cannot read the options"):
        load_bundle(b, NOW)
