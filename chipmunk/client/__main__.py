"""``python3 -m chipmunk.client``: chipmunk-client from a checkout, without installing."""
import sys

from .cli import main

sys.exit(main())
