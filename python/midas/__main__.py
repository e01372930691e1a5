"""``python -m midas VERB ...``: the same command line as the ``midas`` console script."""

import sys

from midas.cli.main import main

sys.exit(main())
