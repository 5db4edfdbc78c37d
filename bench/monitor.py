"""Samples a server's process tree with psutil: CPU seconds used over a run and peak resident memory."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass

import psutil

SAMPLE_INTERVAL_S = 0.1


@dataclass(frozen=True)
class ResourceUsage:
    """What the server's process tree used between `start()` and `stop()`."""

    cpu_seconds: float
    peak_rss_bytes: int
    idle_rss_bytes: int
    samples: int


class ProcessTreeMonitor:
    """Polls a process and all its descendants every 100 ms on a background thread.

    CPU is tracked per pid, keeping each pid's last reading, so a child that exits mid-run still counts
    up to its last sample; RSS is summed over the tree at each sample and the maximum kept.
    """

    def __init__(self, pid: int, interval: float = SAMPLE_INTERVAL_S) -> None:
        self._root = psutil.Process(pid)
        self._interval = interval
        self._baseline: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._peak_rss = 0
        self._idle_rss = 0
        self._samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-monitor", daemon=True)
        self._lock = threading.Lock()

    def _tree(self) -> list[psutil.Process]:
        try:
            return [self._root, *self._root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def _sample(self) -> tuple[dict[int, float], int]:
        cpu: dict[int, float] = {}
        rss = 0
        for proc in self._tree():
            # A process can exit between listing and reading it; it simply drops out of this sample.
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                with proc.oneshot():
                    times = proc.cpu_times()
                    cpu[proc.pid] = times.user + times.system
                    rss += proc.memory_info().rss
        return cpu, rss

    def _record(self) -> None:
        cpu, rss = self._sample()
        with self._lock:
            self._last.update(cpu)
            self._peak_rss = max(self._peak_rss, rss)
            self._samples += 1

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._record()

    def start(self) -> ProcessTreeMonitor:
        cpu, rss = self._sample()
        self._baseline = dict(cpu)
        self._last = dict(cpu)
        self._idle_rss = self._peak_rss = rss
        self._thread.start()
        return self

    def stop(self) -> ResourceUsage:
        self._stop.set()
        self._thread.join()
        self._record()
        with self._lock:
            # Pids born during the run have no baseline: all their CPU belongs to the run.
            used = sum(value - self._baseline.get(pid, 0.0) for pid, value in self._last.items())
            return ResourceUsage(
                cpu_seconds=used,
                peak_rss_bytes=self._peak_rss,
                idle_rss_bytes=self._idle_rss,
                samples=self._samples,
            )
