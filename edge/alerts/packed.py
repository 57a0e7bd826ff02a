"""A person entry in the packed form the matcher keeps in memory and the list database stores sealed beside the
entry. Apart from the matcher (numpy, rapidfuzz) so that applying a list, which the uplink does, does not load it."""

from __future__ import annotations

from edge.alerts.entries import Entry
from edge.alerts.normalise import issuing_state, skeleton, tokens, without_particle

SEP = "\x1f"


def name_keys(toks: list[str]) -> set[str]:
    """The blocking keys of a name's tokens: each token's skeleton (two letters or more) and that of the token
    without its particle."""
    keys = set()
    for t in toks:
        sk = skeleton(t)
        if len(sk) >= 2:
            keys.add(sk)
        p = without_particle(t)
        if p:
            keys.add(skeleton(p))
    return keys


def pack_person(e: Entry) -> str:
    """A person entry as the matcher keeps it: id, tokens, their skeletons, birth date, nationality, sex, action,
    and the skeletons of tokens without their particle (for blocking). Made once, when the list is applied."""
    toks = tokens(e.surname, e.given_names)
    skels = [skeleton(x) for x in toks]
    extra = sorted(name_keys(toks) - set(skels))
    return SEP.join((e.id, " ".join(toks), " ".join(skels), e.birth_date or "", issuing_state(e.nationality),
                     e.sex or "", e.action, " ".join(extra)))
