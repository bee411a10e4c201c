"""Facts about the run: machine, library versions, environment, measured peak,
and Numba's first-call compile time (in fresh subprocesses)."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap

#: Environment variables that make NumPy's OpenBLAS pick slower kernels here.
SLOW_BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
#: CPU flags worth reporting (the rest of /proc/cpuinfo's list is noise here).
FLAGS_OF_INTEREST = ("sse4_2", "avx", "fma", "avx2", "avx512f", "avx512dq", "avx512bw",
                     "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile",
                     "amx_bf16", "amx_int8")


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def machine_info() -> dict:
    info = {"cpu_model": platform.processor() or platform.machine(), "cores": cores(),
            "logical_cpus": os.cpu_count(), "flags": [], "platform": platform.platform(),
            "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        for line in text.splitlines():
            key, _, val = line.partition(":")
            if key.strip() == "model name":
                info["cpu_model"] = val.strip()
            elif key.strip() == "flags":
                have = set(val.split())
                info["flags"] = [f for f in FLAGS_OF_INTEREST if f in have]
                info["hypervisor"] = "hypervisor" in have
                break
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
        info["memory_gib"] = round(kib / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return info


def _version(module: str) -> str | None:
    try:
        mod = __import__(module)
    except Exception:
        return None
    return getattr(mod, "__version__", "?")


def blas_info() -> list[dict]:
    """What threadpoolctl sees of the BLAS libraries loaded (NumPy's OpenBLAS:
    its version, threading layer and the CPU kernel it chose, e.g. SkylakeX)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"error": "threadpoolctl not installed"}]
    keep = ("internal_api", "version", "architecture", "threading_layer", "num_threads", "prefix")
    return [{k: d.get(k) for k in keep} for d in threadpool_info() if d.get("user_api") == "blas"]


def versions() -> dict:
    import numpy as np

    import pyfwd

    out = {name: _version(name) for name in
           ("numba", "torch", "onnxruntime", "onnx", "matplotlib", "threadpoolctl", "scipy")}
    out.update(pyfwd=pyfwd.__version__, numpy=np.__version__, numpy_blas=blas_info())
    return out


def env_warnings() -> list[str]:
    return [f"{k}={os.environ[k]!r} is set: it slows NumPy's OpenBLAS here; run as "
            f"`env -u {' -u '.join(SLOW_BLAS_ENV)} python -m pyfwd.bench ...`"
            for k in SLOW_BLAS_ENV if k in os.environ]


def cpp_isas() -> list[str]:
    """The C++ core's ISA levels on this CPU, best first; empty without the core."""
    try:
        from pyfwd import _core
        return list(reversed(_core.supported_isas()))
    except Exception:  # not built, or a broken binding: the probe says why
        return []


def pyfwd_commit() -> tuple[str, str]:
    """(what pyfwd is, how that was found): ``git describe`` of the checkout pyfwd
    was imported from (``src/pyfwd`` of that work tree), else its version (an
    installed wheel carries no commit)."""
    import pyfwd

    pkg = os.path.dirname(os.path.realpath(pyfwd.__file__))
    try:
        top = subprocess.run(["git", "-C", pkg, "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, timeout=10)
        if top.returncode == 0 and os.path.realpath(os.path.join(top.stdout.strip(), "src", "pyfwd")) == pkg:
            d = subprocess.run(["git", "-C", pkg, "describe", "--always", "--dirty", "--tags"],
                               capture_output=True, text=True, timeout=10)
            if d.returncode == 0 and d.stdout.strip():
                return d.stdout.strip(), "git describe"
    except (OSError, subprocess.SubprocessError):
        pass
    return pyfwd.__version__, "version (not run from a git checkout)"


def peak_gflops(threads: list[int], seconds: float, isa: str | None = None) -> dict:
    """The FMA throughput probe of the C++ core, per thread count: float32 GFLOP/s
    (float64 is half: same FMA units, half the lanes), of ISA level *isa* (the
    probe runs the active level's loop: switched for the probe, then restored;
    default: the active level). Empty with a reason when the core is not built."""
    try:
        from pyfwd import _core
        probe = _core.fma_peak_gflops
    except (ImportError, AttributeError) as exc:
        return {"available": False, "reason": f"pyfwd._core.fma_peak_gflops unavailable ({exc})"}
    saved = _core.isa() if isa is not None else None
    try:
        if isa is not None:
            _core.set_isa(isa)
        return _probe(probe, threads, seconds)
    finally:
        if saved is not None:
            _core.set_isa(saved)


def _probe(probe, threads: list[int], seconds: float) -> dict:
    out: dict = {"available": True, "probe": "pyfwd._core.fma_peak_gflops", "seconds": seconds}
    for t in threads:
        r = probe(t, seconds)
        if isinstance(r, dict):  # a probe that measures both dtypes itself
            f32 = float(r.get("float32", r.get("f32")))
            f64 = float(r.get("float64", r.get("f64", f32 / 2)))
        else:
            f32 = float(r)
            f64 = f32 / 2
        out[str(t)] = {"float32": f32, "float64": f64}
    return out


_COMPILE_SCRIPT = textwrap.dedent("""
    import json, sys, time
    t0 = time.perf_counter()
    import numpy as np, pyfwd
    t_import = time.perf_counter() - t0
    out = {"import_s": t_import}
    be = pyfwd.get_backend("numba")
    net = pyfwd.Network([784, 128, 10], ["relu", "softmax"], seed=0)
    X = np.ones((1, 784), np.float32)
    t0 = time.perf_counter(); net.forward(X, backend="numba")
    out["first_forward_s"] = time.perf_counter() - t0
    t0 = time.perf_counter(); net.forward(X, backend="numba")
    out["second_forward_s"] = time.perf_counter() - t0
    if hasattr(be, "warmup"):
        t0 = time.perf_counter(); be.warmup()
        out["warmup_rest_s"] = time.perf_counter() - t0
    print("RESULT " + json.dumps(out))
""")


def numba_compile_time(timeout_s: float = 300.0) -> dict:
    """First-call cost of the numba backend in fresh processes: with an empty
    on-disk cache (``NUMBA_CACHE_DIR`` pointed at a new folder: a real compile),
    then again with that cache filled (what a user sees from the second run on).
    Each reports import time, the first ``[784,128,10]`` forward at batch 1, the
    second call, and ``warmup()`` of the remaining signatures."""
    import pyfwd

    try:
        pyfwd.get_backend("numba")
    except Exception as exc:
        return {"status": "skipped", "reason": f"backend 'numba' unavailable: {exc}"}
    out: dict = {"status": "ok"}
    with tempfile.TemporaryDirectory(prefix="pyfwd-bench-numba-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for phase in ("cold_cache", "warm_cache"):
            try:
                p = subprocess.run([sys.executable, "-c", _COMPILE_SCRIPT], env=env, text=True,
                                   capture_output=True, timeout=timeout_s)
            except subprocess.TimeoutExpired:
                out[phase] = {"error": f"timed out after {timeout_s:.0f} s"}
                continue
            line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
            if p.returncode != 0 or not line:
                out[phase] = {"error": (p.stderr or p.stdout).strip()[-500:]}
            else:
                out[phase] = json.loads(line[-1][len("RESULT "):])
    if any("error" in v for k, v in out.items() if k != "status"):
        out["status"] = "error"
    return out


def _busy_s() -> float:
    """CPU seconds all processes spent busy since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        vals = [int(v) for v in f.readline().split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return (sum(vals) - idle) / os.sysconf("SC_CLK_TCK")


class OtherLoad:
    """Cores kept busy by other processes over a stretch of time: the machine's
    busy CPU time minus this process's (and its waited-for children's)."""

    def __init__(self) -> None:
        import time

        self._t = time.perf_counter
        try:
            self.start = (self._t(), _busy_s(), self._own())
        except (OSError, ValueError, IndexError):
            self.start = None

    @staticmethod
    def _own() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def cores(self) -> float | None:
        if self.start is None:
            return None
        w0, b0, o0 = self.start
        wall = self._t() - w0
        other = (_busy_s() - b0) - (self._own() - o0)
        return max(0.0, other / wall) if wall > 0 else None


def background_load(seconds: float = 0.3) -> float | None:
    """Cores kept busy by *other* processes while this one sleeps *seconds*. On a
    2-core machine any of it wrecks the all-cores figures (a parallel kernel waits
    at each barrier for a thread that lost its core)."""
    import time

    meter = OtherLoad()
    time.sleep(seconds)
    return meter.cores()


def load_warning(load: float | None, when: str = "when the run started") -> str | None:
    if load is not None and load > 0.25:
        return (f"other processes kept {load:.1f} core(s) busy {when}: figures with "
                f"threads > 1 are unreliable on a shared machine; rerun when it is idle")
    return None


def peak_warning(peak: dict, threads: list[int]) -> str | None:
    """The FMA probe scales linearly with threads on idle cores; a shortfall means
    another process held a core while it ran (so % of peak reads too high)."""
    one = peak.get("1", {}).get("float32")
    if not one:
        return None
    low = [t for t in threads if str(t) in peak and t <= cores()
           and peak[str(t)]["float32"] < 0.8 * t * one]
    if low:
        return (f"the FMA peak probe at {', '.join(map(str, low))} thread(s) is below "
                f"{0.8:.0%} of threads x the 1-thread peak: cores were busy while it ran; "
                f"% of peak at those thread counts reads too high")
    return None


#: CPU features with bfloat16 dot-product units (pyfwd's own feature report names them so).
BF16_UNITS = ("avx512_bf16", "amx_bf16", "amx_tile")


def bf16_compute_mode() -> dict:
    """How ``compute="bf16"`` runs here, from pyfwd's own CPU feature report
    (``pyfwd.show_config()``, the cpp backend's ``cpu_features``): "emulated"
    (each layer's input rounded to bfloat16, then the float32 kernels: the same
    products, exact, summed in float32) unless the CPU has bfloat16 units and the
    core reports kernels for them (``compute_bf16: "native"`` in its config)."""
    import pyfwd

    try:
        cfg = pyfwd.show_config(print_=False)["backend_config"]["cpp"]
        feats = list(cfg["cpu_features"])
    except Exception as exc:  # cpp not built, or a config without features
        return {"mode": "n/a", "reason": f"cpp backend's config unavailable ({type(exc).__name__}: {exc})"}
    units = [f for f in BF16_UNITS if f in feats]
    if units and cfg.get("compute_bf16") == "native":
        return {"mode": "native", "cpu_features": feats, "reason": f"this CPU has {', '.join(units)}"}
    if not units:
        why = (f"this CPU has no AVX512-BF16/AMX (pyfwd's cpu_features: {', '.join(feats) or 'none'}): "
               "each layer's input is rounded to bfloat16, then the float32 kernels run")
    else:
        why = (f"this CPU has {', '.join(units)}, but pyfwd's core has no bfloat16 dot-product kernels "
               "(src/cpp/dense16.h): each layer's input is rounded to bfloat16, then the float32 kernels run")
    return {"mode": "emulated", "cpu_features": feats, "reason": why}
