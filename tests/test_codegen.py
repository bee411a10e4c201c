"""What the compiler made of the micro-kernels, checked on the built extension,
whatever CPU runs the tests (tools/check_spills.py): no GEMM k loop of any ISA
level may keep its accumulators on the stack (issue 10: on the AVX2 level every
k loop stored its 12 accumulators each step, half speed on one-store-port cores)."""
import importlib.util
import os
import platform
import shutil
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL = os.path.join(HERE, "..", "tools", "check_spills.py")


def _tool():
    spec = importlib.util.spec_from_file_location("check_spills", TOOL)
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("check_spills", mod)  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _loop(body):
    """A fake disassembly: one function holding *body* (mnemonic, operands) as a loop."""
    insns = [(0x100 + 4 * i, mn, ops) for i, (mn, ops) in enumerate(body)]
    insns.append((0x100 + 4 * len(body), "jne", "100 <f+0x0>"))
    return {"pyfwd::avx2::f()": insns}


def test_detector_flags_a_spilling_k_loop():
    """The detector itself: a k step with a stack store per accumulator is
    flagged; the same loop without them is not; a vector-math loop (constant
    broadcasts from %rip) is not a k loop."""
    cs = _tool()
    kstep = [("vbroadcastss", "(%rdx),%ymm15")]
    kstep += [("vfmadd231ps", f"%ymm14,%ymm15,%ymm{i}") for i in range(12)]
    spill = [("vmovaps", f"%ymm{i},-{32 * (i + 1):#x}(%rbp)") for i in range(12)]  # objdump: hex
    loops = cs.k_loops(_loop(kstep + spill))
    assert len(loops) == 1 and loops[0].stack_stores == 12 and loops[0].width == "ymm"
    loops = cs.k_loops(_loop(kstep))
    assert len(loops) == 1 and loops[0].stack_stores == 0
    vmath = [("vfmadd213ps", f"0x10(%rip){{1to16}},%zmm{i},%zmm{i + 1}") for i in range(12)]
    assert cs.k_loops(_loop(vmath)) == []


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86-64 code only")
@pytest.mark.skipif(shutil.which("objdump") is None, reason="objdump (binutils) not installed")
def test_no_micro_kernel_spills_in_the_built_extension():
    from pyfwd import _core

    cs = _tool()
    loops = cs.k_loops(cs.disassemble(_core.__file__))
    widths = {lp.width for lp in loops}
    # every x86 build holds the AVX2 (ymm) and AVX-512 (zmm) kernels, whatever this CPU runs
    assert {"ymm", "zmm"} <= widths, f"k loops found: {sorted(widths)}"
    spilling = [lp for lp in loops if lp.stack_stores]
    assert not spilling, "\n".join(
        f"{lp.width} k loop at {lp.start:#x} ({lp.fmas} FMAs) stores {lp.stack_stores} vectors "
        f"to the stack each iteration, in {lp.function[:100]}" for lp in spilling)
