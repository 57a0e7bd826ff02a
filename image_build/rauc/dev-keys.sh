#!/bin/bash
# Development update keys, made once into DIR (default artifacts/update-keys) and never committed:
#   ca.cert.pem      the keyring shipped in the image (/etc/rauc/keyring.pem)
#   signing.cert.pem, signing.key.pem   what `make bundle` signs with (issued by the CA)
# Production: the agency keeps its CA key offline and gives the build BORDERPOST_UPDATE_CERT,
# BORDERPOST_UPDATE_KEY and BORDERPOST_UPDATE_KEYRING instead (docs/technician.md).
set -euo pipefail
dir=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/artifacts/update-keys}
if [ -f "$dir/signing.key.pem" ] && [ -f "$dir/signing.cert.pem" ] && [ -f "$dir/ca.cert.pem" ]; then
    exit 0
fi
command -v openssl >/dev/null || { echo "dev-keys: openssl is missing (apt-get install openssl)" >&2; exit 2; }
install -d -m 0700 "$dir"
umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/O=borderpost development/CN=borderpost update CA (development only)" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$tmp/ca.key.pem" -out "$dir/ca.cert.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/O=borderpost development/CN=borderpost update signing (development only)" \
    -keyout "$dir/signing.key.pem" -out "$tmp/signing.csr" 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n' > "$tmp/ext"
openssl x509 -req -in "$tmp/signing.csr" -CA "$dir/ca.cert.pem" -CAkey "$tmp/ca.key.pem" -CAserial "$tmp/ca.srl" -CAcreateserial \
    -days 1825 -extfile "$tmp/ext" -out "$dir/signing.cert.pem" 2>/dev/null
chmod 0644 "$dir/ca.cert.pem" "$dir/signing.cert.pem"
echo "dev-keys: development update keys made in $dir (the CA key was thrown away)" >&2
