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
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from edge.provision.bundle import default_hostname
from tests.appliance.conftest import make_ca, pem_key, technician_keys
from tests.appliance.vm import (
    BROKER_GUEST_IP,
    SLOWDOWN,
    Vm,
    fsck_clean,
    image_arch,
    install_probe,
    kvm_usable,
    put_bundle,
)
from tests.support.broker import Collector, Mosquitto, free_port

BOOT_TIMEOUT = float(os.environ.get("BORDERPOST_BOOT_TIMEOUT", "1500"))
# The simulator's start and each traveller take minutes of emulated CPU under TCG.
CROSSINGS_TIMEOUT = float(os.environ.get("BORDERPOST_CROSSINGS_TIMEOUT", "2400"))
# The station service's own crossing (models loaded, then 3 min without a new memory peak; the probe gives up at 25)
MODELS_TIMEOUT = float(os.environ.get("BORDERPOST_MODELS_TIMEOUT", "1800"))


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


# The bundle's post and device (make_bundle), and so the hostname first boot gives the device.
POST, DEVICE = "post-7", "kiosk-01"
HOSTNAME = default_hostname(POST, DEVICE)

# Test-only inputs written into the scratch copy beside the probe.
PORTRAIT_GUEST = "/usr/local/share/borderpost-probe/portrait.png"


def demo_portrait() -> Path | None:
    """The demo face (NASA's public-domain portrait) where this host has it: the simulated camera shows it to the
    guest's pipeline, so the face models load and run as on a post. The image itself ships no portrait."""
    from drivers.sim.camera_sim import named_portrait

    os.environ.setdefault("BORDERPOST_MODELS_DIR", str(Path(__file__).resolve().parents[2] / "models"))
    return named_portrait("astronaut")


def test_config(example: str, portrait: bool, emulated: bool = False, slowdown: float = 1.0) -> str:
    """The example config for the guest: the simulated camera shows the portrait put in the image (else no
    face); no fingerprints (the simulated sensor's synthetic prints cost minutes of emulated CPU per start).
    Emulated (TCG): a face attempt may take the longest the config allows (its first one loads the models,
    minutes of emulated CPU), else the simulator gives up on its first traveller. A slower machine (SLOWDOWN > 1)
    gets more tries instead, the attempt being at the config's limit: the simulator allows a traveller every
    try's time."""
    source = f'source = "{PORTRAIT_GUEST}"' if portrait else 'source = "synthetic"'
    out = example.replace('source = "astronaut"', source, 1)
    if emulated:
        assert "\nface_attempt_s = 8\n" in out, "examples/config.toml has no face_attempt_s = 8"
        out = out.replace("\nface_attempt_s = 8\n", "\nface_attempt_s = 120\n", 1)
    if emulated and slowdown > 1:
        retries = min(10, round(3 * slowdown) - 1)
        out, n = re.subn(r"(?m)^retries = 2\b", f"retries = {retries}", out, count=1)
        assert n == 1, "examples/config.toml has no retries = 2"
    out = out.replace('fingerprints = ["right_index", "left_index"]', "fingerprints = []", 1)
    head, sep, tail = out.partition("[devices.fingerprint]\n")
    assert sep, "examples/config.toml has no [devices.fingerprint]"
    return f"{head}{sep}enabled = false\n{tail}"


def make_bundle(directory: Path, portrait: bool = False, emulated: bool = False,
                slowdown: float = 1.0) -> tuple[Path, Path, Path, Path]:
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
    base = directory / "base.toml"
    example = (Path(__file__).resolve().parents[2] / "examples/config.toml").read_text()
    base.write_text(test_config(example, portrait, emulated, slowdown))
    subprocess.run([sys.executable, "-m", "edge", "provision", "new", "--post", POST, "--device", DEVICE,
                    "--broker", f"mqtts://{BROKER_GUEST_IP}:8883", "--agency-ca-cert", str(ca_cert),
                    "--agency-ca-key", str(ca_key), "--agency-encryption-key", str(enc),
                    "--agency-command-key", str(cmd), "--technician-keys",
                    str(technician_keys(directory / "technicians.keys")), "--allow-simulated",
                    "--base-config", str(base),
                    "--out", str(bundle)], check=True, capture_output=True)
    return ca_cert, ca_key, bundle, enc


def as_dict(rest: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in rest.split() if "=" in part)


def connect_collector(port: int, wait: float = 30.0) -> Collector:
    """The host's reader of what reached the broker, once the broker's second (plain) listener accepts: mosquitto
    opens its listeners one after the other and start() waited for the first only."""
    end = time.monotonic() + wait
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.2)
    return Collector(port, "borderpost/#")


def memory(figures: dict[str, float], lines: list[str], when: str) -> None:
    """Probe "mem" lines ("station rss=.. hwm=.. pss=.. pss_anon=.. cgroup=..", KiB) into figures
    mem_<when>_<process>_<measure>_kib."""
    for line in lines:
        name, rest = line.split(None, 1) if " " in line else (line, "")
        for key, value in as_dict(rest).items():
            if key in ("rss", "hwm", "pss", "pss_anon", "cgroup") and value.isdigit():
                figures[f"mem_{when}_{name}_{key}_kib"] = float(value)


def check_hostname(vm: Vm, expected: str, boot: str, unit: str | None = None) -> None:
    """The running hostname is the provisioned one (boot 1: set by first boot; later boots: by
    borderpost-hostname.service, whose state must then be UNIT)."""
    _, line = vm.wait_for("hostname", 120)
    running, rest = line.split(None, 1) if " " in line else (line, "")
    assert running == expected and as_dict(rest).get("stored") == expected, (boot, expected, line)
    assert unit is None or as_dict(rest).get("unit") == unit, (boot, line)


def totals(vm: Vm) -> list[int]:
    return [int(t) for t in vm.values("total") if t.lstrip("-").isdigit()]


def journal_clean(vm: Vm, figures: dict[str, float]) -> None:
    """The boot's journal holds no error. libkmod's module-loading race (systemd/systemd#20605) the probe counts
    apart; its lines are a figure, summed over the boots (each boot's probe lines start afresh)."""
    _, errors = vm.wait_for("journal_errors", 300)
    vm.wait_for("journal_end", 300)
    figures["journal_kmod_race_lines"] = figures.get("journal_kmod_race_lines", 0.0) + sum(
        float(v) for v in vm.values("journal_kmod_race"))
    assert errors == "0", vm.values("journal")


def run_scenario(image: Path, work: Path) -> dict[str, float]:
    """Both boots; asserts every check and returns the figures (seconds, KiB)."""
    figures: dict[str, float] = {}
    disk = work / "disk.img"
    subprocess.run(["cp", "--sparse=always", str(image), str(disk)], check=True)
    portrait = demo_portrait()
    arch = image_arch(image)
    kvm = arch == "amd64" and kvm_usable()
    ca_cert, ca_key, bundle, _ = make_bundle(work, portrait=portrait is not None, emulated=not kvm,
                                             slowdown=SLOWDOWN[arch])
    cert, key = broker_cert(work, ca_cert, ca_key)
    plain = free_port()
    broker = Mosquitto(work / "mosquitto", extra=[
        f"cafile {ca_cert}", f"certfile {cert}", f"keyfile {key}", "require_certificate true",
        f"listener {plain} 127.0.0.1"]).start()
    try:
        collector = connect_collector(plain)
    except BaseException:
        broker.stop()
        raise
    put_bundle(disk, bundle)
    install_probe(disk, {PORTRAIT_GUEST: portrait} if portrait else {}, emulated=not kvm, arch=arch)
    vm = Vm(disk, work, broker.port, arch_=arch)
    slow = vm.slowdown
    try:
        # boot 1: provisioning, readiness, the UI, delivery
        vm.start(kvm)
        t_ready, ready = vm.wait_for("ready", BOOT_TIMEOUT)
        figures["boot_to_ready_s"] = round(t_ready, 1)
        assert as_dict(ready)["station"] == "active" and as_dict(ready)["uplink"] == "active", vm.tail()
        check_hostname(vm, HOSTNAME, "first boot")
        _, provisioned = vm.wait_for("provisioned", 120)
        assert provisioned.split()[0] == "yes" and "bundle_left=no" in provisioned
        units = {v.split()[0]: v.split()[1:] for v in vm.values("unit")}
        assert units["borderpost-firstboot"][0] == "active" and units["persist.mount"][0] == "active", units
        assert as_dict(vm.values("restarts")[0]) == {"station": "0", "uplink": "0"}, vm.values("restarts")
        _, rootfs = vm.wait_for("rootfs", 120)
        assert "ro" in rootfs.split(","), rootfs
        _, kiosk = vm.wait_for("kiosk", 300)
        assert kiosk.split()[0] == "200" and int(kiosk.split()[1]) > 0, kiosk
        vm.wait_for("rss", 900)
        vm.wait_for("recording", 300)
        for line in vm.values("rss"):
            figures[f"rss_{line.split()[0]}_kib"] = float(line.split()[1])
        memory(figures, vm.values("mem"), "ready")
        security = {v.split()[0]: v.split(None, 1)[1] for v in vm.values("security")}
        for svc in ("station", "uplink"):
            assert security[svc].split()[-1] in ("OK", "SAFE", "MEDIUM") or "OK" in security[svc], security
        figures.update({f"exposure_{k}": float(v.split()[0]) for k, v in security.items()
                        if v.split() and v.split()[0].replace(".", "").isdigit()})

        # simulated travellers: recorded, delivered to the host's broker, no errors in the journal
        t_first, stats = vm.wait_for("stats", CROSSINGS_TIMEOUT)
        first = as_dict(stats)
        assert int(first["total"]) >= 2 and first["pending"] == "0", stats
        figures["ready_to_two_crossings_delivered_s"] = round(t_first - t_ready, 1)
        end = time.monotonic() + 120 * slow
        while time.monotonic() < end and len(events(collector)) < int(first["total"]):
            time.sleep(0.5)
        assert len(events(collector)) >= int(first["total"]), "crossings did not reach the host's broker"
        # every timer's job, run once at once in the guest, succeeded (no daily job fails on the read-only root)
        _, count = vm.wait_for("timer_jobs_end", 1200)
        jobs = {v.split()[0]: v.split()[1:] for v in vm.values("timer_job")}
        assert len(jobs) == int(count) and "borderpost-purge.service" in jobs, jobs
        assert all(r[-1:] == ["success"] for r in jobs.values()), jobs
        assert not {"apt-daily.service", "apt-daily-upgrade.service", "dpkg-db-backup.service"} & set(jobs), jobs
        figures["timer_jobs"] = float(len(jobs))
        journal_clean(vm, figures)
        for line in vm.values("rss_after"):
            figures[f"rss_{line.split()[0]}_after_kib"] = float(line.split()[1])
        memory(figures, vm.values("mem_after"), "after")
        # the station service with the face models loaded (a document on its own simulated reader), uplink beside it
        vm.wait_for("mem_models_end", MODELS_TIMEOUT, fail_on="mem_models_error")
        memory(figures, vm.values("mem_models"), "models")
        memory(figures, vm.values("mem_models_peak"), "models_peak")
        station = as_dict(next(v for v in vm.values("mem_models") if v.startswith("station")))
        figures["mem_models_station_loaded"] = float(station.get("loaded") == "yes")
        # the station process gone before it settled (restarted, e.g. by its watchdog): reported as figures
        figures["mem_models_station_gone"] = float(station.get("gone") == "yes")
        figures["mem_models_station_restarts"] = float(station.get("restarts", "0") or 0)

        # the power cut, in the middle of recording: two more crossings committed, then the plug is pulled
        end = time.monotonic() + CROSSINGS_TIMEOUT * slow
        while time.monotonic() < end and not (totals(vm) and totals(vm)[-1] >= int(first["total"]) + 2):
            time.sleep(0.5)
        vm.power_cut()
        if vm.values("simrss"):
            figures["rss_pipeline_with_face_models_peak_kib"] = float(max(int(v) for v in vm.values("simrss")))
        if vm.values("simpss"):
            figures["pss_pipeline_with_face_models_peak_kib"] = float(max(int(v) for v in vm.values("simpss")))
        committed = max(totals(vm))
        assert committed >= int(first["total"]) + 2, ("no recording under way when the power was cut",
                                                      vm.values("simexit"))
        figures["simulator_restarts"] = float(len(vm.values("simexit")))

        # boot 2: nothing committed is lost, the store and filesystems are sound, and delivery resumes
        vm.start(kvm)
        t_again, ready = vm.wait_for("ready", BOOT_TIMEOUT)
        figures["power_cut_to_ready_s"] = round(t_again, 1)
        assert as_dict(ready)["station"] == "active" and as_dict(ready)["uplink"] == "active", vm.tail()
        _, restarts = vm.wait_for("restarts", 120)
        assert as_dict(restarts) == {"station": "0", "uplink": "0"}, restarts
        check_hostname(vm, HOSTNAME, "after the power cut", unit="active")
        _, fs = vm.wait_for("fs", 300)
        assert fs == "0", vm.tail()
        _, integrity = vm.wait_for("integrity", 300)
        assert integrity == "ok", integrity
        _, stats = vm.wait_for("stats", 1200)
        after = as_dict(stats)
        assert int(after["total"]) >= committed and after["pending"] == "0", (committed, stats)
        journal_clean(vm, figures)
        vm.wait_for("done", 120)
        end = time.monotonic() + 300 * slow
        while time.monotonic() < end and len(events(collector)) < int(after["total"]):
            time.sleep(0.5)
        assert len(events(collector)) >= committed, "crossings committed before the power cut were not delivered"
        deadline = time.monotonic() + 300 * slow
        while vm.proc is not None and vm.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)  # the probe powers the guest off
    finally:
        vm.power_cut()
        collector.client.loop_stop()
        broker.stop()
    figures["kvm"] = float(kvm)
    figures["arm64"] = float(arch == "arm64")
    report = fsck_clean(disk)
    assert len(report) == 2 and all(v == "" for v in report.values()), report   # root and data partitions

    return figures


def events(collector: Collector) -> list[str]:
    with collector.lock:
        return [t for t, _, _ in collector.messages if not t.endswith(("/status", "/telemetry"))]
