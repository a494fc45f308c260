"""Check the internal links of a built HTML site: every relative link must reach a file, and
every ``#anchor`` an element with that id (or a named anchor) in the target page.

Usage: ``python docs/check_links.py docs/_build/html``. Prints each broken link (page, link,
reason) and exits with 1 if there is any, 0 otherwise. Links with a scheme (``https:``,
``mailto:``, ``data:``, ...) or starting with ``//`` are external and not checked, and so are
the HTML fragments among the theme's assets (``_static/``).
"""

from __future__ import annotations

import argparse
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

#: folders of the build that hold assets, not pages (the theme's template fragments are there)
ASSET_FOLDERS = ("_static", "_sources", "_images")
#: attributes that hold a link, per tag
LINK_ATTRIBUTES = {"a": "href", "link": "href", "img": "src", "script": "src", "iframe": "src"}


class _Page(HTMLParser):
    """Collects the links and the anchor targets (ids, named anchors) of one page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.anchors: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.anchors.add(values["id"])
        if tag == "a" and values.get("name"):
            self.anchors.add(values["name"])
        link = values.get(LINK_ATTRIBUTES.get(tag, ""))
        if link is not None:
            self.links.append(link)


def _parse(path: Path, cache: dict[Path, _Page]) -> _Page:
    if path not in cache:
        page = _Page()
        page.feed(path.read_text(encoding="utf-8", errors="replace"))
        cache[path] = page
    return cache[path]


def _is_external(link: str) -> bool:
    parts = urlsplit(link)
    return bool(parts.scheme) or link.startswith("//")


def broken_links(root: Path) -> list[tuple[str, str, str]]:
    """(page, link, reason) for every broken internal link of the HTML files under ``root``."""
    root = root.resolve()
    cache: dict[Path, _Page] = {}
    broken = []
    for page_path in sorted(root.rglob("*.html")):
        if page_path.relative_to(root).parts[0] in ASSET_FOLDERS:
            continue
        page = _parse(page_path, cache)
        for link in page.links:
            if not link or _is_external(link):
                continue
            parts = urlsplit(link)
            if parts.path:
                target = (page_path.parent / unquote(parts.path)).resolve()
                if target.is_dir():
                    target = target / "index.html"
            else:
                target = page_path
            where = str(page_path.relative_to(root))
            if not target.is_relative_to(root):
                broken.append((where, link, "points outside the site"))
            elif not target.is_file():
                broken.append((where, link, "no such file"))
            elif parts.fragment and target.suffix == ".html":
                anchor = unquote(parts.fragment)
                if anchor not in _parse(target, cache).anchors:
                    broken.append((where, link, f"no anchor {anchor!r} in {target.name}"))
    return broken


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path, help="the built HTML folder, e.g. docs/_build/html")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").is_file():
        print(f"{args.site} holds no index.html: build the site first", file=sys.stderr)
        return 2
    broken = broken_links(args.site)
    for where, link, reason in broken:
        print(f"{where}: {link}: {reason}")
    n_pages = sum(
        1
        for p in args.site.rglob("*.html")
        if p.relative_to(args.site).parts[0] not in ASSET_FOLDERS
    )
    print(f"{len(broken)} broken internal link(s) in {n_pages} pages")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
