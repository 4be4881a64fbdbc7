"""The FineTuneJob operator: Kopf handlers → decisions → pure manifest builders.

Layers (imports point down only): ``handlers`` (Kopf decorators) → ``reconcile`` (one pass per
job: observe, decide, act) → ``decisions`` (the phase machine, pure) → ``builders`` (child
manifests, pure), ``observed``, ``status_mirror``, ``conditions`` and ``names`` (pure) → the
contract package ``finetune_api``. All I/O sits in ``kube`` (the Kubernetes API) and
``progress_client`` (the trainer's HTTP progress endpoint); ``metrics`` serves Prometheus.
"""
