"""Moved to :mod:`draqcore.outputs` (kept so that ``from draqcore.render import ...`` still works)."""

from __future__ import annotations

from .outputs.plots import write_cost_plot
from .outputs.side_by_side import write_side_by_side

__all__ = ["write_side_by_side", "write_cost_plot"]
