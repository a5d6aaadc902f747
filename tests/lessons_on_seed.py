"""The lessons' assertions on another pre-training:
``python tests/lessons_on_seed.py --seed 7 [--threads 1] [--summary build/lessons-on-seed.json]``.

Every lesson asserts its claims with a margin, so that they hold for other pre-trainings than the one its
stored outputs show, and for one or two threads. For each seed and thread count asked for, this pre-trains
the tiny BERT and the tiny causal model (another seed: another corpus, another initialisation, other
masks), in a temporary folder, exactly as ``make test`` does with the course's seed, then re-runs every
lesson from 01 on (``lessons()``: the syllabus, utils/syllabus.py, so a new lesson is included by itself)
on them with nbval: every assertion in every lesson must hold again. The labeled tasks and the fine-tuning
seeds stay the course's; lesson 09 does not use the tiny models but runs too, for its own assertions
at that thread count.

Threads: ``--threads N`` (1 or 2, or both: ``--threads 1 2``) is the number of torch threads in every
notebook's kernel and in the pre-training before it (one and two threads pre-train different
checkpoints). It reaches torch through ``WORKBOOK_THREADS`` (read by ``utils.config`` when a kernel imports
the course) and ``OMP_NUM_THREADS``, and is checked in a fresh process before anything runs. With one
thread two notebooks run at a time (``--jobs``, default 2); with two threads, one at a time.

The table: one row per lesson, seed and thread count, with the cells that passed and the ones that failed
(as nbval names them: "Cell 11" is the lesson's code cell 11, counted from 0, not counting markdown), each
with the line of its error (``AssertionError: the claim's message``), printed as Markdown at the end. ``--summary FILE`` also keeps it as JSON in FILE; rows already there for
other seeds or thread counts stay, so several runs build one table (lesson x seed x threads).

Not part of the test suite (about 10 minutes per seed and thread count on a 2-core CPU); CI runs it with
seed 7 and one thread after ``make test``. The exit status is 0 when every cell of every run passed. With
``--artifacts DIR`` the checkpoints stay in DIR/seed-S-threads-T, to run a failing lesson on them by hand
(``WORKBOOK_ARTIFACTS=DIR/seed-7-threads-1 WORKBOOK_PRETRAIN_SEED=7 WORKBOOK_THREADS=1 jupyter lab``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THREADS = (1, 2)
# Terminal colours in a traceback; pytest's JUnit XML writes the escape character as "#x1B".
ANSI = re.compile(r"(\x1b|#x1B)\[[0-9;]*m")
EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b:?")


if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from utils import syllabus  # noqa: E402  (the standard library only: cheap to import)


def lessons(root: Path = ROOT) -> list[Path]:
    """The lessons re-run on another pre-training: every lesson of the syllabus (utils/syllabus.py) from 01
    on, so a lesson added there is re-run too (lesson 00 trains and asserts nothing that depends on the
    pre-training)."""
    return [root / entry.notebook for entry in syllabus.LESSONS if entry.number != "00"]


def slowest_first(paths: list[Path], root: Path = ROOT) -> list[Path]:
    """``paths`` with the slowest lessons first, in the order ``make test`` hands them out (the lessons'
    ``test_seconds`` in utils/syllabus.py): with two workers, a long lesson started last would keep one
    core busy while the other waits."""
    rank = {name: i for i, name in enumerate(syllabus.slowest_first())}
    return sorted(paths, key=lambda p: rank.get(p.relative_to(root).as_posix(), len(rank)))


def cells_by_lesson(junit: Path) -> dict[str, dict]:
    """``{lesson: {"passed": [...], "failed": [...], "seconds": s}}`` from pytest's JUnit XML of an nbval
    run: each test case is one code cell ("Cell 3" is the fourth code cell)."""
    found: dict[str, dict] = {}
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        lesson = case.get("classname", "").split(".")[-2]  # notebooks.01_pretraining_mlm.ipynb
        row = found.setdefault(lesson, {"passed": [], "failed": [], "errors": {}, "seconds": 0.0})
        failures = [child for child in case if child.tag in ("failure", "error")]
        skipped = any(child.tag == "skipped" for child in case)
        if failures:
            row["failed"].append(case.get("name"))
            row["errors"][case.get("name")] = error_line(failures[0].text or failures[0].get("message", ""))
        elif not skipped:
            row["passed"].append(case.get("name"))
        row["seconds"] += float(case.get("time") or 0)
    return found


def error_line(text: str) -> str:
    """The line of a cell's traceback that names the exception (``AssertionError: the claim``), without the
    terminal's colours; the last line when none does. An assertion without a message gets the line that
    failed (``AssertionError: assert accuracy > 0.85``)."""
    lines = [line.strip() for line in ANSI.sub("", text).splitlines() if line.strip()]
    named = [line for line in lines if EXCEPTION.match(line)]
    line = (named or lines or ["?"])[-1]
    failing = [row.split(" ", 2)[-1] for row in lines if row.startswith("---->")]
    if line.rstrip(":").endswith("Error") and failing:
        line = f"{line.rstrip(':')}: {failing[-1]}"
    return line[:300]


def threads_in_a_kernel(env: dict) -> int:
    """The number of threads torch has in a fresh Python that imports the course with ``env``."""
    done = subprocess.run([sys.executable, "-c", "import torch, utils.config; print(torch.get_num_threads())"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"lessons_on_seed: importing the course failed:\n{done.stderr[-2000:]}")
    return int(done.stdout.strip())


def run_one(seed: int, threads: int, notebooks: list[Path], folder: Path, jobs: int) -> tuple[int, list[dict]]:
    """Pre-train with ``seed`` and ``threads`` in ``folder``, run ``notebooks`` with nbval; pytest's exit
    status and one table row per lesson."""
    env = dict(os.environ)
    env.update(WORKBOOK_ARTIFACTS=str(folder), WORKBOOK_PRETRAIN_SEED=str(seed), WORKBOOK_THREADS=str(threads),
               OMP_NUM_THREADS=str(threads), TQDM_DISABLE="1", HF_HUB_DISABLE_PROGRESS_BARS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    seen = threads_in_a_kernel(env)
    if seen != threads:
        raise SystemExit(f"lessons_on_seed: asked for {threads} thread(s), but torch has {seen} where the course is "
                         f"imported: is WORKBOOK_THREADS read by utils/config.py?")
    print(f"\n== seed {seed}, {threads} thread(s): pre-training in {folder}", flush=True)
    began = time.perf_counter()
    # Pre-trained first, with the threads a lesson has, as `make test` does.
    subprocess.run([sys.executable, "-m", "utils.causal_lm"], cwd=ROOT, env=env, check=True)
    print(f"   pre-trained in {time.perf_counter() - began:.0f} s; running {len(notebooks)} "
          f"lesson{'s' if len(notebooks) > 1 else ''}, {min(jobs, len(notebooks))} at a time", flush=True)
    junit = folder / "lessons-junit.xml"
    command = [sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
               *(str(path.relative_to(ROOT)) for path in notebooks)]
    if min(jobs, len(notebooks)) > 1:
        command += ["-n", str(min(jobs, len(notebooks))), "--dist", "loadfile", "--no-loadscope-reorder"]
    status = subprocess.run(command, cwd=ROOT, env=env).returncode
    found = cells_by_lesson(junit) if junit.is_file() else {}
    rows = []
    for path in notebooks:
        cells = found.get(path.stem)
        rows.append({"lesson": path.stem, "seed": seed, "threads": threads,
                     "passed": len(cells["passed"]) if cells else 0,
                     "failed": len(cells["failed"]) if cells else None,  # None: the lesson never ran
                     "failed_cells": cells["failed"] if cells else [],
                     "errors": cells["errors"] if cells else {},
                     "seconds": round(cells["seconds"]) if cells else None})
    return status, rows


def row_key(row: dict) -> tuple:
    return row["lesson"], row["seed"], row["threads"]


def merged(old: list[dict], new: list[dict]) -> list[dict]:
    """``old`` rows with those of ``new`` added, a row for the same lesson, seed and threads replaced."""
    rows = {row_key(row): row for row in old}
    rows.update({row_key(row): row for row in new})
    return [rows[key] for key in sorted(rows)]


def markdown_table(rows: list[dict]) -> str:
    lines = ["| lesson | seed | threads | cells passed | failed cells |", "| --- | ---: | ---: | ---: | --- |"]
    for row in rows:
        if row["failed"] is None:
            result, failed = "not run", "the lesson did not run (see pytest's output)"
        else:
            result = f"{row['passed']} of {row['passed'] + row['failed']}"
            errors = row.get("errors", {})
            failed = "; ".join(f"{cell} ({errors[cell][:120]})" if errors.get(cell) else cell
                               for cell in row["failed_cells"]) or "none"
        lines.append(f"| {row['lesson']} | {row['seed']} | {row['threads']} | {result} | {failed} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    numbers = [path.name[:2] for path in lessons()]
    parser = argparse.ArgumentParser(description="Re-run the lessons on a tiny BERT pre-trained with another seed, "
                                                 "with one or two torch threads.")
    parser.add_argument("--seed", type=int, nargs="+", required=True,
                        help="pre-training seed(s) (the course's own is 123; CI uses 7)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1], choices=THREADS,
                        help="torch threads per kernel and in the pre-training (default 1)")
    parser.add_argument("--lessons", nargs="+", default=numbers, choices=numbers, metavar="NN",
                        help=f"lesson numbers (default: all of {' '.join(numbers)})")
    parser.add_argument("--jobs", type=int, default=2,
                        help="notebooks at a time with one thread (default 2); with two threads always one")
    parser.add_argument("--summary", type=Path, default=None,
                        help="keep the table (lesson x seed x threads) as JSON in this file, with its earlier rows")
    parser.add_argument("--artifacts", type=Path, default=None,
                        help="keep the checkpoints in this folder (default: a temporary one, deleted at the end)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    notebooks = slowest_first([path for path in lessons() if path.name[:2] in args.lessons])
    statuses, rows = [], []
    with tempfile.TemporaryDirectory(prefix="lessons-on-seed-") as tmp:
        for seed in args.seed:
            for threads in args.threads:
                folder = (args.artifacts.resolve() if args.artifacts else Path(tmp)) / f"seed-{seed}-threads-{threads}"
                folder.mkdir(parents=True, exist_ok=True)
                jobs = args.jobs if threads == 1 else 1
                status, new = run_one(seed, threads, notebooks, folder, jobs)
                statuses.append(status)
                rows += new
    table = rows
    if args.summary:
        old = json.loads(args.summary.read_text())["rows"] if args.summary.is_file() else []
        table = merged(old, rows)
        args.summary.parent.mkdir(parents=True, exist_ok=True)
        args.summary.write_text(json.dumps({
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
            "rows": table}, indent=1) + "\n")
    print("\n" + markdown_table(table))
    passed = sum(row["passed"] for row in rows)
    total = sum(row["passed"] + (row["failed"] or 0) for row in rows)
    not_run = [row["lesson"] for row in rows if row["failed"] is None]
    print(f"\nthis run: {passed} of {total} cells passed" + (f"; did not run: {', '.join(not_run)}" if not_run else "")
          + (f"; table kept in {args.summary}" if args.summary else ""))
    return 0 if not any(statuses) and passed == total and not not_run else 1


if __name__ == "__main__":
    sys.exit(main())
