"""Write the exercise notebooks from the solution notebooks: ``python -m grading.generate``
(``make exercises``). ``--check`` writes nothing and exits with status 1 when ``exercises/`` is stale.

``solutions/NN_topic_solutions.ipynb`` becomes ``exercises/NN_topic_exercises.ipynb``:

* In a code cell, each answer region, the lines between ``### BEGIN SOLUTION`` and
  ``### END SOLUTION`` (markers included), becomes a stub that keeps "Run all" working:

  - an indented region (it must be inside a function body) becomes, at the same indentation,
    ``# YOUR CODE HERE`` and ``raise NotImplementedError(...)``: the function exists, and calling it
    says it is not written yet;
  - a region at the top level becomes ``# YOUR CODE HERE`` and ``NAME = ...`` for every name the
    region binds (by assignment, ``def``, ``class`` or ``import``), in order.

  ``check`` reports both stubs as "not attempted".
* In a markdown cell, an answer region (solution notes) is removed; there the markers may be written
  as HTML comments, ``<!-- ### BEGIN SOLUTION -->``, so that they do not show.
* Outputs and execution counts are cleared, the run-time metadata nbconvert adds is dropped, and the
  ``# NBVAL_CHECK_OUTPUT`` marker lines go (there is no stored output to compare).
* Links to the solution notebook (the Colab badge in cell 0) point at the exercise notebook instead.
* Its badge, set-up cell and kernelspec are the ones ``python -m utils.colab`` writes, and its metadata says
  which lesson it is for (``"workbook": {"lesson": "01"}``), so the grader knows which exercises to
  grade a submission on, whatever its file is called.

The result depends only on the solution notebook, so a second run writes identical bytes.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import nbformat

from utils.colab import refresh as colab_refresh

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB_COMMENT = "# YOUR CODE HERE"
STUB_RAISE = 'raise NotImplementedError("Write your code here, then run the check below.")'
NBVAL_MARKER = "# NBVAL_CHECK_OUTPUT"
SOLUTIONS_SUFFIX = "_solutions.ipynb"
EXERCISES_SUFFIX = "_exercises.ipynb"


class GenerateError(ValueError):
    """A solution notebook whose answer regions cannot be turned into stubs."""


def exercise_name(solution_name: str) -> str:
    if not solution_name.endswith(SOLUTIONS_SUFFIX):
        raise GenerateError(f"{solution_name}: solution notebooks are named NN_topic{SOLUTIONS_SUFFIX}.")
    return solution_name[: -len(SOLUTIONS_SUFFIX)] + EXERCISES_SUFFIX


def answer_regions(lines: list[str], where: str, markdown: bool = False) -> list[tuple[int, int]]:
    """(begin, end) line indices of each answer region. In markdown the markers may be written as HTML
    comments (``<!-- ### BEGIN SOLUTION -->``), so that they do not show in the rendered solution."""
    regions, begin = [], None
    for i, line in enumerate(lines):
        marker = line.strip()
        if markdown and marker.startswith("<!--") and marker.endswith("-->"):
            marker = marker[4:-3].strip()
        if marker.startswith(BEGIN):
            if begin is not None:
                raise GenerateError(f"{where}, line {i + 1}: {BEGIN} inside another answer region.")
            begin = i
        elif marker.startswith(END):
            if begin is None:
                raise GenerateError(f"{where}, line {i + 1}: {END} without a {BEGIN} before it.")
            regions.append((begin, i))
            begin = None
    if begin is not None:
        raise GenerateError(f"{where}, line {begin + 1}: {BEGIN} is never closed by {END}.")
    return regions


def _bound_names(code: str, where: str) -> list[str]:
    """Names a top-level answer region binds, in order of first appearance."""
    try:
        tree = ast.parse(code)
    except SyntaxError as error:
        raise GenerateError(f"{where}: the answer region is not valid Python ({error.msg}, line {error.lineno}).")
    names: list[str] = []

    def add_target(target: ast.AST) -> None:
        if isinstance(target, ast.Name):
            names.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                add_target(element)
        elif isinstance(target, ast.Starred):
            add_target(target.value)

    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                add_target(target)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            add_target(node.target)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.extend((alias.asname or alias.name).split(".")[0] for alias in node.names)
    unique = list(dict.fromkeys(names))
    if not unique:
        raise GenerateError(f"{where}: a top-level answer region must bind a name (such as `answer_01_order = ...`), "
                            f"so that the exercise has something to check.")
    return unique


def _inside_function(source: str, line_number: int, where: str) -> bool:
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise GenerateError(f"{where}: the cell is not valid Python ({error.msg}, line {error.lineno}).")
    return any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
               and node.lineno < line_number <= node.end_lineno
               for node in ast.walk(tree))


def stub_code(source: str, where: str = "cell") -> str:
    """``source`` with each answer region replaced by its stub."""
    lines = source.split("\n")
    regions = answer_regions(lines, where)
    for begin, end in reversed(regions):
        indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
        if indent:
            if not _inside_function(source, begin + 1, where):
                raise GenerateError(f"{where}, line {begin + 1}: an indented answer region must be inside a function "
                                    f"body (its stub raises NotImplementedError, which must not run at import).")
            stub = [indent + STUB_COMMENT, indent + STUB_RAISE]
        else:
            names = _bound_names("\n".join(lines[begin + 1:end]), where)
            stub = [STUB_COMMENT] + [f"{name} = ..." for name in names]
        lines[begin:end + 1] = stub
    return "\n".join(line for line in lines if line.strip() != NBVAL_MARKER)


def strip_markdown(source: str, where: str = "cell") -> str:
    """``source`` without its answer regions (markers included)."""
    lines = source.split("\n")
    regions = answer_regions(lines, where, markdown=True)
    for begin, end in reversed(regions):
        del lines[begin:end + 1]
        # The blank lines around the region would now make a double gap: keep one.
        while 0 < begin < len(lines) and not lines[begin].strip() and not lines[begin - 1].strip():
            del lines[begin]
    text = "\n".join(lines)
    return text.strip("\n") if regions else text


def make_exercise(solution: nbformat.NotebookNode, solution_rel: str, exercise_rel: str) -> nbformat.NotebookNode:
    """The exercise notebook made from a solution notebook (see the module docstring for the rules)."""
    nb = nbformat.from_dict(solution)
    solution_file, exercise_file = solution_rel.rsplit("/", 1)[-1], exercise_rel.rsplit("/", 1)[-1]
    # The grader reads the lesson from here, whatever the student renames the file to.
    nb.metadata["workbook"] = {"lesson": exercise_file.split("_", 1)[0]}
    for index, cell in enumerate(nb.cells):
        where = f"{solution_rel}, cell {index}"
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.source = stub_code(cell.source, where)
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown":
            source = strip_markdown(cell.source, where)
            cell.source = source.replace(solution_rel, exercise_rel).replace(solution_file, exercise_file)
    # The exercise's own badge and Colab set-up cell, and the course's kernelspec (so JupyterLab opens
    # it without marking it changed), as `python -m utils.colab` writes them.
    colab_refresh(nb, exercise_rel)
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    """The notebook as the text nbformat writes to disk."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def exercise_for(solution_path: Path, root: Path = ROOT) -> tuple[Path, str]:
    """(path, text) of the exercise notebook generated from ``solution_path``."""
    solution_path = Path(solution_path)
    name = exercise_name(solution_path.name)
    solution = nbformat.read(solution_path, as_version=4)
    nb = make_exercise(solution, f"solutions/{solution_path.name}", f"exercises/{name}")
    return root / "exercises" / name, render(nb)


def stale_exercises(root: Path = ROOT) -> list[Path]:
    """Exercise notebooks that differ from what the solutions generate now (or are missing)."""
    stale = []
    for solution in sorted((root / "solutions").glob(f"*{SOLUTIONS_SUFFIX}")):
        path, text = exercise_for(solution, root)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(path)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading.generate",
                                     description="Write exercises/NN_topic_exercises.ipynb from "
                                                 "solutions/NN_topic_solutions.ipynb.")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit with status 1 if an exercise notebook is out of date")
    args = parser.parse_args(argv)
    try:
        if args.check:
            stale = stale_exercises()
            for path in stale:
                print(f"out of date: {path.relative_to(ROOT)} (run `make exercises`)")
            return 1 if stale else 0
        for solution in sorted((ROOT / "solutions").glob(f"*{SOLUTIONS_SUFFIX}")):
            path, text = exercise_for(solution)
            old = path.read_text(encoding="utf-8") if path.is_file() else None
            if old != text:
                path.parent.mkdir(exist_ok=True)
                path.write_text(text, encoding="utf-8")
            print(f"{'wrote' if old != text else 'up to date'}: {path.relative_to(ROOT)}")
    except GenerateError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
