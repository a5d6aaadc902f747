"""The repository keeps its promises to readers: lessons stored fresh, linked, and pinned packages."""

from __future__ import annotations

import re
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


# The README's syllabus table and lesson 00 are checked against the list of lessons in test_syllabus.py.

README = ROOT / "README.md"
GUIDES = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", [README, *GUIDES, ROOT / "solutions" / "README.md"],
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_of_the_readme_and_the_guides_opens_a_file_of_the_repository(page):
    targets = [target for target in LINK.findall(page.read_text(encoding="utf-8"))
               if not re.match(r"[a-z]+:|#", target)]
    missing = [target for target in targets if not (page.parent / target.split("#")[0]).exists()]
    assert not missing, f"{page.relative_to(ROOT)} links to files that do not exist: {missing}"


def test_the_readme_is_a_short_front_door_that_hands_off_to_the_guides():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 150
    for guide in ("docs/instructors.md", "docs/maintainers.md", "docs/full_profile.md", "docs/results.md"):
        assert f"]({guide})" in text, f"the README links {guide}"
    assert "make lab" in text and "make test" in text
    long_cells = [cell[:60] for line in text.splitlines() if line.startswith("|")
                  for cell in line.split(" | ") if len(cell) > 300 and "colab-badge" not in cell]
    assert not long_cells, long_cells


@pytest.mark.parametrize("page", [README, *[p for p in GUIDES if p.name != "results.md"]],
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_measured_times_live_in_the_results_file_only(page):
    """What `make bench` measured goes to docs/results.md, with its machine, date and command."""
    text = page.read_text(encoding="utf-8")
    timings = re.findall(r"\b(?:took|takes|took about) \d|\b\d+(?:\.\d+)? ?s\b(?! of)|\d+ min \d+ s", text)
    assert not timings, f"{page.relative_to(ROOT)} quotes timings {timings}: they belong in docs/results.md"


def test_every_requirement_is_pinned_torch_included():
    lines = [ln.strip() for ln in (ROOT / "requirements.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert all("==" in ln for ln in lines), [ln for ln in lines if "==" not in ln]
    assert "torch==2.13.0" in lines


def test_the_files_make_test_hands_out_first_exist():
    from conftest import SLOWEST_FIRST

    missing = [path for path in SLOWEST_FIRST if not (ROOT / path).is_file()]
    assert not missing, f"tests/conftest.py lists files that are gone: {missing}; update SLOWEST_FIRST"
    assert len(set(SLOWEST_FIRST)) == len(SLOWEST_FIRST)
