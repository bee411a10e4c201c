#!/usr/bin/env python3
"""Write docs/api.md, pyfwd's API reference, from the public API's docstrings.

The public API is ``__all__`` of ``pyfwd`` and of its documented submodules
(:data:`MODULES`); for a class, its public methods and properties defined on the
class. Docstrings are numpydoc style: a section title underlined with dashes
(``Parameters`` / ``----------``) becomes a bold heading, and ``name : type``
entries with their indented descriptions become list items, so the Markdown reads
as the docstring does.

    python tools/gen_api_docs.py            # (re)write docs/api.md
    python tools/gen_api_docs.py --check    # exit 1 if docs/api.md is stale or a
                                            # public name has no docstring

Run it with the pyfwd to document importable (``PYTHONPATH=src`` in a checkout);
``tests/test_docs.py`` runs the check.
"""
from __future__ import annotations

import argparse
import inspect
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "api.md"
#: The documented modules, in page order, each with what it is for.
MODULES = (
    ("pyfwd", "Networks, the single fused layer, backends and threads."),
    ("pyfwd.testing", "The numerics contract as code: the tolerance helper every backend test uses."),
    ("pyfwd.datasets", "The bundled real MNIST subset, or your full copy."),
    ("pyfwd.viz", "Pictures of a network's activations (matplotlib)."),
    ("pyfwd.interop", "Weights from and to PyTorch, Keras, scikit-learn and ONNX."),
    ("pyfwd.dask", "Inference over a row-chunked dask array on a cluster."),
    ("pyfwd.losses", "Losses for training, each the batch mean (PyTorch's default reduction)."),
    ("pyfwd.optim", "Optimisers that step a network's parameters by hand."),
)
HEADER = ("# API reference\n\nGenerated from the docstrings by `tools/gen_api_docs.py`; do not edit by hand "
          "(run `python tools/gen_api_docs.py` after changing a public docstring or name).\n")
_SECTION = re.compile(r"^(\S[^\n]*)\n-{3,}\s*$", re.M)


def public_names(module) -> list[str]:
    """The module's ``__all__`` without dunder names (``__version__``)."""
    return [n for n in getattr(module, "__all__", []) if not n.startswith("__")]


def _members(cls) -> list[tuple[str, object]]:
    """Public methods and properties defined on *cls* (not inherited), in source order."""
    out = []
    for name, obj in vars(cls).items():
        if name.startswith("_") and name != "__call__":
            continue
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        if inspect.isfunction(obj) or isinstance(obj, property):
            out.append((name, obj))
    return out


def _documentable(obj) -> bool:
    return inspect.isfunction(obj) or inspect.isclass(obj) or inspect.isbuiltin(obj)


def missing_docstrings() -> list[str]:
    """Every public function, class, method and property without a docstring."""
    import importlib

    missing = []
    for modname, _ in MODULES:
        mod = importlib.import_module(modname)
        for name in public_names(mod):
            obj = getattr(mod, name)
            if not _documentable(obj):
                continue
            if not inspect.getdoc(obj):
                missing.append(f"{modname}.{name}")
            if inspect.isclass(obj):
                missing += [f"{modname}.{name}.{m}" for m, o in _members(obj) if not (o.__doc__ or "").strip()]
    return missing


def _signature(obj) -> str:
    try:
        sig = str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"
    sig = re.sub(r"^\(self, |^\(self\)|^\(cls, |^\(cls\)", lambda m: "(" if m.group().endswith(", ") else "()", sig)
    # postponed annotations are strings: show them as written, not quoted
    return re.sub(r"(: |-> )\"?'([^']*)'\"?", r"\1\2", sig)


def numpydoc_to_md(doc: str) -> str:
    """A numpydoc docstring as Markdown: sections as bold headings, parameter
    entries as list items, doctest examples fenced, everything else as written."""
    lines = _SECTION.sub(lambda m: f"**{m.group(1).strip()}**", doc).splitlines()
    out, in_section = [], False
    for line in lines:
        if line.startswith("**") and line.endswith("**"):
            in_section = line.strip("*") in ("Parameters", "Returns", "Yields", "Raises", "Attributes",
                                               "Other Parameters", "Warns")
            out += ["", line, ""]
            continue
        if line.lstrip().startswith(">>>"):
            in_section = False  # examples end a list of entries
        if in_section and line and not line[0].isspace():
            name, sep, rest = line.partition(" : ")
            out.append(f"- `{name.strip()}`" + (f" : {rest.strip()}" if sep else ""))
        elif in_section and line.strip():
            out.append("  " + line.strip())
        else:
            out.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(_fence_examples(out))).strip()


def _fence_examples(lines: list[str]) -> list[str]:
    """Doctest examples (a ``>>>`` line and the lines up to the next blank one)
    as fenced code blocks."""
    out, inside = [], False
    for line in lines:
        if not inside and line.lstrip().startswith(">>>"):
            out.append("```python")
            inside = True
        elif inside and not line.strip():
            out.append("```")
            inside = False
        out.append(line)
    return out + (["```"] if inside else [])


def _entry(title: str, obj, level: int) -> list[str]:
    doc = inspect.getdoc(obj) or "*(no docstring)*"
    return [f"{'#' * level} {title}", "", numpydoc_to_md(doc), ""]


def render() -> str:
    import importlib

    parts = [HEADER]
    parts.append("Modules: " + ", ".join(f"[`{m}`](#{m.replace('.', '')})" for m, _ in MODULES) + ".\n")
    for modname, what in MODULES:
        mod = importlib.import_module(modname)
        parts += [f"## {modname}", "", what, ""]
        for name in public_names(mod):
            obj = getattr(mod, name)
            if inspect.isclass(obj):
                parts += _entry(f"class `{modname}.{name}{_signature(obj)}`", obj, 3)
                for mname, m in _members(obj):
                    if isinstance(m, property):
                        parts += _entry(f"`{name}.{mname}` (property)", m, 4)
                    else:
                        parts += _entry(f"`{name}.{mname}{_signature(m)}`", m, 4)
            elif _documentable(obj):
                parts += _entry(f"`{modname}.{name}{_signature(obj)}`", obj, 3)
            else:
                parts += [f"### `{modname}.{name}`", "", f"A constant: `{obj!r}`." if len(repr(obj)) < 200
                          else f"A constant ({type(obj).__name__}).", ""]
    return "\n".join(parts).rstrip() + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="only check: exit 1 if docs/api.md is stale")
    args = p.parse_args(argv)
    missing = missing_docstrings()
    if missing:
        print("public names without a docstring: " + ", ".join(missing), file=sys.stderr)
    text = render()
    if args.check:
        stale = not OUT.exists() or OUT.read_text() != text
        if stale:
            print(f"{OUT.relative_to(ROOT)} is stale: run `python tools/gen_api_docs.py`", file=sys.stderr)
        return 1 if stale or missing else 0
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
