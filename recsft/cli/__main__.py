"""``python -m recsft.cli``: the ``recsft`` command."""

import sys

from recsft.cli import main

sys.exit(main())
