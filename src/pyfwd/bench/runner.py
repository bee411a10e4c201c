"""The run: every case x thread count x kernel, gated then timed, into one document
(the train suite's cells: :mod:`pyfwd.bench.train`)."""
from __future__ import annotations

import contextlib
import faulthandler
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from . import machine
from . import train as train_suite
from .cases import PROFILES, SUITES, Case, make_inputs
from .gate import Reference
from .kernels import Kernel, PyfwdKernel, StreamRead, default_cpp_name, discover, select
from .._progress import Progress

SCHEMA = "pyfwd-bench/1"
#: Seconds after which a cell still running dumps every thread's stack to stderr.
WATCHDOG_S = 300
#: About how long the paired confirmation of one speed target may take (seconds):
#: targets whose calls take seconds get fewer rounds (never fewer than 3).
CONFIRM_TARGET_S = 20.0
#: The kernel each suite's speed-ups are relative to: what a user gets without pyfwd.
BASELINE = {"gemm": "numpy-blas", "layer": "numpy-textbook", "mlp": "numpy-textbook", "train": "torch"}


@dataclass
class Config:
    profile: str = "full"
    suites: tuple[str, ...] = SUITES
    threads: tuple[int, ...] | None = None       # default: 1 and all cores
    kernels: tuple[str, ...] | None = None       # fnmatch patterns; None: all
    cases: tuple[str, ...] | None = None         # fnmatch patterns on case labels; None: all
    custom: tuple[Case, ...] | None = None       # the user's own network (--dims): replaces the suites
    compile_time: bool | None = None             # default: the profile's
    confirm_rounds: int | None = None            # default: the profile's
    progress: bool = True
    seed: int = 0
    extra_kernels: list[Kernel] = field(default_factory=list)  # tests: e.g. a wrong one


@contextlib.contextmanager
def _blas_threads(n: int, notes: list[str]):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        if "threadpoolctl" not in " ".join(notes):
            notes.append("threadpoolctl not installed: NumPy's BLAS thread count not controlled")
        yield
        return
    with threadpool_limits(limits=n, user_api="blas"):
        yield


class _Predictor:
    """Skips a cell whose single call would take too long (e.g. the generic ISA at
    4096^3 float64), predicted from the best throughput the same kernel reached
    on an earlier case of the suite and dtype (any thread count: noise on a busy
    machine must not make it skip cells it could run)."""

    def __init__(self, cap_s: float) -> None:
        self.cap_s = cap_s
        self.rate: dict[tuple, float] = {}

    def too_slow(self, kernel: str, case: Case) -> str | None:
        rate = self.rate.get((kernel, case.suite, case.dtype))
        if rate is None:
            return None
        est = case.flops / rate
        if est > self.cap_s:
            return f"predicted {est:.1f} s per call (> {self.cap_s:g} s cap of this profile)"
        return None

    def record(self, kernel: str, case: Case, seconds: float) -> None:
        key = (kernel, case.suite, case.dtype)
        self.rate[key] = max(self.rate.get(key, 0.0), case.flops / max(seconds, 1e-12))


def _figures(row: dict, case: Case, peak: dict) -> None:
    """GFLOP/s, samples/s and % of *peak*: the measured FMA peak of the kernel's
    own vector width (its ISA level's probe), else of the default level."""
    t = row["median_s"]
    row["gflops"] = case.flops / t / 1e9
    row["samples_per_s"] = case.batch / t
    p = peak.get(str(row["threads"]), {}).get(case.dtype) if peak.get("available") else None
    row["pct_peak"] = 100.0 * row["gflops"] / p if p else None
    row["peak_isa"] = peak.get("isa") if p else None


def _peaks(prof, threads: list[int], runnable: list[Kernel], default_cpp: str | None) -> tuple[dict, dict]:
    """(the default level's peak, {isa: peak} for every ISA level this CPU has):
    the C++ core's FMA probe (``fma_peak_gflops`` runs the active level's FMA
    loop) switched to each level in turn, so each level's rows are judged
    against the peak of their own vector width."""
    if prof.name == "tiny" and not any(k.backend == "cpp" for k in runnable if isinstance(k, PyfwdKernel)):
        return {"available": False, "reason": "not probed (tiny run without cpp kernels)"}, {}
    seconds = 0.02 if prof.name == "tiny" else 0.3
    by_isa = {}
    for isa in machine.cpp_isas():
        by_isa[isa] = machine.peak_gflops(threads, seconds, isa)
        by_isa[isa]["isa"] = f"cpp-{isa}"
    default = (default_cpp or "")[len("cpp-"):]
    if default in by_isa:
        return by_isa[default], by_isa
    return {**machine.peak_gflops(threads, seconds), "isa": default_cpp}, by_isa  # or why it is n/a


def _speedups(results: list[dict]) -> None:
    base = {(r["case"], r["threads"]): r["median_s"] for r in results
            if r["status"] == "ok" and r["kernel"] == BASELINE[r["suite"]]}
    for r in results:
        b = base.get((r["case"], r["threads"]))
        r["baseline"] = BASELINE[r["suite"]]
        r["speedup_vs_baseline"] = b / r["median_s"] if b and r["status"] == "ok" else None


def _ratios16(results: list[dict]) -> None:
    """Each 16-bit row's time over the same kernel's float32 time of the same
    network, batch and thread count in this run (issue 11: lower is better)."""
    f32 = {(r["kernel"], r["label"], r["threads"]): r["median_s"] for r in results
           if r["suite"] == "mlp" and r["status"] == "ok" and not r.get("weights") and r["dtype"] == "float32"}
    for r in results:
        if not r.get("weights"):
            continue
        t32 = f32.get((r["kernel"], r["label"].split(" w=")[0], r["threads"]))
        r["float32_median_s"] = t32
        r["ratio_vs_float32"] = r["median_s"] / t32 if t32 and r["status"] == "ok" else None


def _confirm_pair(sides, T: int, prof, rounds: int, seed: int, notes: list[str]) -> dict:
    """Time the two sides of a speed target, ``sides = ((kernel, case), (kernel, case))``
    (two kernels on one case, or one kernel on two cases), at *T* threads in *rounds*
    alternating rounds (the order swapped every round; the cells' pause between two
    timings). Each round's ratio is the second side's time over the first's: two timings
    a fraction of a second apart, so a slow minute of a shared machine falls on both or
    on neither, where the cells are timed seconds or minutes apart."""
    import pyfwd

    (ka, ca), (kb, cb) = sides
    out = {"a": {"kernel": ka.name, "label": ca.label}, "b": {"kernel": kb.name, "label": cb.label},
           "suite": ca.suite, "dtype": ca.dtype, "threads": T, "ratios": [], "a_s": [], "b_s": [],
           "median": None, "reason": None}
    budget = min(prof.budget_s, 0.1)
    pyfwd.set_num_threads(T)
    runners = []
    first_max = 0.0
    faulthandler.dump_traceback_later(WATCHDOG_S, exit=False)
    try:
        with _blas_threads(T, notes):
            for k, case in sides:
                k.set_threads(T)
                k.enter()
                try:
                    fn = k.prepare(case, make_inputs(case, seed))
                    t0 = time.perf_counter()
                    fn()
                    runners.append((k, fn, time.perf_counter() - t0))
                    first_max = max(first_max, runners[-1][2], getattr(k, "first_call_s", 0.0) or 0.0)
                finally:
                    k.exit()
            # Long calls (sgemm 4096^3: seconds each) get fewer rounds, at least 3, so
            # that a target costs about CONFIRM_TARGET_S; each timing is then a warm-up
            # call and one timed call (min_samples=1).
            per_round = 2 * (max(budget, 2 * first_max) + prof.pause_s * (T > 1))
            rounds = max(min(rounds, 3), min(rounds, int(CONFIRM_TARGET_S / per_round)))
            out["rounds"] = rounds
            for r in range(rounds):
                t = [0.0, 0.0]
                for i in ((0, 1) if r % 2 == 0 else (1, 0)):
                    if T > 1 and prof.pause_s:  # the other side's spinning workers go idle
                        time.sleep(prof.pause_s)
                    k, fn, first = runners[i]
                    k.enter()
                    try:
                        t[i] = k.measure(fn, budget, first, 1).median_s
                    finally:
                        k.exit()
                out["a_s"].append(t[0])
                out["b_s"].append(t[1])
                out["ratios"].append(t[1] / t[0])
        out["median"] = float(statistics.median(out["ratios"])) if out["ratios"] else None
    except Exception as exc:  # the cells' verdict stands; say why there is no confirmation
        out["reason"] = f"raised {type(exc).__name__}: {exc}"
    finally:
        faulthandler.cancel_dump_traceback_later()
        if T > 1 and prof.pause_s:
            time.sleep(prof.pause_s)
    return out


def _stream_reads(results: list[dict], cases: list[Case], cpp: str | None, T: int, prof, seed: int,
                  notes: list[str]) -> list[dict]:
    """A streaming read of the weight bytes of each case of ``targets.STREAM_GOALS`` that
    the default cpp kernel *cpp* ran at *T* threads (kernels.StreamRead): the
    memory-bound ceiling its batch-1 time is judged against."""
    import pyfwd

    from .targets import STREAM_GOALS

    ran = {r["label"] for r in results if r["suite"] == "mlp" and r["threads"] == T and r["status"] == "ok"
           and r["kernel"] == cpp and r["dtype"] == "float32"}
    stream = StreamRead()
    out = []
    for case in cases:
        if case.suite != "mlp" or case.label not in STREAM_GOALS or case.label not in ran or case.dtype != "float32":
            continue
        row = {"label": case.label, "threads": T, "bytes": None, "gbps": None, "median_s": None,
               "reason": stream.reason}
        if stream.reason is None:
            pyfwd.set_num_threads(T)
            stream.set_threads(T)
            try:
                with _blas_threads(T, notes):
                    if T > 1 and prof.pause_s:
                        time.sleep(prof.pause_s)
                    stream.prepare(case, make_inputs(case, seed))
                    t = stream.read(max(prof.budget_s, 0.1))
                row.update(bytes=stream.nbytes, median_s=t, gbps=stream.nbytes / t * 1e-9)
            except Exception as exc:
                row["reason"] = f"raised {type(exc).__name__}: {exc}"
        out.append(row)
    return out


def _confirm_ratios(doc: dict, kernels: list[Kernel], cases: list[Case], prof, rounds: int, seed: int,
                    notes: list[str], progress: Progress) -> list[dict]:
    """The paired confirmation of every speed target that is a ratio of two timings of
    this run (targets.evaluate's ``pair``) and was judged on its cells (not n/a; the
    train suite's epochs are not repeated: see docs/bench.md)."""
    if rounds <= 0:
        return []
    from .targets import evaluate, pair_key

    by_name = {k.name: k for k in kernels if k.reason is None}
    stream = StreamRead()
    if stream.reason is None:
        by_name[stream.name] = stream
    by_case = {(c.suite, c.label, c.dtype): c for c in cases}
    todo = {}
    for t in evaluate(doc):
        p = t.get("pair")
        if p is None or t["status"] == "n/a" or p["suite"] == "train":
            continue
        sides = tuple((by_name.get(p[s]["kernel"]), by_case.get((p["suite"], p[s]["label"], p["dtype"])))
                      for s in ("a", "b"))
        if all(k is not None and c is not None for k, c in sides):
            todo.setdefault(pair_key(p), (sides, p["threads"]))
    out = []
    for i, (sides, T) in enumerate(todo.values()):
        (ka, ca), (kb, cb) = sides
        what = f"{ca.label} {ka.name} vs {kb.name}" if ca is cb else f"{ka.name} {ca.label} vs {cb.label}"
        progress.note(f"confirming target {i + 1}/{len(todo)}: {what} T={T}")
        out.append(_confirm_pair(sides, T, prof, rounds, seed, notes))
    return out


def run(cfg: Config) -> dict:
    t_start = time.perf_counter()
    import pyfwd

    prof = PROFILES[cfg.profile]
    compile_time = prof.compile_time if cfg.compile_time is None else cfg.compile_time
    threads = list(cfg.threads or sorted({1, machine.cores()}))
    notes: list[str] = list(prof.notes)
    warnings = machine.env_warnings()
    load = machine.background_load(0.05 if prof.name == "tiny" else 0.5)
    if machine.load_warning(load):
        warnings.append(machine.load_warning(load))
    for w in warnings:
        print(f"bench: WARNING: {w}", file=sys.stderr)

    kernels = discover(cfg.kernels)
    kernels += [k for k in cfg.extra_kernels if select([k.name], cfg.kernels)]
    # the default level's name even when its forward column is not selected (--kernels cpp
    # runs the cpp trainer alone): the train table and the targets name it so
    default_cpp = next((k.name for k in kernels if getattr(k, "is_default", False)), None) or default_cpp_name()
    cases = list(cfg.custom) if cfg.custom else prof.cases(cfg.suites, cfg.cases)
    runnable = [k for k in kernels if k.reason is None]
    trainers = train_suite.discover(cfg.kernels, default_cpp) if any(c.suite == "train" for c in cases) else []

    commit, commit_from = machine.pyfwd_commit()
    doc: dict = {
        "schema": SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": sys.argv,
        "profile": prof.name,
        "custom_network": cfg.custom is not None,
        "pyfwd_commit": commit,
        "pyfwd_commit_from": commit_from,
        "suites": list(cfg.suites),
        "threads": threads,
        "budget_s_per_cell": prof.budget_s,
        "machine": machine.machine_info(),
        "versions": machine.versions(),
        "env": {k: os.environ.get(k) for k in machine.SLOW_BLAS_ENV},
        "warnings": warnings,
        "background_load_cores": load,
        "notes": notes,
        "cpp_default": default_cpp,
        "baselines": BASELINE,
        "kernels": {k.name: {"status": "skipped" if k.reason else "ok", "reason": k.reason, **k.info()}
                    for k in kernels},
        "compute_bf16": machine.bf16_compute_mode(),
    }
    doc["train_kernels"] = {k.name: {"status": "skipped" if k.reason else "ok", "reason": k.reason, **k.info()}
                            for k in trainers}
    for name, info in doc["train_kernels"].items():  # a column of the train table (torch-compile)
        doc["kernels"].setdefault(name, info)
    n_cells = sum(1 for c in cases for k in runnable if k.applies(c) is None)
    n_cells += sum(c.suite == "train" for c in cases) * sum(k.reason is None for k in trainers)
    progress = Progress(total=n_cells * len(threads) + 1, enabled=cfg.progress)

    progress.step("peak probe")
    # The probe lives in the C++ core: measured even when only other kernels run.
    doc["peak_gflops"], by_isa = _peaks(prof, threads, runnable, default_cpp)
    doc["peak_gflops_by_isa"] = by_isa
    if not doc["peak_gflops"]["available"]:
        notes.append("% of peak: n/a (" + doc["peak_gflops"]["reason"] + ")")
    else:
        w = machine.peak_warning(doc["peak_gflops"], threads)
        if w:
            warnings.append(w)
            print(f"bench: WARNING: {w}", file=sys.stderr)
    doc["numba_compile"] = {"status": "not measured (profile or --no-compile-time)"}
    if compile_time and any(k.name == "numba" for k in kernels):
        progress.note("numba first-call compile time (fresh subprocesses)")
        doc["numba_compile"] = machine.numba_compile_time()
    numba = next((k for k in kernels if k.name == "numba" and k.reason is None), None)
    if numba is not None and prof.name != "tiny":
        progress.note("numba warm-up (in process)")
        t0 = time.perf_counter()
        try:  # compile before the loop, so that no JIT runs inside a gate call
            pyfwd.warmup(["numba"])
            doc["numba_inprocess_warmup_s"] = time.perf_counter() - t0
        except Exception as exc:
            numba.reason = f"pyfwd.warmup(['numba']) raised {type(exc).__name__}: {exc}"
            doc["kernels"]["numba"].update(status="skipped", reason=numba.reason)
            runnable.remove(numba)

    results: list[dict] = []
    predictor = _Predictor(prof.max_call_s)
    meter = machine.OtherLoad()
    saved_threads = pyfwd.get_num_threads()
    try:
        for case in cases:
            if case.suite == "train":
                results += _train_cells(trainers, case, threads, prof, progress, notes, commit, cfg.seed)
                continue
            data = make_inputs(case, cfg.seed)
            ref = Reference(case, data)
            for T in threads:
                pyfwd.set_num_threads(T)
                for k in runnable:
                    k.set_threads(T)
                with _blas_threads(T, notes):
                    for k in kernels:
                        peak = by_isa.get(getattr(k, "isa", None) or "", doc["peak_gflops"])
                        row = _cell(k, case, data, ref, T, prof, predictor, progress, peak)
                        row["pyfwd_commit"] = commit
                        results.append(row)
        rounds = prof.confirm_rounds if cfg.confirm_rounds is None else cfg.confirm_rounds
        doc["results"] = results
        from .report import per_isa_rows
        doc["per_isa"] = per_isa_rows(doc)  # the per-level targets' cells (from the rows' GFLOP/s)
        doc["stream_read"] = _stream_reads(results, cases, default_cpp, max(threads), prof, cfg.seed, notes)
        doc["confirm_rounds"] = rounds
        doc["confirmations"] = _confirm_ratios(doc, kernels, cases, prof, rounds, cfg.seed, notes, progress)
    finally:
        pyfwd.set_num_threads(saved_threads)
        for k in kernels:
            k.close()
        progress.done()
    doc["background_load_cores_during_run"] = load = meter.cores()
    w = machine.load_warning(load, "on average during the run")
    if w:
        warnings.append(w)
        print(f"bench: WARNING: {w}", file=sys.stderr)
    _speedups(results)  # rows of doc["results"], in place
    _ratios16(results)
    from .targets import evaluate
    doc["targets"] = evaluate(doc)
    doc["wall_s"] = time.perf_counter() - t_start
    return doc


def _train_cells(trainers, case: Case, threads, prof, progress: Progress, notes, commit, seed) -> list[dict]:
    """The train suite's rows of *case*: every trainer at every thread count.

    Trainer by trainer (all its thread counts), not thread count by thread count: a
    trainer's runtime left running in the process (PyTorch's OpenMP pool after its
    epochs) then never shares the cores with the timed epochs of a trainer before it
    in the list. Measured on the 2-core Zen 3, [784,128,10] b64, cpp at 2 threads: 52 ms
    per epoch alone, 80 ms right after torch's 1-thread epochs in the same process."""
    import pyfwd

    rows = []
    for k in trainers:
        for T in threads:
            pyfwd.set_num_threads(T)
            with _blas_threads(T, notes):
                if k.reason is None:
                    progress.step(f"train {case.label} T={T} {k.name}")
                faulthandler.dump_traceback_later(WATCHDOG_S, exit=False)
                try:
                    row = train_suite.cell(k, case, T, prof, seed)
                finally:
                    faulthandler.cancel_dump_traceback_later()
                row["pyfwd_commit"] = commit
                rows.append(row)
                if T > 1 and prof.pause_s and row["status"] != "skipped":
                    time.sleep(prof.pause_s)
    return rows


def _cell(k: Kernel, case: Case, data, ref: Reference, T: int, prof, predictor: _Predictor,
          progress: Progress, peak: dict) -> dict:
    row = {"suite": case.suite, "case": case.key, "label": case.label, "dtype": case.dtype,
           "threads": T, "kernel": k.name, "status": "ok", "reason": None,
           "dims": list(case.dims), "activations": list(case.acts), "bias": case.bias,
           "batch": case.batch, "flops": case.flops, "median_s": None, "p10_s": None, "p90_s": None}
    if case.weights:
        row.update(weights=case.weights, compute=case.compute)
    if k.reason is not None:
        row.update(status="skipped", reason=k.reason)
        return row
    why = k.applies(case)
    if why is not None:
        row.update(status="n/a", reason=why)
        return row
    progress.step(f"{case.suite} {case.label} {case.dtype} T={T} {k.name}")
    why = predictor.too_slow(k.name, case)
    if why is not None:
        row.update(status="skipped", reason=why)
        return row
    fn = None
    # A kernel that hangs would stall the run silently: after a while, print where.
    faulthandler.dump_traceback_later(WATCHDOG_S, exit=False)
    try:
        k.enter()
        fn = k.prepare(case, data)
        t0 = time.perf_counter()
        y = fn()
        first = time.perf_counter() - t0
        against = k.gate_kind(case)
        msg = ref.check(y, against)
        row["gate"] = {"rows_checked": int(len(ref.rows)), "of": case.batch, "against": against,
                       "per_layer": False}
        cached = k.prepare_cache(case, data) if msg is None else None
        if cached is not None:
            y_cached, cache = cached()
            msg = ref.check_layers(y, y_cached, cache, getattr(k, "cache_bitwise", False))
            row["gate"]["per_layer"] = True
            del y_cached, cache
        del y, cached
        if msg is not None:
            row.update(status="FAILED", reason=msg)
            return row
        timing = k.measure(fn, prof.budget_s, first, prof.min_samples)
        row.update(timing.as_dict())
        row["first_call_s"] = getattr(k, "first_call_s", None) or first
        predictor.record(k.name, case, timing.median_s)
        _figures(row, case, peak)
    except Exception as exc:  # a kernel that raises is as wrong as one that lies
        row.update(status="FAILED", reason=f"raised {type(exc).__name__}: {exc}")
    finally:
        faulthandler.cancel_dump_traceback_later()
        k.exit()
        del fn
        if T > 1 and prof.pause_s:  # let this kernel's spinning workers go idle
            time.sleep(prof.pause_s)
    return row
