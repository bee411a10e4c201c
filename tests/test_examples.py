"""The examples run as a user runs them (a fresh interpreter, offline, warnings
as errors) and print what their docstrings promise."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import pyfwd

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_example(name: str, cwd: Path, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-W", "error", str(EXAMPLES / name), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def number(pattern: str, text: str) -> float:
    m = re.search(pattern, text)
    assert m, f"no match for {pattern!r} in:\n{text}"
    return float(m.group(1))


def backend_lines(text: str) -> dict[str, str]:
    return dict(re.findall(r"^backend (\w+): (.*)$", text, flags=re.M))


def assert_png(path: Path) -> None:
    assert path.is_file(), f"{path} was not written"
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_01_tutorial_walkthrough(tmp_path):
    pytest.importorskip("matplotlib", reason="the example draws a figure (pip install \"pyfwd[viz]\")")
    out = run_example("01_tutorial_walkthrough.py", tmp_path)  # default output dir, under cwd
    assert "W1: shape (4, 3)" in out and "b2: shape (2, 1)" in out
    assert "AL shape: (2, 5)" in out and "Z1: shape (4, 5)" in out
    assert "cache keys: A0, Z1, A1, Z2, A2" in out
    assert number(r"max \|NeuralNetwork AL - Network output\.T\| = (\S+)", out) == 0.0
    lines = backend_lines(out)
    assert set(lines) == set(pyfwd.backends())
    assert all("within the numerics contract" in v for v in lines.values())
    assert_png(tmp_path / "pyfwd_examples_out" / "01_toy_activations.png")


def test_02_mnist(tmp_path):
    pytest.importorskip("matplotlib", reason="the example draws figures (pip install \"pyfwd[viz]\")")
    out = run_example("02_mnist.py", tmp_path, str(tmp_path / "figs"), "--epochs", "2")
    untrained = number(r"untrained accuracy: (\S+)", out)
    assert 0.02 <= untrained <= 0.35, "an untrained network should be near chance (0.1)"
    lines = backend_lines(out)
    assert set(lines) == set(pyfwd.backends())
    accs = {b: number(r"test accuracy (\S+),", line) for b, line in lines.items()}
    for backend, acc in accs.items():  # 2 epochs of Adam on 5,000 digits
        assert acc > 0.85, backend
        assert abs(acc - accs["numpy"]) <= 0.01, (backend, accs)  # float32 vs the float64 oracle
    for name in ("02_untrained_processing.png", "02_trained_processing.png"):
        assert_png(tmp_path / "figs" / name)


def test_03_torch_onnx_roundtrip(tmp_path):
    for module in ("torch", "onnx", "onnxruntime"):
        pytest.importorskip(module, reason=f"the example needs {module} (pip install \"pyfwd[interop]\")")
    out = run_example("03_torch_onnx_roundtrip.py", tmp_path, str(tmp_path / "onnx"))
    torch_acc = number(r"PyTorch test accuracy: (\S+)", out)
    assert torch_acc > 0.8
    lines = backend_lines(out)
    assert set(lines) == set(pyfwd.backends())
    for backend, line in lines.items():
        assert number(r"accuracy (\S+),", line) == pytest.approx(torch_acc, abs=0.002), backend
        assert number(r"max \|diff\| vs PyTorch (\S+)", line) < 1e-5, backend
    assert number(r"onnxruntime on pyfwd's export: accuracy \S+, max \|diff\| vs pyfwd (\S+)", out) < 1e-5
    assert "parameters identical: True" in out
    assert number(r"from_onnx\(torch\.onnx\.export\): .*max \|diff\| vs PyTorch (\S+)", out) < 1e-5
    assert (tmp_path / "onnx" / "03_pyfwd_export.onnx").is_file()
    assert (tmp_path / "onnx" / "03_torch_export.onnx").is_file()


def test_04_dask_batch_inference(tmp_path):
    pytest.importorskip("dask.distributed", reason="the example needs dask (pip install \"pyfwd[dask]\")")
    out = run_example("04_dask_batch_inference.py", tmp_path, "--rows", "20000", "--chunk", "6000",
                      "--workers", "2", "--tmpdir", str(tmp_path))
    assert "wrote 20,000 rows x 784 float32 (0.06 GB)" in out
    assert "cluster: 2 worker processes x 1 thread; pyfwd threads per worker: [1]" in out
    assert "100% Completed" in out  # the progress bar
    plain = out.replace(",", "")  # thousands separators
    assert number(r"dask: 20000 rows in \S+ s (\d+) rows/s \(4 chunks of 6000 rows\)", plain) > 0
    assert number(r"one process \d+ pyfwd threads: 20000 rows in \S+ s (\d+) rows/s", plain) > 0
    assert "outputs identical bit for bit: True" in out
    assert not list(tmp_path.glob("pyfwd-dask-*")), "the temporary file was left behind"
