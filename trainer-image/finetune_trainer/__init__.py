"""finetune_trainer: a base model and a dataset in S3 in; tuned weights, metrics and a card out."""
