#!/usr/bin/env bash
# Build the local control plane's binaries from the upstream Go modules and cache them by version.
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, helm
# Usage: devcluster/gobuild/build.sh            (prints the bin dir on stdout)
# Why helper modules: k8s.io/kubernetes requires its staging modules at v0.0.0 with replaces that
# Go ignores in a dependency, so `go install ...@v1.x` cannot work; a main module that carries
# one replace per staging module can.
set -euo pipefail
K8S_VERSION=${K8S_VERSION:-v1.36.3}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
HELM_VERSION=${HELM_VERSION:-v3.22.0}
CACHE=${FINETUNE_CACHE:-$HOME/.cache/finetune-operator}
BIN_DIR="$CACHE/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-helm-$HELM_VERSION"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
log() { echo "[gobuild] $*" >&2; }

want=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl helm)
missing=0
for b in "${want[@]}"; do [[ -x "$BIN_DIR/$b" ]] || missing=1; done
if [[ $missing == 0 ]]; then echo "$BIN_DIR"; exit 0; fi

WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
mkdir -p "$BIN_DIR.partial"

# --- kubernetes ---------------------------------------------------------------------------
if [[ ! -x "$BIN_DIR.partial/kube-apiserver" || ! -x "$BIN_DIR.partial/kubectl" ]]; then
  log "building kubernetes $K8S_VERSION (first time takes 15-30 min on 2 cores)"
  mkdir -p "$WORK/k8s" && cd "$WORK/k8s"
  KMOD=$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
  GO_LINE=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$KMOD")
  STAGING="v0.${K8S_VERSION#v1.}"
  {
    echo "module example.invalid/finetune-operator/k8s-bins"; echo
    echo "go ${GO_LINE}"; echo
    grep -E '^godebug ' "$KMOD" || true
    echo
    printf 'tool (\n\tk8s.io/kubernetes/cmd/kube-apiserver\n\tk8s.io/kubernetes/cmd/kube-controller-manager\n\tk8s.io/kubernetes/cmd/kube-scheduler\n\tk8s.io/kubernetes/cmd/kubectl\n)\n\n'
    echo "require k8s.io/kubernetes ${K8S_VERSION}"
  } > go.mod
  for m in $(sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/src/.*#\1#p' "$KMOD"); do
    go mod edit -replace="${m}=${m}@${STAGING}"
  done
  go mod tidy
  MINOR=$(echo "${K8S_VERSION#v1.}" | cut -d. -f1)
  LDFLAGS="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    LDFLAGS="$LDFLAGS -X $p.gitVersion=${K8S_VERSION} -X $p.gitMajor=1 -X $p.gitMinor=${MINOR} -X $p.gitTreeState=clean"
  done
  go build -trimpath -ldflags "$LDFLAGS" -o "$BIN_DIR.partial/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
fi

# --- etcd ---------------------------------------------------------------------------------
if [[ ! -x "$BIN_DIR.partial/etcd" ]]; then
  log "building etcd $ETCD_VERSION"
  mkdir -p "$WORK/etcd" && cd "$WORK/etcd"
  printf 'module example.invalid/finetune-operator/etcd-bin\n\ngo 1.24.0\n\ntool go.etcd.io/etcd/server/v3\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" > go.mod
  go mod tidy
  go build -trimpath -ldflags "-s -w" -o "$BIN_DIR.partial/etcd" go.etcd.io/etcd/server/v3
fi

# --- helm ---------------------------------------------------------------------------------
if [[ ! -x "$BIN_DIR.partial/helm" ]]; then
  log "building helm $HELM_VERSION"
  mkdir -p "$WORK/helm" && cd "$WORK/helm"
  printf 'module example.invalid/finetune-operator/helm-bin\n\ngo 1.24.0\n\ntool helm.sh/helm/v3/cmd/helm\n\nrequire helm.sh/helm/v3 %s\n' "$HELM_VERSION" > go.mod
  go mod tidy
  go build -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}" -o "$BIN_DIR.partial/helm" helm.sh/helm/v3/cmd/helm
fi

rm -rf "$BIN_DIR" && mv "$BIN_DIR.partial" "$BIN_DIR"
log "binaries ready in $BIN_DIR"
echo "$BIN_DIR"
