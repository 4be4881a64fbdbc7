"""The node's configuration files, rendered from ``Settings`` by pure functions.

containerd's ``config.toml``, the CNI network list, the kubelet's and kube-proxy's
configurations and the CoreDNS Corefile. ``node.py`` writes them and starts the processes.
The host facts each setting answers are in devcluster/README.md ("The node").
"""

from __future__ import annotations

import json

import yaml

from devcluster.settings import Settings

CNI_BIN_DIR = "/usr/lib/cni"  # Debian's containernetworking-plugins
RUNC = "/usr/sbin/runc"  # Debian's runc
SANDBOX_IMAGE = "localhost/devcluster/pause:1"
"""The pod sandbox image, built locally (images.py): no registry is reachable here."""
CLUSTER_DOMAIN = "cluster.local"


def containerd_config(s: Settings) -> str:
    """containerd 2.x ``config.toml`` (version 3): CRI with runc, overlayfs and CNI."""
    cri = "io.containerd.cri.v1"
    return f"""version = 3
root = "{s.containerd_root}"
state = "{s.run_dir / "containerd"}"

[grpc]
  address = "{s.containerd_socket}"

[plugins."{cri}.images"]
  snapshotter = "overlayfs"
  [plugins."{cri}.images".pinned_images]
    sandbox = "{SANDBOX_IMAGE}"

[plugins."{cri}.runtime"]
  # Root here lacks CAP_SYS_RESOURCE, so runc cannot set the negative oom_score_adj the kubelet
  # asks for (Guaranteed pods, sandboxes); clamp it to containerd's own instead.
  restrict_oom_score_adj = true
  [plugins."{cri}.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."{cri}.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."{cri}.runtime".containerd.runtimes.runc.options]
        BinaryName = "{RUNC}"
        SystemdCgroup = false  # no systemd on these machines: cgroupfs, as the kubelet
  [plugins."{cri}.runtime".cni]
    bin_dirs = ["{CNI_BIN_DIR}"]
    conf_dir = "{s.cni_conf_dir}"
    max_conf_num = 1
"""


def cni_network(s: Settings) -> str:
    """A bridge network with host-local addresses from the node's pod CIDR, plus portmap."""
    network = {
        "cniVersion": "1.0.0",
        "name": "devcluster",
        "plugins": [
            {
                "type": "bridge",
                "bridge": s.cni_bridge,
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,  # a pod reaching itself through its own Service
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": s.pod_cidr}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(s.state / "cni" / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(network, indent=2)


def kubelet_config(s: Settings) -> str:
    """``KubeletConfiguration`` for a cgroup v1 host without systemd."""
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,  # these machines mount cgroup v1 (hybrid); 1.35+ refuse it otherwise
        "cgroupDriver": "cgroupfs",  # no systemd
        "containerRuntimeEndpoint": f"unix://{s.containerd_socket}",
        "address": s.node_ip,
        "port": s.kubelet_port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": s.kubelet_healthz_port,
        "tlsCertFile": str(s.pki / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(s.pki / "kubelet-serving.key"),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(s.pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDomain": CLUSTER_DOMAIN,
        "clusterDNS": [s.node_ip],  # CoreDNS runs on the host, bound to the node's address
        "resolvConf": "/etc/resolv.conf",
        "failSwapOn": False,
        "cgroupsPerQOS": True,
        "cgroupRoot": "/",
        "enforceNodeAllocatable": ["pods"],
        "serializeImagePulls": False,
        # A developer's disk is shared with other work: never evict pods or delete the images
        # built here for disk pressure; tests need memory pressure only from their own limits.
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "nodeStatusUpdateFrequency": "10s",
        "podPidsLimit": -1,
        "maxPods": 110,
    }
    return yaml.safe_dump(config, sort_keys=False)


def kube_proxy_config(s: Settings) -> str:
    """``KubeProxyConfiguration``: iptables mode, Services routed to pods and the host."""
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(s.pki / "kube-proxy.kubeconfig")},
        "hostnameOverride": s.node_name,
        "clusterCIDR": s.cluster_pod_cidr,
        "bindAddress": "0.0.0.0",
        "nodePortAddresses": ["primary"],
        "healthzBindAddress": f"127.0.0.1:{s.kube_proxy_healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{s.kube_proxy_metrics_port}",
        # Leave the host's conntrack table size alone: the sysctl belongs to the machine.
        "conntrack": {"maxPerCore": 0, "min": 0},
        "iptables": {"localhostNodePorts": False, "masqueradeAll": False},
    }
    return yaml.safe_dump(config, sort_keys=False)


def corefile(s: Settings) -> str:
    """Cluster DNS: Services and pods of ``cluster.local`` from the API, the rest forwarded."""
    return f""".:53 {{
    bind {s.node_ip}
    errors
    health 127.0.0.1:{s.coredns_health_port}
    ready 127.0.0.1:{s.coredns_ready_port}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {s.pki / "coredns.kubeconfig"}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    forward . /etc/resolv.conf
    cache 5
    loop
}}
"""
