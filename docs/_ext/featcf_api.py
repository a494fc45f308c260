"""Sphinx extension: the API reference pages of featcf, generated from each module's ``__all__``.

One page per public module (``api/<module>.rst``, written at build time and not committed) lists
the names the module *defines* (its own file or its private submodules) with autosummary, which
writes one page per class or function under ``api/generated/``. Names a module only re-exports
from another public module (``featcf.Dataset``, ``featcf.evaluation.ndcg_at_k``) appear in a
table that links to their one description at home, so nothing is described twice.

References written against a re-exported or internal path (``featcf.Dataset``,
``featcf.models.base.BaseRecommender``, a name relative to the module a docstring was written
in) are resolved to the documented object by identity, in the ``missing-reference`` event.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The public modules, in the order of the API reference. A name belongs to the longest of
#: these that prefixes the module it comes from.
PUBLIC_MODULES = (
    "featcf",
    "featcf.models",
    "featcf.data",
    "featcf.datasets",
    "featcf.evaluation",
    "featcf.retention",
    "featcf.metrics",
    "featcf.similarity",
    "featcf.persistence",
    "featcf.distributed",
    "featcf.exceptions",
)

#: Modules documented on their own page besides the public ones, with the constants their
#: docstrings refer to: FeatureCF's terms and history bands (also read by the notebooks), the
#: vocabularies of the data loaders.
EXTRA_MODULES = {
    "featcf.models.feature_cf": ("BAND_EDGES", "WEIGHT_SHARE_TOLERANCE"),
    "featcf.datasets.movielens": ("GENRES",),
    "featcf.datasets.coil2000": ("COLUMNS", "CUSTOMER_MAIN_TYPES", "CUSTOMER_SUBTYPES"),
}


def _origin_from_source(module: Any, name: str) -> str:
    """The module a non-class, non-function name of ``module`` comes from (by reading its source).

    ``from X import name`` gives X; a lazy table ``{"name": "X"}`` (featcf's ``_LAZY``) gives X;
    anything else is defined in ``module`` itself.
    """
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        return module.__name__
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if any((alias.asname or alias.name) == name for alias in node.names):
                return node.module
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            for key, value in zip(node.value.keys, node.value.values, strict=True):
                if (
                    isinstance(key, ast.Constant)
                    and key.value == name
                    and isinstance(value, ast.Constant)
                ):
                    return str(value.value)
    return module.__name__


def _escape(text: str) -> str:
    """``text`` as plain reStructuredText (no markup characters)."""
    return re.sub(r"([\\`*|_])", r"\\\1", text)


def constant_block(name: str, value: Any, origin: str) -> list[str]:
    """A ``py:data`` description of a constant: its ``#:`` comment (read from the module that
    defines it, which autodata misses for re-exported names) and its value, as a table for a
    mapping, else as the signature's value."""
    from sphinx.errors import PycodeError
    from sphinx.pycode import ModuleAnalyzer

    try:
        docs = ModuleAnalyzer.for_module(origin).find_attr_docs().get(("", name), [])
    except PycodeError:  # no source, no comment
        docs = []
    lines = [f".. py:data:: {name}"]
    if not isinstance(value, Mapping):
        lines.append(f"   :value: {value!r}")
    lines.append("")
    lines += [f"   {line}" if line else "" for line in docs]
    if isinstance(value, Mapping):
        lines += [
            "",
            "   .. list-table::",
            "      :header-rows: 1",
            "",
            "      * - key",
            "        - value",
        ]
        for key, item in value.items():
            lines += [f"      * - ``{key!r}``", f"        - {_escape(str(item))}"]
    lines.append("")
    return lines


def home_module(module: Any, name: str, obj: Any) -> str:
    """The public module where ``module.name`` is documented."""
    if inspect.isclass(obj) or inspect.isroutine(obj):
        origin = getattr(obj, "__module__", None) or module.__name__
    else:
        origin = _origin_from_source(module, name)
        if any(part.startswith("_") for part in origin.split(".")):
            return module.__name__  # a constant of a private module: documented where public
    homes = [m for m in PUBLIC_MODULES if origin == m or origin.startswith(m + ".")]
    return max(homes, key=len) if homes else module.__name__


def public_names(module: Any) -> list[str]:
    """The names of ``module.__all__`` that are documented (no dunders such as __version__)."""
    return [n for n in getattr(module, "__all__", ()) if not n.startswith("__")]


def _section_of(obj: Any) -> str:
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        return "Exceptions and warnings"
    if inspect.isclass(obj):
        return "Classes"
    if inspect.isroutine(obj):
        return "Functions"
    return "Constants"


def _page_head(modname: str, why: str) -> list[str]:
    """The title and the module docstring of a module's page."""
    title = f"``{modname}``"
    return [
        f".. This page is generated by docs/_ext/featcf_api.py {why}.",
        "",
        title,
        "=" * len(title),
        "",
        f".. automodule:: {modname}",
        "",
    ]


def module_page(modname: str) -> str:
    """reStructuredText of the reference page of one public module."""
    module = importlib.import_module(modname)
    own: dict[str, list[str]] = {}
    elsewhere: list[str] = []
    origins: dict[str, str] = {}
    for name in public_names(module):
        obj = getattr(module, name)
        home = home_module(module, name, obj)
        if home == modname:
            own.setdefault(_section_of(obj), []).append(name)
            origins[name] = _origin_from_source(module, name)
        else:  # relative to this module where possible (autosummary's wish)
            elsewhere.append(f"{home}.{name}".removeprefix(f"{modname}."))
    lines = _page_head(modname, "from the module's __all__")
    lines += [f".. currentmodule:: {modname}", ""]
    for section in ("Classes", "Functions", "Exceptions and warnings"):
        names = own.get(section)
        if not names:
            continue
        lines += [section, "-" * len(section), "", ".. autosummary::", "   :toctree: generated"]
        lines += ["   :nosignatures:", ""]
        lines += [f"   {name}" for name in sorted(names, key=str.lower)]
        lines.append("")
    if own.get("Constants"):
        lines += ["Constants", "---------", ""]
        for name in sorted(own["Constants"]):
            lines += constant_block(name, getattr(module, name), origins[name])
    if elsewhere:
        heading = "Also importable from here"
        lines += [
            heading,
            "-" * len(heading),
            "",
            f"Re-exported by ``{modname}``; each is described once, in its home module.",
            "",
            ".. autosummary::",
            "   :nosignatures:",
            "",
        ]
        lines += [f"   ~{target}" for target in sorted(elsewhere, key=lambda t: t.lower())]
        lines.append("")
    return "\n".join(lines)


def extra_module_page(modname: str, names: tuple[str, ...]) -> str:
    """A page with the docstring of an internal module and a few of its constants."""
    lines = _page_head(modname, "for the constants its docstrings refer to")
    module = importlib.import_module(modname)
    for name in names:
        lines += constant_block(name, getattr(module, name), modname)
    return "\n".join(lines)


def write_pages(app: Any, config: Any) -> None:
    """Write ``api/<module>.rst`` for every public module (only when the text changed)."""
    folder = Path(app.srcdir) / "api"
    folder.mkdir(exist_ok=True)
    pages = {m: module_page(m) for m in PUBLIC_MODULES}
    pages.update({m: extra_module_page(m, names) for m, names in EXTRA_MODULES.items()})
    for modname, text in pages.items():
        path = folder / f"{modname}.rst"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")


class _Documented:
    """The objects of the Python domain: by full name, and by identity where that is unique.

    Built once per build, after all documents were read (kept on ``app``, never in the
    pickled environment: ids are only valid in this process). A method inherited by several
    classes is one function object, so identity alone cannot say which class page it is on;
    :meth:`name_of` finds the owner first.
    """

    def __init__(self, names: list[str]) -> None:
        self.names = set(names)
        by_id: dict[int, list[str]] = {}
        for name in names:
            obj = _import(name)
            if obj is not None and not isinstance(obj, (str, int, float)):
                by_id.setdefault(id(obj), []).append(name)
        self.by_id = {key: found[0] for key, found in by_id.items() if len(found) == 1}

    def name_of(self, path: str) -> str | None:
        """The documented full name of the object at ``path``, or None."""
        if path in self.names:
            return path
        parent, _, last = path.rpartition(".")
        if parent:
            owner = self.name_of(parent)
            if owner is not None and f"{owner}.{last}" in self.names:
                return f"{owner}.{last}"
        obj = _import(path)
        return None if obj is None else self.by_id.get(id(obj))


def _documented(app: Any) -> _Documented:
    found = getattr(app, "_featcf_documented", None)
    if found is None:
        objects = app.env.get_domain("py").objects  # aliased: autodoc's :canonical: names
        names = [fullname for fullname, entry in objects.items() if not entry.aliased]
        found = app._featcf_documented = _Documented(names)
    return found


def _import(dotted: str) -> Any:
    """The object at a dotted path (module, then attributes), or None."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _candidates(target: str, node: Any) -> list[str]:
    """Dotted paths a reference may mean: as written, relative to the context it is in, or
    relative to the module the docstring was written in (the object of an API page)."""
    out = [target]
    module, cls = node.get("py:module"), node.get("py:class")
    owners = []
    if module:
        out.append(f"{module}.{target}")
        if cls:
            out.append(f"{module}.{cls}.{target}")
            owners.append(f"{module}.{cls.split('.')[0]}")
    refdoc = node.get("refdoc", "")
    if refdoc.startswith("api/generated/"):
        owners.append(refdoc.rsplit("/", 1)[1])
    for owner in owners:
        home = getattr(_import(owner), "__module__", None)
        if home:
            out.append(f"{home}.{target}")
    return out


def resolve_alias(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve a Python reference to a re-exported or internal path of a documented object."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if not target.startswith(("featcf", "~featcf")) and not node.get("py:module", "").startswith(
        "featcf"
    ):
        return None
    documented = _documented(app)
    written = target.lstrip("~.")
    for path in _candidates(written, node):
        fullname = documented.name_of(path)
        if fullname is not None and fullname != written:
            domain = env.get_domain("py")
            return domain.resolve_xref(
                env, node["refdoc"], app.builder, "obj", fullname, node, contnode
            )
    return None


def skip_foreign_members(app: Any, what: str, name: str, obj: Any, skip: bool, options: Any) -> Any:
    """Leave out members inherited from scikit-learn (get_params, set_params, metadata
    routing): the user guide states the scikit-learn conventions once."""
    owner = getattr(obj, "__module__", None) or getattr(type(obj), "__module__", "")
    if what in ("class", "exception") and owner.startswith("sklearn"):
        return True
    return None


def setup(app: Any) -> dict[str, Any]:
    app.connect("config-inited", write_pages)
    app.connect("autodoc-skip-member", skip_foreign_members)
    app.connect("missing-reference", resolve_alias)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
