"""finetune_trainer: turns a base model and a dataset in S3 into tuned weights, metrics and a card."""
