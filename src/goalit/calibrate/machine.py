"""The host: a description for the profile's ``[meta]`` table, and two probes that set the roofline's peaks.

The roofline (docs/model.md B.5) needs a memory bandwidth BW and a compute peak F. A CPU VM's datasheet figures
are unknown or shared, so both are *measured* here as the best of a few repetitions:

- ``read_bandwidth_bytes_per_s``: NumPy ``max`` over a 256 MiB float32 array per thread (bytes read
  / s), ``threads`` threads (NumPy releases the GIL in reductions). The array is far larger than the
  last-level cache, so this is DRAM read bandwidth, what decode streams weights from. (``max`` runs at
  ~45 GB/s from cache on the development machine, so it is not compute-bound; ``sum`` is, at ~20 GB/s.)
- ``gemm_flops``: NumPy float32 matrix product (BLAS, ``threads`` threads), 2 n^3 FLOP / s. llama.cpp's CPU
  backend has no FP16 arithmetic (F16C only converts), so this FP32 peak plays the role of
  ``flops_fp16`` in the hardware profile.

The efficiencies eta_m and eta_c fitted later are fractions of these measured peaks.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

PROBE_BYTES = 256 * 2**20  # per thread; >> the 32 MiB L3 of the development machine


@dataclass(frozen=True)
class MachineInfo:
    """What the profile says about the host."""

    cpu_model: str
    logical_cpus: int
    memory_bytes: int
    system: str
    python: str

    def describe(self) -> str:
        gib = self.memory_bytes / 2**30
        return f"{self.cpu_model}, {self.logical_cpus} logical CPUs, {gib:.1f} GiB RAM, {self.system}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def machine_info() -> MachineInfo:
    """CPU model (``/proc/cpuinfo``), logical CPUs, physical memory, OS and Python version."""
    return MachineInfo(
        cpu_model=_cpu_model(),
        logical_cpus=os.cpu_count() or 1,
        memory_bytes=int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")),
        system=f"{platform.system()} {platform.machine()}",
        python=platform.python_version(),
    )


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def read_bandwidth_bytes_per_s(threads: int, repeats: int = 5, nbytes: int = PROBE_BYTES) -> float:
    """Best-of-``repeats`` DRAM read bandwidth with ``threads`` threads (bytes/s)."""
    arrays = [np.ones(nbytes // 4, dtype=np.float32) for _ in range(threads)]
    best = 0.0
    for _ in range(repeats):
        barrier = threading.Barrier(threads + 1)

        def work(a: np.ndarray, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            a.max()

        pool = [threading.Thread(target=work, args=(a,)) for a in arrays]
        for t in pool:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        for t in pool:
            t.join()
        best = max(best, threads * nbytes / (time.perf_counter() - t0))
    return best


def gemm_flops(threads: int, n: int = 1024, repeats: int = 5) -> float:
    """Best-of-``repeats`` float32 GEMM throughput (FLOP/s) of NumPy's BLAS with ``threads`` threads.

    Runs in a child Python process, since the BLAS thread count is fixed when the library loads
    (``OPENBLAS_NUM_THREADS`` and friends).
    """
    code = (
        "import time, numpy as np\n"
        f"n, best = {n}, 0.0\n"
        "rng = np.random.default_rng(0)\n"
        "a = rng.standard_normal((n, n), dtype=np.float32)\n"
        "b = rng.standard_normal((n, n), dtype=np.float32)\n"
        "a @ b\n"
        f"for _ in range({repeats}):\n"
        "    t0 = time.perf_counter(); a @ b; best = max(best, 2.0 * n**3 / (time.perf_counter() - t0))\n"
        "print(best)\n"
    )
    env = {**os.environ, **{v: str(threads) for v in _BLAS_THREAD_VARS}}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


_BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


# ------------------------------------------------------------------------------ contention on a shared host


def _machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine since boot, in clock ticks (``/proc/stat``)."""
    with open("/proc/stat", encoding="ascii") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user/nice
    return total - idle, total


def _self_jiffies() -> int:
    """CPU time (user + system, all threads) of this process, in clock ticks (``/proc/self/stat``)."""
    with open("/proc/self/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))


class OtherLoad:
    """Fraction of the machine's CPU time used by *other* processes between ``start()`` and ``stop()``.

    0 means this process had the machine to itself; 0.5 on a 2-CPU machine means one CPU was busy
    elsewhere on average. Returns NaN where ``/proc`` is unavailable.
    """

    _m0: tuple[int, int] | None = None
    _s0: int = 0

    def start(self) -> OtherLoad:
        try:
            self._m0, self._s0 = _machine_jiffies(), _self_jiffies()
        except OSError:
            self._m0 = None
        return self

    def stop(self) -> float:
        if self._m0 is None:
            return float("nan")
        (b1, t1), s1 = _machine_jiffies(), _self_jiffies()
        (b0, t0), s0 = self._m0, self._s0
        if t1 <= t0:
            return 0.0
        return max(0.0, ((b1 - b0) - (s1 - s0)) / (t1 - t0))


def wait_for_quiet(max_other: float, timeout_s: float, window_s: float = 1.0) -> float:
    """Wait until other processes use at most ``max_other`` of the machine over a ``window_s`` window.

    Gives up after ``timeout_s`` (measuring anyway; the load is recorded with the timings). Returns the
    other processes' load in the last window.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        meter = OtherLoad().start()
        time.sleep(window_s)
        load = meter.stop()
        if not load > max_other or time.monotonic() >= deadline:
            return load
