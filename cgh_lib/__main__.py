"""``python -m cgh_lib`` is the ``cgh`` command."""

import sys

from .cli import main

sys.exit(main())
