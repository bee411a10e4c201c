"""``python -m bench``: parse options, run, print the table, write the files."""
from __future__ import annotations

import argparse
import os
import sys

from .cases import SUITES


def _csv(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def _threads(text: str) -> tuple[int, ...]:
    try:
        out = tuple(int(t) for t in _csv(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--threads takes integers like 1,2; got {text!r}") from None
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError(f"--threads takes positive integers; got {text!r}")
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark pyfwd's kernels against NumPy, PyTorch and ONNX Runtime, side by side. "
                    "Every kernel's output is checked against the float64 reference before it is timed.")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="smaller sizes and budgets (< 2 minutes on 2 cores)")
    g.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # harness self-test (tests/)
    p.add_argument("--suite", type=_csv, default=SUITES, metavar="S[,S]",
                   help=f"suites to run, from {','.join(SUITES)} (default: all)")
    p.add_argument("--threads", type=_threads, default=None, metavar="N[,N]",
                   help="thread counts (default: 1 and all cores)")
    p.add_argument("--kernels", type=_csv, default=None, metavar="PATTERN[,..]",
                   help="kernels to run, shell patterns (e.g. 'cpp-*,numpy-blas'); default: all")
    p.add_argument("--case", action="append", default=None, metavar="PATTERN", dest="cases",
                   help="only cases whose label matches this shell pattern (repeatable), "
                        "e.g. --case '4096^3' --case '*b=60000'")
    p.add_argument("--out", default=os.path.join("bench", "results"), metavar="DIR",
                   help="where the JSON, table and plots go (default: bench/results)")
    p.add_argument("--no-plots", action="store_true", help="don't write PNG plots")
    p.add_argument("--no-compile-time", action="store_true",
                   help="don't measure Numba's first-call compile time (fresh subprocesses)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--list", action="store_true", help="list kernels (with skip reasons) and cases, then exit")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    bad = [s for s in args.suite if s not in SUITES]
    if bad:
        parser().error(f"unknown suite(s) {', '.join(bad)}; choose from {', '.join(SUITES)}")
    from . import report
    from .cases import PROFILES
    from .kernels import discover
    from .runner import Config, run

    profile = "tiny" if args.tiny else "quick" if args.quick else "full"
    if args.list:
        for k in discover(args.kernels):
            print(f"{k.name:<16} {'skipped: ' + k.reason if k.reason else k.description}")
        for c in PROFILES[profile].cases(args.suite, args.cases):
            print(f"{c.suite:<6} {c.label:<32} {c.dtype:<8} {c.flops / 1e9:9.4f} GFLOP")
        return 0
    cfg = Config(profile=profile, suites=tuple(args.suite), threads=args.threads, kernels=args.kernels,
                 cases=tuple(args.cases) if args.cases else None,
                 compile_time=False if args.no_compile_time else None, progress=not args.no_progress)
    doc = run(cfg)
    files = report.write(doc, args.out, plots=not args.no_plots)
    print(report.render_table(doc))
    print(f"\nwrote {', '.join(sorted(files.values()))} ({doc['wall_s']:.0f} s)")
    n_failed = sum(r["status"] == "FAILED" for r in doc["results"])
    return 1 if n_failed else 0
