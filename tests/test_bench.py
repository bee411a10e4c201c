"""The benchmark harness (pyfwd.bench) on tiny sizes: the correctness gate rejects a
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

from pyfwd.bench import Config, run
from pyfwd.bench import report
from pyfwd.bench.cases import PROFILES, Case, make_inputs
from pyfwd.bench.gate import Reference, check_rows
from pyfwd.bench.kernels import Kernel, NumpyTextbook
from pyfwd.bench.timing import measure

REPO = Path(__file__).resolve().parents[1]


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
                "confirm_rounds", "confirmations", "wall_s"):
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


def _bench(args, tmp_path, pre="", out=True):
    """``python -m pyfwd.bench --tiny`` (or *pre* then its main) in *tmp_path*, as a
    user runs it from any directory, with the pyfwd under test on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k != "PYFWD_NUM_THREADS"}
    import pyfwd
    src = str(Path(pyfwd.__file__).resolve().parents[1])
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    run_ = ["-c", pre + "import sys; from pyfwd.bench.cli import main; sys.exit(main(sys.argv[1:]))"] if pre \
        else ["-m", "pyfwd.bench"]
    return subprocess.run([sys.executable, *run_, "--tiny", "--no-progress",
                           *(["--out", str(tmp_path)] if out else []), *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)


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
    from pyfwd.bench.targets import evaluate

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


def test_targets_are_judged_on_their_paired_confirmation():
    """A ratio target with a confirmation (its two kernels timed in alternating rounds)
    is judged on the median of the per-round ratios, not on the two cells' medians; a
    confirmation that failed (median None) leaves the cells' verdict."""
    from pyfwd.bench.targets import evaluate

    def row(kernel, label, median, T=2):
        return {"kernel": kernel, "suite": "mlp", "label": label, "dtype": "float32", "threads": T,
                "status": "ok", "reason": None, "median_s": median, "pct_peak": None}

    def conf(a, a_label, b, b_label, ratios, median):
        return {"a": {"kernel": a, "label": a_label}, "b": {"kernel": b, "label": b_label}, "suite": "mlp",
                "dtype": "float32", "threads": 2, "ratios": ratios, "median": median}

    b64, b64bf = "[784,128,10] b=64", "[784,128,10] b=64 w=bf16"
    doc = {"threads": [1, 2], "cpp_default": "cpp-avx2", "results": [
        row("cpp-avx2", b64, 100e-6), row("onnxruntime", b64, 120e-6),      # cells: 1.2x, missed
        row("cpp-avx2", b64bf, 150e-6),                                     # cells: 1.5x the f32 time
        row("cpp-avx2", "[784,128,10] b=1", 4e-6), row("torch", "[784,128,10] b=1", 3e-6)]}
    got = {t["target"]: t for t in evaluate(doc)}
    ort = "mlp [784,128,10] b=64 T=2: cpp >= 1.5x onnxruntime"
    bf = "mlp [784,128,10] b=64 w=bf16 T=2: cpp bfloat16 weights <= 1.05x the float32 time"
    torch = "mlp [784,128,10] b=1 T=2: cpp faster than torch"
    assert got[ort]["status"] == "missed" and got[ort]["value"] == pytest.approx(1.2)
    assert got[bf]["status"] == "missed" and got[bf]["value"] == pytest.approx(1.5)
    assert got[ort]["pair"] == {"a": {"kernel": "cpp-avx2", "label": b64},
                                "b": {"kernel": "onnxruntime", "label": b64}, "suite": "mlp",
                                "dtype": "float32", "threads": 2}
    assert got[bf]["pair"]["a"] == {"kernel": "cpp-avx2", "label": b64}  # ratio = 16-bit time / f32 time
    doc["confirmations"] = [conf("cpp-avx2", b64, "onnxruntime", b64, [1.4, 1.6, 1.7], 1.6),
                            conf("cpp-avx2", b64, "cpp-avx2", b64bf, [0.9, 1.0, 1.2], 1.0),
                            conf("cpp-avx2", "[784,128,10] b=1", "torch", "[784,128,10] b=1", [], None)]
    got = {t["target"]: t for t in evaluate(doc)}
    assert got[ort]["status"] == "met" and got[ort]["value"] == pytest.approx(1.6)
    assert "median of 3 alternating rounds (1.40-1.70)" in got[ort]["measured"]
    assert "cells 1.20x" in got[ort]["measured"]
    assert got[bf]["status"] == "met" and got[bf]["value"] == pytest.approx(1.0)
    assert got[torch]["status"] == "missed" and got[torch]["value"] == pytest.approx(0.75)


def test_batch1_target_is_judged_against_the_streaming_read_of_its_weights():
    """Issue 10: the big mlp at batch 1 against a streaming read of its weight bytes
    (doc["stream_read"]): read time over cpp's time >= 0.95, on the cells or on the
    alternating rounds; n/a with the reason when the read was not measured."""
    from pyfwd.bench.targets import STREAM_GOALS, evaluate

    label = "[1024,4096,4096,1024] b=1"
    assert STREAM_GOALS[label] == 0.95
    cell = {"kernel": "cpp-avx2", "suite": "mlp", "label": label, "dtype": "float32", "threads": 2,
            "status": "ok", "reason": None, "median_s": 4.0e-3, "pct_peak": None}
    read = {"label": label, "threads": 2, "bytes": 100_663_296, "gbps": 100_663_296 / 3.6e-3 * 1e-9,
            "median_s": 3.6e-3, "reason": None}
    doc = {"threads": [1, 2], "cpp_default": "cpp-avx2", "results": [cell], "stream_read": [read]}
    text = f"mlp {label} T=2: cpp within 5% of a streaming read of its weights"
    got = {t["target"]: t for t in evaluate(doc)}[text]
    assert got["status"] == "missed" and got["value"] == pytest.approx(0.9), got
    assert "100.7 MB" in got["measured"] and "25.2 GB/s" in got["measured"]
    assert got["pair"]["b"] == {"kernel": "stream-read", "label": label}
    doc["confirmations"] = [{**got["pair"], "ratios": [0.94, 0.97, 1.01], "median": 0.97}]
    got = {t["target"]: t for t in evaluate(doc)}[text]
    assert got["status"] == "met" and got["value"] == pytest.approx(0.97)
    doc["stream_read"] = [{**read, "median_s": None, "gbps": None, "reason": "raised MemoryError: "}]
    got = {t["target"]: t for t in evaluate(doc)}[text]
    assert got["status"] == "n/a" and "streaming read not measured" in got["reason"]


def test_stream_read_side_times_a_read_of_the_case_weight_bytes():
    """kernels.StreamRead, the "b" side of that target in the alternating rounds: its
    time is the case's weight bytes over the measured GB/s."""
    from pyfwd.bench.kernels import StreamRead

    k = StreamRead()
    if k.reason is not None:
        pytest.skip(k.reason)
    case = Case("mlp", (64, 512, 10), ("relu", "linear"), 1)
    data = make_inputs(case)
    k.set_threads(1)
    fn = k.prepare(case, data)
    assert k.nbytes == sum(W.nbytes for W in data.weights)
    assert fn() > 0
    t = k.measure(fn, 0.01, 0.0, 1)
    assert t.median_s > 0 and t.samples_s == [t.median_s]


def test_confirmation_alternates_the_two_sides_and_reports_their_ratio():
    """runner._confirm_pair: each round times both sides, in swapped order every round,
    and records b's time over a's; here b sleeps 3x longer per call than a."""
    import time

    from pyfwd.bench.runner import _confirm_pair

    calls = []

    class Sleeper(Kernel):
        suites = ("mlp",)

        def __init__(self, name, seconds):
            super().__init__()
            self.name, self.seconds = name, seconds

        def prepare(self, case, data):
            return lambda: time.sleep(self.seconds)

        def measure(self, fn, budget_s, first_call_s, min_samples):
            calls.append(self.name)
            return super().measure(fn, budget_s, first_call_s, min_samples)

    case = Case("mlp", (6, 5, 3), ("tanh", "softmax"), 2)
    a, b = Sleeper("fast", 0.002), Sleeper("slow", 0.006)
    out = _confirm_pair(((a, case), (b, case)), 1, PROFILES["tiny"], 4, 0, [])
    assert out["reason"] is None and len(out["ratios"]) == 4
    assert out["a"] == {"kernel": "fast", "label": case.label} and out["b"]["kernel"] == "slow"
    assert 2.0 < out["median"] < 4.5, out
    assert all(r == pytest.approx(tb / ta) for r, ta, tb in zip(out["ratios"], out["a_s"], out["b_s"]))
    assert calls == ["fast", "slow", "slow", "fast", "fast", "slow", "slow", "fast"]  # timings in order


def test_kernels_cpp_names_the_trainer_like_its_forward_column():
    """--kernels cpp selects no forward column, yet the cpp trainer carries the default
    level's name (cpp-avx2...), which the train targets look for."""
    from pyfwd.bench.kernels import default_cpp_name
    from pyfwd.bench.train import discover as train_discover

    from pyfwd.bench.kernels import _backend
    name = default_cpp_name()
    be = _backend("cpp")[0]
    if be is None:
        assert name is None
        return
    assert name == f"cpp-{be.isa()}"
    assert [k.name for k in train_discover(("cpp",), name)] == [name]
    assert [k.name for k in train_discover(("torch",), name)] == ["torch"]


def test_onnx_writers_share_pyfwd_activation_table(monkeypatch):
    """bench's ONNX Runtime graphs and Network.to_onnx both read the one table
    pyfwd.activations.ONNX_OPS (change it and both follow)."""
    pytest.importorskip("onnx", reason="onnx is not installed")
    from pyfwd.bench.peers import build_onnx

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


# -- installable bench, the user's own network, per-ISA rows, plots (issues 10, 12) --
ROW_KEYS = ("dims", "activations", "dtype", "batch", "threads", "samples_s", "pyfwd_commit", "p10_s")


def test_every_row_carries_its_network_timing_samples_and_commit(doc):
    assert doc["pyfwd_commit"] and doc["pyfwd_commit_from"]
    for r in doc["results"]:
        for key in ROW_KEYS[:5] + ("pyfwd_commit",):
            assert key in r, (key, r)
        assert r["pyfwd_commit"] == doc["pyfwd_commit"]
        if r["status"] == "ok":
            assert len(r["samples_s"]) == r["n_samples"]
            assert r["min_s"] <= r["p10_s"] <= r["median_s"] <= r["p90_s"]
            assert r["median_s"] == pytest.approx(float(np.median(r["samples_s"])))
    mlp = next(r for r in doc["results"] if r["label"] == "[6,5,3] b=2")
    assert (mlp["dims"], mlp["activations"], mlp["batch"]) == ([6, 5, 3], ["tanh", "softmax"], 2)


def test_commit_is_git_describe_in_a_checkout_else_the_version(monkeypatch, tmp_path):
    import pyfwd
    from pyfwd.bench import machine

    commit, how = machine.pyfwd_commit()
    if (REPO / ".git").exists() and Path(pyfwd.__file__).resolve().parent == REPO / "src" / "pyfwd":
        assert how == "git describe" and commit
    fake = tmp_path / "site-packages" / "pyfwd"
    fake.mkdir(parents=True)
    monkeypatch.setattr(pyfwd, "__file__", str(fake / "__init__.py"))
    assert machine.pyfwd_commit() == (pyfwd.__version__, "version (not run from a git checkout)")


def test_json_keeps_number_lists_on_one_line():
    text = report.dumps({"results": [{"dims": [784, 512, 10], "samples_s": [1.5e-05, 2.25e-05, 3.0]}]})
    assert '"dims": [784, 512, 10]' in text and '"samples_s": [1.5e-05, 2.25e-05, 3.0]' in text
    assert json.loads(text)["results"][0]["samples_s"] == [1.5e-05, 2.25e-05, 3.0]


def test_runs_from_any_directory_with_results_under_it(tmp_path):
    """``python -m pyfwd.bench`` needs no repository: results go to ./bench/results."""
    p = _bench(["--kernels", "numpy-blas", "--suite", "gemm", "--no-plots"], tmp_path, out=False)
    assert p.returncode == 0, p.stdout + p.stderr
    assert (tmp_path / "bench" / "results" / "latest.json").exists()


def test_console_script_is_declared():
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        tomllib = pytest.importorskip("tomli", reason="no TOML parser (tomllib is Python 3.11+)")
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert meta["project"]["scripts"]["pyfwd-bench"] == "pyfwd.bench.cli:main"
    from pyfwd.bench.cli import main
    assert callable(main)


def test_custom_network_runs_on_every_kernel(tmp_path):
    p = _bench(["--dims", "6,5,3", "--acts", "tanh,softmax", "--batch", "1,4", "--dtype", "float32,float64",
                "--threads", "1", "--no-plots"], tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    doc = json.loads((tmp_path / "latest.json").read_text())
    assert doc["custom_network"] is True
    cases = {(r["label"], r["dtype"]) for r in doc["results"]}
    assert cases == {(f"[6,5,3] b={b}", dt) for b in (1, 4) for dt in ("float32", "float64")}
    ran = {r["kernel"] for r in doc["results"] if r["status"] == "ok"}
    assert {"numpy", "numpy-textbook", "numpy-blas"} <= ran
    assert {k for k, v in doc["kernels"].items() if v["status"] == "ok"} - {"openblas-avx2", "openblas-avx512"} <= ran
    for r in doc["results"]:
        assert r["dims"] == [6, 5, 3] and r["activations"] == ["tanh", "softmax"] and r["threads"] == 1


@pytest.mark.parametrize("args, message", [
    (["--dims", "6,5,3", "--acts", "tanh,relu,softmax"], "--acts needs 1 or 2 activation(s)"),
    (["--dims", "6"], "--dims needs at least 2 sizes"),
    (["--dims", "6,0,3"], "--dims takes positive integers"),
    (["--dims", "6,5,3", "--acts", "swish2"], "unknown activation 'swish2'"),
    (["--acts", "relu"], "--acts needs --dims"),
    (["--dims", "6,3", "--dtype", "float16"], "--dtype takes float32 and/or float64"),
])
def test_custom_network_options_are_checked(args, message, capsys):
    from pyfwd.bench.cli import main
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_kernel_colours_are_fixed_across_plots_and_runs():
    from pyfwd.bench.kernels import KERNEL_NAMES
    from pyfwd.bench.plots import COLOURS, colours

    assert set(KERNEL_NAMES) <= set(COLOURS) and len(set(COLOURS.values())) == len(COLOURS)
    a = colours({"kernels": dict.fromkeys(["numba", "cpp-avx2", "my-kernel"])})
    b = colours({"kernels": dict.fromkeys(["cpp-avx2", "torch", "my-kernel", "numba"])})
    assert a["numba"] == b["numba"] == COLOURS["numba"] and a["cpp-avx2"] == b["cpp-avx2"]
    assert a["my-kernel"] not in COLOURS.values()


def _synthetic_gemm_doc():
    def row(kernel, label, T, median, dtype="float32"):
        n = int(label[:-2])
        return {"kernel": kernel, "suite": "gemm", "label": label, "case": f"gemm:{label}:{dtype}",
                "dtype": dtype, "threads": T, "status": "ok", "reason": None, "median_s": median,
                "gflops": 2 * n ** 3 / median / 1e9, "pct_peak": 50.0}
    return {"kernels": {"cpp-avx2": {"status": "ok"}, "cpp-generic": {"status": "ok"},
                        "openblas-avx2": {"status": "ok"}},
            "results": [row("cpp-avx2", "1024^3", 1, 0.02), row("openblas-avx2", "1024^3", 1, 0.025),
                        row("cpp-generic", "1024^3", 1, 0.5), row("cpp-avx2", "256^3", 2, 1e-3, "float64")]}


def test_per_isa_rows_pair_each_level_with_openblas_of_its_width():
    from pyfwd.bench.pinned_blas import NO_PEER

    doc = _synthetic_gemm_doc()
    rows = {(r["isa"], r["label"], r["dtype"]): r for r in report.per_isa_rows(doc)}
    avx2 = rows[("avx2", "1024^3", "float32")]
    assert avx2["op"] == "sgemm" and avx2["openblas"] == "openblas-avx2" and avx2["openblas_coretype"] == "Haswell"
    assert avx2["ratio_vs_openblas"] == pytest.approx(1.25) and avx2["pct_peak"] == 50.0
    generic = rows[("generic", "1024^3", "float32")]
    assert generic["openblas"] is None and generic["note"] == NO_PEER
    dgemm = rows[("avx2", "256^3", "float64")]
    assert dgemm["op"] == "dgemm" and dgemm["openblas"] is None and "openblas-avx2 not run" in dgemm["note"]
    text = "\n".join(report._render_per_isa(report.per_isa_rows(doc)))
    assert "openblas-avx2 (Haswell)" in text and "1.25x" in text and NO_PEER in text
    from pyfwd.bench.targets import evaluate
    doc.update(threads=[1, 2], per_isa=report.per_isa_rows(doc))
    got = {t["target"]: t for t in evaluate(doc)}
    same = got["sgemm 1024^3 T=1: cpp-avx2 >= 1x OpenBLAS of the same width"]
    assert same["status"] == "met" and same["value"] == pytest.approx(1.25) and same["issue"] == 10
    assert got["sgemm 1024^3 T=1: cpp-avx2 >= 88% of its width's measured FMA peak"]["status"] == "missed"
    generic = got["sgemm 1024^3 T=1: cpp-generic >= 1x OpenBLAS of the same width"]
    assert generic["status"] == "n/a" and generic["reason"] == NO_PEER


def test_pinned_openblas_runs_the_kernels_of_its_width():
    """The worker's OpenBLAS, started with OPENBLAS_CORETYPE=Haswell, reports Haswell
    kernels (whatever this process's OpenBLAS chose) and is gated and timed."""
    from pyfwd.bench.kernels import discover
    from pyfwd.bench.machine import blas_info

    if not any(b.get("internal_api") == "openblas" for b in blas_info()):
        pytest.skip("NumPy's BLAS is not OpenBLAS here")
    (k,) = discover(["openblas-avx2"])
    try:
        if k.reason and "lacks avx2" in k.reason:
            pytest.skip(k.reason)
        assert k.reason is None, k.reason
        assert k.architecture.lower() == "haswell"
        case = Case("gemm", (16, 16), ("linear",), 16, "float64", False, 16)
        data = make_inputs(case)
        assert k.applies(case) is None
        assert k.applies(Case("gemm", (5, 4), ("linear",), 3, "float32", False)) is not None
        k.set_threads(1)
        y = k.prepare(case, data)()
        assert Reference(case, data).check(y, k.computes) is None
        np.testing.assert_allclose(y, data.X @ data.weights[0].T, rtol=1e-12)
        t = k.measure(None, 0.002, 0.0, 3)
        assert t.n_samples >= 3 and 0 < t.p10_s <= t.median_s <= t.p90_s
    finally:
        k.close()


def _synthetic_full_doc(seed=0):
    """A full-profile-shaped document (every case label, every kernel, 1 and 2
    threads) with random timings: what the plots must lay out readably."""
    from pyfwd.bench.kernels import KERNEL_NAMES

    rng = np.random.default_rng(seed)
    results = []
    for c in PROFILES["full"].cases():
        for T in (1, 2):
            base = c.flops / 50e9 + 2e-6
            for k in KERNEL_NAMES:
                if k.startswith("openblas-") and not c.square:
                    continue
                med = base * rng.uniform(0.7, 1.4)
                results.append({"kernel": k, "suite": c.suite, "label": c.label, "case": c.key, "dtype": c.dtype,
                                "threads": T, "status": "ok", "flops": c.flops, "median_s": med,
                                "p10_s": med * 0.95, "p90_s": med * 1.1, "gflops": c.flops / med / 1e9,
                                **({"weights": c.weights, "compute": c.compute} if c.weights else {})})
    doc = {"threads": [1, 2], "machine": {"cpu_model": "test CPU"}, "kernels": dict.fromkeys(KERNEL_NAMES, {}),
           "results": results,
           "peak_gflops_by_isa": {isa: {"available": True, "1": {"float32": p, "float64": p / 2},
                                        "2": {"float32": 2 * p, "float64": p}}
                                  for isa, p in (("avx2", 100.0), ("generic", 12.0))}}
    from pyfwd.bench.runner import _speedups
    _speedups(results)
    return doc


def test_plots_have_no_overlapping_labels(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed")
    from pyfwd.bench import plots

    seen = {}
    real_save = plots.save

    def check_then_save(fig, path, dpi):
        seen[os.path.basename(path)] = plots.overlapping_texts(fig)
        real_save(fig, path, dpi)

    monkeypatch.setattr(plots, "save", check_then_save)
    made, why = plots.make_plots(_synthetic_full_doc(), str(tmp_path), "t")
    assert why is None and set(made) == {"plot_gemm", "plot_layer", "plot_mlp"}
    assert seen and all(v == [] for v in seen.values()), {k: v[:5] for k, v in seen.items() if v}


# -- 16-bit weight rows (issue 11) and the train suite (issue 13) -----------------
@pytest.fixture(scope="module")
def doc16():
    """The tiny profile's 16-bit mlp rows and train suite, on cpp and PyTorch, 1 thread."""
    return run(Config(profile="tiny", suites=("mlp", "train"), threads=(1,), progress=False,
                      kernels=("cpp-*", "numpy-textbook", "numba", "torch", "torch-compile")))


def _ok_kernels(doc):
    return {k for k, v in doc["kernels"].items() if v["status"] == "ok"}


def test_w16_rows_are_gated_against_the_rounded_reference_and_timed(doc16):
    rows = [r for r in doc16["results"] if r.get("weights")]
    labels = {r["label"] for r in rows}
    assert labels == {"[6,5,3] b=2 w=bf16", "[6,5,3] b=2 w=f16", "[6,5,3] b=2 w=bf16 c=bf16"}
    cpp = doc16["cpp_default"]
    for r in rows:
        if r["kernel"] == cpp:
            assert r["status"] == "ok", r
            assert r["gate"]["per_layer"] is True and r["gate"]["against"] == "network"
            assert r["ratio_vs_float32"] == pytest.approx(r["median_s"] / r["float32_median_s"])
        elif r["kernel"] == "numpy-textbook":
            assert r["status"] == "n/a" and "16-bit rows" in r["reason"]
        elif r["kernel"] == "torch" and "torch" in _ok_kernels(doc16):
            if r["weights"] == "float16":
                assert r["status"] == "n/a"
            else:  # PyTorch's own bf16 path, checked with its roundings of storage
                assert r["status"] == "ok" and r["gate"]["against"] == "bf16-storage", r
    assert doc16["compute_bf16"]["mode"] in ("emulated", "native")
    from pyfwd.bench.machine import BF16_UNITS
    if not set(BF16_UNITS) & set(doc16["compute_bf16"]["cpu_features"]):
        assert doc16["compute_bf16"]["mode"] == "emulated"
        assert "no AVX512-BF16/AMX" in doc16["compute_bf16"]["reason"]
    text = report.render_table(doc16)
    assert "== 16-bit weights: time over the same kernel's float32 time" in text
    assert f"compute=bf16 (c=bf16): {doc16['compute_bf16']['mode']}" in text


class UnroundedInputs(Kernel):
    """cpp with the 16-bit weights but computing compute="fp32" on a c=bf16 row
    (the layer inputs not rounded to bfloat16): the gate must see it."""

    name = "unrounded-kernel"
    suites = ("mlp",)
    dtypes = ("float32",)
    weights16 = ("bfloat16",)

    def prepare_cache(self, case, data):
        import pyfwd
        net = pyfwd.Network.from_arrays(data.weights, data.biases, case.acts, weight_dtype=case.weights)
        return lambda: net.forward(data.X, backend="cpp", compute="fp32", return_cache=True)


def test_gate_rejects_a_16bit_row_computed_the_wrong_way():
    """A c=bf16 row whose layer inputs were not rounded to bfloat16 fails the
    per-layer check; the same forward passes as the row of compute="fp32"."""
    case = Case("mlp", (6, 5, 3), ("tanh", "softmax"), 4, weights="bfloat16", compute="bf16")
    data = make_inputs(case)
    assert data.weights[0].dtype.name == "bfloat16"
    y, cache = UnroundedInputs().prepare_cache(case, data)()
    msg = Reference(case, data).check_layers(y, y, cache, bitwise=True)
    assert "per layer: layer 1 of 2" in msg and "out of bound" in msg
    fp32 = Case("mlp", (6, 5, 3), ("tanh", "softmax"), 4, weights="bfloat16")
    ref = Reference(fp32, make_inputs(fp32))
    assert ref.check(y) is None and ref.check_layers(y, y, cache, bitwise=True) is None


def test_bf16_storage_bound_passes_torch_bf16_and_fails_a_wrong_output():
    pytest.importorskip("torch")
    from pyfwd.testing import storage16_bounds
    from pyfwd.bench.peers import TorchKernel
    from pyfwd.testing import compare

    case = Case("mlp", (64, 48, 10), ("relu", "linear"), 16, weights="bfloat16", compute="bf16")
    data = make_inputs(case)
    A, eA = storage16_bounds(data.weights, data.biases, case.acts, data.X, "bfloat16")
    assert compare(TorchKernel().prepare(case, data)(), A, eA) is None
    data.biases[1] = np.zeros_like(data.biases[1])  # a bf16 network that lost its last bias
    assert "out of bound" in compare(TorchKernel().prepare(case, data)(), A, eA)


def test_train_rows_gate_time_and_compare_with_torch(doc16):
    rows = [r for r in doc16["results"] if r["suite"] == "train"]
    cpp = doc16["cpp_default"]
    by = {r["kernel"]: r for r in rows}
    assert set(by) == {cpp, "numba", "torch", "torch-compile"}
    r = by[cpp]
    assert r["status"] == "ok", r
    assert r["gate"]["first_step_gradients"] is True and r["n_samples"] == PROFILES["tiny"].train_epochs
    assert r["label"] == "[784,8,10] b=100" and r["train_rows"] == PROFILES["tiny"].train_rows
    assert 0 < r["min_s"] <= r["median_s"] <= r["p90_s"] and r["first_epoch_s"] > 0
    for slow in ("numba", "torch-compile"):
        if doc16["kernels"][slow]["status"] == "ok":
            assert by[slow]["status"] == "skipped" and "full profile only" in by[slow]["reason"]
    if "torch" in _ok_kernels(doc16):
        assert by["torch"]["status"] == "ok" and by["torch"]["speedup_vs_baseline"] == pytest.approx(1.0)
        assert r["speedup_vs_baseline"] == pytest.approx(by["torch"]["median_s"] / r["median_s"])
    text = report.render_table(doc16)
    assert "== train: median time of one training epoch" in text and "== train: speed-up over torch eager" in text
    assert "train cell(s) skipped: tiny profile:" in text


def _train_cell(kernel, **prof):
    import dataclasses

    from pyfwd.bench import train
    case = PROFILES["tiny"].cases(("train",))[0]
    return train.cell(kernel, case, 1, dataclasses.replace(PROFILES["tiny"], **prof))


def test_train_gate_rejects_wrong_first_step_gradients(monkeypatch):
    import pyfwd
    from pyfwd.bench.train import PyfwdTrain

    good = pyfwd.Network.loss_and_gradients

    def off(self, X, y, loss=None, backend=None):
        value, grads = good(self, X, y, loss, backend)
        grads["W2"] = grads["W2"] * np.float32(1 + 1e-3)
        return value, grads

    assert _train_cell(PyfwdTrain("cpp", "cpp"))["status"] == "ok"
    monkeypatch.setattr(pyfwd.Network, "loss_and_gradients", off)
    r = _train_cell(PyfwdTrain("cpp", "cpp"))
    assert r["status"] == "FAILED" and "first step's gradient W2" in r["reason"] and r["median_s"] is None


def test_train_gate_rejects_wrong_torch_gradients():
    pytest.importorskip("torch")
    from pyfwd.bench.train import TorchTrain

    class Off(TorchTrain):
        def start(self, case, init, X, y, seed):
            super().start(case, init, X, y, seed)
            step, lin = self.step, self.model[0]

            def wrong(xb, yb):
                step(xb, yb)
                lin.bias.grad.mul_(1.01)
            self.step = wrong

    assert _train_cell(TorchTrain())["status"] == "ok"
    r = _train_cell(Off())
    assert r["status"] == "FAILED" and "first step's gradient b1" in r["reason"]


def test_train_skips_a_step_that_does_not_compile_and_a_slow_trainer(monkeypatch):
    torch = pytest.importorskip("torch")
    from pyfwd.bench.train import PyfwdTrain, TorchTrain

    def broken(fn):
        def call(*a):
            raise RuntimeError("no C compiler")
        return call

    monkeypatch.setattr(torch, "compile", broken)
    r = _train_cell(TorchTrain(compiled=True), train_slow=True)
    assert r["status"] == "skipped" and r["reason"] == "torch.compile failed (RuntimeError: no C compiler)"
    slow = PyfwdTrain("cpp", "cpp")
    slow.epoch_cap_s = 0.0
    r = _train_cell(slow)
    assert r["status"] == "skipped" and "cap for cpp training): not timed further" in r["reason"]


def test_profiles_have_the_16bit_rows_and_train_cases():
    quick = {c.label for c in PROFILES["quick"].cases(("mlp", "train"))}
    full = {c.label for c in PROFILES["full"].cases(("mlp", "train"))}
    for net in ("[784,128,10] b=64", "[1024,4096,4096,1024] b=1"):
        assert {net, f"{net} w=bf16", f"{net} w=f16", f"{net} w=bf16 c=bf16"} <= quick
    assert {"[1024,4096,4096,1024] b=256 w=bf16", "[1024,4096,4096,1024] b=256 w=f16"} <= full
    assert {"[784,128,10] b=64", "[784,512,512,10] b=256"} <= quick & full
    assert PROFILES["full"].train_slow and not PROFILES["quick"].train_slow


def test_targets_of_16bit_weights_and_training():
    from pyfwd.bench.targets import evaluate

    def row(kernel, suite, label, median):
        return {"kernel": kernel, "suite": suite, "label": label, "dtype": "float32", "threads": 2,
                "status": "ok", "reason": None, "median_s": median}

    big = "[1024,4096,4096,1024] b=1"
    doc = {"threads": [1, 2], "cpp_default": "cpp-avx2", "results": [
        row("cpp-avx2", "mlp", big, 10e-3), row("cpp-avx2", "mlp", big + " w=bf16", 5e-3),
        row("cpp-avx2", "mlp", big + " w=f16", 7e-3),
        row("cpp-avx2", "train", "[784,128,10] b=64", 0.1), row("torch", "train", "[784,128,10] b=64", 0.5),
        row("torch-compile", "train", "[784,128,10] b=64", 0.15)]}
    got = {t["target"]: t for t in evaluate(doc)}
    bf = got[f"mlp {big} w=bf16 T=2: cpp bfloat16 weights <= 0.6x the float32 time"]
    assert bf["status"] == "met" and bf["value"] == pytest.approx(0.5) and bf["issue"] == 11
    assert got[f"mlp {big} w=f16 T=2: cpp float16 weights <= 0.6x the float32 time"]["status"] == "missed"
    assert got["mlp [784,128,10] b=64 w=bf16 T=2: cpp bfloat16 weights <= 1.05x the float32 time"]["status"] == "n/a"
    eager = got["train [784,128,10] b=64 T=2: cpp >= 4x torch eager"]
    assert eager["status"] == "met" and eager["value"] == pytest.approx(5.0) and eager["issue"] == 13
    assert got["train [784,128,10] b=64 T=2: cpp >= 2x torch.compile"]["status"] == "missed"
    assert got["train [784,512,512,10] b=256 T=2: cpp >= 1.3x torch eager"]["status"] == "n/a"
