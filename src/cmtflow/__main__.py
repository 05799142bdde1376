"""``python -m cmtflow``: the same as the ``cmtflow`` command."""

import sys

from cmtflow.cli import main

sys.exit(main())
