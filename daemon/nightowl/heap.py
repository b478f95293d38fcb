"""Keep freed memory in the process for reuse (glibc's malloc tuned for numeric work).

Analysis allocates and frees arrays of a few hundred kilobytes to a few megabytes
thousands of times per file. By default glibc serves the larger ones with fresh
mappings and trims the heap as soon as they are freed, so each new array is faulted
in page by page again: on the fake-lossless check that doubled the time of the MP3
granule search. A child process that does such work raises both thresholds once at
start; the memory it keeps is given back when the child exits (the analysis child
exits after a minute without work).
"""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# glibc's ceiling for the mmap threshold on 64-bit systems: larger blocks (a whole
# decoded file) are still mapped and unmapped, which costs little next to their use
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 128 * 1024 * 1024  # free memory kept at the top of the heap


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process. False where the C
    library is not glibc (nothing changes there)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
