#!/usr/bin/env bash
# Build the local node's components from the upstream Go modules and cache them by version.
#   kubelet, kube-proxy (k8s.io/kubernetes, the apiserver's patch), containerd + shim + ctr,
#   buildkitd + buildctl, a CoreDNS with the plugins a cluster DNS needs, crictl, and the pod
#   sandbox ("pause") process.
# runc, the CNI plugins, iptables and debootstrap come from Debian's packages (devcluster/host-packages.sh).
# Usage: devcluster/gobuild/build-node.sh          (prints the bin dir on stdout)
# Versions and why each was chosen: devcluster/README.md.
set -euo pipefail
K8S_VERSION=${K8S_VERSION:-v1.36.3}
CONTAINERD_VERSION=${CONTAINERD_VERSION:-v2.2.9}
BUILDKIT_VERSION=${BUILDKIT_VERSION:-v0.34.2}
COREDNS_VERSION=${COREDNS_VERSION:-v1.15.0}
CRI_TOOLS_VERSION=${CRI_TOOLS_VERSION:-v1.37.0}
CACHE=${FINETUNE_CACHE:-$HOME/.cache/finetune-operator}
BIN_DIR="$CACHE/bin/node-k8s-$K8S_VERSION-containerd-$CONTAINERD_VERSION-buildkit-$BUILDKIT_VERSION-coredns-$COREDNS_VERSION-crictl-$CRI_TOOLS_VERSION"
HERE=$(cd "$(dirname "$0")" && pwd)
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
log() { echo "[build-node] $*" >&2; }

want=(kubelet kube-proxy containerd containerd-shim-runc-v2 ctr buildkitd buildctl coredns crictl pause)
missing=0
for b in "${want[@]}"; do [[ -x "$BIN_DIR/$b" ]] || missing=1; done
if [[ $missing == 0 ]]; then echo "$BIN_DIR"; exit 0; fi

WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
# An older set of this version key gains the missing binaries; what is there is kept.
if [[ -d "$BIN_DIR" && ! -d "$BIN_DIR.partial" ]]; then mv "$BIN_DIR" "$BIN_DIR.partial"; fi
mkdir -p "$BIN_DIR.partial"

# A helper main module that requires one module and builds the listed packages of it.
tool_module() {  # name module version
  mkdir -p "$WORK/$1" && cd "$WORK/$1"
  local gomod go_line
  gomod=$(go mod download -json "$2@$3" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
  go_line=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$gomod")
  printf 'module example.invalid/finetune-operator/%s\n\ngo %s\n\nrequire %s %s\n' \
    "$1" "$go_line" "$2" "$3" > go.mod
  grep -E '^godebug ' "$gomod" >> go.mod || true
}

# --- kubelet, kube-proxy: same helper shape as build.sh (staging modules need replaces) -----
if [[ ! -x "$BIN_DIR.partial/kubelet" || ! -x "$BIN_DIR.partial/kube-proxy" ]]; then
  log "building kubelet and kube-proxy $K8S_VERSION"
  tool_module k8s k8s.io/kubernetes "$K8S_VERSION"
  KMOD=$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
  STAGING="v0.${K8S_VERSION#v1.}"
  for m in $(sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/src/.*#\1#p' "$KMOD"); do
    go mod edit -replace="${m}=${m}@${STAGING}"
  done
  go mod edit -tool=k8s.io/kubernetes/cmd/kubelet -tool=k8s.io/kubernetes/cmd/kube-proxy
  go mod tidy
  MINOR=$(echo "${K8S_VERSION#v1.}" | cut -d. -f1)
  LDFLAGS="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    LDFLAGS="$LDFLAGS -X $p.gitVersion=${K8S_VERSION} -X $p.gitMajor=1 -X $p.gitMinor=${MINOR} -X $p.gitTreeState=clean"
  done
  go build -trimpath -ldflags "$LDFLAGS" -o "$BIN_DIR.partial/" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
fi

# --- containerd ---------------------------------------------------------------------------
if [[ ! -x "$BIN_DIR.partial/containerd" ]]; then
  log "building containerd $CONTAINERD_VERSION"
  tool_module containerd github.com/containerd/containerd/v2 "$CONTAINERD_VERSION"
  go mod edit -tool=github.com/containerd/containerd/v2/cmd/containerd \
    -tool=github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
    -tool=github.com/containerd/containerd/v2/cmd/ctr
  go mod tidy
  # No btrfs, devmapper or zfs snapshotters: overlayfs is the one the node uses.
  go build -trimpath -tags "no_btrfs no_devmapper no_zfs" \
    -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=${CONTAINERD_VERSION}" \
    -o "$BIN_DIR.partial/" github.com/containerd/containerd/v2/cmd/containerd \
    github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
    github.com/containerd/containerd/v2/cmd/ctr
fi

# --- buildkit -----------------------------------------------------------------------------
if [[ ! -x "$BIN_DIR.partial/buildkitd" ]]; then
  log "building buildkit $BUILDKIT_VERSION"
  tool_module buildkit github.com/moby/buildkit "$BUILDKIT_VERSION"
  go mod edit -tool=github.com/moby/buildkit/cmd/buildkitd -tool=github.com/moby/buildkit/cmd/buildctl
  go mod tidy
  go build -trimpath -ldflags "-s -w -X github.com/moby/buildkit/version.Version=${BUILDKIT_VERSION}" \
    -o "$BIN_DIR.partial/" github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl
fi

# --- CoreDNS, with only the plugins the Corefile uses -------------------------------------
if [[ ! -x "$BIN_DIR.partial/coredns" ]]; then
  log "building coredns $COREDNS_VERSION"
  tool_module coredns github.com/coredns/coredns "$COREDNS_VERSION"
  cp "$HERE/coredns/main.go.txt" main.go
  go mod tidy
  go build -trimpath -ldflags "-s -w" -o "$BIN_DIR.partial/coredns" .
fi

# --- crictl: tears pod sandboxes down through the CRI (network, netns) at cluster-down -----
if [[ ! -x "$BIN_DIR.partial/crictl" ]]; then
  log "building crictl $CRI_TOOLS_VERSION"
  tool_module crictl sigs.k8s.io/cri-tools "$CRI_TOOLS_VERSION"
  go mod edit -tool=sigs.k8s.io/cri-tools/cmd/crictl
  go mod tidy
  go build -trimpath -ldflags "-s -w" -o "$BIN_DIR.partial/crictl" sigs.k8s.io/cri-tools/cmd/crictl
fi

# --- pause: the pod sandbox's process (images.py packs it into the sandbox image) ----------
if [[ ! -x "$BIN_DIR.partial/pause" ]]; then
  log "building pause"
  mkdir -p "$WORK/pause" && cd "$WORK/pause"
  cp "$HERE/pause/main.go.txt" main.go
  printf 'module example.invalid/finetune-operator/pause\n\ngo 1.24\n' > go.mod
  go build -trimpath -ldflags "-s -w" -o "$BIN_DIR.partial/pause" .
fi

rm -rf "$BIN_DIR" && mv "$BIN_DIR.partial" "$BIN_DIR"
log "node binaries ready in $BIN_DIR"
echo "$BIN_DIR"
