"""Run each lesson headless in a fresh kernel, from a cold cache, and report wall seconds, peak memory
and the lesson's headline numbers (its ``lesson_results``). Run with ``make bench``.

Lessons run in order in one temporary artifacts folder, as a learner runs them: lesson 01 trains the
checkpoint, later lessons load it. The table is printed as Markdown and written to build/bench.md; the
same numbers go to build/bench.json, where lesson 00 reads the time each lesson takes on this machine.

`python tests/bench.py 08` (or `make bench LESSONS=08`) measures only the lessons named by their number,
each in its own cold artifacts folder, and replaces their rows in build/bench.json; the others stay. A
lesson measured alone that needs the pre-trained checkpoint trains it itself, so its time includes that.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
PROBE = """
import json, resource
print("BENCH" + json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                            "results": globals().get("lesson_results", {})}, default=str))
"""


def run(path: Path) -> dict:
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    start = time.perf_counter()
    NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    probe = json.loads(text.split("BENCH", 1)[1])
    return {"seconds": seconds, **probe}


def main(argv: list[str] | None = None) -> None:
    wanted = sys.argv[1:] if argv is None else argv
    lessons = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    unknown = set(wanted) - {p.name[:2] for p in lessons}
    if unknown:
        sys.exit(f"No lesson numbered {', '.join(sorted(unknown))}: give lesson numbers such as 03 or 08 "
                 f"({', '.join(p.name[:2] for p in lessons)}).")
    lessons = [p for p in lessons if not wanted or p.name[:2] in wanted]
    with tempfile.TemporaryDirectory() as artifacts:
        os.environ["WORKBOOK_ARTIFACTS"] = artifacts
        rows = []
        for path in lessons:
            print(f"running {path.name} ...", file=sys.stderr, flush=True)
            rows.append((path.stem, run(path)))
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"
    measured = {name: {"seconds": round(r["seconds"], 1), "peak_mb": round(r["peak_mb"]), "results": r["results"]}
                for name, r in rows}
    saved = ROOT / "build" / "bench.json"
    if wanted and saved.is_file():
        previous = json.loads(saved.read_text())
        if previous.get("machine") == machine:
            measured = {**previous["lessons"], **measured}
    measured = dict(sorted(measured.items()))
    lines = [f"Measured with `make bench` on {machine} (cold cache: lesson 01 trains the checkpoint).", "",
             "| lesson | wall s | peak memory MB | headline numbers |", "| --- | ---: | ---: | --- |"]
    for name, r in measured.items():
        numbers = "; ".join(f"{k}: {v}" for k, v in r["results"].items())
        lines.append(f"| {name} | {r['seconds']:.0f} | {r['peak_mb']:.0f} | {numbers} |")
    table = "\n".join(lines)
    print(table)
    saved.parent.mkdir(exist_ok=True)
    (ROOT / "build" / "bench.md").write_text(table + "\n")
    saved.write_text(json.dumps({"machine": machine, "lessons": measured}, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
