"""``python -m pyfwd.bench`` / ``pyfwd-bench``: parse options, run, print the
table, write the files (under the current directory unless ``--out`` says where)."""
from __future__ import annotations

import argparse
import os
import sys

from .cases import SUITES


def _csv(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def _positive_ints(flag: str):
    def parse(text: str) -> tuple[int, ...]:
        try:
            out = tuple(int(t) for t in _csv(text))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} takes integers separated by commas; got {text!r}") from None
        if not out or min(out) < 1:
            raise argparse.ArgumentTypeError(f"{flag} takes positive integers; got {text!r}")
        return out
    return parse


_threads = _positive_ints("--threads")


def _dtypes(text: str) -> tuple[str, ...]:
    out = _csv(text)
    bad = [d for d in out if d not in ("float32", "float64")]
    if not out or bad:
        raise argparse.ArgumentTypeError(f"--dtype takes float32 and/or float64; got {text!r}")
    return out


def custom_cases(dims, acts, batches, dtypes) -> list:
    """The ad-hoc cases of ``--dims/--acts/--batch/--dtype``: the user's network at
    each batch and dtype (an mlp case, run by every kernel). ValueError names what
    is wrong."""
    from pyfwd.activations import canonical_list

    from .cases import Case

    if len(dims) < 2:
        raise ValueError(f"--dims needs at least 2 sizes (inputs, outputs), got {','.join(map(str, dims))}")
    n = len(dims) - 1
    if acts is None:
        acts = ("relu",) * (n - 1) + ("linear",)
    if len(acts) not in (1, n):
        raise ValueError(f"--acts needs 1 or {n} activation(s) for --dims {','.join(map(str, dims))} "
                         f"({n} layer(s)), got {len(acts)}: {','.join(acts)}")
    acts = tuple(canonical_list(acts[0] if len(acts) == 1 else list(acts), n))
    return [Case("mlp", tuple(dims), acts, b, dt) for dt in dtypes for b in batches]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pyfwd-bench",
        description="Benchmark pyfwd's kernels against NumPy, PyTorch and ONNX Runtime, side by side. "
                    "Every kernel's output is checked against the float64 reference before it is timed.")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="smaller sizes and budgets (~3 minutes on 2 cores)")
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
    c = p.add_argument_group("your own network (replaces the suites)")
    c.add_argument("--dims", type=_positive_ints("--dims"), default=None, metavar="N,N[,..]",
                   help="layer sizes, inputs first, e.g. 784,512,10: this network at every --batch "
                        "and --dtype, run by every kernel")
    c.add_argument("--acts", type=_csv, default=None, metavar="ACT[,..]",
                   help="one activation per layer, or one for all (default: relu, linear last)")
    c.add_argument("--batch", type=_positive_ints("--batch"), default=(1, 64, 1024), metavar="B[,B]",
                   help="batch sizes (default: 1,64,1024)")
    c.add_argument("--dtype", type=_dtypes, default=("float32",), metavar="DTYPE[,DTYPE]",
                   help="float32 and/or float64 (default: float32)")
    p.add_argument("--out", default=os.path.join("bench", "results"), metavar="DIR",
                   help="where the JSON, table and plots go (default: bench/results under the "
                        "current directory)")
    p.add_argument("--no-plots", action="store_true", help="don't write PNG plots")
    p.add_argument("--no-compile-time", action="store_true",
                   help="don't measure Numba's first-call compile time (fresh subprocesses)")
    p.add_argument("--confirm-rounds", type=int, default=None, metavar="N",
                   help="time the two kernels of each speed target in N alternating rounds and "
                        "judge it on the median of the per-round ratios (default: the profile's, "
                        "7 full / 5 quick; 0: judge on the cells' medians alone)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--list", action="store_true", help="list kernels (with skip reasons) and cases, then exit")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    bad = [s for s in args.suite if s not in SUITES]
    if bad:
        parser().error(f"unknown suite(s) {', '.join(bad)}; choose from {', '.join(SUITES)}")
    custom = None
    if args.dims is not None:
        try:
            custom = tuple(custom_cases(args.dims, args.acts, args.batch, args.dtype))
        except (TypeError, ValueError) as exc:
            parser().error(str(exc))
    elif args.acts is not None:
        parser().error("--acts needs --dims (the network's layer sizes)")
    from . import report
    from .cases import PROFILES
    from .kernels import discover
    from .runner import Config, run

    profile = "tiny" if args.tiny else "quick" if args.quick else "full"
    if args.list:
        for k in discover(args.kernels):
            print(f"{k.name:<16} {'skipped: ' + k.reason if k.reason else k.description}")
        for c in custom or PROFILES[profile].cases(args.suite, args.cases):
            print(f"{c.suite:<6} {c.label:<32} {c.dtype:<8} {c.flops / 1e9:9.4f} GFLOP")
        return 0
    cfg = Config(profile=profile, suites=tuple(args.suite), threads=args.threads, kernels=args.kernels,
                 cases=tuple(args.cases) if args.cases else None, custom=custom,
                 compile_time=False if args.no_compile_time else None, progress=not args.no_progress,
                 confirm_rounds=args.confirm_rounds)
    doc = run(cfg)
    files = report.write(doc, args.out, plots=not args.no_plots)
    print(report.render_table(doc))
    print(f"\nwrote {', '.join(sorted(files.values()))} ({doc['wall_s']:.0f} s)")
    n_failed = sum(r["status"] == "FAILED" for r in doc["results"])
    return 1 if n_failed else 0
