"""Links in README.md, CONTRIBUTING.md and the notebooks' markdown point at things that exist.

Relative links must name an existing file (and, for a `#anchor` into a markdown file, an
existing heading); Colab, Binder and GitHub links to the course repository must name a
notebook or file in this checkout. Other web links are only checked for form (tests are
offline).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("badges", ROOT / "scripts" / "badges.py")
badges = importlib.util.module_from_spec(spec)
spec.loader.exec_module(badges)

SLUG = badges.github_slug()
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
REPO_URL = re.compile(
    rf"https://(?:colab\.research\.google\.com/github|github\.com|mybinder\.org/v2/gh)/{SLUG}/"
    r"(?:blob/|tree/)?(?P<branch>[^/?#]+)(?P<path>/[^?#]*)?(?:\?labpath=(?P<labpath>[^&#]+))?"
)


def markdown_of(path: Path) -> str:
    """The markdown text of a .md file or of a notebook's markdown cells."""
    if path.suffix == ".ipynb":
        nb = nbformat.read(path, as_version=4)
        return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return path.read_text(encoding="utf-8")


def links(text: str) -> list[str]:
    """Link targets in markdown, outside code blocks and inline code."""
    text = INLINE_CODE.sub("", FENCE.sub("", text))
    return LINK.findall(text) + REFERENCE.findall(text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    heading = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return heading.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", markdown_of(path))
    return {slug(m) for m in re.findall(r"^#{1,6}\s+(.*?)\s*#*$", text, re.MULTILINE)}


def documents() -> list[Path]:
    """README.md, CONTRIBUTING.md and every notebook, including those the badges name."""
    docs = [p for p in (ROOT / "README.md", ROOT / "CONTRIBUTING.md") if p.is_file()]
    named = set()
    for doc in docs:
        for url in links(markdown_of(doc)):
            match = REPO_URL.match(url)
            if match and (match["labpath"] or match["path"] or "").endswith(".ipynb"):
                named.add(ROOT / unquote(match["labpath"] or match["path"]).lstrip("/"))
    notebooks = set((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) | named
    return docs + sorted(notebooks)


def problem(link: str, doc: Path) -> str | None:
    """Why `link` in `doc` is broken, or None."""
    parsed = urlparse(link)
    if parsed.scheme in ("http", "https"):
        if not parsed.netloc or " " in link:
            return "malformed URL"
        match = REPO_URL.match(link)
        if match:
            if match["branch"] != badges.BRANCH:
                return f"names branch {match['branch']}, not {badges.BRANCH}"
            target = unquote(match["labpath"] or (match["path"] or "/").lstrip("/"))
            if target and not (ROOT / target).exists():
                return f"{target} is not in the repository"
        return None
    if parsed.scheme in ("mailto",):
        return None
    if parsed.scheme:
        return f"unexpected scheme {parsed.scheme}"
    target = (doc.parent / unquote(parsed.path)).resolve() if parsed.path else doc
    if not target.exists():
        return f"{unquote(parsed.path)} does not exist"
    if ROOT not in target.parents and target != ROOT:
        return "points outside the repository"
    if parsed.fragment and target.suffix in (".md", ".ipynb"):
        if unquote(parsed.fragment).lower() not in anchors(target):
            return f"no heading #{parsed.fragment} in {target.name}"
    return None


DOCS = documents()


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve(doc):
    if not doc.exists():
        pytest.fail(f"{doc.relative_to(ROOT)} is named by a badge but does not exist")
    broken = [(link, why) for link in links(markdown_of(doc)) if (why := problem(link, doc))]
    assert broken == [], f"{doc.relative_to(ROOT)}: broken links {broken}"


def test_link_checker_catches_broken_links(tmp_path):
    """The checker itself: a missing file, a missing anchor, a wrong repo branch are caught."""
    doc = ROOT / "README.md"
    assert problem("notebooks/99_missing.ipynb", doc) == "notebooks/99_missing.ipynb does not exist"
    assert problem("README.md#no-such-heading", doc).startswith("no heading")
    url = f"https://colab.research.google.com/github/{SLUG}/blob/main/notebooks/99_x.ipynb"
    assert problem(url, doc) == "notebooks/99_x.ipynb is not in the repository"
    url = f"https://mybinder.org/v2/gh/{SLUG}/dev?labpath=notebooks%2F01_x.ipynb"
    assert problem(url, doc) == f"names branch dev, not {badges.BRANCH}"
    assert problem("https://arxiv.org/abs/1505.07818", doc) is None
    assert links("see `[a](b)` and\n```\n[c](d)\n```\n[e](f) ![g](h.png)") == ["f", "h.png"]
