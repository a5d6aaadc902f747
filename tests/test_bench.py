"""`make bench` (tests/bench.py) writes the course's measured results to one committed file,
docs/results.md, with the machine, the date and the command of every row."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import bench  # noqa: E402

MACHINE = "x86_64, 2 CPU cores, Python 3.11.7"


def row(seconds=10.0, date="2026-12-01", command="make bench", **results):
    return {"seconds": seconds, "peak_mb": 500, "date": date, "command": command, "results": results}


def test_the_committed_results_are_what_make_bench_writes():
    text = bench.RESULTS.read_text(encoding="utf-8")
    machine, rows = bench.parse(text)
    assert machine and rows, "docs/results.md names its machine and has rows"
    assert bench.render(machine, rows) == text, "docs/results.md is written by `make bench`, not by hand"
    assert all(r["date"] and r["command"].startswith("make bench") for r in rows.values())


def test_a_table_written_is_read_back_the_same():
    headline = {"accuracy before / after": [0.0, 0.774], "prompt, as is: plain / negated": [0.9, 0.3]}
    rows = {"01_a": row(121.4, **headline), "00_start": row(9.2)}
    text = bench.render(MACHINE, rows)
    assert "| 01_a | 121 | 500 | 2026-12-01 | `make bench` |" in text
    assert "- accuracy before / after: [0.0, 0.774]" in text and "- prompt, as is: plain / negated: [0.9, 0.3]" in text
    machine, back = bench.parse(text)
    assert machine == MACHINE and sorted(back) == ["00_start", "01_a"]
    assert bench.render(machine, back) == text


def test_measuring_some_lessons_keeps_the_other_rows_of_the_same_machine_only():
    previous = bench.render(MACHINE, {"01_a": row(date="2026-11-30"), "02_b": row(), "03_gone": row()})
    new = {"02_b": row(20.0, date="2026-12-07", command='make bench LESSONS="02"')}
    rows = bench.merged(previous, MACHINE, new, ["01_a", "02_b"])
    assert sorted(rows) == ["01_a", "02_b"], "a lesson that is gone loses its row"
    assert rows["01_a"]["date"] == "2026-11-30" and rows["02_b"]["command"] == 'make bench LESSONS="02"'
    assert bench.merged(previous, "arm64, 8 CPU cores, Python 3.12.1", new, ["01_a", "02_b"]) == new
