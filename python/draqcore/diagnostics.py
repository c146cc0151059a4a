"""Warnings about results that are computed correctly but mean little.

DRAQ (paper Eq. 6) compares the optimal path with random monotone paths through the same
region. When the region is only a few frames long on either side there are hardly any different
paths to compare with: a region of 1 x w or n x 1 cells holds a single monotone path, so DTW cost
and random cost are the same sum and DRAQ is exactly 1.0 whatever the content; a 2 x 2 region
holds three paths. Such a DRAQ says nothing about alignability, so draqcore warns instead of
silently returning a number close to 1.0.

The warning is about the clips' lengths. A subsequence match (``subsequence=True``) whose span
collapses onto a few columns of a long clip is not warned about: the query then stands still on
a few frames of the candidate, and a DRAQ near (or, for one column, exactly) 1.0 is the right
verdict — no better than random, not alignable. Unrelated long clips typically collapse so.
"""

from __future__ import annotations

import warnings
from typing import Sequence

__all__ = ["ShortSequenceWarning", "MIN_DRAQ_FRAMES", "warn_short_draq"]

#: Fewest frames, on each side of the aligned region, for which DRAQ is reported without a
#: warning. With 5 x 5 cells there are 321 monotone paths (Delannoy number D(4, 4)) and the
#: random paths' mean cost is no longer pinned to the optimal path's own cells; below that the
#: count collapses (63 paths for 4 x 4, 13 for 3 x 3, 3 for 2 x 2, 1 for a single row or column).
#: At 10 sampled frames per second, 5 frames are half a second of video.
MIN_DRAQ_FRAMES: int = 5


class ShortSequenceWarning(UserWarning):
    """DRAQ was computed over a region shorter than :data:`MIN_DRAQ_FRAMES` frames on a side.

    The value is returned as computed, but it is not a meaningful alignability score (it is
    exactly 1.0 when either side has a single frame). Filter it with
    ``warnings.simplefilter("ignore", draqcore.ShortSequenceWarning)`` where short clips are
    expected.
    """


def warn_short_draq(rows: int, widths: Sequence[int], where: str, stacklevel: int = 3) -> None:
    """Warn once when ``rows`` or any of ``widths`` is below :data:`MIN_DRAQ_FRAMES`.

    ``rows`` is the query's frame count, ``widths[c]`` candidate ``c``'s.
    """
    short = [c for c, w in enumerate(widths) if min(rows, int(w)) < MIN_DRAQ_FRAMES]
    if not short:
        return
    first = short[0]
    if len(widths) == 1:
        what = f"a {rows} x {int(widths[0])}-frame pair"
    else:
        what = (
            f"{len(short)} of {len(widths)} candidates (first: candidates[{first}], "
            f"{rows} x {int(widths[first])} frames)"
        )
    warnings.warn(
        f"{where}: DRAQ over {what} is not meaningful: fewer than {MIN_DRAQ_FRAMES} frames on a "
        "side leave almost no random paths to compare with (DRAQ is exactly 1.0 with a single "
        "frame)",
        ShortSequenceWarning,
        stacklevel=stacklevel,
    )
