"""Turning a run's document into a terminal table, a Markdown headline, and files."""
from __future__ import annotations

import json
import os
import re
import shutil
from collections import defaultdict

from .cases import SUITES

#: Short column headers (the legend under the table spells them out).
SHORT = {"numpy-textbook": "np-textbk", "numpy-blas": "np-blas", "onnxruntime": "ort",
         "cpp-avx512": "cpp-512", "cpp-avx2": "cpp-avx2", "cpp-generic": "cpp-gen",
         "openblas-avx512": "oblas-512", "openblas-avx2": "oblas-avx2", "torch-compile": "torch-cmp"}
#: What each suite's cells show.
FIGURE = {"gemm": ("GFLOP/s", "higher is better"), "layer": ("median latency", "lower is better"),
          "mlp": ("median latency", "lower is better"),
          "train": ("median time of one training epoch", "lower is better")}


def fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.3g}us"
    if s < 1:
        return f"{s * 1e3:.3g}ms"
    return f"{s:.3g}s"


def _short(name: str) -> str:
    return SHORT.get(name, name)


def _rows_by_suite(doc: dict):
    """suite -> ordered {(case, threads): {kernel: row}}"""
    out: dict = {s: {} for s in SUITES}
    for r in doc["results"]:
        out[r["suite"]].setdefault((r["case"], r["threads"]), {})[r["kernel"]] = r
    return out


def best_kernel(cells: dict, kernels_info: dict) -> str | None:
    ok = [r for r in cells.values() if r["status"] == "ok"
          and (r["suite"] == "gemm" or kernels_info.get(r["kernel"], {}).get("computes", "network") == "network")]
    return min(ok, key=lambda r: r["median_s"])["kernel"] if ok else None


def _cell_text(r: dict | None, suite: str) -> str:
    if r is None or r["status"] == "n/a":
        return "-"
    if r["status"] == "FAILED":
        return "FAILED"
    if r["status"] == "skipped":
        return "skip"
    if suite == "gemm":
        return f"{r['gflops']:.1f}" if r["gflops"] >= 10 else f"{r['gflops']:.3g}"
    return fmt_time(r["median_s"])


def per_isa_rows(doc: dict) -> list[dict]:
    """sgemm/dgemm (the gemm suite's squares) at every ISA level the run timed:
    ``cpp-<isa>`` against ``openblas-<isa>`` (OpenBLAS pinned to kernels of the
    same width, same run, same thread count) and the % of that width's measured
    FMA peak. A level without a pinned peer (generic) says so in ``note``."""
    from .pinned_blas import CORETYPE, NO_PEER

    idx = {(r["kernel"], r["case"], r["threads"]): r for r in doc["results"]}
    out = []
    for r in doc["results"]:
        if not (r["suite"] == "gemm" and r["label"].endswith("^3") and r["kernel"].startswith("cpp-")
                and r["status"] == "ok"):
            continue
        isa = r["kernel"][len("cpp-"):]
        row = {"op": "sgemm" if r["dtype"] == "float32" else "dgemm", "label": r["label"], "dtype": r["dtype"],
               "threads": r["threads"], "isa": isa, "cpp_gflops": r["gflops"], "pct_peak": r.get("pct_peak"),
               "openblas": None, "openblas_coretype": CORETYPE.get(isa), "openblas_gflops": None,
               "ratio_vs_openblas": None, "note": None}
        peer = f"openblas-{isa}"
        p = idx.get((peer, r["case"], r["threads"]))
        if isa not in CORETYPE:
            row["note"] = NO_PEER
        elif p is None:
            info = doc["kernels"].get(peer)
            row["note"] = f"{peer} not run" + (f" ({info['reason']})" if info and info.get("reason") else "")
        elif p["status"] != "ok":
            row["note"] = f"{peer}: {p['status']} ({p['reason']})"
        else:
            row.update(openblas=peer, openblas_gflops=p["gflops"], ratio_vs_openblas=p["median_s"] / r["median_s"])
        out.append(row)
    return out


def _render_per_isa(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    lines = ["", "== per ISA level: cpp forced to each level vs OpenBLAS pinned to kernels of the same width "
                 "(OPENBLAS_CORETYPE, same run); GFLOP/s; % of that width's measured FMA peak =="]
    head = (f"{'case':<18} {'T':>2} | {'level':<8} {'cpp':>8} {'%peak':>6} | "
            f"{'OpenBLAS same width':<28} {'GFLOP/s':>8} {'cpp/OB':>7}")
    lines += [head, "-" * len(head)]
    for r in rows:
        pk = f"{r['pct_peak']:.0f}%" if r["pct_peak"] is not None else "n/a"
        left = (f"{r['op'] + ' ' + r['label']:<18} {r['threads']:>2} | {r['isa']:<8} "
                f"{r['cpp_gflops']:>8.1f} {pk:>6} | ")
        if r["openblas"]:
            peer = f"{r['openblas']} ({r['openblas_coretype']})"
            lines.append(left + f"{peer:<28} {r['openblas_gflops']:>8.1f} {r['ratio_vs_openblas']:>6.2f}x")
        else:
            lines.append(left + r["note"])
    return lines


def _render_w16(doc: dict) -> list[str]:
    """Issue 11: each 16-bit row's time over the same kernel's float32 time (same run)."""
    rows = [r for r in doc["results"] if r.get("weights") and r["status"] == "ok"]
    if not rows:
        return []
    mode = doc.get("compute_bf16") or {}
    lines = ["", "== 16-bit weights: time over the same kernel's float32 time (same run, same network and "
                 "batch; lower is better) ==",
             f"compute=bf16 (c=bf16): {mode.get('mode', '?')} ({mode.get('reason', 'not reported')})"]
    for r in rows:
        ratio = f"{r['ratio_vs_float32']:.2f}x" if r.get("ratio_vs_float32") else "-"
        t32 = fmt_time(r.get("float32_median_s"))
        lines.append(f"  {r['label']:<36} T={r['threads']:<2} {_short(r['kernel']):<10} "
                     f"{fmt_time(r['median_s']):>8} vs {t32:>8}  {ratio:>6}")
    return lines


def _render_train(doc: dict) -> list[str]:
    """Issue 13: each trainer's epoch time as a speed-up over PyTorch eager."""
    rows = [r for r in doc["results"] if r["suite"] == "train" and r["status"] == "ok"]
    if not rows:
        return []
    lines = ["", f"== train: speed-up over torch eager (its epoch median / the trainer's), "
                 f"{rows[0].get('train_rows', '?')} digits per epoch, median of the timed epochs =="]
    by: dict = {}
    for r in rows:
        by.setdefault((r["label"], r["threads"]), []).append(r)
    for (label, T), rs in by.items():
        parts = [f"{_short(r['kernel'])} {r['speedup_vs_baseline']:.2f}x" if r.get("speedup_vs_baseline")
                 else f"{_short(r['kernel'])} -" for r in rs]
        lines.append(f"  {label:<24} T={T:<2} " + ", ".join(parts))
    return lines


def render_table(doc: dict) -> str:
    """The terminal table: one block per suite, a row per case and thread count, a
    column per kernel; '*' marks the best kernel of the row. Below it, every
    skipped kernel and failed cell with its reason."""
    lines: list[str] = []
    m = doc["machine"]
    lines.append(f"pyfwd bench ({doc['profile']}) {doc['created']}  {m.get('cpu_model')}, "
                 f"{m.get('cores')} cores; pyfwd {doc.get('pyfwd_commit') or doc['versions'].get('pyfwd')}, "
                 f"numpy {doc['versions'].get('numpy')}")
    blas = [b for b in doc["versions"].get("numpy_blas", []) if "internal_api" in b]
    if blas:
        lines.append("numpy BLAS: " + ", ".join(
            f"{b['internal_api']} {b.get('version')} ({b.get('architecture')} kernels, "
            f"{b.get('threading_layer')})" for b in blas))
    peak = doc.get("peak_gflops", {})
    if peak.get("available"):
        for isa, p in (doc.get("peak_gflops_by_isa") or {"": peak}).items():
            if p.get("available"):
                lines.append(f"measured FMA peak{' of ' + isa if isa else ''} (float32 GFLOP/s): " + ", ".join(
                    f"{t} thread(s) {p[str(t)]['float32']:.1f}" for t in doc["threads"] if str(t) in p))
    for sr in doc.get("stream_read", []):
        if sr.get("gbps"):
            lines.append(f"measured streaming read of {sr['bytes'] / 1e6:.1f} MB (the weights of {sr['label']}): "
                         f"{sr['threads']} thread(s) {sr['gbps']:.1f} GB/s")
    for w in doc.get("warnings", []):
        lines.append(f"WARNING: {w}")
    info = doc["kernels"]
    by_suite = _rows_by_suite(doc)
    for suite in SUITES:
        rows = by_suite.get(suite)
        if not rows:
            continue
        kernels = [k for k in info if info[k]["status"] == "ok" and any(
            k in cells and cells[k]["status"] != "n/a" for cells in rows.values())]
        fig, better = FIGURE[suite]
        lines += ["", f"== {suite}: {fig}, {better}; * best of the row; "
                      f"x base = best vs {doc['baselines'][suite]} =="]
        labw = max(len(f"{key.split(':')[1]} {key.split(':')[2]}") for key, _ in rows) + 1
        widths = [max(len(_short(k)), 8) for k in kernels]
        head = f"{'case':<{labw}} {'T':>2} | " + " ".join(f"{_short(k):>{w}}" for k, w in zip(kernels, widths))
        head += f" | {'best':<10} {'x base':>7} {'%peak':>6}"
        lines += [head, "-" * len(head)]
        for (key, T), cells in rows.items():
            if all(c["status"] == "n/a" for c in cells.values()):
                continue  # no kernel of this run computes it (16-bit rows without cpp or torch)
            _, label, dtype = key.split(":")
            best = best_kernel(cells, info)
            texts = []
            for k, w in zip(kernels, widths):
                t = _cell_text(cells.get(k), suite)
                texts.append(f"{t + ('*' if k == best else ''):>{w}}")
            tail = f"{'-':<10} {'-':>7} {'-':>6}"
            if best is not None:
                b = cells[best]
                sp = f"{b['speedup_vs_baseline']:.2f}x" if b.get("speedup_vs_baseline") else "-"
                pk = f"{b['pct_peak']:.0f}%" if b.get("pct_peak") is not None else "n/a"
                tail = f"{_short(best):<10} {sp:>7} {pk:>6}"
            lines.append(f"{label + ' ' + dtype:<{labw}} {T:>2} | " + " ".join(texts) + " | " + tail)
    lines += _render_w16(doc)
    lines += _render_train(doc)
    lines += _render_per_isa(doc.get("per_isa", []))
    lines += ["", "kernels: " + "; ".join(f"{_short(k)} = {k}" for k in info if _short(k) != k)]
    skipped = [f"  {k}: skipped ({v['reason']})" for k, v in info.items() if v["status"] != "ok"]
    cell_skips: dict = defaultdict(list)
    train_skips: dict = defaultdict(int)
    failed = []
    for r in doc["results"]:
        if r["status"] == "FAILED":
            failed.append(f"  FAILED {r['kernel']} {r['label']} {r['dtype']} T={r['threads']}: {r['reason']}")
        elif r["status"] == "skipped" and r["suite"] == "train" and info.get(r["kernel"], {}).get("status") == "ok":
            train_skips[(r["kernel"], r["reason"])] += 1  # quick profile, compile failure, numba's cap
        elif r["status"] == "skipped" and info.get(r["kernel"], {}).get("status") == "ok":
            cell_skips[r["kernel"]].append(f"{r['label']} {r['dtype']} T={r['threads']}")
    for (k, why), n in train_skips.items():
        skipped.append(f"  {k}: {n} train cell(s) skipped: {why}")
    for k, where in cell_skips.items():
        more = ", ..." if len(where) > 4 else ""
        skipped.append(f"  {k}: {len(where)} cell(s) skipped, one call predicted over the profile's cap "
                       f"({', '.join(where[:4])}{more})")
    if skipped:
        lines += ["skipped:"] + skipped
    if failed:
        lines += ["failed the correctness gate (not timed):"] + failed
    nc = doc.get("numba_compile", {})
    if nc.get("status") == "ok":
        c, w = nc["cold_cache"], nc["warm_cache"]
        lines.append(f"numba first call ([784,128,10] b=1, fresh process): {c['first_forward_s']:.2f} s with an "
                     f"empty cache (compile), {w['first_forward_s']:.3f} s from the on-disk cache"
                     + (f"; warmup() of the rest: {c['warmup_rest_s']:.2f} s cold" if "warmup_rest_s" in c else ""))
    elif nc:
        lines.append(f"numba compile time: {nc.get('status')} {nc.get('reason', '')}".rstrip())
    if doc.get("targets"):
        lines += ["", "speed targets (issues 3, 4, 10, 11 and 13):"]
        judged = [t for t in doc["targets"] if t["status"] != "n/a"]
        for t in judged:
            mark = "met   " if t["status"] == "met" else "MISSED"
            lines.append(f"  [{mark}] #{t['issue']} {t['target']}: {t['measured']}")
        n_na = len(doc["targets"]) - len(judged)
        if n_na:
            lines.append(f"  {n_na} target(s) n/a in this run (case not in the profile or kernel missing; "
                         f"reasons in the JSON)")
    for n in doc.get("notes", []):
        lines.append(f"note: {n}")
    return "\n".join(lines)


#: The rows of the README's headline table: (suite, label, dtype).
HEADLINE = (("gemm", "1024^3", "float32"), ("gemm", "4096^3", "float32"),
            ("layer", "(64,784,128) relu", "float32"), ("layer", "(1024,1024,1024) sigmoid", "float32"),
            ("mlp", "[784,128,10] b=1", "float32"), ("mlp", "[784,128,10] b=64", "float32"),
            ("mlp", "[784,128,10] b=60000", "float32"), ("mlp", "[1024,4096,4096,1024] b=256", "float32"))


def render_markdown(doc: dict) -> str:
    """A compact Markdown table for the main README: headline rows at every
    thread count, a column per kernel that ran (GFLOP/s for gemm, latency else)."""
    info = doc["kernels"]
    idx = {(r["suite"], r["label"], r["dtype"], r["threads"], r["kernel"]): r for r in doc["results"]}
    cpp = doc.get("cpp_default")
    kernels = [k for k in ("numpy-textbook", "numpy-blas", "numba", cpp, "torch", "onnxruntime")
               if k and info.get(k, {}).get("status") == "ok"]
    heads = [f"cpp ({k[len('cpp-'):]})" if k == cpp else k for k in kernels]
    m = doc["machine"]
    out = [f"pyfwd bench, {doc['created'][:10]}, {m.get('cpu_model')} ({m.get('cores')} cores), "
           f"`python -m pyfwd.bench{' --quick' if doc['profile'] == 'quick' else ''}`: gemm cells in GFLOP/s, "
           f"others median latency; **bold** = best; numpy-blas is the bare matmul (no bias/activation).", "",
           "| case | threads | " + " | ".join(heads) + " |", "|---|---|" + "---:|" * len(kernels)]
    for suite, label, dtype in HEADLINE:
        for T in doc["threads"]:
            cells = {k: idx.get((suite, label, dtype, T, k)) for k in kernels}
            if not any(c and c["status"] == "ok" for c in cells.values()):
                continue
            best = best_kernel({k: c for k, c in cells.items() if c}, info)
            texts = []
            for k in kernels:
                t = _cell_text(cells[k], suite)
                texts.append(f"**{t}**" if k == best else t)
            out.append(f"| {suite} {label} | {T} | " + " | ".join(texts) + " |")
    return "\n".join(out)


def write(doc: dict, out_dir: str, plots: bool = True) -> dict:
    """Write ``<stamp>.json`` (+ ``latest.json``), the table (``.txt``), the
    headline (``.md``) and the plots; returns {kind: path}."""
    os.makedirs(out_dir, exist_ok=True)
    stamp = doc["created"].replace(":", "").replace("-", "").replace("+0000", "Z")
    files: dict = {}
    if plots:
        from .plots import make_plots
        made, why = make_plots(doc, out_dir, stamp)
        files.update(made)
        if why:
            doc.setdefault("notes", []).append(f"plots skipped: {why}")
    doc["files"] = {k: os.path.basename(v) for k, v in files.items()}
    texts = {"json": dumps(doc), "txt": render_table(doc),
             "md": render_markdown(doc)}
    for ext, text in texts.items():
        path = os.path.join(out_dir, f"{stamp}.{ext}")
        with open(path, "w") as f:
            f.write(text + "\n")
        shutil.copyfile(path, os.path.join(out_dir, f"latest.{ext}"))
        files[ext] = path
    return files


#: A JSON list of numbers spread over lines by ``indent``.
_NUMBER_LIST = re.compile(r"\[\s*(-?[0-9][-+0-9.eE]*(?:,\s*-?[0-9][-+0-9.eE]*)*)\s*\]")


def dumps(doc: dict) -> str:
    """The document as indented JSON, each list of numbers (dims, raw samples)
    on one line, so that a run's thousands of samples stay readable."""
    text = json.dumps(doc, indent=1, default=_jsonable)
    return _NUMBER_LIST.sub(lambda m: "[" + re.sub(r",\s+", ", ", m.group(1)) + "]", text)


def _jsonable(o):
    try:
        return float(o)
    except (TypeError, ValueError):
        return str(o)
