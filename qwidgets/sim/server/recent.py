"""What the server worked out for recent requests and would otherwise work out again: a sweep
posts a model per configuration on one dataset, then asks each for a forecast of the same
rows, and parsing that CSV each time cost more than the forecast.

Only facts that cannot go stale are kept: a stored dataset never changes under its guid, and
a payload's parse is a function of its bytes.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import pandas as pd

MAX_FRAMES = 16
MAX_FRAME_BYTES = 64 << 20
MAX_FITS = 1024


class Recent:
    """Parsed inference payloads (by their digest) and the dataset/operators pairs that
    passed the column check; thread-safe, bounded by count and, for frames, by size."""

    def __init__(self, max_frames: int = MAX_FRAMES, max_bytes: int = MAX_FRAME_BYTES,
                 max_fits: int = MAX_FITS) -> None:
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.max_fits = max_fits
        self._lock = threading.Lock()
        self._frames: OrderedDict[bytes, tuple[pd.DataFrame, int]] = OrderedDict()
        self._bytes = 0
        self._fits: OrderedDict[Hashable, None] = OrderedDict()

    def frame(self, payload: object, parse: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """``parse()`` of ``payload``, or a copy of the frame an earlier call parsed from the
        same text (a copy: the caller may change it). Errors are not kept: a bad payload is
        refused again, with the same message."""
        if not isinstance(payload, str):
            return parse()  # refused there, naming the field
        digest = hashlib.blake2b(payload.encode("ascii", "replace"), digest_size=20).digest()
        with self._lock:
            found = self._frames.get(digest)
            if found is not None:
                self._frames.move_to_end(digest)
                return found[0].copy()
        frame = parse()
        size = len(payload)
        if size <= self.max_bytes:
            with self._lock:
                if digest not in self._frames:
                    self._frames[digest] = (frame.copy(), size)
                    self._bytes += size
                while len(self._frames) > self.max_frames or self._bytes > self.max_bytes:
                    _, (_, dropped) = self._frames.popitem(last=False)
                    self._bytes -= dropped
        return frame

    def fits(self, key: Hashable) -> bool:
        with self._lock:
            if key in self._fits:
                self._fits.move_to_end(key)
                return True
            return False

    def remember_fit(self, key: Hashable) -> None:
        with self._lock:
            self._fits[key] = None
            while len(self._fits) > self.max_fits:
                self._fits.popitem(last=False)
