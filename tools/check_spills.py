#!/usr/bin/env python3
"""Find register spills in the GEMM micro-kernels of a built ``_core`` extension.

A micro-kernel keeps its MR x NR accumulator tile in vector registers for the whole
k loop. When the compiler cannot (too many live values, or an accumulator array
whose address escapes), it writes accumulators to the stack on every k step; on
cores that retire one 256-bit store per cycle (Zen 2/3, Haswell, Skylake client)
the loop then runs at half the FMA rate. That is invisible on a CPU with more
store bandwidth, so this check reads the machine code, not the clock: it works on
any build machine, whatever CPU it has.

How: ``objdump -d`` of the extension; per function, every backward jump closes a
loop; the innermost loops holding at least ``--min-fma`` FMAs and a broadcast
(the shape of a GEMM k step: broadcast A, FMA into the tile) are the k loops.
For each, the stack traffic is counted: vector stores to and loads from
``(%rsp)``/``(%rbp)``-relative addresses. Functions are attributed to an ISA level
by their vector width (zmm: AVX-512; ymm: AVX2, or AVX-512VL forms; xmm: 128-bit or
scalar). The function named beside a loop is the nearest symbol objdump knows: the
release build is stripped of local symbols, so the micro-kernel tiles (internal
functions) show under the nearest exported one; build with
``-DCMAKE_BUILD_TYPE=RelWithDebInfo`` for exact names. The verdict does not depend
on either.

    python tools/check_spills.py [path/to/_core*.so] [--verbose] [--mca CPU ...]

Exit status 1 when a k loop stores a vector register to the stack. ``--mca`` runs
``llvm-mca -mcpu=CPU`` on every k loop found (e.g. znver3, skylake,
icelake-server) and prints its cycles per iteration: the loop's throughput bound
on a CPU you may not have.
"""
from __future__ import annotations

import argparse
import bisect
import glob
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

_FUNC = re.compile(r"^([0-9a-f]+) <(.+)>:$")
_INSN = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$")
_JUMP = re.compile(r"^j[a-z]+$")
_VREG = r"%[xyz]mm\d+"
_STACK = r"-?(?:0x[0-9a-f]+)?\(%r[sb]p\)"
_STACK_STORE = re.compile(rf"^{_VREG},{_STACK}$")
_STACK_LOAD = re.compile(rf"^{_STACK},{_VREG}$")


@dataclass
class Loop:
    function: str
    start: int
    end: int
    insns: list = field(default_factory=list)  # (address, mnemonic, operands)

    @property
    def width(self) -> str:
        """The widest vector register the loop's FMAs use: zmm (AVX-512), ymm (AVX2
        or AVX-512VL), xmm (scalar or 128-bit FMA)."""
        fma_ops = " ".join(ops for _, mn, ops in self.insns if mn.startswith(("vfmadd", "vfnmadd")))
        return next((w for w in ("zmm", "ymm", "xmm") if f"%{w}" in fma_ops), "?")

    @property
    def fmas(self) -> int:
        return sum(mn.startswith("vfmadd") or mn.startswith("vfnmadd") for _, mn, _ in self.insns)

    @property
    def broadcasts(self) -> int:
        """Broadcasts of a value loaded through a pointer register (the A element of a
        k step); broadcasts of constants (``%rip``-relative, as in the vector math)
        do not count."""
        return sum((mn.startswith("vbroadcasts") or "{1to" in ops) and "(%r" in ops
                   and "(%rip)" not in ops for _, mn, ops in self.insns)

    @property
    def stack_stores(self) -> int:
        return sum(mn.startswith("vmov") and bool(_STACK_STORE.match(ops)) for _, mn, ops in self.insns)

    @property
    def stack_loads(self) -> int:
        """Vector loads from the stack, also as a memory operand of an arithmetic op."""
        return sum(mn.startswith("v") and re.search(rf"(^|,){_STACK},", ops) is not None
                   and not _STACK_STORE.match(ops) for _, mn, ops in self.insns)


def disassemble(path: str) -> dict[str, list[tuple[int, str, str]]]:
    """Function name (demangled) -> its instructions (address, mnemonic, operands)."""
    objdump = shutil.which("objdump")
    if objdump is None:
        raise SystemExit("objdump not found (binutils)")
    text = subprocess.run([objdump, "-d", "-C", "--no-show-raw-insn", path], check=True,
                          capture_output=True, text=True).stdout
    funcs: dict[str, list[tuple[int, str, str]]] = {}
    cur = None
    for line in text.splitlines():
        m = _FUNC.match(line)
        if m:
            cur = funcs.setdefault(m.group(2), [])
            continue
        m = _INSN.match(line)
        if m and cur is not None:
            ops = m.group(3).split("#")[0].strip().replace(" ", "")
            cur.append((int(m.group(1), 16), m.group(2), ops))
    return funcs


def k_loops(funcs, min_fma: int = 8) -> list[Loop]:
    """Innermost loops with at least *min_fma* FMAs and one broadcast, per function."""
    out = []
    for name, insns in funcs.items():
        if "pyfwd::" not in name or not insns:
            continue
        index = {a: i for i, (a, _, _) in enumerate(insns)}
        spans = []  # (first, last) instruction index of each loop: a backward jump
        for i, (a, mn, ops) in enumerate(insns):
            if _JUMP.match(mn):
                try:
                    t = int(ops.split("<")[0], 16)
                except ValueError:
                    continue
                if t <= a and t in index:
                    spans.append((index[t], i))
        spans.sort()
        starts = [s for s, _ in spans]
        for s, e in spans:
            # innermost: no other loop starts and ends inside [s, e]
            lo, hi = bisect.bisect_left(starts, s), bisect.bisect_right(starts, e)
            if any((s2, e2) != (s, e) and e2 <= e for s2, e2 in spans[lo:hi]):
                continue
            loop = Loop(name, insns[s][0], insns[e][0], insns[s:e + 1])
            if loop.fmas >= min_fma and loop.broadcasts >= 1:
                out.append(loop)
    return out


def mca(loop: Loop, cpu: str) -> float | None:
    """llvm-mca's cycles per iteration of the loop body on *cpu* (None if unavailable)."""
    exe = shutil.which("llvm-mca") or next(iter(sorted(glob.glob("/usr/bin/llvm-mca-*"))), None)
    if exe is None:
        return None
    lines = [".att_syntax"]
    for _, mn, ops in loop.insns:
        if _JUMP.match(mn) or mn.startswith("nop"):  # the loop's branch and padding
            continue
        ops = re.sub(r"<[^>]*>", "", ops)
        lines.append(f"{mn} {ops}".strip())
    res = subprocess.run([exe, f"-mcpu={cpu}", "-iterations=200"], input="\n".join(lines) + "\n",
                         capture_output=True, text=True)
    m = re.search(r"Total Cycles:\s+(\d+)", res.stdout)
    return int(m.group(1)) / 200 if m else None


def default_extension() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    cands = glob.glob(os.path.join(here, "..", "src", "pyfwd", "_core*.so"))
    if not cands:
        import pyfwd  # the installed package
        cands = glob.glob(os.path.join(os.path.dirname(pyfwd.__file__), "_core*.so"))
    if not cands:
        raise SystemExit("no _core*.so found: build the extension or pass its path")
    return cands[0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("extension", nargs="?", help="path of _core*.so (default: the built or installed one)")
    ap.add_argument("--min-fma", type=int, default=8, help="FMAs that make a loop a k loop (default 8)")
    ap.add_argument("--verbose", "-v", action="store_true", help="one line per k loop")
    ap.add_argument("--mca", action="append", default=[], metavar="CPU",
                    help="also report llvm-mca cycles/iteration for this -mcpu (repeatable)")
    args = ap.parse_args(argv)
    path = args.extension or default_extension()
    loops = k_loops(disassemble(path), args.min_fma)
    by_isa: dict[str, list[Loop]] = {}
    for lp in loops:
        by_isa.setdefault(lp.width, []).append(lp)
    print(f"{path}: {len(loops)} GEMM k loops")
    bad = 0
    for isa in sorted(by_isa):
        ls = by_isa[isa]
        spilling = [lp for lp in ls if lp.stack_stores]
        bad += len(spilling)
        print(f"  {isa} {len(ls):3d} k loops, {len(spilling)} with stack stores")
        for lp in ls if args.verbose else spilling:
            extra = "".join(f", mca {cpu} {mca(lp, cpu)} cyc/iter" for cpu in args.mca)
            fn = lp.function if len(lp.function) < 110 else lp.function[:107] + "..."
            print(f"    {lp.start:#x}: {lp.fmas} fma, {lp.broadcasts} bcast, "
                  f"{lp.stack_stores} stack stores, {lp.stack_loads} stack loads{extra}  {fn}")
    print("OK: no k loop stores to the stack" if not bad else f"FAIL: {bad} k loop(s) spill")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
