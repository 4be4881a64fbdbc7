#!/usr/bin/env bash
# Debian's packages the local node needs on the host (as root): runc, the CNI plugins, iptables
# (kube-proxy), conntrack, and debootstrap (the images' base). Quick when they are installed.
set -euo pipefail
need=(runc containernetworking-plugins iptables conntrack debootstrap)
missing=()
for p in "${need[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if (( ${#missing[@]} )); then
  echo "[host-packages] installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
