#!/bin/bash
# Build the appliance image with rpi-image-gen, then sign the release.
#   BORDERPOST_RELEASE_KEY=/secure/release.pem image_build/build.sh [OUT_DIR]
# Needs: rpi-image-gen installed (its install_deps.sh), an arm64 host or binfmt qemu-user-static, network
# access to the Raspberry Pi OS and Debian archives, and PyPI for the aarch64 wheels.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
out=$(realpath -m "${1:-$repo/artifacts/image}")
key=${BORDERPOST_RELEASE_KEY:?set BORDERPOST_RELEASE_KEY to the Ed25519 release signing key (PEM)}
pyver=${BORDERPOST_TARGET_PYTHON:-3.13}   # Raspberry Pi OS trixie

rm -rf "$out/wheels"
install -d "$out/wheels"
# The MRZ parser's compiled scan (edge/documents/_mrzscan.c) is built for this host's Python and CPU;
# only an aarch64 host with the target's Python makes one the image can use. Anywhere else the wheel is
# pure Python and the appliance runs the identical Python scan (about 10 us a document instead of 5).
host=$(python3 -c 'import platform, sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}", platform.machine())')
if [ "$host" != "$pyver aarch64" ]; then
    echo "build: host is '$host', target '$pyver aarch64': building borderpost without its compiled MRZ scan" >&2
    export BORDERPOST_NO_EXTENSION=1
fi
python3 -m pip wheel --no-deps -w "$out/wheels" "$repo"
wheel=$(ls "$out"/wheels/borderpost-*.whl)
# aarch64 wheels of every dependency, so the chroot installs offline
python3 -m pip download --only-binary=:all: --implementation cp --python-version "$pyver" \
    --platform manylinux_2_36_aarch64 --platform manylinux_2_28_aarch64 --platform manylinux2014_aarch64 \
    --platform any -d "$out/wheels" "$wheel"

rpi-image-gen build -S "$here" -c borderpost.yaml -B "$out/build" -- \
    "IGconf_borderpost_wheel=$wheel" "IGconf_borderpost_srcdir=$here"

img=$(find "$out/build" -name 'borderpost*.img' -type f | head -n 1)
if [ -z "$img" ]; then
    echo "build: rpi-image-gen produced no borderpost*.img under $out/build" >&2
    exit 1
fi
python3 "$here/scripts/sign_release.py" "$img" --key "$key" --out "$out/release"
echo "release in $out/release: flash with  borderpost flash $out/release/$(basename "$img").xz --target /dev/sdX"
