#!/bin/bash
# A signed RAUC bundle (verity format) of a built image's root filesystem, for A/B updates:
#   make-bundle.sh IMAGE [OUT_DIR]     -> OUT_DIR/borderpost-<arch>-<version>.raucb (default artifacts/bundle)
# The root partition (GPT name BPROOT) is copied out of IMAGE as rootfs.ext4 and signed with
# BORDERPOST_UPDATE_CERT / BORDERPOST_UPDATE_KEY, checked against BORDERPOST_UPDATE_KEYRING (the keyring in the
# image). Without them, the development keys of dev-keys.sh (artifacts/update-keys/, made when absent).
# BORDERPOST_BUNDLE_VERSION overrides the version (default: the package version + the git commit);
# BORDERPOST_ARCH names the architecture when the file name does not; BORDERPOST_MKSQUASHFS_ARGS passes options to mksquashfs (e.g. "-comp lz4": faster to build, larger).
# Needs rauc, squashfs-tools (mksquashfs), fdisk (sfdisk), openssl for the development keys.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
if [ $# -lt 1 ] || [ ! -f "$1" ]; then
    echo "usage: $0 IMAGE [OUT_DIR]  (IMAGE: a built image, e.g. artifacts/image/borderpost-amd64.img: make image)" >&2
    exit 2
fi
image=$1
out=$(realpath -m "${2:-$repo/artifacts/bundle}")
for tool in rauc mksquashfs sfdisk; do
    command -v "$tool" >/dev/null || { echo "bundle: $tool is missing (apt-get install rauc squashfs-tools fdisk)" >&2; exit 2; }
done
arch=${BORDERPOST_ARCH:-$(basename "$image" .img)}; arch=${arch##*-}
case "$arch" in amd64|arm64) ;; *) echo "bundle: cannot tell the architecture from '$image' (borderpost-<arch>.img)" >&2; exit 2 ;; esac

if [ -z "${BORDERPOST_UPDATE_CERT:-}" ]; then
    "$here/dev-keys.sh"
    keys="$repo/artifacts/update-keys"
    cert=$keys/signing.cert.pem key=$keys/signing.key.pem keyring=$keys/ca.cert.pem
else
    cert=$BORDERPOST_UPDATE_CERT key=${BORDERPOST_UPDATE_KEY:?set BORDERPOST_UPDATE_KEY with BORDERPOST_UPDATE_CERT}
    keyring=${BORDERPOST_UPDATE_KEYRING:?set BORDERPOST_UPDATE_KEYRING (the CA certificate the devices trust)}
fi
version=${BORDERPOST_BUNDLE_VERSION:-}
if [ -z "$version" ]; then
    version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$repo/edge/__init__.py")
    commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || true)
    [ -n "$commit" ] && version="$version+g$commit"
fi

# The root partition's place in the image, from the GPT.
read -r start size < <(sfdisk -J "$image" | python3 -c '
import json, sys
t = json.load(sys.stdin)["partitiontable"]
p = [p for p in t["partitions"] if p.get("name") == "BPROOT"]
if not p:
    sys.exit("bundle: the image has no partition named BPROOT")
print(p[0]["start"] * t.get("sectorsize", 512), p[0]["size"] * t.get("sectorsize", 512))')

work=$(mktemp -d "${TMPDIR:-/tmp}/borderpost-bundle.XXXXXX")
trap 'rm -rf "$work"' EXIT
install -d "$work/content" "$out"
dd if="$image" of="$work/content/rootfs.ext4" bs=1M iflag=skip_bytes,count_bytes skip="$start" count="$size" \
    conv=sparse status=none
cat > "$work/content/manifest.raucm" <<MANIFEST
[update]
compatible=borderpost-$arch
version=$version
description=borderpost appliance root filesystem
build=$(date -u +%Y%m%dT%H%M%SZ)

[bundle]
format=verity

[image.rootfs]
filename=rootfs.ext4
MANIFEST
bundle="$out/borderpost-$arch-$version.raucb"
rm -f "$bundle"
start_s=$(date +%s)
rauc bundle --cert="$cert" --key="$key" --keyring="$keyring" \
    ${BORDERPOST_MKSQUASHFS_ARGS:+--mksquashfs-args="$BORDERPOST_MKSQUASHFS_ARGS"} "$work/content" "$bundle" >/dev/null
ln -sfn "$(basename "$bundle")" "$out/borderpost-$arch.raucb"
printf 'bundle: %s (%s MiB, rootfs %s MiB, built in %s s)\n' "$bundle" "$(( $(stat -c %s "$bundle") / 1048576 ))" \
    "$(( size / 1048576 ))" "$(( $(date +%s) - start_s ))"
