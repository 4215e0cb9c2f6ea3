"""The dev cloud's notion of "now": real time, plus the simulated board's virtual offset, plus
an offset the admin sets.

The virtual-clock file (`TEMPNODE_VCLOCK`, see `boards/host/time.py`) holds 8 bytes: virtual
minus real Unix time in ms, little-endian signed. The board rewrites it whenever it drifts a
second and before it talks to the cloud, so it is read on every call (one `pread`); a missing
or short file counts as offset 0.
"""

import os
import struct
import threading
import time
from email.utils import formatdate

VCLOCK_ENV = "TEMPNODE_VCLOCK"


class ServerClock:
    def __init__(self, vclock_path=None):
        path = vclock_path or os.environ.get(VCLOCK_ENV)
        self.vclock_path = str(path) if path else None
        self.offset_s = 0.0
        self._fd = None
        self._lock = threading.Lock()

    def vclock_ms(self):
        """The simulated board's offset (virtual minus real), in ms."""
        if not self.vclock_path:
            return 0
        with self._lock:
            if self._fd is None:
                try:
                    self._fd = os.open(self.vclock_path, os.O_RDONLY)
                except OSError:
                    return 0
            data = os.pread(self._fd, 8, 0)
        return struct.unpack("<q", data)[0] if len(data) == 8 else 0

    def now(self):
        """Unix seconds (float) as the dev cloud sees them."""
        return time.time() + self.vclock_ms() / 1000 + self.offset_s

    def http_date(self, at=None):
        """An RFC 9110 §5.6.7 IMF-fixdate, for `Date` and `Retry-After`."""
        return formatdate(self.now() if at is None else at, usegmt=True)

    def close(self):
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
