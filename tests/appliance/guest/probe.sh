#!/bin/bash
# Test probe, written into a COPY of the image by tests/appliance/vm.py (never part of a built image).
# Reports over the serial console as lines "BPPROBE key value..." what the boot test checks. Boot 1 (no
# phase file on the data partition): provisioning, readiness, the kiosk page, security scores, memory,
# crossings delivered, then a long recording the test cuts power in. Boot 2: what survived.
set -u
say() { echo "BPPROBE $*" > /dev/ttyS0; }
cfg=/etc/borderpost/config.toml
phase_file=/persist/.bpprobe-phase
bp() { runuser -u borderpost -- env BORDERPOST_MODELS_DIR=/usr/share/borderpost/models /opt/borderpost/venv/bin/borderpost "$@"; }
stat_field() { bp events stats --config "$cfg" --json 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin).get('$1', -1))" 2>/dev/null || echo -1; }

phase=1
[ -f "$phase_file" ] && phase=2
say start phase=$phase

for _ in $(seq 600); do
    st=$(systemctl is-active borderpost-station.service)
    up=$(systemctl is-active borderpost-uplink.service)
    [ "$st" = active ] && [ "$up" = active ] && break
    sleep 0.5
done
say ready uptime=$(cut -d' ' -f1 /proc/uptime) station=$st uplink=$up
for unit in borderpost-firstboot borderpost-station borderpost-uplink borderpost-kiosk persist.mount; do
    say unit "$unit" "$(systemctl is-active "$unit")" "$(systemctl show -P Result "$unit")"
done
say provisioned "$(test -f /etc/borderpost/.provisioned && echo yes || echo no)" \
    bundle_left="$(test -e /boot/firmware/borderpost && echo yes || echo no)"
say rootfs "$(findmnt -no OPTIONS /)"
code=$(python3 -c 'import urllib.request as u; r=u.urlopen("http://127.0.0.1:8080/kiosk", timeout=10); print(r.status, len(r.read()))' 2>&1 | tail -1)
say kiosk "$code"
for svc in station uplink firstboot kiosk; do
    score=$(systemd-analyze security "borderpost-$svc.service" --no-pager 2>/dev/null | tail -1 | sed 's/.*exposure level[^:]*: *//')
    say security "$svc" "$score"
done
for svc in station uplink; do
    pid=$(systemctl show -P MainPID "borderpost-$svc.service")
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    say rss "$svc" "${rss:-0}"
done

if [ "$phase" = 1 ]; then
    if bp simulate --config "$cfg" --offline -n 2 --seed 11 >/tmp/sim.out 2>&1; then say simulate ok; else
        say simulate failed "$(tail -3 /tmp/sim.out | tr '\n' ' ')"; fi
    for _ in $(seq 120); do [ "$(stat_field pending)" = 0 ] && break; sleep 1; done
    say stats total="$(stat_field total)" pending="$(stat_field pending)"
    say journal_errors "$(journalctl -b -p err -q --no-pager | wc -l)"
    journalctl -b -p err -q --no-pager | tail -5 | while read -r line; do say journal "$line"; done
    echo 1 > "$phase_file"; sync
    bp simulate --config "$cfg" --offline -n 100000 --seed 12 >/dev/null 2>&1 &
    say recording
    while true; do say total "$(stat_field total)"; sleep 0.5; done
else
    say fs "$(journalctl -b -q --no-pager -k | grep -ciE 'EXT4-fs (error|warning)|FAT-fs .*error')"
    say integrity "$(python3 -c "import sqlite3; print(sqlite3.connect('file:/var/lib/borderpost/borderpost.db?mode=ro', uri=True).execute('pragma integrity_check').fetchone()[0])" 2>&1 | tail -1)"
    for _ in $(seq 120); do [ "$(stat_field pending)" = 0 ] && break; sleep 1; done
    say stats total="$(stat_field total)" pending="$(stat_field pending)"
    say done
    systemctl poweroff
fi
