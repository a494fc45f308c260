"""The README: every ```python block runs as written (in order, sharing one namespace), and
its two shell commands each work pasted alone into a new shell (checked statically)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_has_python_blocks():
    assert BLOCKS, "the README should show Python usage"


def test_readme_blocks_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # files the README writes (a saved model) land here
    namespace: dict = {"__name__": "__readme__"}
    for number, block in enumerate(BLOCKS, start=1):
        try:
            exec(compile(block, f"README.md python block {number}", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"README python block {number} failed: {type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------------------
# the two shell commands of "Install, run the demo, run the tests"
# --------------------------------------------------------------------------------------

COMMANDS = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)[0]
CI_RUN = README.parent / ".ci" / "run"
#: shell built-ins whose effect outlives the command line that runs them
_STATEFUL = re.compile(r"(^|[;&|]\s*)(\.|source|cd|export|alias|pushd)\s")


def _readme_commands() -> list[str]:
    return [line.strip() for line in COMMANDS.strip().splitlines() if line.strip()]


def test_readme_has_two_commands():
    commands = _readme_commands()
    assert len(commands) == 2, f"expected install+demo and tests, got {commands}"
    assert "pip install" in commands[0] and "featcf demo" in commands[0]
    assert "pytest" in commands[1]


@pytest.mark.parametrize("number", [1, 2])
def test_readme_command_needs_no_shell_state(number):
    """Each command works pasted alone into a new shell: it leaves nothing (an activated
    venv, a changed directory, a variable) that the other relies on, and every Python after
    the one that makes the venv is the venv's own."""
    command = _readme_commands()[number - 1]
    assert not _STATEFUL.search(command), f"command {number} changes the shell: {command}"
    pythons = re.findall(r"(?:^|&&\s*|;\s*)(\S*python3?)\b", command)
    venv_made = number == 2
    for python in pythons:
        if python == "python3" and not venv_made and "-m venv .venv" in command:
            venv_made = True
            continue
        assert python == ".venv/bin/python", (
            f"command {number} runs {python!r}; after the venv exists use .venv/bin/python"
        )


def test_ci_runs_the_readme_test_command():
    """.ci/run runs the README's test command, with its own venv in place of .venv."""
    expected = _readme_commands()[1].replace(".venv/bin/python", '"$VENV/bin/python"')
    lines = [line.strip() for line in CI_RUN.read_text(encoding="utf-8").splitlines()]
    assert expected in lines, f".ci/run does not run {expected!r}"
