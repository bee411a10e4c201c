"""PNG plots (matplotlib, Agg backend; optional): GFLOP/s against size for the
gemm suite, latency per configuration for the mlp suite, speed-up over the
textbook NumPy layer for the layer suite.

Every kernel has one colour in every plot (:data:`COLOURS`; an OpenBLAS pinned to
one width shares its ISA level's hue, lighter, dashed). Error bars span the
samples' 10th to 90th percentile (``p10_s``..``p90_s``) around the median.
"""
from __future__ import annotations

import os

#: kernel -> colour, the same in every plot and every run.
COLOURS = {
    "numpy": "#7f7f7f", "numpy-textbook": "#8c564b", "numpy-blas": "#17becf", "numba": "#ff7f0e",
    "cpp-avx512": "#1f77b4", "cpp-avx2": "#2ca02c", "cpp-generic": "#bcbd22",
    "openblas-avx512": "#aec7e8", "openblas-avx2": "#98df8a",
    "torch": "#d62728", "onnxruntime": "#e377c2",
}
#: Colours for kernels not in COLOURS (e.g. a test's extra kernel), in the order
#: the run lists its kernels.
SPARE_COLOURS = ("#9467bd", "#c5b0d5", "#ff9896", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5", "#393b79")


def colours(doc: dict) -> dict:
    """The colour of every kernel of *doc*."""
    spare = iter(SPARE_COLOURS * (1 + len(doc.get("kernels", {})) // len(SPARE_COLOURS)))
    return {k: COLOURS.get(k) or next(spare) for k in doc.get("kernels", {})}


def _err(r: dict, value) -> tuple[float, float] | None:
    """(below, above) the median's *value* for the p10..p90 sample range, where
    *value* maps a time in seconds to what is plotted; None without percentiles."""
    if r.get("p10_s") is None or r.get("p90_s") is None:
        return None
    mid, a, b = value(r["median_s"]), value(r["p10_s"]), value(r["p90_s"])
    lo, hi = min(a, b), max(a, b)
    return max(0.0, mid - lo), max(0.0, hi - mid)


def save(fig, path: str, dpi: int) -> None:
    """Write *fig* to *path* and close it (tests wrap this to inspect the figure)."""
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def overlapping_texts(fig) -> list[tuple[str, str]]:
    """Pairs of visible labels (titles, axis labels, tick labels, legend entries)
    whose drawn boxes overlap in *fig*: empty for a readable figure."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    texts = [fig._suptitle] if getattr(fig, "_suptitle", None) else []
    for ax in fig.axes:
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label]
        for axis in (ax.xaxis, ax.yaxis):  # the ticks drawn (inside the view), major and minor
            texts += [t for tick in axis._update_ticks() for t in (tick.label1, tick.label2)]
        if ax.get_legend():
            texts += ax.get_legend().get_texts()
    boxes = [(t.get_text(), t.get_window_extent(r)) for t in texts if t.get_visible() and t.get_text().strip()]
    return [(a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1:]
            if ba.overlaps(bb) and ba.intersection(ba, bb).width > 1 and ba.intersection(ba, bb).height > 1]


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _plain_log(ax) -> None:
    """Log y axis labelled 0.5, 2, 100 rather than 5x10^-1. Over few decades the
    minor ticks at 2, 3 and 5 times a power of ten are labelled too (not 4, 6..9:
    their labels would run into each other and into the decade's)."""
    import math

    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    fmt = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(fmt)
    lo, hi = ax.get_ylim()
    if math.log10(hi / lo) < 1.5:  # few decades: label some minor ticks too
        ax.yaxis.set_minor_locator(LogLocator(base=10, subs=(2.0, 3.0, 5.0)))
        ax.yaxis.set_minor_formatter(fmt)
        ax.tick_params(axis="y", which="both", labelsize=7)
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
    peaks = doc.get("peak_gflops_by_isa") or {"": doc.get("peak_gflops", {})}
    kernels = _kernels(rows)
    colour = colours(doc)
    for i, dt in enumerate(dtypes):
        for j, T in enumerate(threads):
            ax = axes[i][j]
            for k in kernels:
                sub = sorted((r for r in rows if r["kernel"] == k and r["dtype"] == dt and r["threads"] == T),
                             key=lambda r: int(r["label"][:-2]))
                if not sub:
                    continue
                xs = [int(r["label"][:-2]) for r in sub]
                ys = [r["gflops"] for r in sub]
                errs = [_err(r, lambda t, r=r: r["flops"] / t / 1e9) for r in sub]
                yerr = None if None in errs else [[e[0] for e in errs], [e[1] for e in errs]]
                ax.errorbar(xs, ys, yerr=yerr, marker="o", ms=4, capsize=2, color=colour[k], label=k,
                            ls="--" if k.startswith("openblas-") else "-")
            for isa, peak in peaks.items():
                if peak.get("available") and str(T) in peak:
                    ax.axhline(peak[str(T)][dt], color=colour.get(f"cpp-{isa}", "k"), ls=":", lw=1.2,
                               label=f"measured FMA peak{' ' + isa if isa else ''}")
            ax.set_xscale("log", base=2)
            ax.set_xlabel("n (n x n x n product)")
            ax.set_ylabel("GFLOP/s")
            ax.set_title(f"gemm {dt}, {T} thread(s)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(f"pyfwd bench: GEMM throughput ({doc['machine'].get('cpu_model')})", fontsize=10)
    fig.tight_layout()
    save(fig, path, 100)
    return True


def _bars(doc, rows, path, plt, value, ylabel, title, log=True) -> bool:
    """A bar group per case label, a bar per kernel, a panel per thread count."""
    if not rows:
        return False
    threads = doc["threads"]
    labels = list(dict.fromkeys(r["label"] for r in rows))
    kernels = _kernels(rows)
    colour = colours(doc)
    fig, axes = plt.subplots(len(threads), 1, figsize=(max(9, 0.25 * len(labels) * max(1, len(kernels)) + 2),
                                                       4.5 * len(threads)), squeeze=False)
    width = 0.8 / max(1, len(kernels))
    for i, T in enumerate(threads):
        ax = axes[i][0]
        for j, k in enumerate(kernels):
            xs, ys, errs = [], [], []
            for x, lab in enumerate(labels):
                r = next((r for r in rows if r["kernel"] == k and r["label"] == lab and r["threads"] == T), None)
                if r is not None and value(r["median_s"]) is not None:
                    xs.append(x + (j - (len(kernels) - 1) / 2) * width)
                    ys.append(value(r["median_s"]))
                    errs.append(_err(r, value))
            yerr = None if None in errs else [[e[0] for e in errs], [e[1] for e in errs]]
            ax.bar(xs, ys, width, yerr=yerr, capsize=1.5, error_kw={"lw": 0.8}, color=colour[k], label=k)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=20, ha="right", fontsize=8)
        if log:
            _plain_log(ax)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title}, {T} thread(s)")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    save(fig, path, 100)
    return True


def plot_mlp(doc, path, plt) -> bool:
    """float32/float64 weights only: the 16-bit rows are a block of the table."""
    rows = [r for r in _ok(doc, "mlp") if not r.get("weights")]
    return _bars(doc, rows, path, plt, lambda t: t * 1e6,
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
    colour = colours(doc)
    fig, axes = plt.subplots(len(threads), len(shapes), figsize=(4.5 * len(shapes) + 1.5, 3.8 * len(threads)),
                             squeeze=False)
    width = 0.8 / max(1, len(kernels))
    for i, T in enumerate(threads):
        for j, shape in enumerate(shapes):
            ax = axes[i][j]
            sub = [r for r in rows if r["threads"] == T and r["label"].split(" ")[0] == shape]
            acts = list(dict.fromkeys(r["label"].split(" ")[1] for r in sub))
            for n, k in enumerate(kernels):
                mine = [(x, r) for x, act in enumerate(acts) for r in sub
                        if r["kernel"] == k and r["label"].endswith(" " + act)]
                if not mine:
                    continue
                xs = [x + (n - (len(kernels) - 1) / 2) * width for x, _ in mine]
                # speed-up = baseline median / this kernel's time: p90 gives the low end
                errs = [_err(r, lambda t, r=r: r["median_s"] * r["speedup_vs_baseline"] / t) for _, r in mine]
                yerr = None if None in errs else [[e[0] for e in errs], [e[1] for e in errs]]
                ax.bar(xs, [r["speedup_vs_baseline"] for _, r in mine], width, yerr=yerr, capsize=1.5,
                       error_kw={"lw": 0.8}, color=colour[k], label=k)
            ax.axhline(1.0, color="k", lw=0.8)
            ax.set_xticks(range(len(acts)))
            ax.set_xticklabels(acts, rotation=60, ha="right", rotation_mode="anchor", fontsize=8)
            _plain_log(ax)
            ax.set_title(f"{shape}, {T} thread(s)", fontsize=9)
            ax.grid(alpha=0.3, axis="y")
            if j == 0:
                ax.set_ylabel("speed-up vs numpy-textbook")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle("layer: one fused dense layer act(X @ W.T + b), (M,K,N); higher is better", fontsize=10)
    fig.tight_layout()
    save(fig, path, 90)
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
