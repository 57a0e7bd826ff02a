"""`borderpost provision`: make a bundle for one appliance, check one, and run first boot on the device."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from edge.cli._common import EXIT_FAIL, EXIT_USAGE, echo_json, fail
from edge.provision.bundle import TECH_USER, BundleError, load_bundle
from edge.provision.firstboot import FirstBootError, first_boot
from edge.provision.new import NewBundle, make_bundle

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_ID_HELP = "letters, digits, - and _"


@click.group("provision")
def cli() -> None:
    """Provisioning bundles: one appliance's identity, certificates and config."""


def _summary(bundle, as_json: bool) -> None:
    m = bundle.manifest
    info = {"post": m.post, "device": m.device, "role": m.role, "hostname": m.hostname,
            "broker": bundle.config.broker.url, "files": sorted(bundle.files), "bundle": bundle.digest,
            "client_cert_expires": bundle.cert_not_after.isoformat(), "technician_keys": [
                {"type": k.type, "fingerprint": k.fingerprint, "comment": k.comment}
                for k in bundle.technician_keys]}
    if as_json:
        echo_json(info)
        return
    click.echo(f"bundle for {m.post}/{m.device} ({m.role}), hostname {m.hostname}")
    click.echo(f"  broker {info['broker']}; client certificate valid until {bundle.cert_not_after:%Y-%m-%d}")
    click.echo(f"  files: {', '.join(info['files'])}")
    keys = bundle.technician_keys
    click.echo(f"  technicians' SSH keys (user {TECH_USER}): " + (
        "; ".join(f"{k.fingerprint} {k.comment}".strip() for k in keys) if keys else "none (no remote access)"))
    click.echo(f"  digest {bundle.digest[:16]}")


@cli.command("new")
@click.option("--post", required=True, help=f"Border post id ({_ID_HELP}).")
@click.option("--device", required=True, help=f"Appliance id, unique within the post ({_ID_HELP}).")
@click.option("--role", type=click.Choice(["kiosk", "booth"]), default="kiosk", show_default=True)
@click.option("--broker", "broker_url", required=True, help="mqtts://HOST[:PORT] of the agency's broker.")
@click.option("--agency-ca-cert", type=_FILE, required=True, help="The agency CA certificate (PEM).")
@click.option("--agency-ca-key", type=_FILE, required=True, help="The agency CA private key (PEM, unencrypted).")
@click.option("--broker-ca", type=_FILE, help="CA that signed the broker's certificate (default: the agency CA).")
@click.option("--csr", type=_FILE, help="Sign this request instead of generating a client key (needs --client-key).")
@click.option("--client-key", type=_FILE, help="The private key the --csr was made with.")
@click.option("--agency-encryption-key", type=_FILE, help="Agency X25519 public key (biometrics are sealed to it).")
@click.option("--agency-command-key", type=_FILE, help="Agency Ed25519 public key (commands are signed with it).")
@click.option("--credentials", type=_FILE, help="File with one line 'username:password' for the broker.")
@click.option("--base-config", type=_FILE, help="Config to start from (devices, UI, policy); default: the example.")
@click.option("--technician-keys", type=_FILE,
              help="Field technicians' SSH public keys (authorized_keys lines): SSH as borderpost-tech, key only.")
@click.option("--allow-simulated", is_flag=True, help="Allow simulated devices (demo appliances only).")
@click.option("--hostname", help="Hostname (default bp-POST-DEVICE).")
@click.option("--days", type=click.IntRange(1, 3650), default=825, show_default=True,
              help="Client certificate lifetime.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="New directory for the bundle.")
@click.option("--json", "as_json", is_flag=True)
def new(post: str, device: str, role: str, broker_url: str, agency_ca_cert: Path, agency_ca_key: Path,
        broker_ca: Path | None, csr: Path | None, client_key: Path | None, agency_encryption_key: Path | None,
        agency_command_key: Path | None, credentials: Path | None, base_config: Path | None,
        technician_keys: Path | None, allow_simulated: bool, hostname: str | None, days: int, out: Path,
        as_json: bool) -> None:
    """Create the provisioning bundle for one appliance (keep it secret: it holds the client key)."""
    if client_key is not None and csr is None:
        fail("--client-key is only used with --csr")
    spec = NewBundle(post=post, device=device, role=role, broker_url=broker_url, agency_ca_cert=agency_ca_cert,
                     agency_ca_key=agency_ca_key, broker_ca=broker_ca, csr=csr, client_key=client_key,
                     agency_encryption_key=agency_encryption_key, agency_command_key=agency_command_key,
                     credentials=credentials, base_config=base_config, hostname=hostname, days=days,
                     allow_simulated=allow_simulated, technician_keys=technician_keys)
    try:
        bundle = make_bundle(spec, out)
    except BundleError as exc:
        fail(f"provision new: {exc}", EXIT_USAGE)
    _summary(bundle, as_json)
    if not as_json:
        click.echo(f"written to {out} — copy it with `borderpost flash IMAGE --target DISK --provision {out}`")


@cli.command("check")
@click.argument("bundle_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def check(bundle_dir: Path, as_json: bool) -> None:
    """Validate a bundle as first boot will (checksums, config, certificate, key, expiry)."""
    try:
        bundle = load_bundle(bundle_dir)
    except BundleError as exc:
        fail(f"bundle refused: {exc}", EXIT_FAIL)
    _summary(bundle, as_json)


@cli.command("first-boot")
@click.option("--root", type=click.Path(exists=True, file_okay=False, path_type=Path), default=Path("/"),
              show_default=True, help="Root of the system to provision (an image mounted elsewhere, in tests).")
@click.option("--user", default="borderpost", show_default=True, help="Service user that owns the secrets.")
@click.option("--json", "as_json", is_flag=True)
def first_boot_cmd(root: Path, user: str, as_json: bool) -> None:
    """Install the bundle from the boot partition (run by borderpost-firstboot.service)."""
    try:
        result = first_boot(root, user=user, set_live_hostname=root.resolve() == Path("/"),
                            now=dt.datetime.now(dt.UTC))
    except FirstBootError as exc:
        fail(f"first boot: {exc}", EXIT_FAIL)
    except OSError as exc:
        fail(f"first boot: {exc.filename or ''}: {exc.strerror or exc} (safe to retry: every step is idempotent)",
             EXIT_FAIL)
    if as_json:
        echo_json(result.__dict__)
    elif result.action == "already-provisioned":
        click.echo(f"already provisioned (bundle {result.bundle_digest[:16]}); nothing to do")
    else:
        click.echo(f"provisioned {result.post}/{result.device} as {result.hostname}; "
                   f"device key {result.device_key_id}")
        for kind, fp in result.ssh_fingerprints.items():
            click.echo(f"  ssh host key {kind}: {fp}")
