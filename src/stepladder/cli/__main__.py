"""``python -m stepladder.cli ...`` runs the ``stepladder`` command (same entry point)."""

import sys

from stepladder.cli import main

sys.exit(main())
