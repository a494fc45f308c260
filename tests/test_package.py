"""The package surface: light import, lazy public names, version."""

from __future__ import annotations

import subprocess
import sys

import pytest

import featcf


def test_version():
    assert featcf.__version__.count(".") == 2


@pytest.mark.parametrize("name", sorted(featcf.__all__))
def test_every_public_name_resolves(name):
    assert getattr(featcf, name) is not None


@pytest.mark.parametrize("name", ["datasets", "evaluation", "models", "retention", "similarity"])
def test_subpackages_are_reachable(name):
    assert getattr(featcf, name).__name__ == f"featcf.{name}"


def test_unknown_attribute():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        featcf.nope  # noqa: B018


def test_import_is_light():
    # importing featcf must not import numba, scikit-learn or the models
    code = (
        "import sys, featcf; heavy = [m for m in ('numba', 'sklearn', 'featcf.models', "
        "'featcf.similarity') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
