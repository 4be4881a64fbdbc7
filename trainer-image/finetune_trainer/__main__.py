"""Entry point of the trainer image: ``python -m finetune_trainer``."""

import sys

from finetune_trainer.cli import main

sys.exit(main())
