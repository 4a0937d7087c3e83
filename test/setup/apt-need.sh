#!/usr/bin/env bash
# Installs Debian packages for the commands that are missing. Arguments: COMMAND=PACKAGE pairs,
# e.g. etcdctl=etcd-client. Idempotent and quick when every command is there. Needs root (or
# sudo) only when something must be installed.
set -uo pipefail
need=()
for pair in "$@"; do
  command -v "${pair%%=*}" >/dev/null 2>&1 || need+=("${pair#*=}")
done
[ ${#need[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "needed: ${need[*]} (apt-get install ${need[*]}), and this user cannot install them" >&2
    exit 1
  fi
fi
echo "installing ${need[*]} from Debian's packages" >&2
$sudo apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
