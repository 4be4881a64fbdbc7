"""finetune_api: the contract between the operator, the trainer and the stand-in trainer.

Every fact the parts must agree on is stated once, here: the FineTuneJob model (``jobspec``) and
where it lives in the Kubernetes API (``resource``); the trainer pod's ports, exit codes,
termination-message path, environment and scratch layout (``pod``); the failure reasons
(``reasons``); the progress report and termination summary (``reports``); and the status the
operator writes (``status``). It imports only pydantic and PyYAML: the operator image ships it
without torch, and the stand-in trainer's image needs nothing else.
"""
