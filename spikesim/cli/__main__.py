import sys

from spikesim.cli import main

sys.exit(main())
