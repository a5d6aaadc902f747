"""python tests/lessons_on_seed.py: which lessons it re-runs, how it reads nbval's cells, and the table
(lesson x seed x threads) it prints and keeps."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import lessons_on_seed  # noqa: E402
from utils import syllabus  # noqa: E402

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="notebooks.03_fine_tuning.ipynb" name="Cell 0" time="2.5" />
<testcase classname="notebooks.03_fine_tuning.ipynb" name="Cell 1" time="10.0"><failure message="Notebook cell execution failed">Cell 1: Cell execution caused an exception
Traceback:
#x1B[31mAssertionError#x1B[39m                            Traceback (most recent call last)
----&gt; 3 assert frozen &gt; 0.8, "the frozen encoder reads the task"
#x1B[31mAssertionError#x1B[39m: the frozen encoder reads the task</failure></testcase>
<testcase classname="notebooks.03_fine_tuning.ipynb" name="Cell 2" time="0.5" />
<testcase classname="notebooks.09_real_text.ipynb" name="Cell 0" time="1.0" />
<testcase classname="notebooks.09_real_text.ipynb" name="Cell 1" time="1.0"><skipped message="s" /></testcase>
</testsuite></testsuites>"""


def test_every_lesson_from_01_on_is_re_run_lesson_09_included():
    names = [path.name[:2] for path in lessons_on_seed.lessons()]
    on_disk = sorted(path.name[:2] for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert names == [n for n in on_disk if n != "00"]
    assert "09" in names and "01" in names
    assert all(path.is_file() for path in lessons_on_seed.lessons())


def test_a_lesson_added_to_the_syllabus_is_re_run_without_editing_the_script(monkeypatch):
    from utils import syllabus

    later = syllabus.numbered([*syllabus.LESSONS, dataclasses.replace(syllabus.LESSONS[-1], topic="a_later_lesson")])
    monkeypatch.setattr(syllabus, "LESSONS", later)
    assert lessons_on_seed.lessons()[-1].name == f"{later[-1].number}_a_later_lesson.ipynb"


def test_the_slowest_lessons_are_handed_out_first():
    ordered = [p.name[:2] for p in lessons_on_seed.slowest_first(lessons_on_seed.lessons())]
    longest = max((entry for entry in syllabus.LESSONS if entry.test_seconds), key=lambda entry: entry.test_seconds)
    assert ordered[0] == longest.number, "the longest lesson first, as make test hands it out"
    assert sorted(ordered) == sorted(p.name[:2] for p in lessons_on_seed.lessons())


def test_nbval_cells_are_counted_by_lesson(tmp_path):
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    found = lessons_on_seed.cells_by_lesson(junit)
    assert found["03_fine_tuning"] == {"passed": ["Cell 0", "Cell 2"], "failed": ["Cell 1"], "seconds": 13.0,
                                       "errors": {"Cell 1": "AssertionError: the frozen encoder reads the task"}}
    assert found["09_real_text"]["passed"] == ["Cell 0"] and found["09_real_text"]["failed"] == []


def test_an_assertion_without_a_message_is_shown_by_the_line_that_failed():
    trace = ("#x1B[31mAssertionError#x1B[39m    Traceback (most recent call last)\n"
             "#x1B[32m----> 3#x1B[39m assert pipeline_accuracy > 0.85\n"
             "      4 assert tags\n#x1B[31mAssertionError#x1B[39m: ")
    assert lessons_on_seed.error_line(trace) == "AssertionError: assert pipeline_accuracy > 0.85"


def row(lesson, seed, threads, passed=10, failed=0):
    return {"lesson": lesson, "seed": seed, "threads": threads, "passed": passed, "failed": failed,
            "failed_cells": [f"Cell {i}" for i in range(failed)], "seconds": 1,
            "errors": {f"Cell {i}": f"AssertionError: claim {i}" for i in range(failed)}}


def test_the_table_keeps_other_seeds_and_threads_and_replaces_a_rerun():
    old = [row("01_a", 7, 1), row("01_a", 7, 2, passed=9, failed=1)]
    table = lessons_on_seed.merged(old, [row("01_a", 7, 2), row("01_a", 0, 1)])
    assert [(r["seed"], r["threads"], r["failed"]) for r in table] == [(0, 1, 0), (7, 1, 0), (7, 2, 0)]


def test_the_table_reads_lesson_seed_threads_and_the_failed_cells():
    text = lessons_on_seed.markdown_table([row("03_fine_tuning", 7, 1, passed=20, failed=2),
                                           {**row("09_real_text", 7, 2), "failed": None, "passed": 0}])
    lines = text.splitlines()
    assert lines[0] == "| lesson | seed | threads | cells passed | failed cells |"
    assert lines[2] == ("| 03_fine_tuning | 7 | 1 | 20 of 22 | Cell 0 (AssertionError: claim 0); "
                        "Cell 1 (AssertionError: claim 1) |")
    assert lines[3].startswith("| 09_real_text | 7 | 2 | not run |")


@pytest.mark.parametrize("argv, words", [
    (["--seed", "7", "--threads", "3"], "invalid choice: 3"),
    (["--seed", "7", "--lessons", "00"], "invalid choice: '00'"),
    (["--threads", "1"], "--seed"),
])
def test_bad_options_are_refused_before_anything_runs(argv, words, capsys):
    with pytest.raises(SystemExit):
        lessons_on_seed.main(argv)
    assert words in capsys.readouterr().err


def test_a_run_keeps_its_rows_in_the_summary_with_the_earlier_ones(tmp_path, monkeypatch, capsys):
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"machine": "m", "rows": [row("02_sequence_encoders", 0, 2)]}))
    ran = []

    def run_one(seed, threads, notebooks, folder, jobs):
        ran.append((seed, threads, jobs, [p.name[:2] for p in notebooks]))
        return 0, [row(p.stem, seed, threads) for p in notebooks]

    monkeypatch.setattr(lessons_on_seed, "run_one", run_one)
    status = lessons_on_seed.main(["--seed", "7", "--threads", "1", "2", "--lessons", "02", "09",
                                   "--summary", str(summary)])
    assert status == 0
    assert ran == [(7, 1, 2, ["09", "02"]), (7, 2, 1, ["09", "02"])], "two at a time with one thread, one with two"
    rows = json.loads(summary.read_text())["rows"]
    assert {(r["lesson"][:2], r["seed"], r["threads"]) for r in rows} == {
        ("02", 0, 2), ("02", 7, 1), ("02", 7, 2), ("09", 7, 1), ("09", 7, 2)}
    assert "| 09_real_text | 7 | 2 | 10 of 10 | none |" in capsys.readouterr().out
