"""``python -m routerlib``: the ``routerlib`` command (see ``routerlib.cli``)."""

import sys

from .cli import main

sys.exit(main())
