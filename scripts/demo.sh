#!/usr/bin/env bash
# A simulated border post on this machine: a local mosquitto, simulated devices (document reader, camera showing
# the demo traveller's face, fingerprint sensor), the station, the uplink and the UIs. Stop with Ctrl-C.
# `make demo` installs what this needs first (scripts/system-deps.sh demo, the venv, the face models).
set -euo pipefail
workdir=$(mktemp -d /tmp/borderpost-demo.XXXXXX)
port=${BORDERPOST_DEMO_BROKER_PORT:-18830}
ui_port=${BORDERPOST_DEMO_UI_PORT:-8080}
travellers=${BORDERPOST_DEMO_TRAVELLERS:-20}
broker_pid=""
cleanup() { [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null; true; }
trap cleanup EXIT

mosquitto_bin=$(command -v mosquitto || { [ -x /usr/sbin/mosquitto ] && echo /usr/sbin/mosquitto; } || true)
if [ -z "$mosquitto_bin" ]; then
  echo "demo: mosquitto is not installed; run 'make demo' (it installs it) or: sudo apt-get install mosquitto" >&2
  exit 2
fi
if ! borderpost models verify >/dev/null 2>&1; then
  echo "demo: the face models are missing or altered; run 'make demo' or: borderpost models fetch --demo-face" >&2
  exit 2
fi
mode=(--broker "mqtt://127.0.0.1:$port")
cat > "$workdir/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
persistence false
set_tcp_nodelay true
CONF
if [ "$(id -u)" = 0 ]; then echo "user root" >> "$workdir/mosquitto.conf"; fi
"$mosquitto_bin" -c "$workdir/mosquitto.conf" >"$workdir/mosquitto.log" 2>&1 &
broker_pid=$!
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$broker_pid" 2>/dev/null || { echo "demo: mosquitto did not start:" >&2; cat "$workdir/mosquitto.log" >&2; exit 2; }
  sleep 0.1
done
echo "broker:   mosquitto on mqtt://127.0.0.1:$port   watch it: mosquitto_sub -p $port -t 'borderpost/#' -v"
bp=$(command -v borderpost)
borderpost config example | sed -e "s#/var/lib/borderpost#$workdir#g" \
  -e "s#mqtt://127.0.0.1:1883#mqtt://127.0.0.1:$port#" -e "s#^port = 8080#port = $ui_port#" > "$workdir/config.toml"
echo "config:   $workdir/config.toml"
echo "store:    $workdir/store.db   inspect: $bp events list --config $workdir/config.toml"
echo "UIs:      http://127.0.0.1:$ui_port/kiosk   /booth   /tech   (?lang=ar|en|fr)"
echo
ui_args=()
if borderpost simulate --help | grep -q -- '--ui-port'; then ui_args=(--ui --ui-port "$ui_port"); fi
borderpost simulate --config "$workdir/config.toml" --travellers "$travellers" "${mode[@]}" \
  --store "$workdir/store.db" "${ui_args[@]}"
