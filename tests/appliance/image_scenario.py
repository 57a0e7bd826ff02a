"""The boot scenario of the built appliance image in QEMU, shared by tests/appliance/test_image_boot.py and
bench/image.py (which prints the figures it returns).

One scenario, two boots of one scratch copy of the image: first boot provisions from the bundle on the boot
partition; station and uplink reach ready; the kiosk page is served; simulated crossings reach a mosquitto on
the host over mutual TLS; then QEMU is killed in the middle of recording and the second boot must keep every
crossing that was committed, deliver them, and leave the filesystems clean.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import subprocess
import sys
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.appliance.conftest import make_ca, pem_key, technician_keys
from tests.appliance.vm import BROKER_GUEST_IP, Vm, fsck_clean, install_probe, kvm_usable, put_bundle
from tests.support.broker import Collector, Mosquitto, free_port

BOOT_TIMEOUT = float(os.environ.get("BORDERPOST_BOOT_TIMEOUT", "1500"))


def broker_cert(directory: Path, ca_cert: Path, ca_key: Path) -> tuple[Path, Path]:
    """The host broker's certificate, for the address the guest dials."""
    ca = x509.load_pem_x509_certificate(ca_cert.read_bytes())
    ca_private = serialization.load_pem_private_key(ca_key.read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "broker")]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(BROKER_GUEST_IP))]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_private, hashes.SHA256()))
    cert_path, key_path = directory / "broker.pem", directory / "broker.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(pem_key(key))
    return cert_path, key_path


def make_bundle(directory: Path) -> tuple[Path, Path, Path, Path]:
    """An agency CA and a provisioning bundle made by the technician's command (`borderpost provision new`)."""
    now = dt.datetime.now(dt.UTC)
    ca_cert, ca_key = make_ca(directory / "agency", not_before=now - dt.timedelta(days=1),
                              not_after=now + dt.timedelta(days=3650))
    enc = directory / "agency_x25519.pem"
    enc.write_bytes(x25519.X25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    cmd = directory / "agency_cmd.pem"
    cmd.write_bytes(ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    bundle = directory / "bundle"
    # the example config with a camera that shows no face: the demo portrait is not shipped in the image
    base = directory / "base.toml"
    example = (Path(__file__).resolve().parents[2] / "examples/config.toml").read_text()
    base.write_text(example.replace('source = "astronaut"', 'source = "synthetic"', 1))
    subprocess.run([sys.executable, "-m", "edge", "provision", "new", "--post", "post-7", "--device", "kiosk-01",
                    "--broker", f"mqtts://{BROKER_GUEST_IP}:8883", "--agency-ca-cert", str(ca_cert),
                    "--agency-ca-key", str(ca_key), "--agency-encryption-key", str(enc),
                    "--agency-command-key", str(cmd), "--technician-keys",
                    str(technician_keys(directory / "technicians.keys")), "--allow-simulated",
                    "--base-config", str(base),
                    "--out", str(bundle)], check=True, capture_output=True)
    return ca_cert, ca_key, bundle, enc


def as_dict(rest: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in rest.split() if "=" in part)


def run_scenario(image: Path, work: Path) -> dict[str, float]:
    """Both boots; asserts every check and returns the figures (seconds, KiB)."""
    figures: dict[str, float] = {}
    disk = work / "disk.img"
    subprocess.run(["cp", "--sparse=always", str(image), str(disk)], check=True)
    ca_cert, ca_key, bundle, _ = make_bundle(work)
    cert, key = broker_cert(work, ca_cert, ca_key)
    plain = free_port()
    broker = Mosquitto(work / "mosquitto", extra=[
        f"cafile {ca_cert}", f"certfile {cert}", f"keyfile {key}", "require_certificate true",
        f"listener {plain} 127.0.0.1"]).start()
    collector = Collector(plain, "borderpost/#")
    put_bundle(disk, bundle)
    install_probe(disk)
    kvm = kvm_usable()
    vm = Vm(disk, work, broker.port)
    try:
        # boot 1: provisioning, readiness, the UI, delivery
        vm.start(kvm)
        t_ready, ready = vm.wait_for("ready", BOOT_TIMEOUT)
        figures["boot_to_ready_s"] = round(t_ready, 1)
        assert as_dict(ready)["station"] == "active" and as_dict(ready)["uplink"] == "active", vm.tail()
        _, provisioned = vm.wait_for("provisioned", 30)
        assert provisioned.split()[0] == "yes" and "bundle_left=no" in provisioned
        units = {v.split()[0]: v.split()[1:] for v in vm.values("unit")}
        assert units["borderpost-firstboot"][0] == "active" and units["persist.mount"][0] == "active", units
        _, rootfs = vm.wait_for("rootfs", 30)
        assert "ro" in rootfs.split(","), rootfs
        _, kiosk = vm.wait_for("kiosk", 60)
        assert kiosk.split()[0] == "200" and int(kiosk.split()[1]) > 0, kiosk
        vm.wait_for("rss", 120)
        for line in vm.values("rss"):
            figures[f"rss_{line.split()[0]}_kib"] = float(line.split()[1])
        security = {v.split()[0]: v.split(None, 1)[1] for v in vm.values("security")}
        for svc in ("station", "uplink"):
            assert security[svc].split()[-1] in ("OK", "SAFE", "MEDIUM") or "OK" in security[svc], security
        _, sim = vm.wait_for("simulate", 600)
        assert sim == "ok", sim
        _, stats = vm.wait_for("stats", 180)
        first = as_dict(stats)
        assert int(first["total"]) >= 2 and first["pending"] == "0", stats
        end = time.monotonic() + 30
        while time.monotonic() < end and len(events(collector)) < int(first["total"]):
            time.sleep(0.5)
        assert len(events(collector)) >= int(first["total"]), "crossings did not reach the host's broker"
        _, errors = vm.wait_for("journal_errors", 60)
        journal = vm.values("journal")
        assert errors == "0", journal

        # the power cut, in the middle of recording
        vm.wait_for("recording", 60)
        end = time.monotonic() + 300
        while time.monotonic() < end:
            totals = [int(t) for t in vm.values("total") if t.lstrip("-").isdigit()]
            if totals and totals[-1] >= int(first["total"]) + 2:
                break
            time.sleep(0.2)
        vm.power_cut()
        committed = max(int(t) for t in vm.values("total") if t.lstrip("-").isdigit())
        assert committed > int(first["total"]), "no recording under way when the power was cut"

        # boot 2: nothing committed is lost, the store and filesystems are sound, and delivery resumes
        vm.start(kvm)
        t_again, _ = vm.wait_for("ready", BOOT_TIMEOUT)
        figures["power_cut_to_ready_s"] = round(t_again, 1)
        _, fs = vm.wait_for("fs", 60)
        assert fs == "0", vm.tail()
        _, integrity = vm.wait_for("integrity", 60)
        assert integrity == "ok", integrity
        _, stats = vm.wait_for("stats", 300)
        after = as_dict(stats)
        assert int(after["total"]) >= committed and after["pending"] == "0", (committed, stats)
        vm.wait_for("done", 30)
        deadline = time.monotonic() + 120
        while vm.proc is not None and vm.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)  # the probe powers the guest off
    finally:
        vm.power_cut()
        collector.client.loop_stop()
        broker.stop()
    figures["kvm"] = float(kvm)
    report = fsck_clean(disk)
    assert len(report) == 2 and all(v == "" for v in report.values()), report   # root and data partitions

    return figures


def events(collector: Collector) -> list[str]:
    with collector.lock:
        return [t for t, _, _ in collector.messages if not t.endswith(("/status", "/telemetry"))]
