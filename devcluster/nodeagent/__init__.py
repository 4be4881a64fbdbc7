"""A small kubelet stand-in: registers GPU nodes and runs their pods as local processes.

Only for tests and the demo. Each pod gets a private mount and UTS namespace (volumes bind-mounted
at their mount paths, a generated /etc/hosts, its own hostname) and its own loopback IP; its
containers' commands run on the host with the project's venv first on PATH. Images are recorded,
never pulled; the securityContext is recorded, not enforced (everything runs as root), while
PodSecurity admission in the apiserver still enforces the manifest. See devcluster/README.md.
"""
