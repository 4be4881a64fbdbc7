"""The FineTuneJob operator: Kopf handlers → decisions → pure manifest builders.

Layers (imports point down only): ``handlers`` (Kopf decorators) → ``reconcile`` (one pass per
job: observe, decide, act) → ``decisions`` (the phase machine, pure) → ``builders`` (child
manifests, pure) → ``names`` and the shared job model ``finetune_trainer.jobspec``. All I/O sits
in ``kube`` (Kubernetes API) and ``progress`` (the trainer's HTTP progress channel).
"""
