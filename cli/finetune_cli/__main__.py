"""``python -m finetune_cli``, the same as ``kubectl finetune``."""

import sys

from finetune_cli.main import main

sys.exit(main())
