"""`borderpost broker`: the agency's broker side (mosquitto configuration and ACL for mutual TLS)."""

from __future__ import annotations

from pathlib import Path

import click

from edge.broker import mosquitto
from edge.cli._common import fail


@click.group("broker")
def cli() -> None:
    """The agency's MQTT broker: configuration that holds each device to its own post and name."""


@cli.command("config")
@click.option("--ca", type=click.Path(path_type=Path), required=True, help="Agency CA certificate (PEM).")
@click.option("--cert", type=click.Path(path_type=Path), required=True, help="The broker's certificate (PEM).")
@click.option("--key", type=click.Path(path_type=Path), required=True, help="The broker's private key (PEM).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Directory for mosquitto.conf and acl.")
@click.option("--port", type=int, default=8883, show_default=True)
@click.option("--bind", default="0.0.0.0", show_default=True, help="Address the listener binds.")
@click.option("--prefix", default="borderpost/v1", show_default=True, help="Topic prefix (broker.topic_prefix).")
@click.option("--service", "services", multiple=True,
              help="CN of an agency service certificate allowed to read all events and send commands "
                   f"(repeatable; default {', '.join(mosquitto.DEFAULT_SERVICES)}).")
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path("/var/lib/mosquitto"), show_default=True,
              help="mosquitto's persistence directory.")
def config_cmd(ca: Path, cert: Path, key: Path, out: Path, port: int, bind: str, prefix: str,
               services: tuple[str, ...], data_dir: Path) -> None:
    """Write mosquitto.conf and its ACL: mutual TLS, device certificates (CN "<post>/<device>") as username and
    client id, each device held to borderpost/v1/<post>/<device>/."""
    setup = mosquitto.BrokerSetup(ca=ca, cert=cert, key=key, port=port, bind=bind, prefix=prefix.rstrip("/"),
                                  services=services or mosquitto.DEFAULT_SERVICES, data_dir=data_dir)
    try:
        written = mosquitto.write(setup, out)
    except mosquitto.BrokerConfigError as exc:
        fail(str(exc))
    for p in written:
        click.echo(str(p))
    click.echo("the broker's key must be readable by the user mosquitto runs as; start: mosquitto -c "
               f"{written[0]}", err=True)
