"""PNG plots (matplotlib, Agg backend; optional): GFLOP/s against size for the
gemm suite, latency per configuration for the mlp suite, speed-up over the
textbook NumPy layer for the layer suite."""
from __future__ import annotations

import os


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _plain_log(ax) -> None:
    """Log y axis labelled 0.5, 2, 100 rather than 5x10^-1."""
    from matplotlib.ticker import FuncFormatter

    import math

    from matplotlib.ticker import NullFormatter

    ax.set_yscale("log")
    fmt = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(fmt)
    lo, hi = ax.get_ylim()
    if math.log10(hi / lo) < 1.5:  # few decades: label the minor ticks too
        ax.yaxis.set_minor_formatter(fmt)
        ax.tick_params(axis="y", which="minor", labelsize=7)
    else:
        ax.yaxis.set_minor_formatter(NullFormatter())


def _ok(doc, suite):
    return [r for r in doc["results"] if r["suite"] == suite and r["status"] == "ok"]


def _kernels(rows):
    seen: dict = {}
    for r in rows:
        seen.setdefault(r["kernel"], None)
    return list(seen)


def plot_gemm(doc, path, plt) -> bool:
    rows = [r for r in _ok(doc, "gemm") if r["label"].endswith("^3")]
    if not rows:
        return False
    dtypes = [d for d in ("float32", "float64") if any(r["dtype"] == d for r in rows)]
    threads = doc["threads"]
    fig, axes = plt.subplots(len(dtypes), len(threads), figsize=(7.5 * len(threads), 4.2 * len(dtypes)),
                             squeeze=False)
    peak = doc.get("peak_gflops", {})
    kernels = _kernels(rows)
    for i, dt in enumerate(dtypes):
        for j, T in enumerate(threads):
            ax = axes[i][j]
            for k in kernels:
                pts = sorted((int(r["label"][:-2]), r["gflops"]) for r in rows
                             if r["kernel"] == k and r["dtype"] == dt and r["threads"] == T)
                if pts:
                    ax.plot(*zip(*pts), marker="o", label=k)
            if peak.get("available") and str(T) in peak:
                ax.axhline(peak[str(T)][dt], color="k", ls="--", lw=1, label="measured FMA peak")
            ax.set_xscale("log", base=2)
            ax.set_xlabel("n (n x n x n product)")
            ax.set_ylabel("GFLOP/s")
            ax.set_title(f"gemm {dt}, {T} thread(s)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(f"pyfwd bench: GEMM throughput ({doc['machine'].get('cpu_model')})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _bars(doc, rows, path, plt, value, ylabel, title, log=True) -> bool:
    """A bar group per case label, a bar per kernel, a panel per thread count."""
    if not rows:
        return False
    threads = doc["threads"]
    labels = list(dict.fromkeys(r["label"] for r in rows))
    kernels = _kernels(rows)
    fig, axes = plt.subplots(len(threads), 1, figsize=(max(9, 0.25 * len(labels) * max(1, len(kernels)) + 2),
                                                       4 * len(threads)), squeeze=False)
    width = 0.8 / max(1, len(kernels))
    for i, T in enumerate(threads):
        ax = axes[i][0]
        for j, k in enumerate(kernels):
            xs, ys = [], []
            for x, lab in enumerate(labels):
                r = next((r for r in rows if r["kernel"] == k and r["label"] == lab and r["threads"] == T), None)
                if r is not None and value(r) is not None:
                    xs.append(x + (j - (len(kernels) - 1) / 2) * width)
                    ys.append(value(r))
            ax.bar(xs, ys, width, label=k)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=20, ha="right", fontsize=8)
        if log:
            _plain_log(ax)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title}, {T} thread(s)")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def plot_mlp(doc, path, plt) -> bool:
    return _bars(doc, _ok(doc, "mlp"), path, plt, lambda r: r["median_s"] * 1e6,
                 "median latency (us, log)", "mlp: latency per network and batch (lower is better)")


def plot_layer(doc, path, plt) -> bool:
    """Speed-up over numpy-textbook: a panel per shape and thread count, a bar
    group per activation."""
    rows = [r for r in _ok(doc, "layer") if r["kernel"] != "numpy-blas" and r.get("speedup_vs_baseline")]
    if not rows:
        return False
    threads = doc["threads"]
    shapes = list(dict.fromkeys(r["label"].split(" ")[0] for r in rows))
    kernels = _kernels(rows)
    fig, axes = plt.subplots(len(threads), len(shapes), figsize=(4.5 * len(shapes) + 1.5, 3.6 * len(threads)),
                             squeeze=False)
    width = 0.8 / max(1, len(kernels))
    for i, T in enumerate(threads):
        for j, shape in enumerate(shapes):
            ax = axes[i][j]
            sub = [r for r in rows if r["threads"] == T and r["label"].split(" ")[0] == shape]
            acts = list(dict.fromkeys(r["label"].split(" ")[1] for r in sub))
            for n, k in enumerate(kernels):
                pts = [(x + (n - (len(kernels) - 1) / 2) * width, r["speedup_vs_baseline"])
                       for x, act in enumerate(acts) for r in sub if r["kernel"] == k and r["label"].endswith(" " + act)]
                if pts:
                    ax.bar(*zip(*pts), width, label=k)
            ax.axhline(1.0, color="k", lw=0.8)
            ax.set_xticks(range(len(acts)))
            ax.set_xticklabels(acts, rotation=30, ha="right", fontsize=8)
            _plain_log(ax)
            ax.set_title(f"{shape}, {T} thread(s)", fontsize=9)
            ax.grid(alpha=0.3, axis="y")
            if j == 0:
                ax.set_ylabel("speed-up vs numpy-textbook")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle("layer: one fused dense layer act(X @ W.T + b), (M,K,N); higher is better", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def make_plots(doc: dict, out_dir: str, stamp: str) -> tuple[dict, str | None]:
    """Write the plots; returns ({name: path}, reason if none could be made)."""
    try:
        plt = _pyplot()
    except Exception as exc:  # matplotlib is an optional peer
        return {}, f"matplotlib not importable ({type(exc).__name__}: {exc})"
    import shutil

    made = {}
    for name, fn in (("gemm", plot_gemm), ("layer", plot_layer), ("mlp", plot_mlp)):
        path = os.path.join(out_dir, f"{stamp}-{name}.png")
        if fn(doc, path, plt):
            shutil.copyfile(path, os.path.join(out_dir, f"latest-{name}.png"))
            made[f"plot_{name}"] = path
    return made, None
