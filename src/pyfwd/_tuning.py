"""Autotuning: time the cpp backend's cache blocks and thresholds on this machine,
keep the winners, and use them from then on.

``pyfwd.tune()`` (or ``python -m pyfwd.tune``) times, for each ISA level it tunes:

* the cache blocks (MC, KC, NC) of float32 and float64 around the ones the cache
  rule gives (``pyfwd.show_config()`` shows both the caches and the blocks), on
  GEMMs large enough for each block to matter;
* the threading thresholds (the flops below which a call stays on one thread, and
  the work each extra thread needs), on layers near those thresholds, when more
  than one thread is in use;
* the widest output for which A is read in place rather than packed.

Candidates are timed round-robin, interleaved, so that a noisy neighbour slows
them all alike; a candidate replaces the default only if its median beats the
default's by ``MARGIN`` (3%), so tuning never makes a case slower than it was
beyond noise. No candidate can change a result: the blocks and thresholds only
decide which thread computes which output and in what chunks, never the order of
a sum (every candidate's output is checked bit for bit against the default's).

The winners are written to a per-user JSON file (``$PYFWD_TUNE_FILE``, else
``$XDG_CACHE_HOME/pyfwd/tune.json``, else ``~/.cache/pyfwd/tune.json``), keyed by
CPU model, ISA levels and pyfwd version, and applied when the cpp backend loads.
``PYFWD_TUNE=0`` ignores the file; :func:`reset` goes back to the cache rule.
"""
from __future__ import annotations

import json
import math
import os
import platform
import random
import time
from typing import Any

import numpy as np

from ._version import __version__
from .activations import ACT_CODE

__all__ = ["tune", "reset", "tune_file", "machine_key", "load_saved", "status", "main"]

#: A candidate must beat the default's median time by this fraction to be kept.
MARGIN = 0.03
_FILE_VERSION = 1
_STATUS: dict[str, Any] = {"state": "not loaded"}


def tune_file() -> str:
    """Path of the per-user tuning file."""
    env = os.environ.get("PYFWD_TUNE_FILE")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pyfwd", "tune.json")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, val = line.partition(":")
                if key.strip() in ("model name", "Model", "cpu model"):
                    return val.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_key() -> str:
    """What the saved winners are valid for: CPU model, its ISA levels, caches and
    the pyfwd version (a new version may change the kernels)."""
    from . import _core

    c = _core.cache_info()
    return (f"{_cpu_model()} | isas={','.join(_core.supported_isas())} | "
            f"caches={c['l1d']},{c['l2']},{c['l3']} | pyfwd {__version__}")


def _read_file(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or data.get("version") != _FILE_VERSION or not isinstance(data.get("entries"), dict):
        raise ValueError(f"not a pyfwd tuning file of version {_FILE_VERSION}")
    return data


def _read_or_new(path: str) -> dict:
    """The tuning file's content, or an empty one if it is missing or unreadable."""
    try:
        return _read_file(path)
    except (OSError, ValueError):
        return {"version": _FILE_VERSION, "entries": {}}


def _apply(entry: dict) -> None:
    """Apply one saved entry (raises ValueError/TypeError/KeyError if malformed;
    the core validates every value)."""
    from . import _core

    supported = set(_core.supported_isas())
    for isa, per_dtype in entry.get("blocks", {}).items():
        if isa not in supported:
            continue
        for dtype, b in per_dtype.items():
            _core.set_blocks(isa, dtype, int(b["MC"]), int(b["KC"]), int(b["NC"]), "tuned")
    tu = entry.get("tunables")
    if tu:
        _core.set_tunables(float(tu["serial_flops"]), float(tu["flops_per_thread"]), int(tu["direct_max_n"]))


def load_saved() -> dict:
    """Apply the saved winners for this machine, if any (called when the cpp
    backend loads). Never raises: a missing, foreign or broken file is reported
    in :func:`status` (and ``show_config()``) and the cache rule stays in use."""
    global _STATUS
    path = tune_file()
    if os.environ.get("PYFWD_TUNE", "").strip() == "0":
        _STATUS = {"state": "disabled (PYFWD_TUNE=0)", "file": path}
        return _STATUS
    if not os.path.exists(path):
        _STATUS = {"state": "not tuned (no file; run pyfwd.tune())", "file": path}
        return _STATUS
    try:
        key = machine_key()
        entry = _read_file(path)["entries"].get(key)
        if entry is None:
            _STATUS = {"state": "not tuned for this machine and version (run pyfwd.tune())", "file": path}
            return _STATUS
        try:
            _apply(entry)
        except Exception:
            _reset_core()  # never half-applied
            raise
        _STATUS = {"state": "tuned values applied", "file": path, "created": entry.get("created")}
    except Exception as exc:  # noqa: BLE001 - any bad file must leave pyfwd working
        _STATUS = {"state": f"tuning file ignored: {type(exc).__name__}: {exc}", "file": path}
    return _STATUS


def status() -> dict:
    """Where the blocks in use came from (for ``show_config()``)."""
    return dict(_STATUS)


def _reset_core() -> None:
    from . import _core

    for isa in _core.supported_isas():
        _core.reset_blocks(isa)
    _core.set_tunables()


def reset(remove_file: bool = False) -> None:
    """Back to the cache rule's blocks and the default thresholds in this process;
    with ``remove_file=True`` also forget this machine's saved winners."""
    global _STATUS
    _reset_core()
    _STATUS = {"state": "reset to the cache rule", "file": tune_file()}
    if remove_file and os.path.exists(tune_file()):
        data = _read_or_new(tune_file())
        data["entries"].pop(machine_key(), None)
        _write_file(tune_file(), data)


def _write_file(path: str, data: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)  # atomic: a concurrent reader sees the old or the new file


# -- timing -------------------------------------------------------------------

def _time_once(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _race(setups: list, workloads: list, rounds: int, rng: random.Random) -> np.ndarray:
    """Median seconds [candidate, workload]: each round runs every (candidate,
    workload) pair once, in a fresh random order, after applying the candidate."""
    times = [[[] for _ in workloads] for _ in setups]
    pairs = [(c, w) for c in range(len(setups)) for w in range(len(workloads))]
    for _ in range(rounds):
        rng.shuffle(pairs)
        for c, w in pairs:
            setups[c]()
            times[c][w].append(_time_once(workloads[w]))
    return np.array([[float(np.median(t)) for t in row] for row in times])


def _score(med: np.ndarray) -> np.ndarray:
    """Geometric mean over workloads of each candidate's time relative to the
    default (candidate 0)."""
    rel = med / med[0:1, :]
    return np.exp(np.log(rel).mean(axis=1))


def _round_to(v: float, m: int, lo: int) -> int:
    return max(lo, int(v) // m * m)


def _block_candidates(b: dict, full: bool) -> list[tuple[int, int, int]]:
    MR, NR, MC, KC, NC = b["MR"], b["NR"], b["MC"], b["KC"], b["NC"]
    mcs = {MC, _round_to(MC / 2, MR, MR), _round_to(MC * 2, MR, MR)}
    kcs = {KC, _round_to(KC * 2 / 3, 8, 64), _round_to(KC * 4 / 3, 8, 64), _round_to(KC * 2, 8, 64)}
    ncs = {NC}
    if full:
        mcs |= {_round_to(MC * 3 / 2, MR, MR), _round_to(MC * 4, MR, MR)}
        kcs |= {_round_to(KC / 2, 8, 64), _round_to(KC * 3, 8, 64)}
        ncs |= {_round_to(NC / 2, NR, NR), _round_to(NC * 2, NR, NR)}
    out = [(MC, KC, NC)]
    out += sorted((m, k, n) for m in mcs for k in kcs for n in ncs if (m, k, n) != (MC, KC, NC))
    return out


def _check_same_bits(outputs: list[np.ndarray], what: str) -> None:
    for i, y in enumerate(outputs[1:], 1):
        if not np.array_equal(y, outputs[0], equal_nan=True):
            raise RuntimeError(f"tuning {what}: candidate {i} changed the output bits; this is a bug in pyfwd "
                               f"(blocks and thresholds must never change results), please report it")


def _select(cands: list, apply, work: list, rounds: int, rng, what: str) -> tuple[int, float]:
    """Which of *cands* to keep (index 0: the default) and its speed-up over the
    default. Each candidate is applied with *apply*; the outputs of *work* must be the
    same bits under every candidate; then all are raced round-robin, and the fastest
    is kept only if it beats the default by ``MARGIN``."""
    outs = []
    for c in cands:
        apply(c)
        outs.append(np.concatenate([np.ravel(fn()) for fn in work]))
    _check_same_bits(outs, what)
    score = _score(_race([(lambda c=c: apply(c)) for c in cands], work, rounds, rng))
    best = int(np.argmin(score))
    keep = best if score[best] <= 1 - MARGIN else 0
    return keep, float(1 / score[keep])


def _tune_blocks(isa: str, dtype: str, full: bool, rounds: int, rng, progress) -> dict:
    from . import _core

    _core.set_isa(isa)
    b = _core.blocks(isa)[dtype]
    cands = _block_candidates(b, full)
    dt = np.dtype(dtype)
    g = np.random.default_rng(0)
    # Large enough for every block to matter: several M blocks, several K blocks.
    M = 3 * b["MC"] + b["MR"] + 1
    K = 3 * b["KC"] + 5
    N = 1024 + 7
    A = g.standard_normal((M, K)).astype(dt)
    W = g.standard_normal((N, K)).astype(dt)
    bias = g.standard_normal(N).astype(dt)
    act = ACT_CODE["tanh"]  # any activation: the epilogue runs on the final K block only
    # an MLP-shaped layer too (one K block at most blocks)
    A2 = g.standard_normal((256, 784)).astype(dt)
    W2 = g.standard_normal((512, 784)).astype(dt)
    work = [lambda: _core.dense(A, W, bias, act), lambda: _core.dense(A2, W2, None, ACT_CODE["relu"])]
    progress.step(f"blocks {isa}/{dtype}: {len(cands)} candidates")
    keep, speedup = _select(cands, lambda c: _core.set_blocks(isa, dtype, *c), work, rounds, rng,
                            f"blocks of {isa}/{dtype}")
    m, k, n = cands[keep]
    _core.set_blocks(isa, dtype, m, k, n, "tuned" if keep else "cache rule")
    return {"MC": m, "KC": k, "NC": n, "speedup": speedup, "rule": list(cands[0]),
            "kept_rule": keep == 0, "candidates": len(cands)}


def _tune_tunables(full: bool, rounds: int, rng, progress) -> dict:
    from . import _core

    default = _core.tunables()
    g = np.random.default_rng(1)
    shapes = [(17, 64, 128), (32, 128, 128), (64, 128, 128), (64, 128, 256), (128, 128, 256), (64, 256, 784),
              (256, 384, 784), (256, 768, 784)]
    mats = [(g.standard_normal((m, k)).astype(np.float32), g.standard_normal((n, k)).astype(np.float32))
            for m, n, k in shapes]
    serial = [default["serial_flops"], 0.5e6, 4e6] + ([0.25e6, 8e6] if full else [])
    per = [default["flops_per_thread"], 0.5e6, 2e6] + ([0.25e6, 4e6] if full else [])
    direct = [default["direct_max_n"], 256, 1024]
    cands = [(s, p, d) for s in serial for p in per for d in direct]  # the defaults first
    work = [(lambda X=X, W=W: _core.dense(X, W, None, ACT_CODE["relu"])) for X, W in mats]
    progress.step(f"thresholds: {len(cands)} candidates")
    keep, speedup = _select(cands, lambda c: _core.set_tunables(*c), work, rounds, rng, "thresholds")
    s, p, d = cands[keep]
    _core.set_tunables(s, p, d)
    return {"serial_flops": s, "flops_per_thread": p, "direct_max_n": d, "speedup": speedup,
            "candidates": len(cands)}


def tune(profile: str = "quick", isas: list[str] | None = None, dtypes: tuple[str, ...] = ("float32", "float64"),
         rounds: int | None = None, progress: bool = True, write: bool = True, seed: int = 0) -> dict:
    """Time candidate cache blocks and thresholds of the cpp backend on this
    machine, keep the fastest, apply them now and (``write=True``) save them for
    later imports.

    Parameters
    ----------
    profile : {"quick", "full"}
        ``"quick"`` (well under 2 minutes): the best ISA level, 12 block candidates
        per dtype. ``"full"``: every level, a wider grid, more rounds.
    isas : list of str, optional
        Levels to tune (default: the best, or all for ``"full"``).
    dtypes : tuple of str
        ``"float32"`` and/or ``"float64"``.
    rounds : int, optional
        Timed rounds per candidate (default 5 quick, 9 full).
    progress : bool
        A progress bar on stderr.
    write : bool
        Save the winners to :func:`tune_file`.

    Returns
    -------
    dict
        The winners per level and dtype, each with its measured speed-up over the
        cache rule (1.0 when the rule's blocks were kept), and the thresholds.
    """
    from . import _core
    from ._config import get_num_threads
    from ._progress import Progress

    if profile not in ("quick", "full"):
        raise ValueError(f"profile must be 'quick' or 'full', got {profile!r}")
    full = profile == "full"
    supported = _core.supported_isas()
    if isas is None:
        isas = list(supported) if full else [supported[-1]]
    for isa in isas:
        if isa not in supported:
            raise ValueError(f"ISA level {isa!r} is not supported here; supported: {supported}")
    for dt in dtypes:
        if dt not in ("float32", "float64"):
            raise ValueError(f"dtypes must be 'float32' and/or 'float64', got {dt!r}")
    rounds = rounds or (9 if full else 5)
    if rounds < 1:
        raise ValueError("rounds must be >= 1")
    rng = random.Random(seed)
    threads = get_num_threads()
    bar = Progress(len(isas) * len(dtypes) + (1 if threads > 1 else 0), enabled=progress)
    active = _core.isa()
    t0 = time.perf_counter()
    result: dict = {"machine": machine_key(), "threads": threads, "profile": profile, "blocks": {}}
    _reset_core()  # candidates are relative to the cache rule, not to an older tuning
    try:
        for isa in isas:
            for dt in dtypes:
                result["blocks"].setdefault(isa, {})[dt] = _tune_blocks(isa, dt, full, rounds, rng, bar)
        _core.set_isa(supported[-1] if active not in supported else active)
        if threads > 1:
            result["tunables"] = _tune_tunables(full, rounds, rng, bar)
        else:
            result["tunables"] = dict(_core.tunables(), speedup=1.0, note="1 thread: thresholds not tuned")
    finally:
        _core.set_isa(active)
    bar.done()
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["created"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    global _STATUS
    _STATUS = {"state": "tuned values applied (this process)", "file": tune_file()}
    if write:
        path = tune_file()
        data = _read_or_new(path)
        entry = {"created": result["created"], "profile": profile, "threads": threads,
                 # only winners that beat the rule: the others follow the rule (and its caches)
                 "blocks": {isa: {dt: {k: v[k] for k in ("MC", "KC", "NC")} for dt, v in per.items()
                                  if not v["kept_rule"]}
                            for isa, per in result["blocks"].items()},
                 "measured": result}
        if threads > 1:
            entry["tunables"] = {k: result["tunables"][k] for k in ("serial_flops", "flops_per_thread", "direct_max_n")}
        data["entries"][result["machine"]] = entry
        _write_file(path, data)
        result["file"] = path
        _STATUS = {"state": "tuned values applied", "file": path, "created": result["created"]}
    return result


def _format(result: dict) -> str:
    lines = [f"machine: {result['machine']}", f"threads: {result['threads']}, profile: {result['profile']}, "
             f"{result['seconds']} s"]
    for isa, per in result["blocks"].items():
        for dt, b in per.items():
            rule = "x".join(map(str, b["rule"]))
            lines.append(f"  {isa:7s} {dt:8s} MC={b['MC']:<5d} KC={b['KC']:<5d} NC={b['NC']:<5d} "
                         f"(rule {rule}; {b['speedup']:.3f}x the rule's speed)")
    tu = result["tunables"]
    lines.append(f"  thresholds: serial below {tu['serial_flops']:.3g} flops, {tu['flops_per_thread']:.3g} "
                 f"flops per extra thread, A read in place up to N={tu['direct_max_n']} "
                 f"({tu.get('speedup', 1.0):.3f}x)")
    if "file" in result:
        lines.append(f"saved to {result['file']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m pyfwd.tune", description=__doc__.split("\n\n")[0])
    ap.add_argument("--full", action="store_true", help="every ISA level, wider grid (several minutes)")
    ap.add_argument("--isa", action="append", help="tune this level (repeatable)")
    ap.add_argument("--dtype", action="append", choices=["float32", "float64"])
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--threads", type=int, help="tune for this many threads (default: pyfwd's)")
    ap.add_argument("--no-write", action="store_true", help="do not save the winners")
    ap.add_argument("--reset", action="store_true", help="forget this machine's saved winners and exit")
    ap.add_argument("--show", action="store_true", help="print the tuning file's state and exit")
    args = ap.parse_args(argv)
    if args.reset:
        reset(remove_file=True)
        print(f"removed this machine's entry from {tune_file()}")
        return 0
    if args.show:
        from . import _core

        print(json.dumps({"status": load_saved(), "machine": machine_key(), "blocks": _core.config()["blocks"],
                          "tunables": _core.tunables()}, indent=1))
        return 0
    if args.threads:
        from ._config import set_num_threads

        set_num_threads(args.threads)
    res = tune("full" if args.full else "quick", isas=args.isa, dtypes=tuple(args.dtype or ("float32", "float64")),
               rounds=args.rounds, write=not args.no_write)
    print(_format(res))
    return 0


