#!/bin/bash
# Assemble everything borderpost adds to the root filesystem into DEST: the static overlay, the systemd units,
# sysusers/tmpfiles/udev files and the technician's guide. Used by customize.sh at image build, and by CI to
# inspect the tree without building an image.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 DEST" >&2
    exit 2
fi
dest=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
repo=$(cd "$here/.." && pwd)
units="$repo/systemd"

install -d "$dest"
cp -a "$here/overlay/." "$dest/"

install -d "$dest/usr/lib/systemd/system" "$dest/usr/lib/systemd/system/ssh.service.d" \
    "$dest/usr/lib/sysusers.d" "$dest/usr/lib/tmpfiles.d" "$dest/usr/lib/udev/rules.d" \
    "$dest/usr/share/doc/borderpost"
install -m 0644 "$units"/*.service "$units"/*.timer "$dest/usr/lib/systemd/system/"
install -m 0644 "$units/ssh.service.d/borderpost.conf" "$dest/usr/lib/systemd/system/ssh.service.d/"
install -m 0644 "$units/sysusers.d/borderpost.conf" "$dest/usr/lib/sysusers.d/"
install -m 0644 "$units/tmpfiles.d/borderpost.conf" "$dest/usr/lib/tmpfiles.d/"
install -m 0644 "$units/udev/70-borderpost.rules" "$dest/usr/lib/udev/rules.d/"
if [ -f "$repo/docs/technician.md" ]; then
    install -m 0644 "$repo/docs/technician.md" "$dest/usr/share/doc/borderpost/"
fi
chmod 0755 "$dest/usr/lib/borderpost/make-data-partition"
chmod 0644 "$dest/etc/nftables.conf" "$dest/etc/pam.d/borderpost-kiosk"
chmod 0440 "$dest/etc/sudoers.d/borderpost-tech"   # sudo ignores a sudoers file others may write

# mount points on the read-only root for the persistent partition and its bind mounts
install -d "$dest/persist" "$dest/etc/borderpost" "$dest/var/lib/borderpost" "$dest/var/log/journal" \
    "$dest/var/lib/chrony" "$dest/var/lib/systemd/timers" "$dest/opt/borderpost"
