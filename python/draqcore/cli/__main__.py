"""``python -m draqcore.cli``: the ``draq`` command line."""

from __future__ import annotations

import sys

from .main import main

sys.exit(main())
