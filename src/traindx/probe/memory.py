"""Process memory without torch: resident set size now and at its peak (Linux ``/proc``, else ``resource``)."""

from __future__ import annotations

import os
import sys

try:
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]


PEAK_EVERY = 16  # getrusage once in this many reads; in between the peak is the larger of the last one and the RSS now


class ProcessMemory:
    """Reads the resident set size cheaply (one ``pread`` of ``/proc/self/statm``) and the peak from ``getrusage``.

    A system call costs tens of microseconds in a sandboxed kernel, so the peak
    is asked of the kernel only every ``PEAK_EVERY`` reads (and at the first);
    between those it is the larger of the last peak and the RSS read now, which
    can miss a peak that rose and fell within those steps, never overstate one.
    """

    def __init__(self) -> None:
        self._fd: int | None = None
        self._reads = 0
        self._peak: int | None = None
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        try:
            self._fd = os.open("/proc/self/statm", os.O_RDONLY)
        except OSError:
            self._fd = None

    def rss(self) -> int | None:
        if self._fd is None:
            return None
        try:
            raw = os.pread(self._fd, 128, 0)
            return int(raw.split()[1]) * self._page
        except (OSError, ValueError, IndexError):
            return None

    @staticmethod
    def peak() -> int | None:
        if resource is None:  # pragma: no cover - Windows
            return None
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(kb if sys.platform == "darwin" else kb * 1024)

    def read(self) -> dict[str, int]:
        out: dict[str, int] = {}
        r = self.rss()
        if r is not None:
            out["rss"] = r
        if self._reads % PEAK_EVERY == 0:
            self._peak = self.peak()
        self._reads += 1
        p = self._peak
        if p is not None:
            p = max(p, r) if r is not None else p
            self._peak = p
            out["rss_peak"] = p
        return out

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            finally:
                self._fd = None
