"""finetune_cli: ``kubectl finetune``, the user's side of the FineTuneJob API.

A kubectl plugin (console script ``kubectl-finetune``): create jobs from a manifest or flags,
follow them, read their logs and outputs, and run a job on this machine with no cluster
(``run --local``). It speaks to the cluster through the FineTuneJob API only, as a user
would: it imports the contract (``finetune_api``), never the operator, and the trainer only
to run a job locally and to draw the same loss plot the trainer publishes.
"""
