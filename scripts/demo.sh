#!/usr/bin/env bash
# A simulated border post on this machine: a local mosquitto (if installed), simulated devices, the station,
# the uplink and the UIs. Stop with Ctrl-C.
set -euo pipefail
workdir=$(mktemp -d /tmp/borderpost-demo.XXXXXX)
port=${BORDERPOST_DEMO_BROKER_PORT:-18830}
ui_port=${BORDERPOST_DEMO_UI_PORT:-8080}
travellers=${BORDERPOST_DEMO_TRAVELLERS:-20}
broker_pid=""
cleanup() { [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null; true; }
trap cleanup EXIT

mosquitto_bin=$(command -v mosquitto || { [ -x /usr/sbin/mosquitto ] && echo /usr/sbin/mosquitto; } || true)
mode=(--broker "mqtt://127.0.0.1:$port")
if [ -n "$mosquitto_bin" ]; then
  cat > "$workdir/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
persistence false
set_tcp_nodelay true
CONF
  [ "$(id -u)" = 0 ] && echo "user root" >> "$workdir/mosquitto.conf"
  "$mosquitto_bin" -c "$workdir/mosquitto.conf" >"$workdir/mosquitto.log" 2>&1 &
  broker_pid=$!
  sleep 0.5
  echo "broker:   mosquitto on mqtt://127.0.0.1:$port   watch it: mosquitto_sub -p $port -t 'borderpost/#' -v"
else
  echo "broker:   mosquitto is not installed (apt-get install mosquitto); recording offline instead"
  mode=(--offline)
fi
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
