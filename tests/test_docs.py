"""The documentation stays true to the code: docs/api.md is what
tools/gen_api_docs.py writes from the docstrings today, every public name has a
docstring, links between the repository's documents resolve, nothing cites a
document outside the repository, and the version is written in one place."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

import pyfwd

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def _gen():
    spec = importlib.util.spec_from_file_location("gen_api_docs", REPO / "tools" / "gen_api_docs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_api_reference_is_up_to_date():
    gen = _gen()
    assert (DOCS / "api.md").read_text() == gen.render(), \
        "docs/api.md is stale: run `PYTHONPATH=src python tools/gen_api_docs.py`"


def test_every_public_name_has_a_docstring():
    assert _gen().missing_docstrings() == []


def test_the_check_fails_on_a_stale_page_or_an_undocumented_function(tmp_path, monkeypatch, capsys):
    gen = _gen()
    monkeypatch.setattr(gen, "OUT", tmp_path / "api.md")
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    (tmp_path / "api.md").write_text(gen.render())
    assert gen.main(["--check"]) == 0
    (tmp_path / "api.md").write_text(gen.render().replace("A dense feed-forward network.", "Old text."))
    assert gen.main(["--check"]) == 1 and "api.md is stale" in capsys.readouterr().err

    def undocumented(x):
        return x

    monkeypatch.setattr(pyfwd, "undocumented", undocumented, raising=False)
    monkeypatch.setattr(pyfwd, "__all__", [*pyfwd.__all__, "undocumented"])
    assert gen.missing_docstrings() == ["pyfwd.undocumented"]
    (tmp_path / "api.md").write_text(gen.render())
    assert gen.main(["--check"]) == 1 and "pyfwd.undocumented" in capsys.readouterr().err


def test_numpydoc_sections_render_as_markdown():
    md = _gen().numpydoc_to_md("Do it.\n\nParameters\n----------\nx : int\n    How many.\n\n"
                               "Returns\n-------\nfloat\n\n>>> f(1)\n2.0\n")
    assert "**Parameters**" in md and "- `x` : int\n  How many." in md and "**Returns**" in md
    assert "```python\n>>> f(1)\n2.0\n```" in md and "----" not in md


def _text_files():
    skip = {".git", "build", "dist", "recorded", "__pycache__", ".venv", "venv"}
    for p in REPO.rglob("*"):
        if p.is_file() and not skip & set(p.relative_to(REPO).parts) and p.suffix in (
                ".md", ".py", ".toml", ".txt", ".cpp", ".h", ".inc", ".pyi", ".cfg") or p.name == "CMakeLists.txt":
            yield p


def test_nothing_cites_a_design_document_outside_the_repository():
    for p in _text_files():
        if p.resolve() == Path(__file__).resolve():
            continue
        text = p.read_text(errors="replace")
        assert "DESIGN.md" not in text, f"{p.relative_to(REPO)} cites DESIGN.md (the design is docs/design.md)"
        assert "/work/shared" not in text, f"{p.relative_to(REPO)} cites a file outside the repository"


def test_links_between_documents_resolve():
    for md in [REPO / "README.md", REPO / "CHANGELOG.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", md.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            assert (md.parent / target).exists(), f"{md.relative_to(REPO)} links to missing {target}"


def test_troubleshooting_covers_sigill_isa_and_numba_cold_start():
    text = (DOCS / "troubleshooting.md").read_text()
    for heading in ("## A crash with SIGILL", "## `PYFWD_ISA`", "## Numba: the first call is slow"):
        assert heading in text


def test_one_version_string():
    assert not re.search(r'__version__"\)\s*=\s*"\d', (REPO / "src" / "cpp" / "module.cpp").read_text()), \
        "module.cpp spells the version; it comes from src/pyfwd/_version.py through CMakeLists.txt"
    assert "src/pyfwd/_version.py" in (REPO / "CMakeLists.txt").read_text()
    try:
        from pyfwd import _core
    except ImportError as exc:
        pytest.skip(f"the C++ core is not built here ({exc})")
    assert _core.__version__ == pyfwd.__version__
