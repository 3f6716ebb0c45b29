"""Hand memory freed by a burst of large bodies back to the system, so the instance stays within its limit.

glibc's malloc serves a large request (a body, its decoded text, its spool document) from an mmap of its
own, returned to the kernel on free, but only up to a threshold it raises every time such a block is
freed (up to 32 MiB on 64-bit). After the first few megabyte-sized hits every later one comes from the
heaps of the worker's threads, whose memory freed in the middle is kept, so a burst of concurrent large
hits leaves the process's resident memory at several times what it holds. Measured with
`scripts/bench-memory` (80 concurrent 1 MiB worst-case hits, BigQuery down): 507-586 MiB peak with the
moving threshold, 269-277 MiB with it fixed at 128 KiB (docs/benchmark.md). Fixing it costs one
mmap/munmap per large buffer; bodies under 128 KiB are served as before.
"""

from __future__ import annotations

import ctypes

# glibc's mallopt parameters (malloc.h), both set to the defaults its documentation gives: the trim
# threshold, too, is raised with the mmap threshold (to twice it), and a process that fixes the mmap
# threshold only after start-up may have raised it already.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
THRESHOLD_BYTES = 128 * 1024


def keep_large_buffers_returnable() -> bool:
    """Fix glibc's mmap threshold (for this process and those it forks later); False where the C library
    is not glibc (nothing to do: the setting is glibc's)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, THRESHOLD_BYTES))
