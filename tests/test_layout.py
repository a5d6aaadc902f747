"""The repository keeps its promises to readers: lessons stored fresh, linked, and pinned packages."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "notebooks").glob("*.ipynb"))
STORED = LESSONS + sorted((ROOT / "solutions").glob("*.ipynb"))


def test_there_are_lessons():
    assert [p.name for p in LESSONS][:2] == ["00_start_here.ipynb", "01_pretraining_mlm.ipynb"]


# Each notebook's title, Colab badge and set-up cell are checked in test_colab.py.


@pytest.mark.parametrize("path", STORED, ids=lambda p: p.name)
def test_notebook_is_stored_run_top_to_bottom_in_one_kernel_without_errors(path):
    code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code" and c.source.strip()]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "re-run it with `make execute`"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"stored error output: {errors[0].get('ename')}"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_readme_syllabus_links_every_lesson(path):
    assert f"(notebooks/{path.name})" in (ROOT / "README.md").read_text()


def test_every_requirement_is_pinned_and_torch_is_the_cpu_release():
    lines = [ln.strip() for ln in (ROOT / "requirements.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert all("==" in ln for ln in lines), [ln for ln in lines if "==" not in ln]
    assert "torch==2.13.0" in lines


def test_the_files_make_test_hands_out_first_exist():
    from conftest import SLOWEST_FIRST

    missing = [path for path in SLOWEST_FIRST if not (ROOT / path).is_file()]
    assert not missing, f"tests/conftest.py lists files that are gone: {missing}; update SLOWEST_FIRST"
    assert len(set(SLOWEST_FIRST)) == len(SLOWEST_FIRST)
