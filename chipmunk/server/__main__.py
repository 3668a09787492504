"""``python3 -m chipmunk.server``: chipmunk-server from a checkout, without installing."""
import sys

from .cli import main

sys.exit(main())
