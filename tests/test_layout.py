"""The shape of the source tree (issue 11): floors, no import circles, small model modules.

Every module of ``src/featcf`` sits on a floor (:data:`FLOORS`, lowest first). A module may
import modules on its own floor or below, never above, and the module-level imports form no
circle. Imports inside functions are kept for heavy dependencies that must stay out of
``import featcf`` (numba and the kernels compiled by it, implicit, tqdm, ...), each with a
comment saying so. The models stay readable: no module in ``featcf/models`` over
:data:`MAX_MODEL_MODULE_LINES` lines, no function there over :data:`MAX_FUNCTION_CODE_LINES`
lines of code (docstrings, comments and blank lines not counted).
"""

from __future__ import annotations

import ast
import tokenize
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "featcf"

#: floors, lowest first; a pattern ending in ".*" covers a package and everything in it
FLOORS: tuple[tuple[str, ...], ...] = (
    (
        "featcf._version",
        "featcf.exceptions",
        "featcf.columns",
        "featcf._validation",
        "featcf._frames",
    ),
    ("featcf._threads", "featcf._progress", "featcf._jit", "featcf._kernels.*"),
    ("featcf.similarity", "featcf._products", "featcf.metrics", "featcf._schema", "featcf.data.*"),
    ("featcf._format", "featcf.datasets.*"),
    ("featcf.models.*",),
    ("featcf.evaluation.*", "featcf.retention.*", "featcf.persistence", "featcf.distributed.*"),
    ("featcf.demo",),
    ("featcf", "featcf.__main__"),
)
#: third-party modules that may be imported inside a function (kept out of ``import featcf``;
#: sklearn.linear_model loads scipy.optimize)
HEAVY = ("numba", "implicit", "tqdm", "scipy.optimize", "scipy.linalg", "scipy.cluster",
         "threadpoolctl", "matplotlib", "dask", "distributed", "IPython",
         "sklearn.linear_model")  # fmt: skip
MAX_MODEL_MODULE_LINES = 600
MAX_FUNCTION_CODE_LINES = 80


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _floor(module: str) -> int:
    best = None
    for floor, patterns in enumerate(FLOORS):
        for pattern in patterns:
            if pattern.endswith(".*"):
                base = pattern[:-2]
                if module == base or module.startswith(base + "."):
                    best = floor
            elif module == pattern:
                return floor
    if best is None:
        raise AssertionError(f"{module} sits on no floor: add it to FLOORS in {__file__}")
    return best


def _resolve(module: str, known: dict[str, Path]) -> str | None:
    """The featcf module an import names (``from featcf.x import y`` may name module x.y)."""
    while module and module not in known:
        module = module.rpartition(".")[0]
    return module or None


def _imports(path: Path, known: dict[str, Path]) -> tuple[set[str], list[tuple[int, str]]]:
    """(featcf modules imported at module level, [(line, name) imported inside functions])."""
    tree = ast.parse(path.read_text())
    top: set[str] = set()
    nested: list[tuple[int, str]] = []

    def names(node: ast.Import | ast.ImportFrom) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        assert node.level == 0, f"{path}: relative import at line {node.lineno}"
        return [f"{node.module}.{a.name}" for a in node.names] or [node.module]

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                for name in names(child):
                    if in_function:
                        nested.append((child.lineno, name))
                    elif name.split(".")[0] == "featcf":
                        target = _resolve(name, known)
                        if target is not None:
                            top.add(target)
            elif isinstance(child, ast.If) and _is_type_checking(child):
                continue  # imports for annotations only
            else:
                is_fn = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
                visit(child, in_function or is_fn)

    visit(tree, False)
    return top, nested


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {m: _imports(p, known)[0] - {m} for m, p in known.items()}


def test_every_module_sits_on_a_floor():
    for module in _modules():
        _floor(module)


def test_no_import_points_up_a_floor():
    back_up = [
        f"{src} (floor {_floor(src)}) imports {dst} (floor {_floor(dst)})"
        for src, targets in _graph().items()
        for dst in sorted(targets)
        if _floor(dst) > _floor(src)
    ]
    assert not back_up, "imports that point back up:\n" + "\n".join(back_up)


def test_module_level_imports_form_no_circle():
    graph = _graph()
    # Tarjan's strongly connected components
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    assert not circles, f"import circles: {circles}"


def _comments(path: Path) -> dict[int, str]:
    out = {}
    with open(path, encoding="utf-8") as fh:
        for tok in tokenize.generate_tokens(fh.readline):
            if tok.type == tokenize.COMMENT:
                out[tok.start[0]] = tok.string
    return out


def test_function_level_imports_only_keep_heavy_modules_out_with_a_comment():
    known = _modules()
    bad = []
    for module, path in known.items():
        _, nested = _imports(path, known)
        comments = _comments(path)
        for line, name in nested:
            heavy = name.startswith("featcf._kernels") or any(
                name == h or name.startswith(h + ".") for h in HEAVY
            )
            said = line in comments or (line - 1) in comments
            if not heavy:
                bad.append(f"{module}:{line} imports {name} inside a function")
            elif not said:
                bad.append(f"{module}:{line} imports {name} inside a function without a comment")
    assert not bad, "\n".join(bad)


def _code_lines(node: ast.AST, source_lines: list[str], comment_lines: set[int]) -> int:
    doc_lines: set[int] = set()
    for inner in ast.walk(node):
        body = getattr(inner, "body", None)
        if (
            isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            doc_lines.update(range(body[0].lineno, body[0].end_lineno + 1))
    count = 0
    for line in range(node.lineno, node.end_lineno + 1):
        text = source_lines[line - 1].strip()
        if not text or line in doc_lines or (line in comment_lines and text.startswith("#")):
            continue
        count += 1
    return count


MODEL_FILES = sorted((SRC / "models").rglob("*.py"))


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_model_modules_stay_small(path: Path):
    n_lines = len(path.read_text().splitlines())
    assert n_lines <= MAX_MODEL_MODULE_LINES, f"{path.name}: {n_lines} lines"
    source = path.read_text()
    lines = source.splitlines()
    comment_lines = set(_comments(path))
    long = [
        f"{node.name} (line {node.lineno}): {n} lines of code"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (n := _code_lines(node, lines, comment_lines)) > MAX_FUNCTION_CODE_LINES
    ]
    assert not long, "functions over the limit:\n" + "\n".join(long)


def test_the_checks_catch_what_they_guard(tmp_path):
    """The helpers above see an upward import, a circle and a long function."""
    assert _floor("featcf.models.base") > _floor("featcf.data.dataset")
    with pytest.raises(AssertionError, match="no floor"):
        _floor("featcf.nowhere")
    f = tmp_path / "m.py"
    f.write_text(
        "import numpy\nfrom featcf.models import base\n\n\ndef g():\n"
        "    '''doc\n    more'''\n    # a comment\n    from featcf.similarity import x\n"
        "    return 1\n"
    )
    known = {"featcf.models": f, "featcf.models.base": f, "featcf.similarity": f}
    top, nested = _imports(f, known)
    assert top == {"featcf.models.base"}
    assert nested == [(9, "featcf.similarity.x")]
    tree = ast.parse(f.read_text())
    fn = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef))
    assert _code_lines(fn, f.read_text().splitlines(), set(_comments(f))) == 3
