#!/bin/bash
# Build the appliance image from Debian's archive alone (mmdebstrap), sharing the overlay, units, first boot
# and read-only root of the Raspberry Pi OS recipe.
#   image_build/debian/build.sh [OUT_DIR]            -> OUT_DIR/borderpost-<arch>.img
# GPT: 1 BPBOOT (FAT), 2 BPROOT (root slot A, ext4), 3 BPROOT_B (slot B, empty), 4 BPDATA made at first boot.
# Environment: BORDERPOST_ARCH=amd64|arm64 (default: this host's), BORDERPOST_SUITE (bookworm: Python 3.11,
# the host's), BORDERPOST_KIOSK_SCREEN=1 adds cage and chromium (default 0: headless, the UI still served),
# BORDERPOST_IMAGE_FREE free space left for the data partition made at first boot (default 1G).
# Needs root (or mmdebstrap's unshare mode), mmdebstrap, e2fsprogs, dosfstools, mtools, fdisk; for arm64 on
# an x86 host, qemu-user-static and arch-test with binfmt_misc mounted.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=$(realpath -m "${1:-$repo/artifacts/image}")
arch=${BORDERPOST_ARCH:-$(dpkg --print-architecture)}
suite=${BORDERPOST_SUITE:-bookworm}
screen=${BORDERPOST_KIOSK_SCREEN:-0}
free=${BORDERPOST_IMAGE_FREE:-1G}
python=${BORDERPOST_BUILD_PYTHON:-python3}

for tool in mmdebstrap mkfs.ext4 mkfs.vfat mcopy sfdisk; do
    command -v "$tool" >/dev/null || { echo "build: $tool is missing (apt-get install mmdebstrap e2fsprogs dosfstools mtools fdisk)" >&2; exit 2; }
done
case "$arch" in
    amd64) extra="linux-image-amd64,systemd-boot-efi" ;;
    arm64) extra="linux-image-arm64,raspi-firmware,firmware-brcm80211,python3-pyscard" ;;
    *) echo "build: unsupported architecture '$arch' (amd64 or arm64)" >&2; exit 2 ;;
esac
if [ "$screen" = 1 ]; then
    extra="$extra,cage,chromium,fonts-noto-core"
fi
packages=$(sed 's/#.*//' "$here/packages.txt" | awk 'NF {print $1}' | paste -sd, -)

work="$out/work-$arch"
rm -rf "$work"
install -d "$work/wheels"
start=$(date +%s)

# Wheels: borderpost and every dependency. Built on this host when it matches the target (amd64 host, the
# suite's Python), so the chroot installs offline; otherwise downloaded as binary wheels for the target.
hostpy=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
if [ "$arch" = "$(dpkg --print-architecture)" ]; then
    "$python" -m pip wheel --quiet -w "$work/wheels" "$repo"
else
    # The dependencies as this host resolves them, fetched as the target's wheels one by one (pip matches only
    # the platform tags it is given: every glibc bookworm's 2.36 runs is listed). pyscard publishes no aarch64
    # wheel: Debian's python3-pyscard, seen through the venv's system site packages, stands in for it.
    BORDERPOST_NO_EXTENSION=1 "$python" -m pip wheel --quiet --no-deps -w "$work/wheels" "$repo"
    "$python" -m pip install --quiet --dry-run --ignore-installed --report "$work/deps.json" "$repo"
    # shellcheck disable=SC2046  # one argument per requirement
    "$python" -m pip download --quiet --no-deps --only-binary=:all: --implementation cp --python-version "$hostpy" \
        $(for g in 36 35 34 31 28 27 24 17; do printf -- '--platform manylinux_2_%s_aarch64 ' "$g"; done) \
        --platform any -d "$work/wheels" $("$python" "$here/target-requirements.py" "$work/deps.json")
fi
wheel=$(ls "$work"/wheels/borderpost-*.whl)

rootdir="$work/root"
# shellcheck disable=SC2016  # "$1" in a hook is the root, expanded by the hook's own shell
# --force-confold: raspi-firmware ships /etc/default/raspi-firmware, which the essential hook wrote first;
# without it dpkg stops at a conffile prompt (no terminal) and the arm64 build fails
mmdebstrap --variant=minbase --arch="$arch" --components=main,non-free-firmware --dpkgopt=force-confold \
    --include="$packages,$extra" \
    --essential-hook='install -d "$1/boot/firmware" "$1/etc/default"; printf "ROOTPART=PARTLABEL=BPROOT\nCONSOLES=\"ttyS1,115200 tty0\"\n" > "$1/etc/default/raspi-firmware"' \
    --customize-hook="\"$here/customize.sh\" \"\$1\" \"$wheel\" \"$arch\" \"$screen\"" \
    "$suite" "$rootdir"

# mmdebstrap's cleanup removes /var/lib/dbus/machine-id; on the read-only root tmpfiles cannot make it at boot.
ln -sfn /etc/machine-id "$rootdir/var/lib/dbus/machine-id"
# The disk layout, for make-data-partition: the data partition comes after both root slots (A and B).
printf 'DATA_PARTITION=4\n' > "$rootdir/usr/lib/borderpost/layout"

# The boot partition's files go to the FAT image; the root's /boot/firmware stays an empty mount point.
esp="$work/esp"
mv "$rootdir/boot/firmware" "$esp"
install -d "$rootdir/boot/firmware"

# Partition images without loop devices: ext4 filled from the tree, FAT filled with mtools.
root_mib=$(( $(du -sm "$rootdir" | cut -f1) * 115 / 100 + 256 ))
boot_mib=256
mkfs.ext4 -q -L BPROOT -d "$rootdir" "$work/root.ext4" "${root_mib}M"
mkfs.vfat -n BPBOOT -C "$work/boot.vfat" $((boot_mib * 1024)) >/dev/null
mcopy -s -i "$work/boot.vfat" "$esp"/* ::/

img="$out/borderpost-$arch.img"
rm -f "$img"
free_mib=$(numfmt --from=iec "$free" | awk '{print int($1/1048576)}')
# Two root slots of one size for A/B updates (RAUC installs into the one not running); slot B stays empty
# (sparse) until the first update.
truncate -s $(( (1 + boot_mib + 2 * root_mib + free_mib + 1) * 1048576 )) "$img"
sfdisk --quiet "$img" <<PARTS
label: gpt
start=1MiB, size=${boot_mib}MiB, type=uefi, name=BPBOOT
size=${root_mib}MiB, type=linux, name=BPROOT
size=${root_mib}MiB, type=linux, name=BPROOT_B
PARTS
dd if="$work/boot.vfat" of="$img" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$work/root.ext4" of="$img" bs=1M seek=$((1 + boot_mib)) conv=notrunc,sparse status=none
rm -rf "$work"
end=$(date +%s)
printf 'image: %s (%s MiB, built in %s s)\n' "$img" "$(( $(stat -c %s "$img") / 1048576 ))" "$((end - start))"
