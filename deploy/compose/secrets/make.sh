#!/usr/bin/env bash
# Writes the secret files compose.yaml mounts, each only if missing (never overwrites a
# key: a new audit key would leave the audit log unverifiable, a new signing key would
# sign everybody out). Needs openssl; the signing key is Ed25519 PKCS#8 PEM, the format
# `ems keygen` writes.
set -euo pipefail
cd "$(dirname "$0")"
umask 077
make() { [ -e "$1" ] || { "${@:2}" >"$1"; echo "wrote secrets/$1"; }; }
make postgres-password openssl rand -hex 24
make metrics-token openssl rand -hex 32
make grafana-admin-password openssl rand -hex 16
make audit-hmac.key openssl rand -hex 32
make jwt-signing.pem openssl genpkey -algorithm ed25519
if [ ! -e database-url ]; then
    printf 'postgres://ems:%s@postgres:5432/ems\n' "$(cat postgres-password)" >database-url
    echo "wrote secrets/database-url"
fi
# Compose (without Swarm) bind-mounts these files with their host permissions, and the
# containers run as other users (ems 10001, Grafana 472, Prometheus 65534): the files are
# made readable, the directory closed to other users of the host.
chmod 0644 postgres-password database-url metrics-token grafana-admin-password \
    audit-hmac.key jwt-signing.pem
chmod 0700 .
