"""The benchmark harness (bench/) on tiny sizes: the correctness gate rejects a
wrong kernel, the JSON document has its keys, the table renders, and the
command runs end to end. No timing is asserted here (speed lives in the bench
report, never in a unit test)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import Config, run  # noqa: E402
from bench import report  # noqa: E402
from bench.cases import PROFILES, Case, make_inputs  # noqa: E402
from bench.gate import Reference, check_rows  # noqa: E402
from bench.kernels import Kernel, NumpyTextbook  # noqa: E402
from bench.timing import measure  # noqa: E402


class OffByALittle(Kernel):
    """The textbook layer, with one output element nudged well past the bound."""

    name = "wrong-kernel"
    description = "deliberately wrong"
    suites = ("layer", "mlp")
    dtypes = ("float32",)

    def prepare(self, case, data):
        good = NumpyTextbook().prepare(case, data)

        def run():
            y = good().copy()
            y[-1, -1] += 1e-2 * (1 + abs(y[-1, -1]))
            return y
        return run


class Raises(Kernel):
    name = "raising-kernel"

    def prepare(self, case, data):
        def run():
            raise RuntimeError("boom")
        return run


class WrongDtype(Kernel):
    name = "float64-kernel"
    suites = ("layer", "mlp")
    dtypes = ("float32",)

    def prepare(self, case, data):
        good = NumpyTextbook().prepare(case, data)
        return lambda: good().astype(np.float64)


class WrongLayerKernel(Kernel):
    """Right output (pyfwd's reference), but its forward cache holds a layer 1 off
    by 1e-3 relative: only the per-layer check sees it."""

    name = "wrong-layer-kernel"
    suites = ("mlp",)
    dtypes = ("float32",)

    def _net(self, case, data):
        import pyfwd
        return pyfwd.Network.from_arrays(data.weights, data.biases, case.acts, dtype=case.dtype)

    def prepare(self, case, data):
        net = self._net(case, data)
        return lambda: net.forward(data.X, backend="numpy")

    def prepare_cache(self, case, data):
        net = self._net(case, data)

        def run():
            y, cache = net.forward(data.X, backend="numpy", return_cache=True)
            cache["Z1"] = cache["Z1"] * np.float32(1 + 1e-3)
            return y, cache
        return run


class NotDeterministicKernel(WrongLayerKernel):
    """A compiled-style kernel whose timed output differs by one ulp from its
    cached call: the same kernels must give the same bits."""

    name = "flaky-bits-kernel"
    cache_bitwise = True

    def prepare(self, case, data):
        good = super().prepare(case, data)

        def run():
            y = good().copy()
            y[0, 0] = np.nextafter(y[0, 0], np.float32(2))
            return y
        return run

    def prepare_cache(self, case, data):
        net = self._net(case, data)
        return lambda: net.forward(data.X, backend="numpy", return_cache=True)


@pytest.fixture(scope="module")
def doc():
    cfg = Config(profile="tiny", kernels=("numpy", "numpy-textbook", "numpy-blas", "*-kernel"),
                 progress=False, extra_kernels=[OffByALittle(), Raises(), WrongDtype(),
                                                WrongLayerKernel(), NotDeterministicKernel()])
    return run(cfg)


def _rows(doc, kernel):
    return [r for r in doc["results"] if r["kernel"] == kernel]


def test_gate_rejects_a_wrong_kernel_and_does_not_time_it(doc):
    rows = [r for r in _rows(doc, "wrong-kernel") if r["status"] != "n/a"]
    assert rows, "the wrong kernel ran on no case"
    for r in rows:
        assert r["status"] == "FAILED", r
        assert "out of bound" in r["reason"]
        assert r["median_s"] is None and "n_samples" not in r and r.get("gflops") is None
    for name, why in (("raising-kernel", "raised RuntimeError: boom"),
                      ("float64-kernel", "output dtype float64, expected float32")):
        rows = [r for r in _rows(doc, name) if r["status"] != "n/a"]
        assert rows and all(r["status"] == "FAILED" and why in r["reason"] for r in rows), rows


def test_gate_checks_every_layer_of_a_kernel_that_returns_its_cache(doc):
    rows = [r for r in _rows(doc, "wrong-layer-kernel") if r["status"] != "n/a"]
    assert rows
    for r in rows:
        assert r["status"] == "FAILED" and r["median_s"] is None, r
        assert "per layer: layer 1 of 2" in r["reason"] and "Z1" in r["reason"], r["reason"]
        assert r["gate"]["per_layer"] is True
    rows = [r for r in _rows(doc, "flaky-bits-kernel") if r["status"] != "n/a"]
    assert rows
    for r in rows:
        assert r["status"] == "FAILED", r
        assert "not bitwise the same kernel's output with it: 1 of" in r["reason"], r["reason"]
    # pyfwd's own backends are checked per layer on mlps; peers end to end only
    for r in doc["results"]:
        if r["status"] == "ok" and r["kernel"] in ("numpy", "numpy-textbook"):
            assert r["gate"]["per_layer"] is (r["kernel"] == "numpy" and r["suite"] == "mlp"), r


def test_correct_kernels_pass_the_gate_and_are_timed(doc):
    for name in ("numpy", "numpy-textbook", "numpy-blas"):
        rows = [r for r in _rows(doc, name) if r["status"] != "n/a"]
        assert rows
        for r in rows:
            assert r["status"] == "ok", r
            assert 0 < r["min_s"] <= r["median_s"] <= r["p90_s"]
            assert r["n_samples"] >= PROFILES["tiny"].min_samples
            assert r["gflops"] == pytest.approx(r["flops"] / r["median_s"] / 1e9)
            assert r["samples_per_s"] == pytest.approx(r["batch"] / r["median_s"])
            assert r["gate"]["rows_checked"] == r["batch"]
    # Speed-ups are relative to the textbook way (layer/mlp) or BLAS (gemm).
    for r in doc["results"]:
        if r["status"] == "ok" and r["kernel"] == r["baseline"]:
            assert r["speedup_vs_baseline"] == pytest.approx(1.0)


def test_every_missing_kernel_is_reported_with_a_reason(doc):
    for name, k in doc["kernels"].items():
        assert k["status"] in ("ok", "skipped")
        if k["status"] == "skipped":
            assert k["reason"], name
    for r in doc["results"]:
        assert r["status"] in ("ok", "FAILED", "skipped", "n/a")
        if r["status"] != "ok":
            assert r["reason"], r


def test_json_document_has_the_schema_keys(doc, tmp_path):
    files = report.write(doc, str(tmp_path), plots=False)
    with open(files["json"]) as f:
        loaded = json.load(f)
    assert (tmp_path / "latest.json").exists() and (tmp_path / "latest.txt").exists()
    for key in ("schema", "created", "command", "profile", "threads", "machine", "versions", "env",
                "warnings", "peak_gflops", "numba_compile", "kernels", "results", "targets", "baselines",
                "wall_s"):
        assert key in loaded, key
    assert loaded["schema"] == "pyfwd-bench/1"
    for key in ("cpu_model", "cores", "flags"):
        assert key in loaded["machine"], key
    for key in ("pyfwd", "numpy", "numpy_blas", "numba", "torch", "onnxruntime"):
        assert key in loaded["versions"], key
    assert set(loaded["env"]) == {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"}
    ok = next(r for r in loaded["results"] if r["status"] == "ok")
    for key in ("suite", "case", "label", "dtype", "threads", "kernel", "median_s", "p90_s", "gflops",
                "samples_per_s", "speedup_vs_baseline", "pct_peak", "flops", "batch", "gate"):
        assert key in ok, key
    assert {t["status"] for t in loaded["targets"]} <= {"met", "missed", "n/a"}


def test_table_renders_every_suite_and_marks_the_best(doc):
    text = report.render_table(doc)
    for suite in ("gemm", "layer", "mlp"):
        assert f"== {suite}:" in text
    assert "*" in text and "FAILED" in text
    assert "failed the correctness gate (not timed):" in text
    body = [ln for ln in text.splitlines() if " | " in ln and not ln.startswith("case")]
    assert body and all(ln.count("*") == 1 for ln in body), body


def test_gate_row_subset_covers_both_ends():
    assert list(check_rows(5)) == [0, 1, 2, 3, 4]
    rows = check_rows(60000)
    assert len(rows) == 128 and rows[0] == 0 and rows[-1] == 59999 and np.all(np.diff(rows) > 0)
    case = Case("layer", (7, 3), ("sigmoid",), 1000)
    data = make_inputs(case)
    ref = Reference(case, data)
    y = NumpyTextbook().prepare(case, data)()
    assert ref.subset and ref.check(y) is None
    y[-1, 0] += 0.05  # the last row sits on a blocking edge: always checked
    assert "out of bound" in ref.check(y)


def test_measure_reports_order_statistics():
    calls = []
    t = measure(lambda: calls.append(1), budget_s=0.002, first_call_s=1e-6, min_samples=4)
    assert t.n_samples >= 4 and t.calls_per_sample >= 1
    assert 0 < t.min_s <= t.median_s <= t.p90_s
    assert len(calls) >= t.n_samples * t.calls_per_sample


def _bench(args, tmp_path, pre=""):
    env = {k: v for k, v in os.environ.items() if k != "PYFWD_NUM_THREADS"}
    code = pre + "import sys; from bench.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, "--tiny", "--no-progress", "--out", str(tmp_path), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=180)


def test_tiny_run_end_to_end(tmp_path):
    p = _bench([], tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "== gemm:" in p.stdout and "== mlp:" in p.stdout
    doc = json.loads((tmp_path / "latest.json").read_text())
    assert doc["profile"] == "tiny"
    assert all(r["status"] != "FAILED" for r in doc["results"]), [r for r in doc["results"] if r["status"] == "FAILED"]
    if doc["versions"]["matplotlib"]:
        for name in ("gemm", "layer", "mlp"):
            assert (tmp_path / f"latest-{name}.png").stat().st_size > 1000


def test_runs_without_the_optional_peers(tmp_path):
    block = "import sys; [sys.modules.__setitem__(m, None) for m in ('torch', 'onnxruntime', 'matplotlib')]; "
    p = _bench(["--kernels", "numpy*,torch,onnxruntime", "--suite", "layer"], tmp_path, pre=block)
    assert p.returncode == 0, p.stdout + p.stderr
    doc = json.loads((tmp_path / "latest.json").read_text())
    for peer in ("torch", "onnxruntime"):
        assert doc["kernels"][peer]["status"] == "skipped"
        assert "not importable" in doc["kernels"][peer]["reason"]
        assert f"{peer}: skipped (" in p.stdout
    assert any("plots skipped: matplotlib not importable" in n for n in doc["notes"])
    assert not list(tmp_path.glob("*.png"))


def test_targets_compare_the_right_cells():
    from bench.targets import evaluate

    def row(kernel, suite, label, T, median):
        return {"kernel": kernel, "suite": suite, "label": label, "dtype": "float32", "threads": T,
                "status": "ok", "reason": None, "median_s": median, "pct_peak": 95.0}

    doc = {"threads": [1, 2], "cpp_default": "cpp-avx512", "results": [
        row("cpp-avx512", "gemm", "1024^3", 1, 1.0), row("numpy-blas", "gemm", "1024^3", 1, 1.1),
        row("cpp-avx512", "gemm", "1024^3", 2, 1.0), row("numpy-blas", "gemm", "1024^3", 2, 0.9),
        row("cpp-avx512", "mlp", "[784,128,10] b=1", 2, 6e-6),
    ]}
    got = {t["target"]: t for t in evaluate(doc)}
    assert got["sgemm 1024^3 T=1: cpp >= NumPy's OpenBLAS"]["status"] == "met"
    assert got["sgemm 1024^3 T=2: cpp >= NumPy's OpenBLAS"]["status"] == "missed"
    assert got["sgemm 1024^3 T=2: cpp >= NumPy's OpenBLAS"]["value"] == pytest.approx(0.9)
    assert got["sgemm 1024^3 T=1: cpp >= 90% of measured FMA peak"]["status"] == "met"
    assert got["mlp [784,128,10] b=1 T=2: cpp <= 5 us"]["status"] == "missed"
    assert got["sgemm 4096^3 T=1: cpp >= NumPy's OpenBLAS"]["status"] == "n/a"


def test_onnx_writers_share_pyfwd_activation_table(monkeypatch):
    """bench's ONNX Runtime graphs and Network.to_onnx both read the one table
    pyfwd.activations.ONNX_OPS (change it and both follow)."""
    pytest.importorskip("onnx", reason="onnx is not installed")
    from bench.peers import build_onnx

    import pyfwd
    from pyfwd.activations import ONNX_OPS

    monkeypatch.setitem(ONNX_OPS, "tanh", ("Softsign", {}))
    W, b = [np.ones((3, 2), np.float32)], [np.zeros(3, np.float32)]
    assert [n.op_type for n in build_onnx(W, b, ["tanh"], "float32").graph.node] == ["Gemm", "Softsign"]
    net = pyfwd.Network.from_arrays(W, b, "tanh")
    assert [n.op_type for n in pyfwd.interop.to_onnx(net).graph.node] == ["Gemm", "Softsign"]
    for act in ("silu", "softmax", "gelu"):
        ops = [n.op_type for n in build_onnx(W, b, [act], "float32").graph.node]
        assert ops == ["Gemm", *(["Sigmoid", "Mul"] if act == "silu" else [ONNX_OPS[act][0]])]
