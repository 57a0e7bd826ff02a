"""Technicians' SSH keys: every line sshd could not use is refused with its line number, at `provision new`,
`provision check` and first boot; fingerprints are the ones `ssh-keygen -l` prints."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.provision.sshkeys import KEY_TYPES, parse_authorized_keys, parse_line
from tests.appliance.conftest import ssh_public_line


def test_a_technicians_file_parses_with_options_comments_and_blank_lines(agency) -> None:
    keys = parse_authorized_keys(agency.technician_keys.read_bytes())
    assert [k.type for k in keys] == ["ssh-ed25519", "ecdsa-sha2-nistp256"]
    assert keys[0].options == 'from="10.20.0.0/16",no-agent-forwarding' and keys[0].comment == "amina@agency"
    assert keys[1].options == "" and keys[1].comment == "tech-laptop-7"


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen (apt: openssh-client)")
@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_fingerprints_are_what_ssh_keygen_prints(kind: str, tmp_path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "tech@x", "-f", str(tmp_path / "k")], check=True)
    line = (tmp_path / "k.pub").read_text().strip()
    printed = subprocess.run(["ssh-keygen", "-l", "-f", str(tmp_path / "k.pub")], capture_output=True, text=True,
                             check=True).stdout.split()[1]
    assert parse_line(line).fingerprint == printed


@pytest.mark.parametrize("line, reason", [
    ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "key type 'ssh-dss' is not accepted"),
    ("ssh-ed25519 not*base64", "not valid base64"),
    ("ssh-ed25519 AAAAC3NzaC1lZDI1", "truncated"),
    ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", "does not parse"),
    ('frm="10.0.0.0/8" ssh-ed25519 AAAA', "unknown option 'frm'"),
    ('from="10.0.0.0/8 ssh-ed25519 AAAA', "options but no key"),
    ("just some text", "unknown option 'just'"),
])
def test_unusable_lines_are_refused_with_the_reason(line: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_line(line)


def test_a_key_of_another_type_than_its_line_says_and_weak_rsa_are_refused() -> None:
    ed = ssh_public_line(ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(ValueError, match="is a 'ssh-ed25519' key, the line says 'ecdsa-sha2-nistp256'"):
        parse_line("ecdsa-sha2-nistp256 " + ed.split()[1])
    weak = ssh_public_line(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(ValueError, match="RSA key of 1024 bits"):
        parse_line(weak)
    good = ssh_public_line(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(ValueError, match="line 3: "):
        parse_authorized_keys(f"{good}\n# ok\n{good[:-9]}\n".encode())
    with pytest.raises(ValueError, match="no key in the file"):
        parse_authorized_keys(b"# nobody\n\n")


@settings(max_examples=300)
@given(st.text(max_size=300))
def test_any_text_gives_keys_or_a_value_error(text: str) -> None:
    try:
        keys = parse_authorized_keys(text.encode("utf-8", "surrogatepass"))
    except ValueError as exc:
        assert str(exc)   # a reason a person can read, never a traceback
        return
    assert keys and all(k.type in KEY_TYPES and k.fingerprint.startswith("SHA256:") for k in keys)


@settings(max_examples=200)
@given(st.data())
def test_the_fingerprint_follows_the_key_data_only(data: st.DataObject) -> None:
    """Comments and options never change a fingerprint; any accepted change to the key data does."""
    line = ssh_public_line(ed25519.Ed25519PrivateKey.generate()) + " tech@x"
    key = parse_line(line)
    pos = data.draw(st.integers(0, len(line) - 1))
    changed = line[:pos] + data.draw(st.sampled_from("AB/+=x -")) + line[pos + 1:]
    try:
        got = parse_line(changed)
    except ValueError:
        return
    same_data = changed.split()[:2] == line.split()[:2]
    assert (got.fingerprint == key.fingerprint) == same_data
