"""The local cluster used by the e2e tests, the demo and the benchmarks.

There is no container engine here, so kind/k3d/minikube cannot run. Instead this package starts
the real upstream components as host processes: a control plane (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, built by ``gobuild/build.sh``), one node (containerd,
runc, CNI, kubelet, kube-proxy, CoreDNS, built by ``gobuild/build-node.sh``) that runs the
project's own images, built from its Dockerfiles by BuildKit, and a SeaweedFS S3 gateway.
``python -m devcluster up|down|env|status`` is the one entry point; the Makefile and the pytest
fixtures in ``tests/conftest.py`` call the same code.
"""
