#!/usr/bin/env bash
# Installs the systems the compare bench measures us against, from Debian's packages, when they
# are missing: etcd (etcd-server) and dqlite-demo (go-dqlite, which also ships the `dqlite`
# shell). Arguments name the peers wanted (etcd, dqlite; default both).
set -uo pipefail
[ $# -eq 0 ] && set -- etcd dqlite
pairs=()
for peer in "$@"; do
  case "$peer" in
    etcd) pairs+=(etcd=etcd-server) ;;
    dqlite) pairs+=(dqlite-demo=go-dqlite dqlite=go-dqlite) ;;
    *) echo "unknown peer '$peer' (known: etcd, dqlite)" >&2; exit 2 ;;
  esac
done
exec bash "$(dirname "$0")/../../test/setup/apt-need.sh" "${pairs[@]}"
