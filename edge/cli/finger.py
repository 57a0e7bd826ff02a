"""`borderpost finger`: NFIQ 2 quality, minutiae templates, 1:1 verification, capture from a sensor or simulator.

Exit codes: 0 every image acceptable / capture acceptable / match; 1 something scored below the threshold,
NFIQ 2 refused a print, no finger came or no match; 2 bad input (unreadable image, unknown device, bad config).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import click

from edge.cli._common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, config_option, echo_json, fail, load_config


@click.group("finger")
def cli() -> None:
    """Fingerprints: NIST NFIQ 2 quality, templates, 1:1 verification and capture."""


@cli.command("quality")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--algorithm", type=click.Choice(["nfiq2", "fast"]), default="nfiq2", show_default=True,
              help="nfiq2: NIST NFIQ 2 (the standard); fast: borderpost's live-frame score that predicts it.")
@click.option("--ppi", type=click.FloatRange(100, 2000), default=500.0, show_default=True,
              help="The images' resolution; NFIQ 2 resamples to its 500 ppi.")
@click.option("--json", "as_json", is_flag=True, help="One JSON list on stdout.")
@click.option("--threshold", type=click.FloatRange(0, 100), default=None,
              help="Acceptable at or above this score (default: the built-in threshold).")
@click.option("--components", is_flag=True, help="Include the measures behind the score (NFIQ 2's native ones).")
def quality_cmd(images: tuple[Path, ...], algorithm: str, ppi: float, as_json: bool, threshold: float | None,
                components: bool) -> None:
    """Score each IMAGE 0-100 and say what the traveller should change."""
    from edge.biometrics.finger import DEFAULT_THRESHOLD, InvalidImage, assess, nfiq2
    from edge.biometrics.finger.imageio import load

    thr = DEFAULT_THRESHOLD if threshold is None else threshold
    results: list[dict[str, Any]] = []
    code = EXIT_OK
    for path in images:
        try:
            gray = load(path)
            if algorithm == "nfiq2":
                d = nfiq2.assess(gray, ppi, thr).to_dict(native=components)
            else:
                d = assess(nfiq2.at_500ppi(gray, ppi), thr).to_dict()
                if not components:
                    d.pop("components")
        except InvalidImage as exc:
            results.append({"image": str(path), "error": exc.reason, "detail": exc.detail})
            code = EXIT_USAGE
            continue
        except nfiq2.Nfiq2Unavailable as exc:
            fail(str(exc))
        except nfiq2.Nfiq2Failed as exc:
            results.append({"image": str(path), "error": "refused", "detail": str(exc)})
            code = max(code, EXIT_FAIL)
            continue
        results.append({"image": str(path), **d})
        if not d["acceptable"] and code == EXIT_OK:
            code = EXIT_FAIL
    if as_json:
        echo_json(results)
    else:
        for r in results:
            if "error" in r:
                click.echo(f"{r['image']}: error {r['error']}: {r['detail']}", err=True)
            else:
                verdict = "acceptable" if r["acceptable"] else "NOT acceptable"
                fb = ", ".join(r["feedback"]) or "-"
                alg = r.get("algorithm", algorithm)
                click.echo(f"{r['image']}: score {r['score']:.0f} ({alg}) {verdict}; feedback: {fb}")
    raise SystemExit(code)


def _template_of(path: Path, ppi: float) -> bytes:
    """A template file (ISO/IEC 19794-2:2011 record) as it is, or the template of a print image."""
    from edge.biometrics.finger import InvalidImage, match, nfiq2
    from edge.biometrics.finger.imageio import load

    try:
        head = path.read_bytes()[:4]
    except OSError as exc:
        fail(f"{path}: {exc.strerror or exc}")
    try:
        if head == b"FMR\x00":
            return match.check_template(path.read_bytes())
        return match.template(load(path), ppi)
    except (InvalidImage, match.BadTemplate) as exc:
        fail(f"{path}: {exc}")
    except nfiq2.Nfiq2Unavailable as exc:
        fail(str(exc))
    except nfiq2.Nfiq2Failed as exc:
        fail(f"{path}: {exc}", EXIT_FAIL)


@cli.command("template")
@click.argument("image", type=click.Path(path_type=Path))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--ppi", type=click.FloatRange(100, 2000), default=500.0, show_default=True)
def template_cmd(image: Path, out_path: Path, ppi: float) -> None:
    """Write the ISO/IEC 19794-2:2011 minutiae template of a print."""
    data = _template_of(image, ppi)
    out_path.write_bytes(data)
    echo_json({"out": str(out_path), "bytes": len(data), "format": "ISO/IEC 19794-2:2011"})


@cli.command("verify")
@click.argument("probe", type=click.Path(path_type=Path))
@click.argument("reference", type=click.Path(path_type=Path))
@click.option("--ppi", type=click.FloatRange(100, 2000), default=500.0, show_default=True,
              help="Resolution of image arguments (templates carry their own).")
@click.option("--threshold", type=click.IntRange(0, 10_000), default=None,
              help="Bozorth3 decision score (default: the calibrated threshold).")
@click.option("--json", "as_json", is_flag=True)
def verify_cmd(probe: Path, reference: Path, ppi: float, threshold: int | None, as_json: bool) -> None:
    """1:1: are PROBE and REFERENCE (images or 19794-2 templates) the same finger? Exit 0 match, 1 no match."""
    from edge.biometrics.finger import match

    result = match.verify(_template_of(probe, ppi), _template_of(reference, ppi),
                          match.THRESHOLD if threshold is None else threshold)
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(f"score {result.score} (threshold {result.threshold}): {'match' if result.match else 'no match'}")
    raise SystemExit(EXIT_OK if result.match else EXIT_FAIL)


@cli.command("nbis-compat")
def nbis_compat_cmd() -> None:
    """Make nbis-python's bundled libraries load on glibc < 2.38 (Debian 12, Pi OS bookworm); run once after install."""
    from edge.biometrics.finger import nbis_glibc

    try:
        patched = nbis_glibc.make_loadable()
    except (nbis_glibc.CompatError, OSError) as exc:
        fail(str(exc))
    for p in patched:
        click.echo(f"{p.path.name}: {', '.join(p.symbols)} now bound to glibc {nbis_glibc.glibc_version()}")
    try:
        import nbis  # noqa: F401
    except (ImportError, OSError) as exc:
        fail(f"nbis still does not load: {exc}")
    click.echo("nbis loads" + ("" if patched else " (nothing to change)"))


@cli.command("capture")
@config_option
@click.option("--device", "device_name", required=True, help="Device name from [devices.<name>] in the config.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the best print (PNG).")
@click.option("--finger", default="right_index", show_default=True, help="Which finger (for the record).")
@click.option("--timeout", type=click.FloatRange(0.1, 120), default=10.0, show_default=True,
              help="Seconds per attempt.")
@click.option("--retries", type=click.IntRange(0, 10), default=1, show_default=True)
@click.option("--threshold", type=click.FloatRange(0, 100), default=None)
def capture_cmd(config_path: Path | None, device_name: str, out_path: Path, finger: str, timeout: float,
                retries: int, threshold: float | None) -> None:
    """Capture one print from a configured fingerprint device (or its simulator when simulated = true)."""
    import cv2

    from drivers import registry
    from drivers.contract import DeviceKind
    from edge.biometrics.finger import DEFAULT_THRESHOLD, FINGERS
    from edge.lane.finger_capture import capture_finger

    if finger not in FINGERS:
        fail(f"--finger {finger}: expected one of {', '.join(FINGERS)}")
    cfg = load_config(config_path)
    if threshold is None:
        threshold = cfg.quality.get("fingerprint", {}).get("min_score", DEFAULT_THRESHOLD)
    entry = cfg.devices.get(device_name)
    if entry is None:
        fail(f"no device {device_name!r} in the config (have: {', '.join(cfg.devices) or 'none'})")
    try:
        cls = registry.load_backend(entry.backend)
        settings = cls.Config.model_validate(entry.settings)
    except (registry.BackendUnavailable, registry.ValidationError) as exc:
        fail(f"device {device_name}: {exc}")
    if cls.kind is not DeviceKind.FINGERPRINT:
        fail(f"device {device_name} is a {cls.kind} device, not a fingerprint sensor")
    sim = None
    if entry.simulated:
        sim = registry.start_simulator(entry.backend, settings)
        settings = sim.config
        sim.finger_on()  # the simulated traveller keeps a finger on the glass
    device = cls(settings)
    try:
        device.open()
        result = capture_finger(device, finger, timeout, retries, threshold=threshold)
    finally:
        device.close()
        if sim is not None:
            with contextlib.suppress(Exception):
                sim.close()
    summary = result.to_dict()
    if result.image is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(out_path), result.image):
            fail(f"cannot write {out_path}")
        summary["out"] = str(out_path)
    echo_json(summary)
    raise SystemExit(EXIT_OK if result.ok else EXIT_FAIL)
