"""Write every course link from ONE URL: `dannlib.config.REPO_URL` (and REPO_BRANCH).

    python scripts/badges.py            # rewrite what is out of date; print every link rewritten
    python scripts/badges.py --check    # exit 1 (and list the links) if anything is out of date

A fork changes REPO_URL in dannlib/config.py (a release sets REPO_BRANCH to its tag) and runs
the script: each notebook's first markdown cell gets the Colab/Binder badge line, its first
code cell the Colab cell (on Colab: a shallow clone of that repository at that branch or tag,
an editable install of dannlib from it, the clone's notebooks/ as working folder; nothing
elsewhere), and every Colab, Binder, pip (git+) and GitHub link to the course in the
notebooks, README.md (its course map included) and CONTRIBUTING.md is rewritten to the
repository and branch, each one reported as old -> new. Then run scripts/student_copies.py.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from urllib.parse import quote

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from dannlib.config import REPO_BRANCH, REPO_URL  # noqa: E402

REPO = REPO_URL
BRANCH = REPO_BRANCH
DOCUMENTS = ("README.md", "CONTRIBUTING.md")
GUARD_FIRST_LINE = (
    "# Colab only: bring the course (lessons, saved runs, data folder) and install dannlib"
)
GUARD_PREFIX = "# Colab only:"  # the first line of this cell, old and new
BADGE_LINE = re.compile(r"^\[!\[Open In Colab\]\(.*$", re.MULTILINE)
SLUG = r"(?P<slug>[\w.-]+/[\w.-]+?)"
BRANCH_NAME = r"(?P<branch>[\w.-]+)"
# Links to the course: Colab, Binder and pip name it whatever the owner; plain GitHub links
# count when they name a repository that one of those links names (or the configured one).
NOTEBOOK_LINKS = (
    re.compile(rf"https://colab\.research\.google\.com/github/{SLUG}/blob/{BRANCH_NAME}"),
    re.compile(rf"https://mybinder\.org/v2/gh/{SLUG}/{BRANCH_NAME}"),
    re.compile(rf"git\+https://github\.com/{SLUG}(?:\.git)?@{BRANCH_NAME}"),
)
GITHUB_LINK = re.compile(
    rf"(?<!git\+)https://github\.com/{SLUG}(?:\.git)?(?:/(?:blob|tree)/{BRANCH_NAME})?"
    r"(?=[/\s)\"'`>\]#?]|$)"
)


def github_slug(repo: str = REPO) -> str:
    """'owner/name' of a https://github.com/owner/name URL."""
    match = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?", repo)
    if not match:
        raise ValueError(f"REPO_URL must look like https://github.com/OWNER/NAME, got {repo!r}")
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


def guard_source(repo: str = REPO, branch: str = BRANCH, folder: str = "notebooks") -> str:
    """The first code cell of every notebook. On Colab it brings the course: a shallow clone of
    `repo` at `branch` (a branch or a release tag), an editable install of dannlib from it, and
    the notebook's `folder` in it as the working folder, so the saved runs (checkpoints/) and the
    data folder resolve inside the clone; a failed step stops the cell with its cause.
    Elsewhere it does nothing."""
    return f"""{GUARD_FIRST_LINE}
import sys

if "google.colab" in sys.modules:
    import os
    import subprocess
    from pathlib import Path

    REPO, VERSION = "{repo}", "{branch}"
    FOLDER = "{folder}"  # this notebook's folder in the course
    COURSE = Path.cwd().parent if Path("../dannlib").is_dir() else Path.cwd() / "dann-course"

    def course_step(what, command):
        try:
            done = subprocess.run(command, capture_output=True, text=True)
        except OSError as err:
            raise RuntimeError(f"could not {{what}}: {{err}}") from None
        if done.returncode != 0:
            said = "\\n".join((done.stderr or done.stdout).strip().splitlines()[-4:])
            raise RuntimeError(f"could not {{what}} (exit code {{done.returncode}}):\\n{{said}}")

    if not (COURSE / ".git").is_dir():
        course_step(
            f"clone the course, {{REPO}} at {{VERSION}}, into {{COURSE}} (check the network)",
            ["git", "clone", "--quiet", "--depth", "1", "--branch", VERSION, REPO, str(COURSE)],
        )
    course_step(
        f"install dannlib from {{COURSE}} (delete the folder and run this cell again)",
        [sys.executable, "-m", "pip", "install", "--quiet", "--editable", str(COURSE)],
    )
    os.chdir(COURSE / FOLDER)
    sys.path.insert(0, str(COURSE))
    print(f"The course ({{REPO}} at {{VERSION}}) is in {{COURSE}}; working folder {{FOLDER}}/.")"""


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
    if codes and nb.cells[codes[0]].source.startswith(GUARD_PREFIX):
        if nb.cells[codes[0]].source != guard:
            nb.cells[codes[0]].source = guard
            changes.append("Colab install cell")
    else:
        where = codes[0] if codes else len(nb.cells)
        nb.cells.insert(where, nbformat.v4.new_code_cell(guard))
        changes.append("Colab install cell (added)")
    return changes


def course_slugs(texts: list[str], repo: str = REPO) -> set[str]:
    """'owner/name' of the course repositories that Colab, Binder or pip links in `texts` name."""
    found = {github_slug(repo)}
    for text in texts:
        for pattern in NOTEBOOK_LINKS:
            found.update(m["slug"] for m in pattern.finditer(text))
    return found


def rewrite_links(
    text: str, slugs: set[str], repo: str = REPO, branch: str = BRANCH
) -> tuple[str, list[tuple[str, str]]]:
    """`text` with every course link naming `repo` and `branch`; and the (old, new) links."""
    slug, rewritten = github_slug(repo), []

    def replace(match: re.Match) -> str:
        old = match.group(0)
        if match.re is GITHUB_LINK and match["slug"] not in slugs:
            return old  # another project's repository
        start = match.start()
        new = old
        for group, value in (("branch", branch), ("slug", slug)):  # right to left
            if match[group] is not None:
                a, b = match.span(group)
                new = new[: a - start] + value + new[b - start :]
        if new != old:
            rewritten.append((old, new))
        return new

    for pattern in (*NOTEBOOK_LINKS, GITHUB_LINK):
        text = pattern.sub(replace, text)
    return text, rewritten


def update_file(path: Path, slugs: set[str], repo: str, branch: str, write: bool) -> list[str]:
    """Bring one notebook or markdown file up to date (written if `write`); what changed."""
    if path.suffix != ".ipynb":
        text = path.read_text(encoding="utf-8")
        new, links = rewrite_links(text, slugs, repo, branch)
        if write and new != text:
            path.write_text(new, encoding="utf-8")
        return [f"{old} -> {link}" for old, link in links]
    nb = nbformat.read(path, as_version=4)
    changes = []
    for cell in nb.cells:
        cell.source, links = rewrite_links(cell.source, slugs, repo, branch)
        changes += [f"{old} -> {link}" for old, link in links]
    changes += update_notebook(nb, path.name, repo, branch)
    if write and changes:
        nbformat.write(nb, path)
    return changes


def main(argv: list[str] | None = None) -> int:
    """Check or rewrite the files under --root; exit code 1 if --check finds anything stale."""
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
    files = notebooks + [args.root / name for name in DOCUMENTS if (args.root / name).is_file()]
    slugs = course_slugs([f.read_text(encoding="utf-8") for f in files], args.repo)
    stale = 0
    for path in files:
        for change in update_file(path, slugs, args.repo, args.branch, write=not args.check):
            stale += 1
            verb = "out of date" if args.check else "updated"
            print(f"{verb}: {path.relative_to(args.root)}: {change}")
    target = f"{args.repo}@{args.branch}"
    if not stale:
        print(f"{len(files)} files up to date for {target}")
    elif not args.check:
        print(f"{stale} links or cells rewritten for {target}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
