"""``python -m retention_utils.reports``: the report runner's command line."""

import sys

from . import main

sys.exit(main())
