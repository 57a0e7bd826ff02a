#!/bin/bash
# Update-test probe, written into a COPY of the image (and so into the test's bundles) by
# tests/appliance/test_image_update.py; never part of a built image. Reports "BPPROBE key value..." on the
# serial console. Phases (file on the data partition): none -> install the good bundle (slot B) and reboot;
# good on B -> report, install the broken bundle (slot A) and reboot; broken on A -> only report (the health
# check fails and reboots); broken on B again -> report the fallback and power off.
set -u
say() { echo "BPPROBE $*" > /dev/ttyS0; }
phase_file=/persist/.bpupdate-phase
slot=$(sed -n 's/.*rauc\.slot=\([AB]\).*/\1/p' /proc/cmdline)
phase=none
[ -f "$phase_file" ] && phase=$(cat "$phase_file")
say boot slot="$slot" phase="$phase" uptime="$(cut -d' ' -f1 /proc/uptime)"

for _ in $(seq 1500); do
    state=$(systemctl show -P ActiveState borderpost-health.service)
    [ "$state" = active ] || [ "$state" = failed ] && break
    sleep 1
done
say health "$state" "$(systemctl show -P Result borderpost-health.service)" uptime="$(cut -d' ' -f1 /proc/uptime)"
for _ in $(seq 120); do
    good=$(systemctl show -P ActiveState borderpost-mark-good.service)
    [ "$state" != active ] || [ "$good" = active ] || [ "$good" = failed ] && break
    sleep 1
done
say markgood "$good"
say entries "$(find /boot/firmware/loader/entries -name '*.conf' -printf '%f ')"
say status "$(/usr/local/bin/borderpost update status --json 2>&1 | tr '\n' ' ')"

install() {  # BUNDLE NEXT_PHASE
    mkdir -p /run/bpupdate
    mount -o ro /dev/disk/by-label/BPUPDATE /run/bpupdate || { say installed rc=mount; return; }
    start=$(date +%s)
    /usr/local/bin/borderpost update install "/run/bpupdate/$1" 2>&1 | while read -r line; do say progress "$line"; done
    rc=${PIPESTATUS[0]}
    say installed rc="$rc" seconds=$(($(date +%s) - start))
    umount /run/bpupdate
    if [ "$rc" = 0 ]; then
        echo "$2" > "$phase_file"; sync
        say status_after "$(/usr/local/bin/borderpost update status --json 2>&1 | tr '\n' ' ')"
        say rebooting
        systemctl reboot
    fi
}

case "$phase/$slot" in
    none/A) install good.raucb good ;;
    good/B) install broken.raucb broken ;;
    broken/A) say waiting_for_health_reboot ;;
    broken/B) say "done"; sync; systemctl poweroff ;;
    *) say unexpected "$phase/$slot" ;;
esac
