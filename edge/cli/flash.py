"""`borderpost flash IMAGE --target DISK|FILE [--provision BUNDLE]`: a verified write for field technicians.

Exit codes: 0 written and verified; 2 refused before anything was written (bad signature, corrupted image or
block map, bad bundle, unsafe or too-small target); 1 writing or read-back failed (the card is not usable).
"""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from edge.cli._common import EXIT_FAIL, fail
from edge.flash import bmap as bmapmod
from edge.flash import fat, release, target, writer
from edge.provision.bundle import BundleError, load_bundle

KEY_ENV = "BORDERPOST_IMAGE_KEY"


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("{task.description:<12}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                    TimeRemainingColumn(), console=Console(stderr=True), disable=not enabled, transient=False)


@click.command("flash")
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--target", "target_path", required=True, type=click.Path(path_type=Path),
              help="The whole disk (/dev/sdX, /dev/mmcblk0) or an image file to write.")
@click.option("--provision", "bundle_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Provisioning bundle (from `borderpost provision new`) to put on the boot partition.")
@click.option("--key", "key_path", type=click.Path(dir_okay=False, path_type=Path), envvar=KEY_ENV,
              help=f"The release signing public key (PEM, Ed25519). Default: ${KEY_ENV}.")
@click.option("--no-bmap", is_flag=True, help="Ignore the block map and write every block.")
@click.option("--yes", is_flag=True, help="Do not ask before erasing a disk.")
@click.option("--no-progress", is_flag=True, help="No progress bars (logs, scripts).")
def cli(image: Path, target_path: Path, bundle_dir: Path | None, key_path: Path | None, no_bmap: bool,
        yes: bool, no_progress: bool) -> None:
    """Verify IMAGE's signature and checksum, write it (mapped blocks only), read it back, add the bundle."""
    if key_path is None:
        fail(f"no release signing key: give --key FILE or set ${KEY_ENV} (nothing was written)")
    bundle = None
    if bundle_dir is not None:
        try:
            bundle = load_bundle(bundle_dir)
        except BundleError as exc:
            fail(f"the provisioning bundle is refused (nothing was written): {exc}")
    show = not no_progress
    try:
        key = release.load_public_key(key_path)
        with _progress(show) as bar:
            task = bar.add_task("checking", total=image.stat().st_size)
            rel = release.verify_release(image, key, use_bmap=not no_bmap,
                                         progress=lambda n: bar.advance(task, n))
        bmap = bmapmod.parse(rel.bmap.read_text(errors="replace")) if rel.bmap else None
    except (release.ReleaseError, bmapmod.BmapError) as exc:
        fail(f"{exc} (nothing was written)")
    size = bmap.image_size if bmap else writer.image_size(image)
    try:
        tgt = target.inspect(target_path, image)
        target.check(tgt, size)
    except target.TargetError as exc:
        fail(f"{exc} (nothing was written)")
    if tgt.is_block and not yes:
        click.confirm(f"Erase {tgt.describe()} and write {image.name}?", abort=True, err=True)
    extents = writer.extents_for(bmap)
    to_write = bmap.mapped_bytes if bmap else (size or 0)
    t0 = time.monotonic()
    source = writer.ImageSource(image)
    try:
        with _progress(show) as bar:
            task = bar.add_task("writing", total=to_write or None)
            report = writer.write(source, tgt, extents, size, progress=lambda n: bar.advance(task, n))
            task = bar.add_task("verifying", total=report.bytes_written)
            writer.read_back(target_path, report.digests, progress=lambda n: bar.advance(task, n))
    except writer.WriteError as exc:
        fail(str(exc), EXIT_FAIL)
    finally:
        source.close()
    elapsed = time.monotonic() - t0
    mib = report.bytes_written / 2**20
    share = f" ({100 * report.bytes_written / size:.0f}% of the image, from its block map)" if bmap and size else ""
    click.echo(f"wrote and verified {mib:.0f} MiB{share} in {elapsed:.1f} s to {tgt.describe()}")
    if bundle is not None and bundle_dir is not None:
        try:
            names = fat.write_bundle(target_path, bundle_dir)
        except (fat.PartitionError, fat.FatWriteError, OSError) as exc:
            fail(f"the image is written, but the bundle could not be added: {exc}", EXIT_FAIL)
        click.echo(f"provisioning bundle for {bundle.manifest.post}/{bundle.manifest.device} added to the boot "
                   f"partition ({len(names)} files); first boot installs it and deletes its secrets")
    click.echo("done: the card can be removed")
