"""Google Colab: the repository's address in one place, and the first two cells of every notebook.

Every notebook (lessons, exercises, solutions) opens with an Open-in-Colab badge in cell 0 and a set-up
cell in cell 1. Both are generated from this module, so the repository's address, its branch and the
packages Colab must install are written down once:

* ``badge(path)``: the badge line for the notebook at ``path`` in the repository.
* ``setup_cell_source()``: the set-up cell. On Colab it clones the course, installs what Colab lacks and
  moves into the course; locally (JupyterLab, ``make lab``) it does nothing and prints nothing.

``python -m utils.colab`` rewrites the badge line and the set-up cell of every notebook to the generated
ones, and gives every notebook the course's kernelspec (``KERNELSPEC``, ``language_info`` as ipykernel
writes it), so opening a notebook in JupyterLab and saving it without an edit changes nothing (nothing
else: outputs and other cells stay as they are); ``python -m utils.colab --check`` lists the notebooks
that are out of date and exits with status 1. Lesson 00 explains how to use Colab.
"""

from __future__ import annotations

import argparse
import platform
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
REPOSITORY = "bert-workbook/bert-workbook"
BRANCH = "main"
NOTEBOOK_FOLDERS = ("notebooks", "exercises", "solutions")
# Where Colab keeps the clone; the notebook folders are one level below it, so `../` means the same there
# as in a local checkout.
COLAB_CHECKOUT = "/content/bert-workbook"
# Pinned packages the set-up cell leaves as Colab has them: Colab ships torch (built for its GPU), numpy,
# scikit-learn, matplotlib, tqdm and the Jupyter packages, and replacing numpy or torch there would need
# a runtime restart; the test tools are not needed there at all. Every other pin (the Hugging Face
# libraries, whose API changed since the release Colab ships, and anything added to requirements.txt
# later) is installed at its pinned version.
COLAB_KEEPS = frozenset({"torch", "numpy", "scikit-learn", "matplotlib", "tqdm", "jupyterlab", "ipykernel",
                         "ipywidgets", "jupytext", "nbformat", "nbclient", "nbconvert", "nbval", "pytest"})

# What JupyterLab writes for the course's kernel; a notebook without it is marked changed on opening.
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
# language_info as ipykernel reports it; "version" is the Python that ran the stored outputs, kept as it is.
LANGUAGE_INFO = {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
                 "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
                 "pygments_lexer": "ipython3"}

BADGE_LINE = re.compile(r"^\[!\[Open In Colab\]\(.*$", re.MULTILINE)
HEADING_LINE = re.compile(r"^# .*$", re.MULTILINE)


def github_url() -> str:
    return f"https://github.com/{REPOSITORY}"


def colab_url(path: "str | Path") -> str:
    """The address that opens a notebook on Colab; ``path`` is its path in the repository
    (``notebooks/03_fine_tuning.ipynb``), or an absolute path inside this checkout."""
    path = Path(path)
    if path.is_absolute():
        path = path.resolve().relative_to(ROOT)
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/{path.as_posix()}"


def badge(path: "str | Path") -> str:
    """The Markdown Open-in-Colab badge line for the notebook at repository path ``path``."""
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(path)})"


def pinned_versions(requirements: Path = ROOT / "requirements.txt") -> dict[str, str]:
    """``{package: version}`` for every ``package==version`` line of requirements.txt."""
    pins = {}
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = (part.strip() for part in line.split("==", 1))
            pins[name.lower()] = version
    return pins


def colab_requirements(requirements: Path = ROOT / "requirements.txt") -> list[str]:
    """The ``package==version`` specifiers the set-up cell installs on Colab: every pin of requirements.txt
    except those Colab keeps as it has them (``COLAB_KEEPS``)."""
    return [f"{name}=={version}" for name, version in pinned_versions(requirements).items()
            if name not in COLAB_KEEPS]


def setup_cell_source() -> str:
    """The source of every notebook's cell 1: on Colab, clone the course, install what Colab lacks and
    move into the course's folder; locally, nothing."""
    quoted = [f'"{spec}"' for spec in colab_requirements()]
    rows, row = [], []
    for item in quoted:  # a few per line, so the cell reads without scrolling
        if row and len(", ".join(row + [item])) > 90:
            rows.append(", ".join(row))
            row = []
        row.append(item)
    packages = ",\n                    ".join(rows + [", ".join(row)])
    return f'''\
# Set-up: on Colab, fetch the course and install what Colab lacks; locally (JupyterLab, `make lab`) this does nothing.
import sys
if "google.colab" in sys.modules:
    import os, subprocess
    COURSE = "{COLAB_CHECKOUT}"
    if not os.path.isdir(COURSE):
        subprocess.run(["git", "clone", "-q", "--depth", "1", "--branch", "{BRANCH}",
                        "{github_url()}", COURSE], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", COURSE,
                    {packages}], check=True)
    if COURSE not in sys.path:
        sys.path.insert(0, COURSE)
    os.chdir(os.path.join(COURSE, "notebooks"))  # relative paths then work as in a local checkout'''


def notebooks(root: Path = ROOT) -> list[Path]:
    """Every notebook the course stores: lessons, exercises and solutions."""
    return [path for folder in NOTEBOOK_FOLDERS for path in sorted((root / folder).glob("*.ipynb"))]


def with_badge(markdown: str, path: str) -> str:
    """``markdown`` (a notebook's cell 0) with its badge line replaced by the generated one, or the badge
    added under the title when there is none."""
    line = badge(path)
    if BADGE_LINE.search(markdown):
        return BADGE_LINE.sub(lambda _: line, markdown, count=1)
    title = HEADING_LINE.search(markdown)
    if title is None:
        return f"{line}\n\n{markdown}"
    return f"{markdown[:title.end()]}\n\n{line}{markdown[title.end():]}"


def with_course_metadata(metadata: dict) -> dict:
    """``metadata`` (a notebook's) with the course's kernelspec and language_info; other keys (the
    exercises' ``workbook``) stay. A leftover ``jupytext`` entry (the notebook is paired with no text
    file) goes: JupyterLab's editor never writes one."""
    new = {key: value for key, value in metadata.items()
           if not (key == "jupytext" and "formats" not in value)}
    version = (metadata.get("language_info") or {}).get("version") or platform.python_version()
    new["kernelspec"] = dict(KERNELSPEC)
    new["language_info"] = {**LANGUAGE_INFO, "version": version}
    return new


def refresh(nb, path: str) -> bool:
    """Bring cells 0 and 1 and the kernelspec of ``nb`` (the notebook at ``path``) up to date in place.
    Returns whether anything changed."""
    if len(nb.cells) < 2 or nb.cells[0].cell_type != "markdown" or nb.cells[1].cell_type != "code":
        raise ValueError(f"{path}: cell 0 must be the title (markdown) and cell 1 the set-up cell (code); "
                         f"add them before running `python -m utils.colab`.")
    setup = nb.cells[1]
    if setup.source != setup_cell_source() and "google.colab" not in setup.source:
        # Replacing it would delete someone's code: the set-up cell is missing, not stale.
        raise ValueError(f"{path}: cell 1 is not a set-up cell (it never mentions google.colab); insert "
                         f"an empty code cell after the title and run `python -m utils.colab` again.")
    changed = False
    metadata = with_course_metadata(nb.metadata)
    if metadata != nb.metadata:
        nb.metadata, changed = nbformat.from_dict(metadata), True
    title = with_badge(nb.cells[0].source, path)
    if title != nb.cells[0].source:
        nb.cells[0].source, changed = title, True
    if setup.source != setup_cell_source():
        setup.source, changed = setup_cell_source(), True
    return changed


def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(description="Regenerate every notebook's Colab badge (cell 0), set-up "
                                                 "cell (cell 1) and kernelspec from utils/colab.py.")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; list the notebooks that are out of date and exit with 1 if any")
    parser.add_argument("paths", nargs="*", type=Path,
                        help="notebooks to refresh (default: all in notebooks/, exercises/ and solutions/)")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.paths] or notebooks(root)
    stale, problems = [], []
    for path in paths:
        try:
            relative = path.relative_to(root.resolve()).as_posix()
        except ValueError:
            parser.error(f"{path} is not inside the repository {root}")
        nb = nbformat.read(path, as_version=4)
        try:
            changed = refresh(nb, relative)
        except ValueError as error:
            problems.append(str(error))
            continue
        if changed:
            stale.append(relative)
            if not args.check:
                nbformat.write(nb, path)
    for problem in problems:
        print(problem, file=sys.stderr)
    if args.check:
        for relative in stale:
            print(f"out of date: {relative}")
        if stale:
            print("run `python -m utils.colab` to regenerate their badge, set-up cell and kernelspec",
                  file=sys.stderr)
        return 1 if stale or problems else 0
    for relative in stale:
        print(f"updated: {relative}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
