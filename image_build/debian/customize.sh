#!/bin/bash
# mmdebstrap customize hook for the image built from Debian's archive: ROOT is the target root filesystem.
#   customize.sh ROOT WHEEL ARCH KIOSK_SCREEN(0|1)
# Adds what the Raspberry Pi OS image gets from its base layers (fstab, wired network, the kernel command
# line), then runs the shared hook (../scripts/customize.sh): overlay, venv, users, units, read-only root.
set -euo pipefail

if [ $# -ne 4 ]; then
    echo "usage: $0 ROOT WHEEL ARCH KIOSK_SCREEN" >&2
    exit 2
fi
root=$1
wheel=$2
arch=$3
screen=$4
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

cp -a "$here/overlay/." "$root/"
# The boot partition (FAT, label BPBOOT) holds the boot loader, the kernels and the provisioning bundle; the
# root is read-only and is whichever slot the boot loader chose (root=PARTLABEL=BPROOT or BPROOT_B: both slots'
# ext4 carry the label BPROOT, so nothing selects the root by label); the data partition (BPDATA) is made at
# first boot.
cat > "$root/etc/fstab" <<'FSTAB'
/dev/root       /               ext4    defaults,noatime,errors=remount-ro      0 1
LABEL=BPBOOT    /boot/firmware  vfat    defaults,noatime,umask=0077,flush       0 2
FSTAB
install -d "$root/boot/firmware"

"$here/../scripts/customize.sh" "$root" "$wheel"

# nbis-python's libraries ask for glibc 2.38 symbols they do not use; Debian 12 has 2.36.
chroot "$root" /opt/borderpost/venv/bin/borderpost finger nbis-compat
# The face models (`make models` fetched them into the repository's models/): shipped read-only with the
# system; the station finds them through BORDERPOST_MODELS_DIR (drop-in in overlay/).
models="$here/../../models"
if ls "$models"/*.onnx >/dev/null 2>&1; then
    install -d "$root/usr/share/borderpost/models"
    install -m 0644 "$models"/* "$root/usr/share/borderpost/models/"
fi
# A/B system updates: the RAUC configuration (image_build/rauc/, when present) installs itself into the root.
if [ -x "$here/../rauc/install.sh" ]; then
    "$here/../rauc/install.sh" "$root" "$arch"
fi
systemctl --root="$root" enable systemd-networkd.service systemd-networkd-wait-online.service
if [ "$screen" != 1 ]; then
    # headless build (no cage/chromium): the local UI is still served by the station on 127.0.0.1:8080
    systemctl --root="$root" disable borderpost-kiosk.service
    systemctl --root="$root" set-default multi-user.target
fi

cmdline="root=PARTLABEL=BPROOT ro rootwait fsck.repair=yes rauc.slot=A"
case "$arch" in
    amd64)
        # systemd-boot on the boot partition: the loader and slot A's entry, its kernel and initrd beside it. No
        # default entry: the update backend (image_build/rauc/bootloader-backend) orders entries by sort-key and
        # counts tries on slot B's; a default pattern would pin a bad entry and defeat the fallback.
        esp="$root/boot/firmware"
        install -d "$esp/EFI/BOOT" "$esp/EFI/borderpost-a" "$esp/loader/entries"
        cp "$root/usr/lib/systemd/boot/efi/systemd-bootx64.efi" "$esp/EFI/BOOT/BOOTX64.EFI"
        cp "$(readlink -f "$root/vmlinuz")" "$esp/EFI/borderpost-a/vmlinuz"
        cp "$(readlink -f "$root/initrd.img")" "$esp/EFI/borderpost-a/initrd.img"
        printf 'timeout 0\neditor no\n' > "$esp/loader/loader.conf"
        cat > "$esp/loader/entries/borderpost-a.conf" <<ENTRY
title   borderpost (A)
linux   /EFI/borderpost-a/vmlinuz
initrd  /EFI/borderpost-a/initrd.img
options $cmdline console=tty0 console=ttyS0,115200
sort-key borderpost-0
ENTRY
        ;;
    arm64)
        # raspi-firmware copies the kernel, initrd and device trees to /boot/firmware and writes cmdline.txt
        echo "$cmdline console=tty0 console=ttyS1,115200" > "$root/boot/firmware/cmdline.txt"
        # A/B updates: each slot boots from its own directory on the boot partition, a new one through the
        # firmware's one-shot tryboot (image_build/rauc/bootloader-backend-tryboot); slot A is committed here
        BORDERPOST_ESP="$root/boot/firmware" BORDERPOST_SLOT_DIR_A="$root" "$here/../rauc/bootloader-backend-tryboot" init
        ;;
esac
