"""The chip step's verdicts as lane checks (edge.lane.checks): access, passive authentication, clone
check, DG1 = MRZ, and `chip.authentication` which sums them up for posts that list one chip check.

Reason codes are for the officer; the traveller only ever sees SEE_OFFICER.
"""

from __future__ import annotations

from typing import Any

from edge.chip.result import ChipResult
from edge.lane.checks import SEE_OFFICER, Context, Stage, Verdict, verdict


def _chip(ctx: Context) -> ChipResult | None:
    return ctx.chip if isinstance(ctx.chip, ChipResult) else None


def _read_failure(check: Any, r: ChipResult) -> Verdict | None:
    if r.error is None:
        return None
    code = "chip.access_denied" if r.error_kind == "access_denied" else "chip.unreadable"
    return verdict(check, "fail", [code], SEE_OFFICER, error=r.error_kind, access=r.access)


class ChipAccess:
    """BAC or PACE opened the chip with the optical MRZ (a refusal means MRZ and chip disagree)."""

    id = "chip.access"
    stage = Stage.CHIP

    def run(self, ctx: Context) -> Verdict:
        r = _chip(ctx)
        if r is None:
            return verdict(self, "not_run")
        if r.access is None:
            return _read_failure(self, r) or verdict(self, "fail", ["chip.unreadable"], SEE_OFFICER)
        return verdict(self, "pass", access=r.access)


class ChipPassiveAuth:
    """The SOD's signature, the signer's chain to a trusted CSCA and every data group's hash."""

    id = "chip.passive_auth"
    stage = Stage.CHIP

    def run(self, ctx: Context) -> Verdict:
        r = _chip(ctx)
        if r is None:
            return verdict(self, "not_run")
        failed = _read_failure(self, r)
        if failed:
            return failed
        p = r.passive
        reasons = []
        if not p.sod_signature:
            reasons.append("chip.sod_signature")
        if p.csca_chain is False:
            reasons.append("chip.csca_chain")
        if not p.hashes or not all(p.hashes.values()):
            reasons.append("chip.dg_hash")
        detail = {"sod_signature": p.sod_signature, "csca_chain": p.csca_chain,
                  "hashes_failed": ",".join(str(n) for n, ok in sorted(p.hashes.items()) if not ok) or None}
        if reasons:
            return verdict(self, "fail", reasons, SEE_OFFICER, **detail)
        if p.csca_chain is None:
            return verdict(self, "warn", ["chip.no_csca"], **detail)
        return verdict(self, "pass", **detail)


class ChipClone:
    """Chip or active authentication, where the chip offers one."""

    id = "chip.clone"
    stage = Stage.CHIP

    def run(self, ctx: Context) -> Verdict:
        r = _chip(ctx)
        if r is None or r.error is not None:
            return verdict(self, "not_run")
        c = r.clone
        if c.passed is False:
            return verdict(self, "fail", ["chip.clone"], SEE_OFFICER, method=c.method, reason=c.reason[:200])
        if c.passed is None:
            return verdict(self, "warn", ["chip.clone_not_supported"], method=c.method)
        return verdict(self, "pass", method=c.method)


class ChipMrz:
    """DG1 holds the same MRZ as the one read optically from the page."""

    id = "chip.dg1_mrz"
    stage = Stage.CHIP

    def run(self, ctx: Context) -> Verdict:
        r = _chip(ctx)
        if r is None or r.mrz_match is None:
            return verdict(self, "not_run")
        if r.mrz_match:
            return verdict(self, "pass")
        return verdict(self, "fail", ["chip.dg1_mrz_mismatch"], SEE_OFFICER)


PARTS = (ChipAccess, ChipPassiveAuth, ChipClone, ChipMrz)


class ChipAuthentication:
    """All the chip's verdicts in one: fails when any part fails, warns when any warns."""

    id = "chip.authentication"
    stage = Stage.CHIP

    def run(self, ctx: Context) -> Verdict:
        r = _chip(ctx)
        if r is None:
            return verdict(self, "not_run")
        parts = [cls().run(ctx) for cls in PARTS]
        reasons = list(dict.fromkeys(code for v in parts for code in v.reason_codes))
        detail: dict[str, Any] = {"access": r.access, "clone_check": r.clone.method, "mrz_match": r.mrz_match,
                                  "sod_signature": r.passive.sod_signature, "csca_chain": r.passive.csca_chain,
                                  "data_groups": ",".join(map(str, r.data_groups)) or None,
                                  "face": r.face.format if r.face else None}
        if any(v.outcome == "fail" for v in parts):
            return verdict(self, "fail", reasons, SEE_OFFICER, **detail)
        if any(v.outcome == "warn" for v in parts):
            return verdict(self, "warn", reasons, **detail)
        return verdict(self, "pass", **detail)


def check_from_config(_cfg: Any) -> ChipAuthentication:
    """The factory edge.lane.checks.EXTENSIONS names for `chip.authentication`."""
    return ChipAuthentication()


def chip_checks() -> tuple[Any, ...]:
    """The four part checks, for a post that wants each verdict on its own line."""
    return tuple(cls() for cls in PARTS)
