"""`borderpost identity show`: the device's public key, for the agency to register."""

from __future__ import annotations

from pathlib import Path

import click

from edge.cli._common import EXIT_USAGE, config_option, echo_json, fail, load_config
from edge.identity import IdentityError, load_or_create_key


@click.group("identity")
def cli() -> None:
    """The device's signing identity (Ed25519)."""


@cli.command("show")
@config_option
@click.option("--json", "as_json", is_flag=True)
def show(config_path: Path | None, as_json: bool) -> None:
    """Print the public key (created on first use if absent, mode 0600)."""
    cfg = load_config(config_path)
    try:
        key = load_or_create_key(cfg.identity.signing_key)
    except (IdentityError, OSError) as exc:
        fail(str(exc), EXIT_USAGE)
    info = {"post": cfg.identity.post, "device": cfg.identity.device, "key_id": key.key_id,
            "public_key_b64": key.public_b64(), "public_key_pem": key.public_pem()}
    if as_json:
        echo_json(info)
    else:
        click.echo(f"post {info['post']}  device {info['device']}  key id {info['key_id']}")
        click.echo(info["public_key_pem"], nl=False)
