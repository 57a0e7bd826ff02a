"""Fetching a bundle over the device's mutual-TLS identity: the hash is checked before anything may install it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.update.fetch import FetchError, fetch
from edge.update.job import parse_args
from tests.support.pki import CA
from tests.update.conftest import device_identity


def test_fetches_over_mutual_tls_and_checks_the_hash(site, tmp_path: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    got = fetch(site.server.url("bundle.raucb"), site.digest, tmp_path / "dl" / "b.raucb", site.device,
                on_progress=lambda n, total: seen.append((n, total)))
    assert got.path.read_bytes() == site.payload and got.sha256 == site.digest and got.size == len(site.payload)
    assert seen[-1] == (len(site.payload), len(site.payload)) and len(seen) >= 3
    # the server saw the device's certificate: CN post/device from provisioning
    assert any(("commonName", "post-t/dev-t") in rdn for rdn in site.server.client_names[-1])


def test_a_hash_mismatch_is_refused_and_nothing_is_left(site, tmp_path: Path) -> None:
    dest = tmp_path / "b.raucb"
    with pytest.raises(FetchError, match="sha256 mismatch"):
        fetch(site.server.url("bundle.raucb"), "0" * 64, dest, site.device)
    assert list(tmp_path.glob("b.raucb*")) == []


def test_a_device_without_the_agency_certificate_is_refused(site, tmp_path: Path) -> None:
    stranger = device_identity(CA(tmp_path / "other"), tmp_path / "other")
    with pytest.raises(FetchError, match="cannot fetch"):
        fetch(site.server.url("bundle.raucb"), site.digest, tmp_path / "b", dataclasses.replace(
            stranger, ca_file=site.ca.cert_path))


def test_a_server_the_agency_did_not_certify_is_refused(site, tmp_path: Path) -> None:
    other = CA(tmp_path / "other")
    with pytest.raises(FetchError, match="cannot fetch"):
        fetch(site.server.url("bundle.raucb"), site.digest, tmp_path / "b",
              dataclasses.replace(site.device, ca_file=other.cert_path))


@pytest.mark.parametrize(("url", "reason"), [
    ("http://127.0.0.1/bundle.raucb", "must be https"),
    ("https://user:pw@127.0.0.1/b", "credentials"),
    ("https:///b", "no host"),
])
def test_urls_other_than_plain_https_are_refused(site, tmp_path: Path, url: str, reason: str) -> None:
    with pytest.raises(FetchError, match=reason):
        fetch(url, site.digest, tmp_path / "b", site.device)


def test_redirects_missing_files_and_oversize_bundles_are_refused(site, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="HTTP 302"):
        fetch(site.server.url("moved"), site.digest, tmp_path / "b", site.device)
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(site.server.url("nothing.raucb"), site.digest, tmp_path / "b", site.device)
    with pytest.raises(FetchError, match="over the limit"):
        fetch(site.server.url("bundle.raucb"), site.digest, tmp_path / "b", site.device, max_bytes=1024)
    assert list(tmp_path.glob("b*")) == []


def test_update_arguments_are_checked() -> None:
    ok = parse_args({"url": "https://updates.example/b.raucb", "sha256": "AB" * 32, "size": 10})
    assert ok.sha256 == "ab" * 32 and ok.size == 10
    for bad, reason in [({"url": "https://x/b", "sha256": "ab" * 31}, "64 hexadecimal"),
                        ({"url": "ftp://x/b", "sha256": "ab" * 32}, "https"),
                        ({"url": "https://x/b", "sha256": "ab" * 32, "size": True}, "size"),
                        ({"url": "https://x/b", "sha256": "ab" * 32, "reboot": 1}, "unknown")]:
        with pytest.raises(ValueError, match=reason):
            parse_args(bad)


@given(st.dictionaries(st.sampled_from(["url", "sha256", "size", "x"]),
                       st.one_of(st.text(max_size=80), st.integers(), st.none(), st.booleans(), st.floats())))
def test_any_arguments_are_either_accepted_or_refused_with_a_reason(args: dict) -> None:
    try:
        req = parse_args(args)
    except ValueError as exc:
        assert str(exc)
    else:
        assert req.url.startswith("https://") and len(req.sha256) == 64
