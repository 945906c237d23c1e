"""``python -m routerlib.cli``: the ``routerlib`` command."""

import sys

from . import main

sys.exit(main())
