"""The documentation site in ``docs/``: every notebook is on it, its version is featcf's, and
the link check finds broken links (the build itself runs in CI, see docs/README.md)."""

from __future__ import annotations

import importlib.util
import re
import runpy
import sys
from pathlib import Path

import pytest

import featcf

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _toctree_entries(page: Path) -> set[str]:
    """The documents listed in the ``{toctree}`` blocks of a MyST page."""
    blocks = re.findall(r"```\{toctree\}\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    return {
        line.strip()
        for block in blocks
        for line in block.splitlines()
        if line.strip() and not line.strip().startswith(":")
    }


def test_every_notebook_is_in_the_docs_toctree():
    notebooks = {path.stem for path in (ROOT / "notebooks").glob("*.ipynb")}
    assert notebooks, "no notebook found in notebooks/"
    listed = _toctree_entries(DOCS / "examples" / "index.md")
    missing = sorted(notebooks - listed)
    assert not missing, (
        f"notebooks missing from the toctree of docs/examples/index.md: {missing}; add them "
        f"there so the site renders them"
    )


def test_docs_version_is_featcf_version(monkeypatch):
    pytest.importorskip("sphinx", reason="needs the docs extra (pip install '.[docs]')")
    monkeypatch.setattr(sys, "path", list(sys.path))  # conf.py adds docs/_ext
    conf = runpy.run_path(str(DOCS / "conf.py"))
    assert conf["release"] == featcf.__version__
    assert conf["version"] == featcf.__version__


def _check_links_module():
    spec = importlib.util.spec_from_file_location("check_links", DOCS / "check_links.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_link_check_reports_missing_files_and_anchors(tmp_path):
    (tmp_path / "api").mkdir()
    (tmp_path / "index.html").write_text(
        '<a href="api/page.html#good">ok</a> <a href="api/page.html#gone">anchor</a> '
        '<a href="missing.html">file</a> <a href="https://example.org/x">external</a> '
        '<a href="#top">self</a><h1 id="top">t</h1>',
        encoding="utf-8",
    )
    (tmp_path / "api" / "page.html").write_text(
        '<section id="good"></section><a href="../index.html#top">back</a>', encoding="utf-8"
    )
    broken = _check_links_module().broken_links(tmp_path)
    assert sorted((page, link) for page, link, _ in broken) == [
        ("index.html", "api/page.html#gone"),
        ("index.html", "missing.html"),
    ]
