"""Sphinx configuration of the featcf documentation (build command: docs/README.md)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import featcf

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
#: the notebooks are copied here at build time (not committed: notebooks/ is their one home)
NOTEBOOK_COPIES = DOCS / "examples"
#: the real data the notebooks read, beside the repository (they fall back to the synthetic
#: shop when it is absent); FEATCF_DATA set in the environment wins
SHARED_DATA = REPO.parent / "shared" / "data"

sys.path.insert(0, str(DOCS / "_ext"))

# -- project -------------------------------------------------------------------------------
project = "featcf"
author = "featcf developers"
copyright = "featcf developers"
release = featcf.__version__
version = release

# -- extensions ----------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_nb",
    "sphinx_copybutton",
    "featcf_api",  # docs/_ext: API pages from each module's __all__, re-export aliases
]
templates_path = ["_templates"]
exclude_patterns = ["_build", "README.md", "**/.ipynb_checkpoints", "jupyter_execute"]
root_doc = "index"

# -- API reference (autodoc, autosummary, numpydoc) ----------------------------------------
autosummary_generate = True
autodoc_typehints = "none"  # the numpydoc sections state the types
autodoc_member_order = "groupwise"
autoclass_content = "class"
numpydoc_show_class_members = False  # autodoc lists the members (templates/autosummary)
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = True
# No intersphinx (the build must not need the network): types of other libraries stay text.
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|scipy|pandas|sklearn|collections\.abc|typing)(\..*)?"),
]

# -- notebooks (myst-nb): executed at every build that reads them ---------------------------
nb_execution_mode = "force"
nb_execution_timeout = 1800  # seconds per cell
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- HTML ----------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"featcf {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    # the notebooks' wide tables and plots get the width of the page's own table of contents
    "secondary_sidebar_items": {
        "**": ["page-toc"],
        **{f"examples/{path.stem}": [] for path in (REPO / "notebooks").glob("*.ipynb")},
    },
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "getting_started": []}
html_show_sourcelink = False


def copy_notebooks(app: object) -> None:
    """Copy notebooks/*.ipynb into docs/examples/ (unchanged files keep their time stamp, so
    an incremental build does not execute them again) and point them at the shared data."""
    NOTEBOOK_COPIES.mkdir(exist_ok=True)
    sources = {path.name: path for path in sorted((REPO / "notebooks").glob("*.ipynb"))}
    for stale in NOTEBOOK_COPIES.glob("*.ipynb"):
        if stale.name not in sources:
            stale.unlink()
    for name, source in sources.items():
        copy = NOTEBOOK_COPIES / name
        if not copy.exists() or copy.read_bytes() != source.read_bytes():
            shutil.copy2(source, copy)
    # the kernels inherit this environment; an absolute path works from any folder
    os.environ.setdefault("FEATCF_DATA", str(SHARED_DATA))


def setup(app: object) -> None:
    app.connect("builder-inited", copy_notebooks)
