"""``python -m cgh_lib`` is the ``cgh`` command."""

import sys

from cgh_lib.cli import main

sys.exit(main())
