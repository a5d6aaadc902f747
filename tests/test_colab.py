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

from utils import colab

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
    assert setup.source == colab.setup_cell_source(), "run `python -m utils.colab`"


def test_colab_check_finds_every_notebook_up_to_date(capsys):
    assert colab.main(["--check"]) == 0, capsys.readouterr().out


def test_badge_opens_the_repository_path_on_colab():
    line = colab.badge("notebooks/03_fine_tuning.ipynb")
    assert line.startswith("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](")
    assert line.endswith(f"(https://colab.research.google.com/github/{colab.REPOSITORY}/blob/"
                         f"{colab.BRANCH}/notebooks/03_fine_tuning.ipynb)")


def run_setup_cell() -> dict:
    namespace: dict = {}
    exec(compile(colab.setup_cell_source(), "<set-up cell>", "exec"), namespace)
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


@pytest.fixture
def fake_colab(monkeypatch):
    """A Python that looks like Colab: ``google.colab`` imported; processes, folders and chdir recorded."""
    calls = {"run": [], "chdir": []}
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", lambda command, **kw: calls["run"].append((command, kw)))
    monkeypatch.setattr(os, "chdir", lambda path: calls["chdir"].append(path))
    monkeypatch.setattr(sys, "path", list(sys.path))
    return calls


def test_setup_cell_on_colab_clones_the_course_and_installs_what_colab_lacks(fake_colab, monkeypatch):
    monkeypatch.setattr(os.path, "isdir", lambda path: False)
    run_setup_cell()
    (clone, clone_kw), (install, install_kw) = fake_colab["run"]
    assert clone[:2] == ["git", "clone"] and f"https://github.com/{colab.REPOSITORY}" in clone
    assert clone[clone.index("--branch") + 1] == colab.BRANCH and clone[-1] == colab.COLAB_CHECKOUT
    assert install[:4] == [sys.executable, "-m", "pip", "install"]
    assert install[install.index("-e") + 1] == colab.COLAB_CHECKOUT, "the course itself is installed"
    pins = colab.pinned_versions()
    for package in ("transformers", "tokenizers", "datasets"):
        assert f"{package}=={pins[package]}" in install, f"{package} at the pinned version"
    assert not any(arg.startswith(("torch", "numpy")) for arg in install), "Colab's own torch and numpy stay"
    assert clone_kw.get("check") and install_kw.get("check"), "a failed install stops the notebook"
    assert sys.path[0] == colab.COLAB_CHECKOUT
    assert fake_colab["chdir"] == [os.path.join(colab.COLAB_CHECKOUT, "notebooks")]


def test_setup_cell_on_colab_reuses_an_earlier_clone(fake_colab, monkeypatch):
    monkeypatch.setattr(os.path, "isdir", lambda path: path == colab.COLAB_CHECKOUT)
    run_setup_cell()
    run_setup_cell()  # running the cell twice does not put the course on sys.path twice
    assert [command[0] for command, _ in fake_colab["run"]] == [sys.executable, sys.executable]
    assert sys.path.count(colab.COLAB_CHECKOUT) == 1


def test_colab_installs_only_pinned_packages_and_never_torch():
    specs = colab.colab_requirements()
    assert all("==" in spec for spec in specs)
    assert {spec.split("==")[0] for spec in specs} >= {"transformers", "tokenizers", "datasets"}
    assert not any(spec.startswith(("torch==", "nbval==", "pytest==")) for spec in specs)


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
    assert nb.cells[1].source == colab.setup_cell_source()
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
