#!/bin/bash
# Put the A/B update pieces into an image's root filesystem (called by the image build's customize hook):
#   install.sh ROOT [ARCH]
# /etc/rauc/system.conf and keyring.pem, the boot loader backend and health check under
# /usr/lib/borderpost/rauc/, borderpost-health.service and borderpost-mark-good.service (enabled).
# The keyring is BORDERPOST_UPDATE_KEYRING (production: the agency's update CA certificate) or else the
# development CA made by dev-keys.sh into artifacts/update-keys/. Idempotent; no private key enters the image.
set -euo pipefail

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 ROOT [ARCH]" >&2
    exit 2
fi
root=$1
arch=${2:-$(dpkg --print-architecture)}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
keyring=${BORDERPOST_UPDATE_KEYRING:-}
if [ -z "$keyring" ]; then
    "$here/dev-keys.sh"
    keyring="$here/../../artifacts/update-keys/ca.cert.pem"
fi
[ -f "$keyring" ] || { echo "install: keyring $keyring not found" >&2; exit 2; }

install -d "$root/etc/rauc" "$root/usr/lib/borderpost/rauc" "$root/etc/systemd/system"
sed "s/@ARCH@/$arch/" "$here/system.conf.in" > "$root/etc/rauc/system.conf"
chmod 0644 "$root/etc/rauc/system.conf"
install -m 0644 "$keyring" "$root/etc/rauc/keyring.pem"
# the boot loader backend: systemd-boot's tries counter (amd64), the Raspberry Pi firmware's tryboot (arm64)
backend=bootloader-backend
[ "$arch" = arm64 ] && backend=bootloader-backend-tryboot
install -m 0755 "$here/$backend" "$root/usr/lib/borderpost/rauc/bootloader-backend"
install -m 0755 "$here/health-check" "$root/usr/lib/borderpost/rauc/"
install -m 0644 "$here/borderpost-health.service" "$here/borderpost-mark-good.service" "$root/etc/systemd/system/"
systemctl --root="$root" enable borderpost-health.service borderpost-mark-good.service >/dev/null 2>&1
