"""The local control plane used by the e2e tests and the demo.

There is no container engine here, so kind/k3d/minikube cannot run. Instead this package starts
the real upstream components (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
built by ``gobuild/build.sh``), a SeaweedFS S3 gateway, and a node agent that runs bound pods as
local processes. ``python -m devcluster up|down|env|status`` is the one entry point; the
Makefile and the pytest fixtures in ``tests/conftest.py`` call the same code.
"""
