"""CI-sized fuzzing: every decoder gets random bytes and mutations of valid input (a few seconds per target).

The long, time-boxed run is `make fuzz` (scripts/fuzz.py: atheris where it installs, hypothesis otherwise).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.targets import TARGETS, Target


def mutated(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    """A valid input with bytes flipped, cut, spliced or repeated: reaches past the first length check."""
    if not seeds:
        return st.binary(max_size=512)

    def mutate(seed: bytes, draw_ops: list[tuple[int, int, int]]) -> bytes:
        b = bytearray(seed)
        for op, pos, val in draw_ops:
            if not b:
                break
            i = pos % len(b)
            if op == 0:
                b[i] = val
            elif op == 1:
                del b[i:i + 1 + val % 16]
            elif op == 2:
                b[i:i] = bytes([val]) * (1 + val % 8)
            else:
                b[i:i] = b[: 1 + val % 64]
        return bytes(b)

    ops = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2**16), st.integers(0, 255)), max_size=8)
    return st.builds(mutate, st.sampled_from(seeds), ops)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_decoder_survives_fuzzing(name: str) -> None:
    target: Target = TARGETS[name]
    seeds = target.seeds()
    for seed in seeds:
        target.run(seed)            # valid input decodes (and the target's checks hold for it)

    @settings(max_examples=150, deadline=None, database=None, derandomize=False,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.one_of(st.binary(max_size=2048), mutated(seeds)))
    def fuzz(data: bytes) -> None:
        target.run(data)

    fuzz()
