#!/bin/sh
# Creates the namespace and registers proxmox-terminate's custom search
# attributes. Runs in the temporalio/admin-tools image
# (docker-compose.yml: temporal-create-namespace) once Temporal is healthy;
# deploy/INSTALL.md runs the same script against an existing cluster.
#
#   TEMPORAL_ADDRESS   frontend host:port (default temporal:7233)
#   NAMESPACE          default "default"
#   NAMESPACE_RETENTION  retention of closed runs for a new namespace (default 30d)
#   SEARCH_ATTRIBUTES  space-separated Name=Type pairs
#
# Idempotent: an existing namespace or search attribute is kept; an existing
# attribute of another type is an error (Temporal cannot change a type).
set -eu

ADDRESS=${TEMPORAL_ADDRESS:-temporal:7233}
NAMESPACE=${NAMESPACE:-default}
RETENTION=${NAMESPACE_RETENTION:-30d}
ATTEMPTS=${HEALTH_ATTEMPTS:-30}
SEARCH_ATTRIBUTES=${SEARCH_ATTRIBUTES:-}

# As Temporal's samples-server create-namespace.sh does: dial the frontend by
# its IPv4 address (their comment: "to work around some very weird issue").
host=${ADDRESS%:*}
port=${ADDRESS##*:}
if command -v getent >/dev/null 2>&1; then
  ip=$(getent ahosts "$host" | grep STREAM | head -1 | awk '{print $1}' || true)
  case "$ip" in *.*.*.*) ADDRESS="$ip:$port" ;; esac
fi

t() { temporal "$@" --address "$ADDRESS"; }

# retry MESSAGE COMMAND...: runs COMMAND, quietly, every 2 s until it
# succeeds; after $ATTEMPTS failures prints MESSAGE and exits 1.
retry() {
  msg=$1
  shift
  n=0
  until "$@" >/dev/null 2>&1; do
    n=$((n + 1))
    if [ "$n" -ge "$ATTEMPTS" ]; then
      echo "$msg after $ATTEMPTS attempts" >&2
      exit 1
    fi
    sleep 2
  done
}

echo "Waiting for Temporal at $ADDRESS..."
retry "Temporal at $ADDRESS did not become healthy" t operator cluster health

if t operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1; then
  echo "Namespace '$NAMESPACE' exists"
else
  t operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION"
  echo "Namespace '$NAMESPACE' created"
fi

# A new namespace reaches the frontend's namespace cache a few seconds later.
retry "Namespace '$NAMESPACE' is not usable" t operator search-attribute list --namespace "$NAMESPACE"

for pair in $SEARCH_ATTRIBUTES; do
  name=${pair%%=*}
  type=${pair#*=}
  if [ -z "$name" ] || [ "$name" = "$pair" ] || [ -z "$type" ]; then
    echo "bad SEARCH_ATTRIBUTES entry '$pair' (want Name=Type)" >&2
    exit 1
  fi
  # Temporal accepts an attribute that exists with the same type and
  # rejects one that exists with another type.
  t operator search-attribute create --namespace "$NAMESPACE" --name "$name" --type "$type"
  echo "Search attribute $name ($type) registered"
done
