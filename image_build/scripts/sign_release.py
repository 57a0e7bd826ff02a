"""Turn a built raw image into a release: block map, .img.xz, SHA256SUMS and its Ed25519 signature.

    python image_build/scripts/sign_release.py IMAGE.img --key release-signing.pem [--out DIR]

The private key never goes into the repository or the image; technicians get the public half
(`--print-public` prints it) and pass it to `borderpost flash --key`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.flash.release import ReleaseError, make_release


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", type=Path)
    ap.add_argument("--key", type=Path, required=True, help="Ed25519 private key, PEM")
    ap.add_argument("--out", type=Path, help="move the shipped files here")
    ap.add_argument("--no-xz", action="store_true", help="ship the raw .img (tests, local use)")
    ap.add_argument("--print-public", action="store_true")
    args = ap.parse_args(argv)
    try:
        key = serialization.load_pem_private_key(args.key.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        print(f"sign_release: {args.key}: {exc}", file=sys.stderr)
        return 2
    if not isinstance(key, Ed25519PrivateKey):
        print(f"sign_release: {args.key}: not an Ed25519 key", file=sys.stderr)
        return 2
    if args.print_public:
        sys.stdout.write(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())
        return 0
    try:
        files = make_release(args.image, key, compress=not args.no_xz)
    except (ReleaseError, OSError) as exc:
        print(f"sign_release: {exc}", file=sys.stderr)
        return 2
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        files = [Path(shutil.move(str(f), args.out / f.name)) if f != args.image else f for f in files]
    for f in files:
        print(f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
