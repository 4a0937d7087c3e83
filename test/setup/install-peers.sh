#!/usr/bin/env bash
# Installs the real peers the tests talk to, from Debian's packages, when they are missing:
# etcdctl (etcd-client) for the etcd API tests, openssl for the PKI and the etcd server
# (etcd-server) the conformance tests compare us with. Idempotent and quick
# when everything is there. Needs root (or sudo) only when something must be installed.
set -uo pipefail
need=()
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
[ ${#need[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "the tests need: ${need[*]} (apt-get install ${need[*]}), and this user cannot install them" >&2
    exit 1
  fi
fi
echo "installing ${need[*]} from Debian's packages" >&2
$sudo apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
