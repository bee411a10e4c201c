"""The speed targets of the C++ (issue 3), Numba (issue 4), per-ISA-level
(issue 10), 16-bit weights (issue 11) and training (issue 13) work, evaluated on
one run's results. They live here, in the benchmark report, never in a timed
unit test (docs/design.md). "cpp" is the ISA the backend picks by itself on this CPU.
A target whose cells were not run (quick profile, kernel missing) is "n/a".

A ratio of two kernels is judged on its paired confirmation where the run made one
(``doc["confirmations"]``, runner._confirm_ratios: the two kernels timed in alternating
rounds, the median of the per-round ratios), else on the two cells' medians. The cells
are timed seconds apart, so a shared machine's slow minutes can land on one of them;
a round's two timings are a fraction of a second apart."""
from __future__ import annotations

from .cases import ACTS, MLPS16, W16_VARIANTS, Case

#: Issue 10: the mlps whose batch-1 time is judged against a streaming read of their
#: weight bytes (runner._stream_reads), and the share of that read's speed to reach.
STREAM_GOALS = {"[1024,4096,4096,1024] b=1": 0.95}
#: Issue 11: 16-bit weights (compute="fp32") time over float32 time, per network and
#: batch of the mlp suite: the memory-bound batch-1 case halves the bytes it reads.
GOALS16 = {("[1024,4096,4096,1024]", 1): 0.6, ("[1024,4096,4096,1024]", 256): 1.05, ("[784,128,10]", 64): 1.05}


def _index(doc: dict) -> dict:
    return {(r["kernel"], r["suite"], r["label"], r["dtype"], r["threads"]): r for r in doc["results"]}


def _fmt_s(s: float) -> str:
    return f"{s * 1e6:.1f} us" if s < 1e-3 else f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def pair_key(p: dict) -> tuple:
    """The key of a ratio target's two cells (its ``pair``: sides "a" and "b", each a
    kernel and a case label, and their suite, dtype and thread count) and of their
    confirmation, whose ratios are b's time over a's."""
    return (p["a"]["kernel"], p["a"]["label"], p["b"]["kernel"], p["b"]["label"], p["suite"], p["dtype"],
            p["threads"])


def _pair(a_kernel, a_label, b_kernel, b_label, suite, dtype, T) -> dict:
    return {"a": {"kernel": a_kernel, "label": a_label}, "b": {"kernel": b_kernel, "label": b_label},
            "suite": suite, "dtype": dtype, "threads": T}


def evaluate(doc: dict) -> list[dict]:
    idx = _index(doc)
    confirmed = {pair_key(c): c for c in doc.get("confirmations", []) if c.get("median") is not None}
    threads = doc["threads"]
    t_all, t_one = max(threads), min(threads)
    cpp = doc.get("cpp_default") or "cpp (not built)"
    out: list[dict] = []

    def cell(kernel, suite, label, T, dtype="float32"):
        r = idx.get((kernel, suite, label, dtype, T))
        if r is None:
            return None, f"{kernel} {label} T={T} not run in this profile"
        if r["status"] != "ok":
            return None, f"{kernel} {label} T={T}: {r['status']} ({r['reason']})"
        return r, None

    def judged(pair, cells, shown):
        """(value, text) of a two-timing target: its confirmation's median where the run
        made one, else the ratio of its cells' medians (*shown* says what they were)."""
        c = confirmed.get(pair_key(pair))
        if c is None:
            return cells, f"{cells:.2f}x {shown}"
        r = c["ratios"]
        return c["median"], (f"{c['median']:.2f}x, median of {len(r)} alternating rounds "
                             f"({min(r):.2f}-{max(r):.2f}); cells {cells:.2f}x {shown}")

    def add(issue, text, value, goal, measured, higher_is_better=True, why=None, pair=None):
        extra = {"pair": pair} if pair is not None else {}
        if why is not None:
            out.append({"issue": issue, "target": text, "status": "n/a", "reason": why, **extra})
            return
        met = value >= goal if higher_is_better else value <= goal
        out.append({"issue": issue, "target": text, "status": "met" if met else "missed",
                    "value": value, "goal": goal, "measured": measured, **extra})

    def ratio(issue, text, fast, slow, suite, label, T, goal, dtype="float32"):
        """*fast*'s speed over *slow*'s (slow median / fast median) >= goal; on the
        pair's confirmation (alternating rounds) where the run made one."""
        pair = _pair(fast, label, slow, label, suite, dtype, T)  # b's time over a's: slow / fast
        a, why = cell(fast, suite, label, T, dtype)
        b, why2 = cell(slow, suite, label, T, dtype)
        why = why or why2
        if why:
            return add(issue, text, None, goal, None, why=why, pair=pair)
        v, measured = judged(pair, b["median_s"] / a["median_s"],
                             f"({fast} {_fmt_s(a['median_s'])}, {slow} {_fmt_s(b['median_s'])})")
        add(issue, text, v, goal, measured, pair=pair)

    def ratio16(text, kernel, label16, label32, T, goal):
        """*kernel*'s time on the 16-bit row over its float32 time (same run) <= goal."""
        pair = _pair(kernel, label32, kernel, label16, "mlp", "float32", T)  # b's time over a's: 16 / 32
        a, why = cell(kernel, "mlp", label16, T)
        b, why2 = cell(kernel, "mlp", label32, T)
        why = why or why2
        if why:
            return add(11, text, None, goal, None, why=why, pair=pair)
        v, measured = judged(pair, a["median_s"] / b["median_s"],
                             f"({_fmt_s(a['median_s'])} vs float32 {_fmt_s(b['median_s'])})")
        add(11, text, v, goal, measured, higher_is_better=False, pair=pair)

    def latency(issue, text, kernel, suite, label, T, max_s):
        a, why = cell(kernel, suite, label, T)
        if why:
            return add(issue, text, None, max_s, None, why=why)
        add(issue, text, a["median_s"], max_s, f"{_fmt_s(a['median_s'])} median", higher_is_better=False)

    for n in (1024, 2048, 4096):
        for T in sorted({t_one, t_all}):
            ratio(3, f"sgemm {n}^3 T={T}: cpp >= NumPy's OpenBLAS", cpp, "numpy-blas", "gemm", f"{n}^3", T, 1.0)
        a, why = cell(cpp, "gemm", f"{n}^3", t_one)
        if why is None and a.get("pct_peak") is None:
            why = "peak not measured (no FMA probe)"
        add(3, f"sgemm {n}^3 T={t_one}: cpp >= 90% of measured FMA peak",
            None if why else a["pct_peak"], 90.0, None if why else f"{a['pct_peak']:.1f}% of peak", why=why)
    ratio(3, f"layer (1024,1024,1024) sigmoid T={t_all}: cpp >= 1.2x numpy-textbook", cpp, "numpy-textbook",
          "layer", "(1024,1024,1024) sigmoid", t_all, 1.2)
    ratio(3, f"layer (1024,1024,1024) relu T={t_all}: cpp >= 1.1x numpy-textbook", cpp, "numpy-textbook",
          "layer", "(1024,1024,1024) relu", t_all, 1.1)
    for act in ACTS:
        label = f"(64,784,128) {act}"
        if any(k[2] == label for k in idx):
            ratio(3, f"layer {label} T={t_all}: cpp >= 1.5x numpy-textbook", cpp, "numpy-textbook",
                  "layer", label, t_all, 1.5)
    mnist = "[784,128,10]"
    latency(3, f"mlp {mnist} b=1 T={t_all}: cpp <= 5 us", cpp, "mlp", f"{mnist} b=1", t_all, 5e-6)
    for peer in ("onnxruntime", "torch"):
        ratio(3, f"mlp {mnist} b=1 T={t_all}: cpp faster than {peer}", cpp, peer, "mlp", f"{mnist} b=1",
              t_all, 1.0)
    ratio(3, f"mlp {mnist} b=64 T={t_all}: cpp >= 1.5x onnxruntime", cpp, "onnxruntime", "mlp",
          f"{mnist} b=64", t_all, 1.5)
    ratio(3, f"mlp {mnist} b=60000 T={t_all}: cpp >= 1.45x onnxruntime", cpp, "onnxruntime", "mlp",
          f"{mnist} b=60000", t_all, 1.45)
    ratio(3, f"mlp [1024,4096,4096,1024] b=256 T={t_all}: cpp >= 1.2x onnxruntime", cpp, "onnxruntime",
          "mlp", "[1024,4096,4096,1024] b=256", t_all, 1.2)

    ratio(4, f"sgemm 1024^3 T={t_all}: numba >= 0.5x cpp", "numba", cpp, "gemm", "1024^3", t_all, 0.5)
    ratio(4, f"mlp {mnist} b=1024 T={t_all}: numba >= 0.5x cpp", "numba", cpp, "mlp", f"{mnist} b=1024",
          t_all, 0.5)
    for act in ACTS:
        label = f"(64,784,128) {act}"
        if any(k[2] == label for k in idx):
            ratio(4, f"layer {label} T={t_all}: numba faster than numpy-textbook", "numba", "numpy-textbook",
                  "layer", label, t_all, 1.0)
    latency(4, f"mlp {mnist} b=1 T={t_all}: numba < 10 us", "numba", "mlp", f"{mnist} b=1", t_all, 10e-6)

    # issue 11: 16-bit weights against the float32 weights of the same run
    for dims, acts, batches in MLPS16:
        for batch in batches:
            net = f"[{','.join(map(str, dims))}]"
            goal = GOALS16.get((net, batch))
            for wd, compute in W16_VARIANTS:
                if goal is None or compute != "fp32":
                    continue
                c = Case("mlp", dims, acts, batch, weights=wd, compute=compute)
                ratio16(f"mlp {c.label} T={t_all}: cpp {wd} weights <= {goal:g}x the float32 time", cpp,
                        c.label, c.base_label, t_all, goal)

    # issue 13: an epoch of training against PyTorch's
    ratio(13, f"train {mnist} b=64 T={t_all}: cpp >= 4x torch eager", cpp, "torch", "train",
          f"{mnist} b=64", t_all, 4.0)
    ratio(13, f"train {mnist} b=64 T={t_all}: cpp >= 2x torch.compile", cpp, "torch-compile", "train",
          f"{mnist} b=64", t_all, 2.0)
    ratio(13, f"train [784,512,512,10] b=256 T={t_all}: cpp >= 1.3x torch eager", cpp, "torch", "train",
          "[784,512,512,10] b=256", t_all, 1.3)

    # issue 10: memory-bound batch 1 against a plain streaming read of the same bytes
    for sr in doc.get("stream_read", []):
        label, T, goal = sr["label"], sr["threads"], STREAM_GOALS.get(sr["label"], 0.95)
        text = f"mlp {label} T={T}: cpp within {100 - goal * 100:.0f}% of a streaming read of its weights"
        pair = _pair(cpp, label, "stream-read", label, "mlp", "float32", T)  # b's time over a's: read / cpp
        a, why = cell(cpp, "mlp", label, T)
        why = why or (None if sr["median_s"] else f"streaming read not measured ({sr['reason']})")
        if why:
            add(10, text, None, goal, None, why=why, pair=pair)
            continue
        gb = sr["bytes"] * 1e-9
        v, measured = judged(pair, sr["median_s"] / a["median_s"],
                             f"({cpp} {_fmt_s(a['median_s'])} = {gb / a['median_s']:.1f} GB/s, read of "
                             f"{sr['bytes'] / 1e6:.1f} MB {_fmt_s(sr['median_s'])} = {sr['gbps']:.1f} GB/s)")
        add(10, text, v, goal, measured, pair=pair)

    # issue 10: every ISA level against OpenBLAS pinned to the same width (report.per_isa_rows)
    for r in doc.get("per_isa", []):
        n = r["label"][:-2]
        goal = {("sgemm", "1024"): 1.0, ("sgemm", "2048"): 1.0, ("dgemm", "1024"): 0.95}.get((r["op"], n))
        if goal is None:
            continue
        kernel = f"cpp-{r['isa']}"
        text = f"{r['op']} {r['label']} T={r['threads']}: {kernel} >= {goal:g}x OpenBLAS of the same width"
        pair = _pair(kernel, r["label"], f"openblas-{r['isa']}", r["label"], "gemm", r["dtype"], r["threads"])
        if r["ratio_vs_openblas"] is None:
            add(10, text, None, goal, None, why=r["note"], pair=pair)
        else:
            v, measured = judged(pair, r["ratio_vs_openblas"],
                                 f"({r['cpp_gflops']:.1f} vs {r['openblas_gflops']:.1f} GFLOP/s)")
            add(10, text, v, goal, measured, pair=pair)
        if r["op"] == "sgemm" and r["threads"] == t_one:
            text = f"sgemm {r['label']} T={t_one}: {kernel} >= 88% of its width's measured FMA peak"
            if r["pct_peak"] is None:
                add(10, text, None, 88.0, None, why="peak not measured (no FMA probe)")
            else:
                add(10, text, r["pct_peak"], 88.0, f"{r['pct_peak']:.1f}% of peak")
    return out
