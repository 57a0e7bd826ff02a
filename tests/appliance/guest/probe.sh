#!/bin/bash
# Test probe, written into a COPY of the image by tests/appliance/vm.py (never part of a built image).
# Reports over the serial console as lines "BPPROBE key value..." what the boot test checks. Boot 1 (no
# phase file on the data partition): provisioning, readiness, the kiosk page, security scores, memory, then
# simulated crossings recorded without end (the test cuts the power while they are). Boot 2: what survived.
# Every wait is bounded by time, not by a count of tries (under an emulator each try takes seconds).
set -u
say() { echo "BPPROBE $*" > /dev/ttyS0; }
cfg=/etc/borderpost/config.toml
db=/var/lib/borderpost/borderpost.db
phase_file=/persist/.bpprobe-phase
# the probe's own copy of the test-only environment (simulated devices' inputs)
probe_env=(BORDERPOST_MODELS_DIR=/usr/share/borderpost/models)
# ... and the station unit's own environment (the simulator stands in for a station that has loaded its models:
# it runs with what the station runs with, MALLOC_ARENA_MAX and the like)
read -r -a station_env <<<"$(systemctl show -P Environment borderpost-station.service)"
probe_env=("${station_env[@]}" "${probe_env[@]}")
# total, pending and delivered events, straight from the store (stdlib only: a CLI start costs minutes under TCG)
store_stats() {
    python3 - "$db" <<'PY' 2>/dev/null || echo "total=-1 pending=-1 delivered=-1"
import sqlite3, sys
c = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=30)
n = dict(c.execute("SELECT state, count(*) FROM events GROUP BY state").fetchall())
print(f"total={sum(n.values())} pending={n.get('pending', 0)} delivered={n.get('delivered', 0)}")
PY
}
field() { sed -n "s/.*\b$1=\(-\?[0-9]*\).*/\1/p" <<<"$2"; }
kib() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$2/status" 2>/dev/null; }
# memory of one process (KiB): resident, proportional (shared pages split among their users: what the process
# costs a board), its anonymous part, and the whole unit's cgroup (MemoryCurrent: page cache included)
mem() {  # NAME PID [UNIT]
    local pss pss_anon cg=""
    pss=$(awk '$1 == "Pss:" {print $2}' "/proc/$2/smaps_rollup" 2>/dev/null)
    pss_anon=$(awk '$1 == "Pss_Anon:" {print $2}' "/proc/$2/smaps_rollup" 2>/dev/null)
    [ -n "${3:-}" ] && cg=$(systemctl show -P MemoryCurrent "$3")
    [ "$cg" = "[not set]" ] && cg=""
    echo "$1 rss=$(kib VmRSS "$2") hwm=$(kib VmHWM "$2") pss=${pss:-} pss_anon=${pss_anon:-} cgroup=${cg:+$((cg / 1024))}"
}

# The boot's errors in the journal, but one: when udev's workers load the same CPU-feature module at once and its
# init fails (no such frequency driver on this machine: ENODEV), libkmod logs each loser's read of the module's
# initstate as an error (systemd/systemd#20605, a kernel/kmod race upstream calls not udev's). Counted apart.
kmod_race="\(udev-worker\)\[[0-9]+\]: could not read from '/sys/module/[a-z0-9_]+/initstate': No such device$"
journal_report() {
    local all rest
    all=$(journalctl -b -p err -q --no-pager)
    rest=$(grep -vE -- "$kmod_race" <<<"$all")
    say journal_kmod_race "$(grep -cE -- "$kmod_race" <<<"$all")"
    say journal_errors "$(grep -c . <<<"$rest")"
    [ -n "$rest" ] && tail -5 <<<"$rest" | while read -r line; do say journal "$line"; done
    say journal_end
}

phase=1
[ -f "$phase_file" ] && phase=2
say start phase=$phase

deadline=$((SECONDS + 1800))
while [ $SECONDS -lt $deadline ]; do
    st=$(systemctl is-active borderpost-station.service)
    up=$(systemctl is-active borderpost-uplink.service)
    [ "$st" = active ] && [ "$up" = active ] && break
    sleep 1
done
say ready uptime="$(cut -d' ' -f1 /proc/uptime)" station="$st" uplink="$up"
# the running hostname against the provisioned one (systemd reads /etc/hostname before /etc/borderpost is mounted:
# borderpost-hostname.service applies it on every boot after the first)
say hostname "$(cat /proc/sys/kernel/hostname)" stored="$(head -n1 /etc/borderpost/hostname 2>/dev/null)" \
    unit="$(systemctl is-active borderpost-hostname.service)"
for unit in borderpost-firstboot borderpost-station borderpost-uplink borderpost-kiosk persist.mount; do
    say unit "$unit" "$(systemctl is-active "$unit")" "$(systemctl show -P Result "$unit")"
done
say restarts station="$(systemctl show -P NRestarts borderpost-station)" uplink="$(systemctl show -P NRestarts borderpost-uplink)"

if [ "$phase" = 2 ]; then
    say fs "$(journalctl -b -q --no-pager -k | grep -ciE 'EXT4-fs (error|warning)|FAT-fs .*error')"
    say integrity "$(python3 -c "import sqlite3; print(sqlite3.connect('file:$db?mode=ro', uri=True).execute('pragma integrity_check').fetchone()[0])" 2>&1 | tail -1)"
    deadline=$((SECONDS + 900))
    while [ $SECONDS -lt $deadline ]; do
        s=$(store_stats)
        [ "$(field pending "$s")" = 0 ] && break
        sleep 2
    done
    say stats "$s"
    journal_report
    say "done"
    systemctl poweroff
    exit 0
fi

say provisioned "$(test -f /etc/borderpost/.provisioned && echo yes || echo no)" \
    bundle_left="$(test -e /boot/firmware/borderpost && echo yes || echo no)"
say rootfs "$(findmnt -no OPTIONS /)"
code=$(python3 -c 'import urllib.request as u; r=u.urlopen("http://127.0.0.1:8080/kiosk", timeout=60); print(r.status, len(r.read()))' 2>&1 | tail -1)
say kiosk "$code"
for svc in station uplink firstboot kiosk; do
    score=$(systemd-analyze security "borderpost-$svc.service" --no-pager 2>/dev/null | tail -1 | sed 's/.*exposure level[^:]*: *//')
    say security "$svc" "$score"
done
# Every timer the image keeps active has its job run once now: a job that cannot run on the appliance (a daily job
# writing to the read-only root) fails here whatever the hour of the test. Results are reported with the crossings.
timer_jobs=()
for timer in $(systemctl list-units --type=timer --state=active --no-legend --plain | awk '{print $1}'); do
    for job in $(systemctl show -P Triggers "$timer"); do
        timer_jobs+=("$job")
        systemctl start --no-block "$job"
    done
done
report_timer_jobs() {
    local job state deadline=$((SECONDS + 900))
    for job in "${timer_jobs[@]}"; do
        while [ $SECONDS -lt $deadline ]; do
            state=$(systemctl show -P ActiveState "$job")
            [ "$state" = activating ] || [ "$state" = deactivating ] || break
            sleep 2
        done
        say timer_job "$job" "$(systemctl show -P ActiveState "$job")" "$(systemctl show -P Result "$job")"
    done
    say timer_jobs_end "${#timer_jobs[@]}"
}
for svc in station uplink; do
    say rss "$svc" "$(kib VmRSS "$(systemctl show -P MainPID "borderpost-$svc.service")")"
done
for svc in station uplink kiosk; do
    pid=$(systemctl show -P MainPID "borderpost-$svc.service")
    [ "${pid:-0}" != 0 ] && say mem "$(mem "$svc" "$pid" "borderpost-$svc.service")"
done

# The station service itself with the face models loaded: a synthetic passport put on its own simulated reader
# (the kiosk's demo route, as a demo visitor would), so its lane runs a crossing with the face step and loads the
# models (the simulator below has its own pipeline process). Sampled every 2 s: the largest PSS (with the sample
# it came from) and the last sample, until its peak has not grown for 3 min or the process is gone (restarted:
# reported, with the unit's restart count).
# the station loads its models when it starts (then ONNX Runtime, which the face analyzer loads, is mapped in it),
# or else at its first crossing (the peak shows it)
models_loaded() {  # PID IDLE_KIB PEAK_KIB
    [ "$3" -gt $(($2 + 102400)) ] || grep -q onnxruntime "/proc/$1/maps" 2>/dev/null
}
station_models() {
    local pid idle peak=0 now still=0 best="" last="" pss max=0 gone=no deadline=$((SECONDS + 1500))
    pid=$(systemctl show -P MainPID borderpost-station.service)
    idle=$(kib VmRSS "$pid")
    if ! python3 - >/tmp/present.out 2>&1 <<'PY'
import http.cookiejar, re, urllib.parse, urllib.request
base = "http://127.0.0.1:8080"
op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
page = op.open(base + "/kiosk", timeout=300).read().decode()
token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
form = urllib.parse.urlencode({"csrf": token, "kind": "valid"}).encode()
print(op.open(base + "/kiosk/sim/document", form, timeout=300).status)
PY
    then
        say mem_models_error "$(tail -1 /tmp/present.out)"
        return
    fi
    while [ $SECONDS -lt $deadline ]; do
        now=$(kib VmHWM "$pid")
        if [ -z "$now" ]; then gone=yes; break; fi
        sample=$(mem station "$pid" borderpost-station.service)
        pss=$(sed -n 's/.* pss=\([0-9]*\) .*/\1/p' <<<"$sample")
        if [ -n "$pss" ]; then
            last=$sample
            [ "$pss" -gt "$max" ] && { max=$pss; best=$sample; }
        fi
        if [ "$now" -gt "$peak" ]; then peak=$now; still=0; else still=$((still + 2)); fi
        [ "$still" -ge 180 ] && models_loaded "$pid" "$idle" "$peak" && break
        sleep 2
    done
    loaded=no
    models_loaded "$pid" "$idle" "$peak" && loaded=yes
    say mem_models "${last:-station} loaded=$loaded gone=$gone restarts=$(systemctl show -P NRestarts borderpost-station)"
    say mem_models_peak "${best:-station}"
    pid=$(systemctl show -P MainPID borderpost-uplink.service)
    say mem_models "$(mem uplink "$pid" borderpost-uplink.service)"
    say mem_models_end
}

# Simulated travellers through the whole pipeline (simulated reader and camera, the face models), recorded into
# the station's store and delivered by the running uplink, one after the other until the power is cut.
echo 1 > "$phase_file"; sync
seed=11
start_simulation() {
    setpriv --reuid=borderpost --regid=borderpost --init-groups env "${probe_env[@]}" \
        /opt/borderpost/venv/bin/borderpost simulate --config "$cfg" --offline -n 100000 --seed "$seed" \
        >/tmp/sim.out 2>&1 &
    sim=$!
}
start_simulation
say recording pid=$sim
reported=0
while true; do
    s=$(store_stats)
    say total "$(field total "$s")"
    hwm=$(kib VmHWM "$sim")
    [ -n "$hwm" ] && say simrss "$hwm"
    pss=$(awk '$1 == "Pss:" {print $2}' "/proc/$sim/smaps_rollup" 2>/dev/null)
    [ -n "$pss" ] && say simpss "$pss"
    if ! kill -0 "$sim" 2>/dev/null; then
        # a traveller not recorded within the simulator's wall-clock allowance ends its run: start another
        say simexit "$(tail -2 /tmp/sim.out | tr '\n' ' ')"
        seed=$((seed + 1))
        start_simulation
    fi
    if [ "$reported" = 0 ] && [ "$(field total "$s")" -ge 2 ] && [ "$(field pending "$s")" = 0 ]; then
        say stats "$s"
        for svc in station uplink; do
            say rss_after "$svc" "$(kib VmRSS "$(systemctl show -P MainPID "borderpost-$svc.service")")"
        done
        for svc in station uplink kiosk; do
            pid=$(systemctl show -P MainPID "borderpost-$svc.service")
            [ "${pid:-0}" != 0 ] && say mem_after "$(mem "$svc" "$pid" "borderpost-$svc.service")"
        done
        say env "${probe_env[*]}"
        report_timer_jobs
        journal_report
        reported=1
        station_models &
    fi
    sleep 2
done
