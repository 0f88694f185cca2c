"""Min/max decimation of a long series for drawing: the browser gets at most ``max_points``
points, and every spike survives, because each bucket keeps both its lowest and its highest
value (an average or a stride would hide a divergence in the loss).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

MAX_POINTS = 4_000


@dataclass(frozen=True)
class Decimated:
    """``x`` holds positions in the full series (sorted), ``y`` their values; ``width`` is
    the bucket size (1: nothing was dropped)."""

    x: npt.NDArray[np.int64]
    y: npt.NDArray[np.float64]
    width: int

    def __len__(self) -> int:
        return len(self.x)


def bucket_width(n: int, max_points: int = MAX_POINTS) -> int:
    """Points per bucket so that two per bucket fit in ``max_points``."""
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2 (one min and one max), not {max_points}")
    if n <= max_points:
        return 1
    return -(-n // (max_points // 2))


def minmax(values: npt.ArrayLike, max_points: int = MAX_POINTS) -> Decimated:
    """The series itself if it is short, else the minimum and maximum of each of at most
    ``max_points // 2`` equal buckets, in position order. NaN never wins a bucket unless the
    whole bucket is NaN (a chart then shows a gap)."""
    y = np.asarray(values, dtype=np.float64).ravel()
    n = len(y)
    width = bucket_width(n, max_points)
    if width == 1:
        return Decimated(np.arange(n, dtype=np.int64), y.copy(), 1)
    at_min, at_max = _extremes(y, y, width)
    # argmin/argmax stop at the first NaN: if one won anywhere, redo with NaN made neutral.
    if np.isnan(y[at_min]).any() or np.isnan(y[at_max]).any():
        nan = np.isnan(y)
        at_min, at_max = _extremes(np.where(nan, np.inf, y), np.where(nan, -np.inf, y), width)
    order = np.stack([np.minimum(at_min, at_max), np.maximum(at_min, at_max)], axis=1).ravel()
    # A flat bucket has the same point as min and max: keep it once.
    keep = np.ones(len(order), dtype=bool)
    keep[1:] = order[1:] != order[:-1]
    x = order[keep]
    return Decimated(x, y[x], width)


def _extremes(low: npt.NDArray[np.float64], high: npt.NDArray[np.float64],
              width: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Positions of the minimum of ``low`` and the maximum of ``high`` per bucket."""
    n = len(low)
    full = n // width
    # Whole buckets are a reshaped view (no copy of a long history); the short last one is
    # reduced on its own.
    at_min = np.empty(-(-n // width), dtype=np.int64)
    at_max = np.empty_like(at_min)
    base = np.arange(full, dtype=np.int64) * width
    at_min[:full] = base + low[:full * width].reshape(full, width).argmin(axis=1)
    at_max[:full] = base + high[:full * width].reshape(full, width).argmax(axis=1)
    if full < len(at_min):
        at_min[full] = full * width + low[full * width:].argmin()
        at_max[full] = full * width + high[full * width:].argmax()
    return at_min, at_max
