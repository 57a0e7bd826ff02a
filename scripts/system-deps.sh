#!/usr/bin/env bash
# The Debian / Raspberry Pi OS packages `make demo` and `make test` need, installed when missing.
#   scripts/system-deps.sh demo|test|image    check, and install what is missing (as root), else exit 2
#   scripts/system-deps.sh --list demo|test|image   print the package names (for .ci/run)
# As root the missing packages are installed with apt-get; otherwise the exact `sudo apt-get install` line is
# printed and the script exits 2. Nothing falls back to a reduced mode: a missing package stops the command.
set -euo pipefail

# python3-venv: the project's venv; gcc/libc6-dev/python3-dev: the MRZ parser's compiled scan; mosquitto: the
# demo's real broker.
DEMO=(python3-venv python3-dev gcc libc6-dev mosquitto)
# Everything the test suite drives for real: broker and its clients, OCR and the OCR-B font, the browser for the
# UI tests and its fonts, PostgreSQL (central), pcscd + a virtual smart-card reader and the pyscard build (chip),
# image tools (flash, bmaptool for bench/flash), unit-file checks, ssh, speech for the kiosk's audio prompts, RAUC
# and squashfs-tools for the A/B update bundles (built and checked with the real rauc).
TEST=("${DEMO[@]}" make mosquitto-clients tesseract-ocr fonts-ocr-b chromium fonts-dejavu-core fonts-noto-core
      systemd mtools dosfstools fdisk shellcheck openssh-server openssh-client sudo
      postgresql pcscd libpcsclite-dev swig vsmartcard-vpcd bmap-tools espeak-ng rauc squashfs-tools openssl)
# `make image` (mmdebstrap from Debian's archive, the disk's filesystems) and `make image-test` (QEMU with UEFI).
IMAGE=(mmdebstrap e2fsprogs dosfstools mtools fdisk qemu-system-x86 qemu-utils ovmf mosquitto rauc squashfs-tools
       openssl)

list=false
if [ "${1:-}" = "--list" ]; then list=true; shift; fi
case "${1:-}" in
  demo) wanted=("${DEMO[@]}") ;;
  test) wanted=("${TEST[@]}") ;;
  image) wanted=("${IMAGE[@]}") ;;
  *) echo "usage: $0 [--list] demo|test|image" >&2; exit 2 ;;
esac
if $list; then echo "${wanted[@]}"; exit 0; fi

if ! command -v dpkg-query >/dev/null; then
  echo "system-deps: this is not a Debian-family system; install the equivalents of: ${wanted[*]}" >&2
  exit 2
fi
missing=()
for pkg in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
  [[ "$status" == ii* ]] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

line="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages for 'make $1': ${missing[*]}" >&2
  echo "install them with:" >&2
  echo "  sudo apt-get update && sudo $line" >&2
  exit 2
fi
echo "installing system packages for 'make $1': ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
