#!/usr/bin/env bash
# Installs the real peers the tests talk to, from Debian's packages, when they are missing:
# etcdctl (etcd-client) for the etcd API tests, openssl for the PKI, the etcd server
# (etcd-server) the conformance tests compare us with, and iproute2 (`ip`) for the network
# namespaces of the partition tests; iptables (kube-proxy) and nsenter (util-linux: a
# Kubernetes test runs in a network namespace of its own) for the Kubernetes tests; skopeo and
# umoci, independent readers of the OCI layouts we write; git for the addon repositories cloned
# from git; unsquashfs and mksquashfs (squashfs-tools) for the snap tests, which build the .snap
# and run its hooks unpacked.
set -uo pipefail
exec bash "$(dirname "$0")/apt-need.sh" etcdctl=etcd-client openssl=openssl etcd=etcd-server ip=iproute2 iptables=iptables nsenter=util-linux skopeo=skopeo umoci=umoci git=git unsquashfs=squashfs-tools
