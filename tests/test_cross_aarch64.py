"""The C++ kernels without Python, through tests/cpp/kernel_tests.cpp (every ISA level the
CPU supports, both dtypes, every activation, awkward shapes, against a naive float64 loop;
1 and 3 threads bit for bit):

* cross-built for aarch64 with Debian's ``aarch64-linux-gnu-g++`` and run under
  ``qemu-aarch64`` (the neon and generic levels), by ``tools/cross_aarch64.sh``; skipped,
  with the reason, where the cross compiler or qemu is missing;
* built and run natively (here: the x86 levels this CPU has).

Both build into ``build/`` and reuse it: the first run compiles the kernels (a minute or
two), later runs only what changed; the qemu run itself takes ~25 s, the native one <1 s.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "cross_aarch64.sh"
MISSING_TOOL = 77  # the script's exit status when a tool is missing

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the script is for Linux hosts"),
    pytest.mark.skipif(not SCRIPT.exists(), reason="tools/ is not shipped in an installed package"),
    pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed"),
]


def _run(env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_extra}
    return subprocess.run(["bash", str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)


def _check(p: subprocess.CompletedProcess, required: tuple[str, ...]) -> None:
    out = p.stdout + p.stderr
    if p.returncode == MISSING_TOOL:
        pytest.skip(out.strip().splitlines()[-1])
    assert p.returncode == 0, out[-6000:]
    assert "0 failing cases" in out, out[-3000:]
    lines = out.splitlines()
    supported = next(line for line in lines if "supported here:" in line).split("supported here:")[1]
    levels = [s.strip() for s in supported.split(",")]
    assert set(required) <= set(levels), out[-3000:]
    for level in levels:  # each level the CPU supports really ran, not only compiled
        assert any(line.startswith(level + " ") and line.endswith(": ok") for line in lines), out[-3000:]


def test_kernels_aarch64_under_qemu():
    _check(_run({"PYFWD_NATIVE": "0"}), ("generic", "neon"))


def test_kernels_native():
    _check(_run({"PYFWD_NATIVE": "1"}), ("generic",))
