"""JSON Schema for every message kind, generated from the pydantic models (the files in `schemas/`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge.events.model import KINDS, event_type

ENVELOPE_ATTRS = {
    "specversion": {"const": "1.0"},
    "id": {"type": "string", "description": "UUIDv7"},
    "source": {"type": "string", "description": "/borderpost/<post>/<device>"},
    "type": {"type": "string"},
    "time": {"type": "string", "format": "date-time"},
    "datacontenttype": {"const": "application/json"},
    "dataschema": {"type": "string"},
    "sequence": {"type": "string", "pattern": "^[0-9]{20}$",
                 "description": "per-device monotonic sequence, zero-padded (CloudEvents Sequence extension)"},
    "clocksynced": {"type": "boolean", "description": "whether NTP had synchronised the clock at `time`"},
    "keyid": {"type": "string", "description": "first 16 hex of SHA-256 of the device's raw Ed25519 public key"},
    "signature": {"type": "string",
                  "description": "base64url Ed25519 signature over RFC 8785 JSON of all other attributes"},
}


def schema_for(kind: str) -> dict[str, Any]:
    model = KINDS[kind]
    data = model.model_json_schema()
    defs = data.pop("$defs", {})
    name = getattr(model, "EVENT_NAME", kind)
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:borderpost:schema:{name}:{model.model_fields['schema_version'].default}",
        "title": f"borderpost {name} event",
        "type": "object",
        "required": [*ENVELOPE_ATTRS, "data"],
        "properties": {**ENVELOPE_ATTRS, "type": {"const": event_type(kind)}, "data": data},
        "additionalProperties": False,
    }
    if defs:
        schema["$defs"] = defs
    return schema


def schema_text(kind: str) -> str:
    return json.dumps(schema_for(kind), indent=2, ensure_ascii=False) + "\n"


def write_all(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for kind in KINDS:
        p = directory / f"{kind}.schema.json"
        p.write_text(schema_text(kind), encoding="utf-8")
        out.append(p)
    return out
