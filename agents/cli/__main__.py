"""``python -m agents.cli``: the ``feedwatch`` command."""

import sys

from .main import main

sys.exit(main())
