"""The notebooks in ``notebooks/``: committed without outputs, and they run top to bottom.

Execution uses nbclient with a kernel started from the running interpreter (so the kernel
imports this venv's featcf, whatever kernelspecs the machine has) and the Agg matplotlib
backend. Deselect the slow part with ``-m "not notebook"``.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
DATA = ROOT / ".." / "shared" / "data"
EXPECTED = (
    "01_quickstart.ipynb",
    "02_movielens_cold_start.ipynb",
    "03_insurance_new_product.ipynb",
    "04_retention_campaign.ipynb",
)
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
#: notebooks that fall back to the synthetic shop when their data folder is absent
FALLBACKS = {
    "02_movielens_cold_start.ipynb": "ml-100k",
    "03_insurance_new_product.ipynb": "coil2000",
    "04_retention_campaign.ipynb": "coil2000",
}
KERNEL_NAME = "featcf-test-python"


def test_expected_notebooks_present():
    names = {path.name for path in NOTEBOOKS}
    assert set(EXPECTED) <= names, f"missing: {sorted(set(EXPECTED) - names)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["nbformat"] == 4
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code_cells = [cell for cell in nb["cells"] if cell["cell_type"] == "code"]
    assert code_cells, "a notebook without code"
    dirty = [
        i
        for i, cell in enumerate(code_cells)
        if cell.get("outputs") or cell.get("execution_count") is not None
    ]
    assert not dirty, (
        f"{path.name}: code cells {dirty} have outputs or an execution count; clear them "
        f"before committing (e.g. jupyter nbconvert --clear-output --inplace)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_public_api_only(path):
    """The notebooks teach the public API: no ``featcf._private`` module or attribute."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    source = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    private = re.findall(r"\w+\._[A-Za-z0-9]\w*", source)  # dunders like __version__ are fine
    assert not private, f"{path.name} uses private names: {private}"


def _execute(path: Path, tmp_path: Path, env: dict[str, str]) -> None:
    """Run ``path`` in a fresh kernel of this interpreter; fail on the first error."""
    nbformat = pytest.importorskip("nbformat", reason="needs the notebooks extra")
    nbclient = pytest.importorskip("nbclient", reason="needs the notebooks extra")
    pytest.importorskip("ipykernel", reason="needs the notebooks extra")
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    # A kernelspec of our own pointing at sys.executable: never a "python3" found elsewhere.
    spec_dir = tmp_path / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "featcf tests",
                "language": "python",
                "env": {"MPLBACKEND": "Agg", **env},
            }
        ),
        encoding="utf-8",
    )
    specs = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    manager = AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)

    nb = nbformat.read(path, as_version=4)
    # one extra cell (in memory only) to check which interpreter ran the notebook
    nb.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.executable)"))
    client = nbclient.NotebookClient(
        nb,
        km=manager,
        timeout=600,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    printed = "".join(
        out.get("text", "") for out in nb.cells[-1].outputs if out.get("name") == "stdout"
    ).strip()
    assert os.path.realpath(printed) == os.path.realpath(sys.executable)


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path):
    _execute(path, tmp_path, {})


@pytest.mark.notebook
@pytest.mark.parametrize("name", sorted(FALLBACKS))
def test_notebook_falls_back_to_synthetic_shop(name, tmp_path):
    """Without the shared data the notebook runs on the synthetic shop (covered above when
    the data is absent, so only run here when it is present)."""
    if not (DATA / FALLBACKS[name]).is_dir():
        pytest.skip(f"{DATA / FALLBACKS[name]} is absent: test_notebook_runs covered the fallback")
    empty = tmp_path / "no-data"
    empty.mkdir()
    _execute(NOTEBOOK_DIR / name, tmp_path, {"FEATCF_DATA": str(empty)})
