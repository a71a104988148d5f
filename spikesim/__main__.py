"""``python -m spikesim``: the command line, as the ``spikesim`` script."""

import sys

from spikesim.cli import main

sys.exit(main())
