"""OpenBLAS pinned to the kernels of one vector width: the peer of one ISA level
of the cpp backend (``openblas-avx2`` against ``cpp-avx2``, ``openblas-avx512``
against ``cpp-avx512``).

OpenBLAS picks its kernels once, when it is loaded, from ``OPENBLAS_CORETYPE``
(``Haswell``: AVX2+FMA, ``SkylakeX``: AVX-512) or, unset, from the CPU. The
benchmark process itself runs with it unset (the default ``numpy-blas`` peer is
whatever OpenBLAS picks), so a pinned peer lives in a worker subprocess started
with the variable set: NumPy's ``@`` there, timed by the same
:func:`~pyfwd.bench.timing.measure`, at the cell's thread count
(threadpoolctl). Inputs and the output travel as ``.npy`` files; the output goes
through the same correctness gate as every kernel's. The worker checks, through
threadpoolctl, that OpenBLAS did load the kernels asked for; if not (a build
without dynamic dispatch, another BLAS), the kernel is skipped with that reason.

Run as ``python -m pyfwd.bench.pinned_blas``, it is that worker: one JSON
request per line on stdin, one JSON reply per line on stdout.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from .cases import Case, Inputs
from .kernels import Kernel
from .timing import Timing

#: ISA level -> the OPENBLAS_CORETYPE whose kernels have its vector width. The
#: generic level has none (OpenBLAS has no kernel set of the generic C++ code's width).
CORETYPE = {"avx512": "SkylakeX", "avx2": "Haswell"}
NO_PEER = "no pinned OpenBLAS equivalent (OpenBLAS has no kernel set of this level's width)"
#: Seconds a worker may take to start (import NumPy, load OpenBLAS) or to answer one request.
TIMEOUT_S = 600.0


class PinnedOpenBlas(Kernel):
    """``X @ W.T`` per layer (the gemm suite's square products) in a worker whose
    OpenBLAS is pinned to the kernels of ISA level *isa*."""

    suites = ("gemm",)
    computes = "matmuls"

    def __init__(self, isa: str, supported: list[str]) -> None:
        super().__init__()
        self.isa, self.coretype = isa, CORETYPE[isa]
        self.name = f"openblas-{isa}"
        self.description = (f"NumPy's OpenBLAS in a subprocess with OPENBLAS_CORETYPE={self.coretype} "
                            f"({isa}-wide kernels): X @ W.T, the same-width peer of cpp-{isa}")
        self.threads = 1
        self.first_call_s: float | None = None
        self.architecture: str | None = None
        self._proc: subprocess.Popen | None = None
        self._dir: tempfile.TemporaryDirectory | None = None
        if isa not in supported:
            self.reason = f"this CPU lacks {isa}"
            return
        try:
            import threadpoolctl  # noqa: F401  (the worker needs it to check and set its BLAS)
        except ImportError:
            self.reason = "threadpoolctl not installed (needed to pin and check the worker's OpenBLAS)"
            return
        self.reason = self._start()

    # -- the worker, seen from the benchmark process --------------------------
    def _start(self) -> str | None:
        """Start the worker; None if its OpenBLAS runs the pinned kernels, else why not."""
        import pyfwd

        root = os.path.dirname(os.path.dirname(os.path.realpath(pyfwd.__file__)))
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "OPENBLAS_CORETYPE": self.coretype,
               "PYTHONPATH": root + (os.pathsep + path if path else "")}
        self._dir = tempfile.TemporaryDirectory(prefix=f"pyfwd-bench-{self.name}-")
        try:
            self._proc = subprocess.Popen([sys.executable, "-m", "pyfwd.bench.pinned_blas"], env=env, text=True,
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=self._dir.name)
            hello = self._reply()
        except (OSError, RuntimeError) as exc:
            self.close()
            return f"pinned OpenBLAS worker did not start ({exc})"
        self.architecture = hello.get("architecture")
        if hello.get("internal_api") != "openblas":
            self.close()
            return f"NumPy's BLAS is not OpenBLAS ({hello.get('internal_api') or 'not found by threadpoolctl'})"
        if (self.architecture or "").lower() != self.coretype.lower():
            self.close()
            return (f"OPENBLAS_CORETYPE={self.coretype} not honoured: OpenBLAS {hello.get('version')} "
                    f"runs {self.architecture} kernels")
        self.description += f"; OpenBLAS {hello.get('version')} reports {self.architecture}"
        return None

    def _reply(self) -> dict:
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited (status {self._proc.poll()})")
        out = json.loads(line)
        if "error" in out:
            raise RuntimeError(f"worker: {out['error']}")
        return out

    def _ask(self, **request) -> dict:
        if self._proc is None:
            raise RuntimeError("worker not running")
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        return self._reply()

    def applies(self, case: Case) -> str | None:
        why = super().applies(case)
        if why is None and not case.square:
            return "square products only (the per-ISA-level sgemm/dgemm rows)"
        return why

    def set_threads(self, n: int) -> None:
        self.threads = n

    def prepare(self, case: Case, data: Inputs):
        files = []
        for i, a in enumerate([data.X, *data.weights]):
            files.append(os.path.join(self._dir.name, f"in{i}.npy"))
            np.save(files[-1], a)
        y_file = os.path.join(self._dir.name, "y.npy")
        self.first_call_s = self._ask(op="prepare", x=files[0], weights=files[1:], y=y_file,
                                      threads=self.threads)["first_call_s"]
        y = np.load(y_file)
        for f in (*files, y_file):
            os.remove(f)
        return lambda: y  # the gate checks the worker's output; the worker times its own calls

    def measure(self, fn, budget_s: float, first_call_s: float, min_samples: int) -> Timing:
        t = self._ask(op="measure", budget_s=budget_s, min_samples=min_samples, threads=self.threads)
        return Timing(**t)

    def close(self) -> None:
        if self._proc is not None:
            try:
                self._proc.stdin.close()
                self._proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
            self._proc.stdout.close()
            self._proc = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def info(self) -> dict:
        return {**super().info(), "isa": self.isa, "openblas_coretype": self.coretype,
                "openblas_architecture": self.architecture}


def pinned_kernels(isas: list[str]) -> list[Kernel]:
    """``openblas-<isa>`` for each of *isas* (levels without a pinned peer are left out)."""
    from .machine import cpp_isas, machine_info

    supported = cpp_isas()
    if not supported:  # no C++ core to ask: the CPU flags the kernel sets need
        flags = set(machine_info()["flags"])
        supported = [isa for isa, need in (("avx512", {"avx512f", "avx512dq", "avx512bw", "avx512vl", "fma"}),
                                           ("avx2", {"avx2", "fma"})) if need <= flags]
    return [PinnedOpenBlas(isa, supported) for isa in isas if isa in CORETYPE]


# -- the worker, in its own process ---------------------------------------------
def _serve(stdin, stdout) -> None:
    from threadpoolctl import threadpool_info, threadpool_limits

    from .timing import measure

    blas = next((d for d in threadpool_info() if d.get("user_api") == "blas"), {})
    stdout.write(json.dumps({k: blas.get(k) for k in ("internal_api", "version", "architecture")}) + "\n")
    stdout.flush()
    fn = None
    for line in stdin:
        req = json.loads(line)
        try:
            with threadpool_limits(limits=req["threads"], user_api="blas"):
                if req["op"] == "prepare":
                    X = np.load(req["x"])
                    WTs = [np.load(w).T for w in req["weights"]]

                    def fn(X=X, WTs=WTs):
                        A = X
                        for WT in WTs:
                            A = A @ WT
                        return A
                    t0 = _now()
                    y = fn()
                    reply = {"first_call_s": _now() - t0}
                    np.save(req["y"], y)
                    del X, y
                elif req["op"] == "measure":
                    reply = measure(fn, req["budget_s"], 0.0, req["min_samples"]).as_dict()
                else:
                    reply = {"error": f"unknown op {req['op']!r}"}
        except Exception as exc:  # reported to the benchmark process: the cell FAILS with it
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        stdout.write(json.dumps(reply) + "\n")
        stdout.flush()


def _now() -> float:
    import time

    return time.perf_counter()


if __name__ == "__main__":
    out, sys.stdout = sys.stdout, sys.stderr  # a stray print must not break the protocol
    _serve(sys.stdin, out)
