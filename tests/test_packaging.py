"""Packaging: numba is optional (an extra) and never imported by the cpp path; the C++
core is optional at build time (CMake records why it was not built, and the cpp backend
reports that reason); the declared metadata matches (issue 12)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import pyfwd

ROOT = Path(__file__).resolve().parents[1]
SRC = Path(pyfwd.__file__).resolve().parent


def run_py(code: str, *, path: Path | None = None, **env) -> subprocess.CompletedProcess:
    """Run *code* in a fresh interpreter with pyfwd importable from *path* (default: the
    package under test)."""
    full_env = {**os.environ, **env, "PYTHONPATH": str(path or SRC.parent)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=full_env, timeout=300, cwd=ROOT)


@pytest.mark.skipif("cpp" not in pyfwd.backends(), reason="the C++ core is not built here")
def test_cpp_path_never_imports_numba():
    """import pyfwd, the default backend, Network.forward, dense() and show of the
    default must not import numba (~200 MB, seconds of start-up): best() once loaded
    every backend to pick the first."""
    p = run_py("""
        import sys
        import numpy as np
        import pyfwd
        assert "numba" not in sys.modules, "import pyfwd"
        net = pyfwd.Network([5, 4, 3], ["relu", "softmax"])
        net.forward(np.ones((2, 5), np.float32))
        pyfwd.dense(np.ones((2, 5)), np.ones((3, 5)), None, activation="gelu")
        pyfwd.get_backend("cpp").config()
        assert pyfwd.current_backend() == "cpp", pyfwd.current_backend()
        assert "numba" not in sys.modules, "the cpp path imported numba"
        print("ok")
    """)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stdout + p.stderr


def test_numba_missing_gives_install_hint():
    """Without numba, asking for backend='numba' names the extra to install; the
    other backends and listing still work."""
    p = run_py("""
        import sys
        sys.modules["numba"] = None  # as if not installed: `import numba` raises ImportError
        import numpy as np
        import pyfwd
        from pyfwd.backends import BackendUnavailableError
        assert "numba" not in pyfwd.backends()
        why = pyfwd.show_config(print_=False)["unavailable"]["numba"]
        assert 'pip install "pyfwd[numba]"' in why, why
        y = pyfwd.Network([3, 2], "relu", seed=0).forward(np.ones((1, 3)), backend="numpy")
        assert y.shape == (1, 2)
        try:
            pyfwd.dense(np.ones((2, 3)), np.ones((4, 3)), None, backend="numba")
        except BackendUnavailableError as exc:
            assert isinstance(exc, ImportError) and isinstance(exc, RuntimeError)
            assert 'pip install "pyfwd[numba]"' in str(exc), exc
            print("ok")
    """)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stdout + p.stderr


def test_core_not_built_reason_is_reported(tmp_path):
    """An installation without the compiled core (CMake's last resort) has the reason
    in pyfwd/_core_not_built.txt; show_config() reports it for cpp, and the numpy
    backend still works."""
    pkg = tmp_path / "pyfwd"
    shutil.copytree(SRC, pkg, ignore=shutil.ignore_patterns("_core*.so", "_core*.pyd", "__pycache__"))
    (pkg / "_core_not_built.txt").write_text("no C++ compiler was found at build time\n")
    p = run_py("""
        import numpy as np
        import pyfwd
        cfg = pyfwd.show_config(print_=False)
        assert "cpp" not in cfg["backends"], cfg["backends"]
        why = cfg["unavailable"]["cpp"]
        assert "the C++ core was not built" in why and "no C++ compiler was found" in why, why
        y = pyfwd.Network([3, 2], "relu", seed=0).forward(np.ones((1, 3)), backend="numpy")
        assert y.shape == (1, 2)
        print("ok")
    """, path=tmp_path)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stdout + p.stderr


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
@pytest.mark.parametrize("how", ["env", "no-compiler"])
def test_cmake_records_why_core_is_skipped(tmp_path, how):
    """Configure + install only (no compile): PYFWD_BUILD_CPP=0, or no C++ compiler with
    the default AUTO, installs pyfwd/_core_not_built.txt with the reason; ON with no
    compiler is a configure error."""
    env = {k: v for k, v in os.environ.items() if k != "PYFWD_BUILD_CPP"}
    if how == "env":
        env["PYFWD_BUILD_CPP"] = "0"
    else:
        env["CXX"] = str(tmp_path / "no-g++")
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    build, prefix = tmp_path / "build", tmp_path / "inst"
    p = subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build), *gen], env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "installing WITHOUT the C++ core" in p.stderr, p.stderr
    subprocess.run(["cmake", "--install", str(build), "--prefix", str(prefix)], check=True, capture_output=True)
    why = (prefix / "pyfwd" / "_core_not_built.txt").read_text()
    assert ("PYFWD_BUILD_CPP=0" if how == "env" else "no C++ compiler") in why, why
    if how == "no-compiler":
        p = subprocess.run(["cmake", "-S", str(ROOT), "-B", str(tmp_path / "b2"), *gen, "-DPYFWD_BUILD_CPP=ON"],
                           env=env, capture_output=True, text=True)
        assert p.returncode != 0 and "requires the C++ core" in p.stderr, p.stderr


def _pyproject() -> dict:
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        tomllib = pytest.importorskip("tomli")
    path = ROOT / "pyproject.toml"
    if not path.exists():
        pytest.skip("pyproject.toml is not shipped in an installed package")
    return tomllib.loads(path.read_text())


def test_metadata_numba_is_an_extra():
    proj = _pyproject()["project"]
    assert [d.split(">")[0].split("=")[0] for d in proj["dependencies"]] == ["numpy"]
    extras = proj["optional-dependencies"]
    assert any(d.startswith("numba") for d in extras["numba"])
    assert any(d.startswith("numba") for d in extras["test"]), "the test suite must test the numba backend"


def test_cibuildwheel_config():
    cfg = _pyproject()["tool"]["cibuildwheel"]
    assert "cp39-*" in cfg["build"] and "cp313-*" in cfg["build"]
    assert cfg["manylinux-x86_64-image"] == "manylinux_2_28"
    assert cfg["manylinux-aarch64-image"] == "manylinux_2_28"
    assert set(cfg["linux"]["archs"]) == {"x86_64", "aarch64"}
    assert "pytest" in cfg["test-command"] and "test" in cfg["test-extras"]
    assert cfg["environment"]["PYFWD_BUILD_CPP"] == "ON", "a wheel without the core must fail, not ship"
