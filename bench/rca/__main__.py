"""``python -m bench.rca``: see :mod:`bench.rca.run`."""

from __future__ import annotations

import sys

from bench.rca.run import main

sys.exit(main())
