#!/bin/bash
# mmdebstrap customize hook (run by rpi-image-gen on the build host): ROOT is the target root filesystem.
#   customize.sh ROOT WHEEL [UI_URL]
# Installs borderpost into a venv that sees the OS's picamera2, adds the overlay, creates the service users,
# enables the units, makes the root read-only, and removes anything per-device or secret from the image.
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 ROOT WHEEL [UI_URL]" >&2
    exit 2
fi
root=$1
wheel=$2
ui_url=${3:-http://127.0.0.1:8080/kiosk}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ ! -f "$wheel" ]; then
    echo "customize: wheel not found: $wheel" >&2
    exit 2
fi

"$here/assemble-overlay.sh" "$root"

# The application: a venv with system site packages (python3-picamera2 and libcamera come from the OS).
# Dependencies are installed from the wheels collected beside the borderpost wheel: no network in the chroot.
wheeldir=$(dirname "$wheel")
install -d "$root/tmp/borderpost-wheels"
cp "$wheeldir"/*.whl "$root/tmp/borderpost-wheels/"
chroot "$root" python3 -m venv --system-site-packages /opt/borderpost/venv
chroot "$root" /opt/borderpost/venv/bin/pip install --no-index --find-links /tmp/borderpost-wheels \
    "/tmp/borderpost-wheels/$(basename "$wheel")"
rm -rf "$root/tmp/borderpost-wheels"
ln -sf /opt/borderpost/venv/bin/borderpost "$root/usr/local/bin/borderpost"

if [ "$ui_url" != "http://127.0.0.1:8080/kiosk" ]; then
    sed -i "s#--app=http://127.0.0.1:8080/kiosk#--app=$ui_url#" "$root/usr/lib/systemd/system/borderpost-kiosk.service"
fi

# Service users now: the root is read-only at run time.
systemd-sysusers --root="$root"

systemctl --root="$root" enable \
    borderpost-data-partition.service persist.mount borderpost-persist-dirs.service borderpost-hostname.service \
    etc-borderpost.mount var-lib-borderpost.mount var-log-journal.mount var-lib-chrony.mount \
    var-lib-systemd-timers.mount \
    borderpost-firstboot.service borderpost-station.service borderpost-uplink.service \
    borderpost-kiosk.service borderpost-purge.timer \
    nftables.service chrony.service ssh.service
systemctl --root="$root" set-default graphical.target
# Debian's daily jobs that write to the root (package lists, unattended upgrades, the dpkg database backup in
# /var/backups) fail on a read-only root, at whatever hour their timer fires: the system is updated by RAUC bundles.
for unit in systemd-timesyncd.service ModemManager.service regenerate_ssh_host_keys.service \
        userconfig.service getty@tty1.service \
        apt-daily.timer apt-daily.service apt-daily-upgrade.timer apt-daily-upgrade.service \
        dpkg-db-backup.timer dpkg-db-backup.service; do
    systemctl --root="$root" mask "$unit" >/dev/null 2>&1 || true
done

# Nothing per-device in the image: no SSH host keys, no machine id, no bundle, no keys.
rm -f "$root"/etc/ssh/ssh_host_*
: > "$root/etc/machine-id"
rm -rf "$root/boot/firmware/borderpost" "$root/etc/borderpost/"* "$root/var/lib/borderpost/"*

# No passwords: lock every account that has one (root included).
awk -F: '$2 !~ /^[!*]/ && $2 != "" {print $1}' "$root/etc/shadow" | while read -r user; do
    chroot "$root" passwd -l "$user" >/dev/null
done
awk -F: '$2 == "" {print $1}' "$root/etc/shadow" | while read -r user; do
    chroot "$root" passwd -l "$user" >/dev/null
done

# Read-only root; scratch space in RAM. /tmp must be a tmpfs before any unit with PrivateDevices= starts
# (systemd makes the private /dev in /tmp); /var/log and /var/lib/systemd hold run-time state of chrony,
# logind, wtmp and the random seed (the journal, timers and chrony's drift are bind-mounted from /persist).
sed -i -E 's#^(\S+\s+/\s+\S+\s+)(\S+)#\1\2,ro#' "$root/etc/fstab"
add_tmpfs() {  # MOUNTPOINT OPTIONS
    grep -qE "^tmpfs\s+$1\s" "$root/etc/fstab" || echo "tmpfs $1 tmpfs $2 0 0" >> "$root/etc/fstab"
}
add_tmpfs /tmp nosuid,nodev,mode=1777
add_tmpfs /var/tmp nosuid,nodev,mode=1777
add_tmpfs /var/log nosuid,nodev,noexec,mode=0755
add_tmpfs /var/lib/systemd nosuid,nodev,noexec,mode=0755
# the machine id is made per boot in /run; D-Bus looks for it here too
install -d "$root/var/lib/dbus"
ln -sfn /etc/machine-id "$root/var/lib/dbus/machine-id"
# the hostname is set by first boot in the persistent /etc/borderpost; systemd reads /etc/hostname before that
# is mounted, so borderpost-hostname.service applies it on every later boot
ln -sfn /etc/borderpost/hostname "$root/etc/hostname"

rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
