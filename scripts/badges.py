"""Write the Colab/Binder badge line and the Colab install cell of every notebook from ONE URL.

    python scripts/badges.py            # rewrite what is out of date, print the README badge cells
    python scripts/badges.py --check    # exit 1 (and say what) if anything is out of date

Change REPO or BRANCH below (e.g. for a fork) and run the script: each notebook's first markdown
cell gets the badge line, its first code cell the Colab guard that installs dannlib from that
repository, and README links to Colab/Binder that name another repository are reported.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from urllib.parse import quote

import nbformat

REPO = "https://github.com/dann-course/dann-course"
BRANCH = "main"

ROOT = Path(__file__).resolve().parents[1]
GUARD_FIRST_LINE = (
    "# Colab only: install dannlib from the course repository (does nothing elsewhere)"
)
BADGE_LINE = re.compile(r"^\[!\[Open In Colab\]\(.*$", re.MULTILINE)
README_URL = re.compile(
    r"https://(?:colab\.research\.google\.com/github|mybinder\.org/v2/gh)/"
    r"(?P<owner>[^/\s)]+)/(?P<name>[^/\s)?]+)/(?:blob/)?(?P<branch>[^/\s)?]+)"
)


def github_slug(repo: str = REPO) -> str:
    """'owner/name' of a https://github.com/owner/name URL."""
    match = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?", repo)
    if not match:
        raise ValueError(f"REPO must look like https://github.com/OWNER/NAME, got {repo!r}")
    return f"{match.group(1)}/{match.group(2)}"


def colab_url(notebook: str, repo: str = REPO, branch: str = BRANCH) -> str:
    """Open `notebook` (a file name in notebooks/) in Colab."""
    return f"https://colab.research.google.com/github/{github_slug(repo)}/blob/{branch}/notebooks/{notebook}"


def binder_url(notebook: str, repo: str = REPO, branch: str = BRANCH) -> str:
    """Open `notebook` in JupyterLab on Binder."""
    path = quote(f"notebooks/{notebook}", safe="")
    return f"https://mybinder.org/v2/gh/{github_slug(repo)}/{branch}?labpath={path}"


def badge_line(notebook: str, repo: str = REPO, branch: str = BRANCH) -> str:
    """The Colab and Binder badges of one notebook, as one markdown line."""
    colab = "https://colab.research.google.com/assets/colab-badge.svg"
    binder = "https://mybinder.org/badge_logo.svg"
    return (
        f"[![Open In Colab]({colab})]({colab_url(notebook, repo, branch)}) "
        f"[![Binder]({binder})]({binder_url(notebook, repo, branch)})"
    )


def guard_source(repo: str = REPO, branch: str = BRANCH) -> str:
    """The first code cell of every notebook: installs dannlib on Colab only."""
    return (
        f"{GUARD_FIRST_LINE}\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install -q "dannlib @ git+{repo}@{branch}"'
    )


def update_notebook(nb: nbformat.NotebookNode, name: str, repo: str, branch: str) -> list[str]:
    """Bring the badge line and the guard cell of `nb` up to date in place; what was changed."""
    changes = []
    markdown = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if markdown is None:
        markdown = nbformat.v4.new_markdown_cell(f"# {name}")
        nb.cells.insert(0, markdown)
    line = badge_line(name, repo, branch)
    if BADGE_LINE.search(markdown.source):
        new = BADGE_LINE.sub(lambda _: line, markdown.source, count=1)
    else:
        title, _, rest = markdown.source.partition("\n")
        new = f"{title}\n\n{line}\n{rest}".rstrip("\n")
    if new != markdown.source:
        markdown.source = new
        changes.append("badge line")
    codes = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    guard = guard_source(repo, branch)
    if codes and nb.cells[codes[0]].source.startswith(GUARD_FIRST_LINE):
        if nb.cells[codes[0]].source != guard:
            nb.cells[codes[0]].source = guard
            changes.append("Colab install cell")
    else:
        where = codes[0] if codes else len(nb.cells)
        nb.cells.insert(where, nbformat.v4.new_code_cell(guard))
        changes.append("Colab install cell (added)")
    return changes


def stale_readme_links(text: str, repo: str = REPO, branch: str = BRANCH) -> list[str]:
    """Colab/Binder URLs in the README that name another repository or branch."""
    slug = github_slug(repo)
    return sorted(
        {
            m.group(0)
            for m in README_URL.finditer(text)
            if f"{m['owner']}/{m['name']}" != slug or m["branch"] != branch
        }
    )


def title_of(nb: nbformat.NotebookNode, name: str) -> str:
    """The notebook's '# ' title without its number prefix ('01 — '), else its file name."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return re.sub(r"^\d+\s*[—–:.-]\s*", "", line[2:].strip())
    return name


def course_map(notebooks: list[Path], repo: str = REPO, branch: str = BRANCH) -> str:
    """README course-map rows with the badges of each notebook."""
    rows = ["| # | notebook | open |", "|---|---|---|"]
    for path in notebooks:
        title = title_of(nbformat.read(path, as_version=4), path.name)
        badges = badge_line(path.name, repo, branch).replace(") [![", ")<br>[![")
        rows.append(f"| {path.name[:2]} | [{title}](notebooks/{path.name}) | {badges} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Check or rewrite the notebooks under --root; exit code 1 if --check finds anything stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root (default: here)")
    parser.add_argument("--repo", default=REPO, help=f"repository URL (default: {REPO})")
    parser.add_argument("--branch", default=BRANCH, help=f"branch (default: {BRANCH})")
    args = parser.parse_args(argv)
    github_slug(args.repo)
    notebooks = sorted(args.root.glob("notebooks/[0-9][0-9]_*.ipynb"))
    if not notebooks:
        parser.error(f"no notebooks/NN_name.ipynb under {args.root}")
    stale = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        changes = update_notebook(nb, path.name, args.repo, args.branch)
        if changes:
            stale.append(f"{path.relative_to(args.root)}: {', '.join(changes)}")
            if not args.check:
                nbformat.write(nb, path)
    readme = args.root / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    readme_stale = stale_readme_links(text, args.repo, args.branch)
    for line in stale:
        print(f"out of date: {line}" if args.check else f"updated: {line}")
    for url in readme_stale:
        print(f"README.md (edit by hand): {url} names another repository or branch")
    if args.check:
        if not stale and not readme_stale:
            print(f"{len(notebooks)} notebooks up to date for {args.repo}@{args.branch}")
        return 1 if stale or readme_stale else 0
    print(f"README course map for {args.repo}@{args.branch}:\n")
    print(course_map(notebooks, args.repo, args.branch))
    return 0


if __name__ == "__main__":
    sys.exit(main())
