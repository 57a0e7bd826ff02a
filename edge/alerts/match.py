"""Matching a traveller against the alert list: documents by key, persons by names and birth date.

Documents: same issuing state and document number (filler removed, O/0 I/1 and other OCR look-alikes folded,
the MRZ's `D` is `DEU`); the entry's document code and holder name only inform the `why`.

Persons: name tokens (particles joined to the next name) are paired one to one, order free, each pair scored:
same 1.0, same spelling skeleton 0.95 (transliterations), cut at the MRZ field length 0.93, one typo 0.92
(a letter dropped, doubled, replaced or swapped: optimal string alignment distance 1), particle dropped 0.90,
skeleton one edit apart 0.85. A pair needs 0.80. The name score is the mean of the pairs, less 0.06 for each
token left unpaired (a dropped or added middle name) and 0.15 more per token replaced by another. The birth
date must agree (exact; day and month swapped -0.03; the entry's partial date -0.02 for YYYY-MM, -0.05 for
YYYY); nationality and sex add 0.02 each when equal and take 0.05 when they differ, never more. A hit is a
score of at least THRESHOLD (0.80). Without a birth date on either side only the full name can hit: every
token of the entry paired and a score of at least NAME_ONLY_THRESHOLD (0.92).

rapidfuzz computes the edit distances (C++, about 100x the pure-Python speed the 20 ms budget needs).
Candidates come from blocking on (birth date, name skeleton) pairs, skeletons within one edit, in numpy arrays
of hashes (`PersonIndex`): a traveller meets tens of candidates, not the thousands a date or a common name
alone would give, and no hit is lost (a pair needs skeletons within one edit, and a hit needs the date to agree).
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from rapidfuzz.distance import OSA

from edge.alerts.entries import Entry
from edge.alerts.normalise import (
    document_key,
    entry_date,
    fold,
    issuing_state,
    skeleton,
    tokens,
    traveller_date,
    without_particle,
)
from edge.alerts.packed import SEP, name_keys, pack_person

THRESHOLD = 0.80
NAME_ONLY_THRESHOLD = 0.92
PAIR_MIN = 0.80
UNPAIRED_COST = 0.06
REPLACED_COST = 0.15
MRZ_NAME_LENGTHS = (30, 31, 39)     # TD1, TD2, TD3 name fields
MAX_NAME = 200              # characters of a traveller's surname or given names looked at (an MRZ has 39)
MAX_TOKENS = 12
_U64 = (1 << 64) - 1
_MULT = 0x9E3779B97F4A7C15      # mixes a key's hash before the block's is XORed in
_N = np.uint64(hash("N") & _U64)


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    kind: str
    why: list[str]
    action: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "score": round(self.score, 3), "kind": self.kind, "why": self.why}


# ---------------------------------------------------------------- tokens
def token_similarity(a: str, b: str, sa: str, sb: str, cut: bool = False) -> tuple[float, str]:
    """How alike two folded name tokens (with their skeletons) are, and how (`cut`: `a` may be cut at the MRZ
    field length)."""
    if a == b:
        return 1.0, "same"
    if sa == sb and len(sa) >= 2:
        return 0.95, "spelling"
    if cut and len(a) >= 3 and b.startswith(a):
        return 0.93, "cut"
    if min(len(a), len(b)) >= 4 and OSA.distance(a, b, score_cutoff=1) <= 1:
        return 0.92, "typo"
    pa, pb = without_particle(a) or a, without_particle(b) or b
    if (pa, pb) != (a, b) and (pa == pb or (len(pa) >= 3 and skeleton(pa) == skeleton(pb))):
        return 0.90, "particle"
    if min(len(sa), len(sb)) >= 3 and OSA.distance(sa, sb, score_cutoff=1) <= 1 and \
            OSA.distance(a, b, score_cutoff=3) <= 2:
        return 0.85, "spelling+typo"
    return 0.0, ""


def mrz_cut(surname: str | None, given: str | None) -> bool:
    """Whether the name fills an MRZ name field exactly (so its last name may be cut)."""
    s = "<".join(fold(surname or "").split())
    g = "<".join(fold(given or "").split())
    length = len(s) + (2 + len(g) if g else 0)
    return length in MRZ_NAME_LENGTHS


@dataclass(frozen=True)
class NameResult:
    score: float
    pairs: list[str]           # how the tokens that are not the same were paired ("MOHAMED~MUHAMMAD spelling")
    unpaired_traveller: int
    unpaired_entry: int


def name_score(t: list[str], e: list[str], cut: bool = False, ts: list[str] | None = None,
               es: list[str] | None = None, memo: dict[tuple[int, str], tuple[float, str]] | None = None
               ) -> NameResult:
    """How alike two names are: traveller tokens `t` paired one to one with entry tokens `e`, order free
    (`ts`, `es`: their skeletons, when already known; `memo`: token pairs already scored for this traveller)."""
    if not t or not e:
        return NameResult(0.0, [], len(t), len(e))
    ts = ts or [skeleton(x) for x in t]
    es = es or [skeleton(x) for x in e]
    cells = []
    last = len(t) - 1
    for i, a in enumerate(t):
        for j, b in enumerate(e):
            if memo is None:
                s, how = token_similarity(a, b, ts[i], es[j], cut and i == last)
            elif (found := memo.get((i, b))) is not None:
                s, how = found
            else:
                s, how = memo[(i, b)] = token_similarity(a, b, ts[i], es[j], cut and i == last)
            if s >= PAIR_MIN:
                cells.append((s, i, j, how))
    cells.sort(key=lambda c: -c[0])
    used_t: set[int] = set()
    used_e: set[int] = set()
    pairs = []
    for s, i, j, how in cells:
        if i not in used_t and j not in used_e:
            used_t.add(i)
            used_e.add(j)
            pairs.append((s, how, t[i], e[j]))
    un_t, un_e = len(t) - len(pairs), len(e) - len(pairs)
    if len(pairs) < min(2, len(t), len(e)):
        return NameResult(0.0, [], un_t, un_e)
    charged_e = 0 if cut and un_t == 0 else un_e   # names past an MRZ cut are not missing, only not there
    base = sum(p[0] for p in pairs) / len(pairs)
    score = base - UNPAIRED_COST * (un_t + charged_e) - REPLACED_COST * min(un_t, charged_e)
    described = [f"{a}~{b} {how}" for _, how, a, b in pairs if how != "same"]
    return NameResult(score, described, un_t, un_e)


# ---------------------------------------------------------------- dates
def date_agreement(t: tuple[str, str, str], e: tuple[str, str, str]) -> tuple[float, str] | None:
    """The score adjustment and the how when a traveller's and an entry's birth dates agree; None when not."""
    ty, tm, td = t
    ey, em, ed = e
    if ty != ey:
        return None
    if em and ed and tm and td:
        if (tm, td) == (em, ed):
            return 0.0, "exact"
        if (tm, td) == (ed, em):
            return -0.03, "day and month swapped"
        return None
    if em and not ed:
        if tm == em:
            return -0.02, "year and month (the entry's partial date)"
        return None if tm else (-0.05, "year (month not read)")
    if not em:
        return -0.05, "year (the entry's partial date)" if tm else "year"
    if tm and tm != em:
        return None
    return -0.05, "partly read date consistent"


# ---------------------------------------------------------------- the index
@dataclass
class Traveller:
    tokens: list[str]
    skeletons: list[str]
    date: tuple[str, str, str] | None
    nationality: str
    sex: str
    cut: bool
    doc_key: str
    document_code: str
    raw_name: tuple[str, str]

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Traveller:
        """From a passport read's fields; odd values become unknown, never an error."""
        def s(key: str) -> str:
            v = obj.get(key)
            return v if isinstance(v, str) else ""
        sur, giv = s("surname")[:MAX_NAME], s("given_names")[:MAX_NAME]
        toks = tokens(sur, giv)[:MAX_TOKENS]
        return cls(tokens=toks, skeletons=[skeleton(x) for x in toks], date=traveller_date(obj.get("birth_date")),
                   nationality=issuing_state(s("nationality")), sex=s("sex").upper()[:1],
                   cut=mrz_cut(sur, giv), doc_key=document_key(s("issuing_state"), s("document_number")),
                   document_code=re.sub(r"[^A-Z]", "", s("document_code").upper()), raw_name=(sur, giv))


DocLookup = Callable[[str], Iterable[tuple[str, "Entry | None"]]]


@dataclass
class PersonIndex:
    """Persons in memory, one packed string each (`pack_person`), and the blocks that find their candidates.

    A block is a sorted array of 64-bit hashes of (block, name key) with the slot of each person under it; the
    name keys of a person are the skeleton of each name and of the name without its particle. They are posted
    - under "D" + the person's own birth date (YYYY-MM-DD, YYYY-MM or YYYY), "Y" + its year, and "A" when dated;
    - under "A" and, for the full-name rule, "N" when undated; in N each key of two letters or more is posted
      with each of its letters deleted when it has four or more (symmetric deletions: the traveller's side
      does the same, so skeletons one edit apart meet), and each key's every prefix is posted under "P" (a
      traveller's name cut at the MRZ length is the start of the entry's).
    A traveller with a full birth date looks in D (the date, day and month swapped, year-month, year) and N;
    with a year (and perhaps a month) in Y and N; without a date in A. In D, Y and A, names within one edit
    are found from the traveller's side only: every key one deletion, insertion, substitution or swap away
    from the traveller's, over the letters the list's keys use (D for every key; Y and A for keys of four
    letters or more, shorter ones exact), so the list's side there stays one posting per key.
    A candidate then needs enough of the traveller's names (those with the same keys counted once) to share a key
    with it: min(2, different names on either
    side; for an undated entry two of its names with a key in N, and all those with a skeleton of four letters or
    more: such a skeleton within one edit always shares a key), one fewer for a dated entry when the traveller's
    last name may be cut;
    under the full-name rule the entry has no more names than the traveller.
    """

    packed: list[str] = field(default_factory=list)
    _hashes: array = field(default_factory=lambda: array("Q"))
    _slots: array = field(default_factory=lambda: array("I"))
    # per person (at most 255 each): names, different skeletons, different skeletons with a key in N (two letters
    # or more, or without its particle), and different skeletons of four letters or more
    _names: array = field(default_factory=lambda: array("B"))
    _distinct: array = field(default_factory=lambda: array("B"))
    _keyed: array = field(default_factory=lambda: array("B"))
    _sure: array = field(default_factory=lambda: array("B"))
    _dated: array = field(default_factory=lambda: array("B"))
    _letters: set[str] = field(default_factory=set)
    _sorted: tuple[np.ndarray, ...] | None = None

    def add(self, e: Entry) -> None:
        self.add_packed(pack_person(e))

    def add_packed(self, packed: str) -> None:
        """Index one packed person (ids are unique: the list's parser and the database's key see to it)."""
        _id, toks, skels, birth, _nat, _sex, _action, _extra = packed.split(SEP)
        n = len(self.packed)
        self.packed.append(packed)
        names = skels.split(" ")
        keyed = set()
        for j, tok in enumerate(toks.split(" ")):
            keys = _block_keys(tok)          # one-letter skeletons too (NOWAAH is N): every name has a key
            if birth:
                posted = [_mix(b, k) for k in keys for b in ("A", "D" + birth, "Y" + birth[:4])]
            else:
                posted = [_mix("A", k) for k in keys] + \
                    [_mix("N", k) for k in _fuzzy(k for k in keys if len(k) >= 2)] + \
                    [_mix("P", p) for p in {k[:i] for k in keys for i in range(1, len(k) + 1)}]
            for k in keys:
                self._letters.update(k)
            if any(len(k) >= 2 for k in keys):
                keyed.add(skeleton(tok))
            self._hashes.extend(posted)
            self._slots.extend([n << 4 | min(j, 15)] * len(posted))     # the person, and which of its names
        self._names.append(min(len(names), 255))
        self._distinct.append(min(len(set(names)), 255))
        self._keyed.append(min(len(keyed), 255))
        self._sure.append(min(len({sk for sk in names if len(sk) >= 4}), 255))
        self._dated.append(bool(birth))

    def __len__(self) -> int:
        return len(self.packed)

    def prepare(self) -> None:
        """Sort the blocks now (when the list is loaded, in the background), not at the first traveller."""
        self._blocks()

    def _blocks(self) -> tuple[np.ndarray, ...]:
        """The postings sorted by hash, with a table of where each run of hashes sharing their top bits starts
        (a lookup reads two places, where a binary search over millions of postings reads twenty)."""
        if self._sorted is None or self._hashes:
            hashes = np.frombuffer(self._hashes, dtype=np.uint64) if self._hashes else np.zeros(0, np.uint64)
            slots = np.frombuffer(self._slots, dtype=np.uint32) if self._slots else np.zeros(0, np.uint32)
            if self._sorted is not None:                 # persons added since the last sort
                hashes = np.concatenate([self._sorted[0], hashes])
                slots = np.concatenate([self._sorted[1], slots])
            order = np.argsort(hashes)
            hashes, slots = hashes[order], slots[order]
            del order
            self._hashes, self._slots = array("Q"), array("I")      # the sorted copies replace them
            bits = int(min(24, max(8, np.ceil(np.log2(max(len(hashes), 1))) - 1)))
            table = np.zeros((1 << bits) + 1, dtype=np.uint32)
            np.cumsum(np.bincount((hashes >> np.uint64(64 - bits)).astype(np.int64), minlength=1 << bits),
                      out=table[1:])

            def per_slot(a: array) -> np.ndarray:
                return np.frombuffer(a, dtype=np.uint8).copy() if a else np.zeros(0, np.uint8)   # a keeps growing

            self._sorted = (hashes, slots, table, np.uint64(64 - bits), per_slot(self._names),
                            per_slot(self._distinct),
                            np.maximum(np.clip(per_slot(self._keyed), 1, 2), per_slot(self._sure)),
                            per_slot(self._dated).astype(bool))
        return self._sorted

    def candidates(self, t: Traveller) -> np.ndarray:
        """The slots of persons that may hit this traveller (see the class)."""
        hashes, slots, table, shift, names, distinct, keyed, dated = self._blocks()
        if not t.tokens or not len(hashes):
            return np.zeros(0, np.uint32)
        if t.date is None:
            blocks: tuple[str, ...] = ("A",)
        else:
            y, m, d = t.date
            blocks = (f"D{y}-{m}-{d}", f"D{y}-{d}-{m}", f"D{y}-{m}", f"D{y}") if m and d else (f"Y{y}",)
        letters = "".join(sorted(self._letters))
        wide = blocks[0][0] == "D"
        block_hashes = np.array([hash(b) & _U64 for b in blocks], dtype=np.uint64)[:, None]
        queries: list[np.ndarray] = []
        owners: list[np.ndarray] = []
        # names with the same keys count once (USMAN and YASMIN are both ASMN: one entry name shares with both)
        groups: dict[frozenset[str], int] = {}
        for i, tok in enumerate(t.tokens):
            keys = _block_keys(tok)
            if not keys:
                continue
            owner = groups.setdefault(frozenset(keys), len(groups))
            # a date's bucket holds a few persons: every key one edit away; a year's or the whole list's only
            # for keys of four letters or more (shorter ones would join too many names)
            near = np.concatenate([_variant_hashes(k, letters if wide or len(k) >= 4 else "") for k in keys])
            q = [(near[None, :] ^ block_hashes).ravel()]
            if t.date is not None:
                q.append(_variant_hashes(" ".join(sorted(k for k in keys if len(k) >= 2)), "N") ^ _N)
                if t.cut and i == len(t.tokens) - 1:     # a name cut at the MRZ length: the start of one
                    q.append(np.array([_mix("P", k) for k in keys], dtype=np.uint64))
            queries += q
            owners.append(np.full(sum(len(x) for x in q), owner, dtype=np.int64))
        if not queries:
            return np.zeros(0, np.uint32)
        qa = np.concatenate(queries)
        top = (qa >> shift).astype(np.int64)
        lo, hi = table[top].astype(np.int64), table[top + 1].astype(np.int64)
        at = _gather_positions(lo, hi)
        same = hashes[at] == np.repeat(qa, hi - lo)
        # person << 8 | which of its names << 4 | which of the traveller's, sorted by person
        v = np.sort(slots[at[same]].astype(np.int64) << 4 | np.repeat(np.concatenate(owners), hi - lo)[same])
        if not len(v):
            return np.zeros(0, np.uint32)
        person = v >> 8
        starts = np.flatnonzero(np.r_[True, person[1:] != person[:-1]])
        got = person[starts]
        # names paired one to one: a person counts the fewer of its names and of the traveller's that share a key
        counts = np.minimum(np.bitwise_count(np.bitwise_or.reduceat(np.left_shift(1, v & 15), starts)),
                            np.bitwise_count(np.bitwise_or.reduceat(np.left_shift(1, (v >> 4) & 15), starts)))
        nt = len(t.tokens)
        n = names[got]
        need = np.minimum(np.minimum(distinct[got], len(groups)), 2)
        full_name = ~dated[got] if t.date is not None else np.ones(len(got), bool)
        if t.date is not None:   # found in N: two of its keyed names (or its only one), and every name whose
            need = np.where(full_name, keyed[got], need)  # skeleton is long enough to always share a key
        if t.cut:                                        # the last name may be cut: a prefix shares no key
            need = np.where(full_name & (t.date is not None), need, np.maximum(need - 1, 1))
        return got[(counts >= need) & (~full_name | (n <= nt))]


def _mix(block: str, key: str) -> int:
    """The 64-bit posting of a name key in a block (the same as `_variant_hashes` gives, XORed with the block's)."""
    return ((hash(key) & _U64) * _MULT & _U64) ^ (hash(block) & _U64)


@lru_cache(maxsize=4096)
def _variant_hashes(key: str, letters: str) -> np.ndarray:
    """The postings' key halves of `key`'s variants: every string one edit away over `letters` (none: the key
    alone), or, with letters "N", the symmetric deletions of each space-separated key (`_fuzzy`)."""
    variants = _fuzzy(key.split()) if letters == "N" else _one_edit(key, letters) if letters else {key}
    return np.array([(hash(v) & _U64) * _MULT & _U64 for v in variants], dtype=np.uint64)


def _gather_positions(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """range(lo[i], hi[i]) for every i, concatenated."""
    lens = hi - lo
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    return np.arange(total) + np.repeat(lo - (np.cumsum(lens) - lens), lens)


@lru_cache(maxsize=32768)
def _one_edit(key: str, letters: str) -> frozenset[str]:
    """The key and every string one deletion, insertion, substitution or adjacent swap away, over `letters`."""
    out = {key}
    for i in range(len(key) + 1):
        head, tail = key[:i], key[i:]
        if tail:
            out.add(head + tail[1:])
            if len(tail) > 1:
                out.add(head + tail[1] + tail[0] + tail[2:])
        for c in letters:
            out.add(head + c + tail)
            if tail:
                out.add(head + c + tail[1:])
    return frozenset(out)


def _block_keys(tok: str) -> set[str]:
    """A traveller's name token's keys in the blocks: its skeleton (of any length) and without its particle."""
    keys = {skeleton(tok)} - {""}
    p = without_particle(tok)
    if p:
        keys.add(skeleton(p))
    return keys


def _fuzzy(keys: Iterable[str]) -> set[str]:
    """The keys and, for skeletons of four letters or more, each with one letter deleted (two skeletons one edit
    apart share one of these; shorter ones would join too many names)."""
    out = set()
    for k in keys:
        out.add(k)
        if len(k) >= 4:
            out.update(k[:i] + k[i + 1:] for i in range(len(k)))
    return out


def _near(sk: str, tsk: set[str], fuzzy: set[str]) -> bool:
    """Whether an entry's skeleton is one of the traveller's, within one edit of one (set lookups of symmetric
    deletions; an edit distance only for skeletons under four letters), or a cut one's continuation."""
    if sk in tsk or sk in fuzzy:
        return True
    if len(sk) >= 4:
        if any(sk[:i] + sk[i + 1:] in fuzzy for i in range(len(sk))):
            return True
    elif any(OSA.distance(sk, x, score_cutoff=1) <= 1 for x in tsk):
        return True
    return any(sk.startswith(x) for x in tsk)


def could_hit(t: Traveller, tsk: set[str], packed: str, fuzzy: set[str] | None = None,
              memo: dict[str, bool] | None = None) -> bool:
    """A cheap necessary condition before scoring: enough of the entry's names could pair with the traveller's
    (same skeleton, skeletons one edit apart, or a traveller's skeleton that is a prefix: a cut name). Every entry
    name must when the entry has no birth date (the full-name rule), else min(2, names on either side).
    `memo`: the entry skeletons already judged for this traveller."""
    _id, _toks, skels, birth, _nat, _sex, _action, extra = packed.split(SEP)
    entry = skels.split(" ")
    excused = bool(extra) and any(x in tsk for x in extra.split(" "))   # a name with its particle dropped
    near = 0
    fuzzy = _fuzzy(tsk) if fuzzy is None else fuzzy
    for sk in entry:
        if memo is None:
            close = _near(sk, tsk, fuzzy)
        elif (close := memo.get(sk)) is None:      # type: ignore[assignment]
            close = memo[sk] = _near(sk, tsk, fuzzy)
        if close:
            near += 1
        elif excused:
            near, excused = near + 1, False
        elif not birth:
            return False
    return near >= (len(entry) if not birth else min(2, len(entry), len(t.skeletons)))


def score_person(t: Traveller, packed: str, memo: dict[tuple[int, str], tuple[float, str]] | None = None
                 ) -> Hit | None:
    """The hit of one person entry for this traveller, or None below the threshold."""
    eid, name, skel, birth, nat, sex, action, _extra = packed.split(SEP)
    e_tokens = name.split()
    why: list[str] = []
    e_date = entry_date(birth) if birth else None
    if e_date is not None and t.date is not None:
        agree = date_agreement(t.date, e_date)
        if agree is None:
            return None
        adjust, how = agree
        why.append(f"birth date: {how}")
        threshold = THRESHOLD
    else:
        adjust, threshold = 0.0, NAME_ONLY_THRESHOLD
        why.append("birth date: " + ("not on the entry" if e_date is None else "not read") + "; full name only")
    named = name_score(t.tokens, e_tokens, t.cut, t.skeletons, skel.split(" "), memo)
    if named.score <= 0 or (threshold == NAME_ONLY_THRESHOLD and named.unpaired_entry):
        return None
    extra = []
    if named.unpaired_traveller:
        extra.append(f"{named.unpaired_traveller} name(s) of the document not on the entry")
    if named.unpaired_entry:
        extra.append(f"{named.unpaired_entry} name(s) of the entry not on the document" +
                     (" (cut at the MRZ length)" if t.cut and not named.unpaired_traveller else ""))
    why.insert(0, "name: " + "; ".join([", ".join(named.pairs) or "same", *extra]))
    score = named.score + adjust
    for label, mine, theirs in (("nationality", t.nationality, nat), ("sex", t.sex, sex)):
        if mine and theirs and theirs != "<":
            same = mine == theirs
            score += 0.02 if same else -0.05
            why.append(f"{label}: {'same' if same else 'differs'}")
    score = max(0.0, min(1.0, score))
    if score < threshold:
        return None
    return Hit(id=eid, score=score, kind="person", why=why, action=action)


class Matcher:
    """Documents by key (in memory, or through `doc_lookup` over the keyed-hash table) and persons in memory."""

    def __init__(self, doc_lookup: DocLookup | None = None) -> None:
        self.docs: dict[str, list[Entry]] = {}
        self.doc_lookup = doc_lookup
        self.persons = PersonIndex()

    @classmethod
    def from_entries(cls, entries: Iterable[Entry]) -> Matcher:
        m = cls()
        for e in entries:
            m.add(e)
        return m

    def add(self, e: Entry) -> None:
        if e.kind == "document":
            self.docs.setdefault(document_key(e.issuing_state, e.document_number), []).append(e)
        else:
            self.persons.add(e)

    def _doc_hits(self, t: Traveller) -> list[Hit]:
        if not t.doc_key:
            return []
        found = self.doc_lookup(t.doc_key) if self.doc_lookup else ((e.id, e) for e in self.docs.get(t.doc_key, ()))
        hits = []
        for eid, e in found:
            why = ["document: issuing state and number match"]
            action = ""
            if e is not None:
                action = e.action
                if e.document_code and t.document_code:
                    same = t.document_code.startswith(e.document_code.replace("<", "")[:1])
                    why.append(f"document code: {'same' if same else 'differs'}")
                if e.surname or e.given_names:
                    s = name_score(t.tokens, tokens(e.surname, e.given_names), t.cut).score
                    why.append("holder name: " + ("matches" if s >= THRESHOLD else "differs or not read"))
            hits.append(Hit(id=eid, score=1.0, kind="document", why=why, action=action))
        return hits

    def match(self, traveller: Mapping[str, Any]) -> list[Hit]:
        """Every entry at or above its threshold, best first."""
        t = Traveller.from_obj(traveller)
        hits = self._doc_hits(t)
        if t.tokens:
            packed = self.persons.packed
            tsk = name_keys(t.tokens) | set(t.skeletons)
            fuzzy = _fuzzy(tsk)
            near: dict[str, bool] = {}                          # candidates share names: judge each once
            pairs: dict[tuple[int, str], tuple[float, str]] = {}
            for n in self.persons.candidates(t).tolist():
                p = packed[n]
                if p and could_hit(t, tsk, p, fuzzy, near):
                    h = score_person(t, p, pairs)
                    if h is not None:
                        hits.append(h)
        hits.sort(key=lambda h: (-h.score, h.id))
        return hits
