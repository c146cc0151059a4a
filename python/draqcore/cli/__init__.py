"""The ``draq`` command line: index, search, align, check, eval, demo, config.

``main.py`` builds the parser; each subcommand is one module here with a ``register(sub)`` that adds
its options and a ``run(args)`` that does the work. Shared helpers live in ``common.py``.
"""

from __future__ import annotations

from .common import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, CommandError, expand_inputs
from .main import build_parser, main

__all__ = ["main", "build_parser", "CommandError", "VIDEO_EXTENSIONS", "IMAGE_EXTENSIONS", "expand_inputs"]
