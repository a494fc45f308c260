"""show_progress: None (the default) draws a bar in a terminal or a notebook, never in logs.

Issue 17: bars were on by default and turned into one long line of ``\\r`` updates in logs and
CI output. The model test relies on pytest capturing stderr (the output is not a terminal).
"""

from __future__ import annotations

import io
import sys
import types

import pytest

from featcf._progress import resolve_show_progress
from featcf.models import ALS, FeatureCF


class _Terminal:
    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _fake_ipython(monkeypatch, config: dict) -> None:
    shell = types.SimpleNamespace(config=config)
    module = types.ModuleType("IPython")
    module.get_ipython = lambda: shell
    monkeypatch.setitem(sys.modules, "IPython", module)


def test_auto_is_off_when_the_output_is_not_a_terminal(monkeypatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a log file, a pipe
    assert resolve_show_progress(None) is False


def test_auto_is_on_in_a_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert resolve_show_progress(None) is True


def test_auto_is_on_in_a_jupyter_kernel(monkeypatch):
    _fake_ipython(monkeypatch, {"IPKernelApp": {}})
    assert resolve_show_progress(None) is True


def test_auto_is_off_in_a_plain_ipython_console_log(monkeypatch):
    _fake_ipython(monkeypatch, {"TerminalInteractiveShell": {}})
    assert resolve_show_progress(None) is False


def test_auto_without_stderr(monkeypatch):
    monkeypatch.setattr(sys, "stderr", None)
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert resolve_show_progress(None) is False


def test_true_forces_and_false_disables(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert resolve_show_progress(False) is False
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert resolve_show_progress(True) is True


@pytest.mark.parametrize("bad", ["yes", 1, 0.0])
def test_bad_values_name_the_parameter(bad):
    with pytest.raises(TypeError, match=r"show_progress must be True, False or None \(auto"):
        resolve_show_progress(bad)


def test_als_default_is_auto_and_silent_in_logs(shop, capfd):
    model = ALS(factors=4, iterations=2, random_state=0, n_threads=1)
    assert model.get_params()["show_progress"] is None
    model.fit(shop)
    assert capfd.readouterr().err == ""
    ALS(factors=4, iterations=2, random_state=0, n_threads=1, show_progress=True).fit(shop)
    assert "2/2" in capfd.readouterr().err  # forced: the bar is drawn even into a pipe


def test_feature_cf_default_is_auto_and_silent_in_logs(shop, capfd):
    model = FeatureCF(n_neighbors=10, random_state=0)
    assert model.get_params()["show_progress"] is None
    model.fit(shop)
    assert capfd.readouterr().err == ""
    FeatureCF(n_neighbors=10, random_state=0, show_progress=True).fit(shop)
    assert "FeatureCF" in capfd.readouterr().err  # forced: the bar is drawn even into a pipe


def test_feature_cf_bad_show_progress_names_it(shop):
    with pytest.raises(TypeError, match="show_progress must be True, False or None"):
        FeatureCF(show_progress="auto").fit(shop)
