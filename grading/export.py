"""The exercises in nbgrader's format, for courses that already grade with nbgrader:
``python -m grading.export --nbgrader OUT/``.

Writes an nbgrader course folder: ``OUT/nbgrader_config.py`` and, for every lesson,
``OUT/source/NN_topic/NN_topic.ipynb``, a source assignment made from ``solutions/NN_topic_solutions.ipynb``:

* a code cell with an answer region (``### BEGIN SOLUTION`` ... ``### END SOLUTION``, the markers nbgrader
  uses too) becomes an nbgrader solution cell; ``nbgrader generate_assignment`` replaces each region by
  its own stub;
* a cell that calls ``check("NN.name", ...)`` becomes a locked, graded test cell worth the exercise's
  points in the course's registry (``grading/lessonNN.py``); it runs the course's check and then
  asserts that the check passed, so nbgrader gives the points exactly when the in-notebook check does;
* solution notes in markdown are left out (as in ``exercises/``), outputs are cleared, every other cell
  is kept as it is.

The release, autograding and feedback are then nbgrader's (``nbgrader generate_assignment NN_topic``,
``nbgrader autograde NN_topic``, ``nbgrader generate_feedback NN_topic``). The notebooks import
``utils`` and ``grading``: run nbgrader where the course is installed (``pip install -e .`` or PYTHONPATH at the
repository).
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import nbformat

from . import core, generate

ROOT = generate.ROOT
SCHEMA_VERSION = 3
_CHECK = re.compile(r"""\bcheck\(\s*["']([A-Za-z0-9][A-Za-z0-9_.-]*)["']""")

CONFIG = '''# nbgrader's configuration for the workbook's exercises (written by python -m grading.export).
# Run nbgrader from this folder (the course directory).
c = get_config()  # noqa: F821 - provided by nbgrader
# A lesson's set-up cells load the tiny checkpoint and build small models: give each cell time.
c.Execute.timeout = 600
'''


def grade_id(exercise_id: str) -> str:
    """nbgrader's grade_id for an exercise: letters, digits, ``-`` and ``_`` only ("01.masking" -> "01-masking")."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", exercise_id)


def _nbgrader(**fields) -> dict:
    meta = {"grade": False, "locked": False, "schema_version": SCHEMA_VERSION, "solution": False, "task": False}
    meta.update(fields)
    return meta


def _assert_passed(source: str, exercise_id: str) -> str:
    """The check cell's code with an assertion that the check passed, so that the cell fails (no points)
    when the answer is wrong. The result is kept in the name the cell already binds it to, if any."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        tree = None
    name = None
    if tree is not None:
        for statement in tree.body:
            text = ast.get_source_segment(source, statement) or ""
            if not _CHECK.search(text):
                continue
            if isinstance(statement, ast.Assign) and len(statement.targets) == 1 \
                    and isinstance(statement.targets[0], ast.Name):
                name = statement.targets[0].id
            elif isinstance(statement, ast.Expr):
                lines = source.split("\n")
                first = statement.lineno - 1
                col = statement.col_offset
                lines[first] = lines[first][:col] + "_result = " + lines[first][col:]
                source, name = "\n".join(lines), "_result"
            break
    if name is None:  # not a plain call: check again by the answer's name
        source += f"\n_result = check({exercise_id!r})"
        name = "_result"
    message = f"{exercise_id} is not correct yet: the check's message above says why."
    return source.rstrip("\n") + f"\nassert {name}.passed, {message!r}\n"


def nbgrader_notebook(solution_path: Path) -> nbformat.NotebookNode:
    """The nbgrader source notebook made from one solution notebook."""
    solution_path = Path(solution_path)
    nb = nbformat.read(solution_path, as_version=4)
    lesson = solution_path.name.split("_", 1)[0]
    nb.metadata["workbook"] = {"lesson": lesson}
    graded: set[str] = set()
    for index, cell in enumerate(nb.cells):
        where = f"{solution_path.name}, cell {index}"
        cell.metadata.pop("execution", None)
        cell.metadata.pop("nbgrader", None)
        if cell.cell_type == "markdown":
            cell.source = generate.strip_markdown(cell.source, where)
            continue
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        cell.source = "\n".join(line for line in cell.source.split("\n") if line.strip() != generate.NBVAL_MARKER)
        ids = [i for i in _CHECK.findall(cell.source) if core.get_exercise(i) is not None]
        if generate.BEGIN in cell.source:
            generate.answer_regions(cell.source.split("\n"), where)  # refuse broken markers here, not in nbgrader
            cell.metadata["nbgrader"] = _nbgrader(solution=True, grade_id=f"answer-{lesson}-cell-{index}")
        elif len(ids) == 1 and ids[0] not in graded:
            ex = core.get_exercise(ids[0])
            graded.add(ex.id)
            cell.source = _assert_passed(cell.source, ex.id)
            cell.metadata["nbgrader"] = _nbgrader(grade=True, locked=True, grade_id=grade_id(ex.id), points=ex.points)
    missing = [ex.id for ex in core.exercises() if ex.id.split(".", 1)[0] == lesson and ex.id not in graded]
    if missing:
        raise ValueError(f"{solution_path.name}: no cell checks {', '.join(missing)} (each exercise needs one cell "
                         f"that calls check(\"{missing[0]}\", ...)).")
    return nb


def assignment_name(solution_path: Path) -> str:
    return Path(solution_path).name[: -len(generate.SOLUTIONS_SUFFIX)]


def export(out: Path, root: Path = ROOT) -> list[Path]:
    """Write the nbgrader course folder ``out``; the notebooks written."""
    out = Path(out)
    written = []
    for solution in sorted((root / "solutions").glob(f"*{generate.SOLUTIONS_SUFFIX}")):
        name = assignment_name(solution)
        folder = out / "source" / name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.ipynb"
        path.write_text(generate.render(nbgrader_notebook(solution)), encoding="utf-8")
        written.append(path)
    (out / "nbgrader_config.py").write_text(CONFIG, encoding="utf-8")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading.export",
                                     description="Write the exercises as nbgrader source assignments.")
    parser.add_argument("--nbgrader", type=Path, required=True, metavar="OUT",
                        help="the nbgrader course folder to write (source/NN_topic/NN_topic.ipynb, nbgrader_config.py)")
    args = parser.parse_args(argv)
    try:
        written = export(args.nbgrader)
    except (ValueError, OSError) as error:
        print(f"could not export: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    print(f"{len(written)} assignment(s) written; next: cd {args.nbgrader} && nbgrader generate_assignment NAME")
    return 0


if __name__ == "__main__":
    sys.exit(main())
