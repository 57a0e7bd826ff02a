from pathlib import Path

import pytest

from edge.events.model import KINDS
from edge.events.schema import schema_text

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_committed_schema_files_match_the_models(kind):
    """The JSON Schema files are the agency's contract: regenerate with `python -m edge events schema`."""
    assert (SCHEMAS / f"{kind}.schema.json").read_text() == schema_text(kind)


def test_signed_event_validates_against_its_schema():
    jsonschema = pytest.importorskip("jsonschema")
    import json

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from edge.clock import utc_now
    from edge.events import envelope
    from edge.events.model import Crossing, Decision

    ev = envelope.build("crossing", Crossing(post="p", device="d", role="booth", transaction="T",
                                             decision=Decision(outcome="admit", by="o")),
                        key=Ed25519PrivateKey.generate(), post="p", device="d", sequence=3, time=utc_now(),
                        clock_synced=True)
    jsonschema.validate(ev, json.loads(schema_text("crossing")))
    ev["extra"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(ev, json.loads(schema_text("crossing")))
