"""MQTT v5 delivery of stored events (at least once, in order), status, telemetry and signed commands."""

from edge.uplink.client import Uplink, UplinkState
from edge.uplink.topics import Topics

__all__ = ["Topics", "Uplink", "UplinkState"]
