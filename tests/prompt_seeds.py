"""Lesson 07 over several pre-trainings:
``python tests/prompt_seeds.py [--seeds 0 1 2] [--threads 1 2] [--also 7:1] [--reuse DIR] [--out FILE]``.

Another pre-training seed means another corpus, other initial weights and other masks; another number
of torch threads means other rounding, hence another checkpoint too. This script runs lesson 07 from top
to bottom (in a fresh kernel, as ``make bench`` does) on the course's own checkpoint (``artifacts/``,
pre-training seed 123, torch's default threads) and, for each seed and thread count asked for, on the
checkpoints pre-trained with them (``--also SEED:THREADS`` adds single pairs), and gathers the lesson's ``lesson_results`` into one table: one row
per number the lesson reports, one column per pre-training, then the lowest and the highest. Below it,
what lesson 07's prose says of several pre-trainings (how centering changed each prompt's accuracy,
which row led at each number of labels), and every assertion of the lesson that failed, by pre-training.

``--skip-course`` leaves the course's checkpoint out; ``--json FILE`` keeps every run's results as JSON, and
``--keep FILE`` reuses the runs such a file holds (to resume, or to add pre-trainings to a table).
``--reuse DIR`` keeps the checkpoints in ``DIR/seed{S}-t{T}/`` and loads them when they are there (the
lesson pre-trains them otherwise, one at a time); without it they go to a temporary folder. ``--out FILE``
also writes the table, with the command and the machine, to FILE: ``tests/prompt_seeds.md`` is the
committed output that lesson 07 quotes. The exit status is 0 when every assertion held on every run.

Not part of the test suite: a few minutes per pre-training on a 2-core CPU, plus its pre-training when it
is not there yet.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LESSON = ROOT / "notebooks" / "07_prompting_and_label_mapping.ipynb"
PROBE = """
import json
print("RESULTS" + json.dumps(globals().get("lesson_results", {}), default=str))
"""


def run_lesson(env: dict[str, str], timeout: int = 3600) -> dict:
    """Lesson 07 in a fresh kernel with ``env`` added to the environment: its ``lesson_results``, the
    assertions that failed (cell number and message) and the seconds it took. Every cell runs, even after
    a failed one, so that one broken claim does not hide the others."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(LESSON, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)   # the kernel inherits this process's environment
    try:
        start = time.perf_counter()
        NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(LESSON.parent)}}).execute()
        seconds = time.perf_counter() - start
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    failed = [f"cell {i}: {o.get('ename')}: {o.get('evalue')}" for i, cell in enumerate(nb.cells[:-1])
              if cell.cell_type == "code" for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("output_type") == "stream")
    results = json.loads(text.split("RESULTS", 1)[1]) if "RESULTS" in text else {}
    return {"results": results, "failed": failed, "seconds": seconds}


def numbers(value) -> list[float] | None:
    """The numbers of one reported value (a number or a tuple of them); None for text."""
    items = value if isinstance(value, (list, tuple)) else [value]
    if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in items):
        return [float(x) for x in items]
    return None


def show(value) -> str:
    got = numbers(value)
    if got is None:
        return str(value)
    return " / ".join(f"{x:g}" for x in got)


def spread(values: list) -> str:
    """Lowest to highest of each position of the values, or the distinct texts."""
    got = [numbers(v) for v in values]
    if any(g is None for g in got) or len({len(g) for g in got}) != 1:
        return "; ".join(sorted({str(v) for v in values}))
    return " / ".join(f"{min(col):g} to {max(col):g}" for col in zip(*got))


def summary(runs: dict[str, dict]) -> list[str]:
    """What the lesson's prose says of several pre-trainings, from their results."""
    lines = []
    for prompt in ("masked LM", "causal LM"):
        changes = {}
        for name, run in runs.items():
            r = run["results"]
            key = f"{prompt} prompt, no labels, " + "{}: test accuracy / called positive"
            if key.format("as is") in r and key.format("centered") in r:
                changes[name] = r[key.format("centered")][0] - r[key.format("as is")][0]
        if changes:
            lines.append(f"* {prompt} prompt, no labels: centering changed the test accuracy by "
                         + ", ".join(f"{v:+.3f} ({k})" for k, v in changes.items())
                         + f": raised it on {sum(v > 0 for v in changes.values())} of {len(changes)} pre-trainings.")
    for n in (8, 32, 128, 512):
        leads = {}
        for name, run in runs.items():
            r = run["results"]
            tuned, prompt = f"fine-tuned, {n} labels: test mean / lowest / highest", f"prompt, {n} labels: test mean / lowest / highest"
            if tuned in r and prompt in r:
                leads[name] = r[tuned][0] - r[prompt][0]
        if leads:
            lines.append(f"* {n} labels: fine-tuning's lead over the prompt (mean test accuracy) "
                         + ", ".join(f"{v:+.3f} ({k})" for k, v in leads.items())
                         + f": fine-tuning ahead on {sum(v > 0 for v in leads.values())} of {len(leads)}.")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Lesson 07 over several pre-trainings.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="torch threads for pre-training and the lesson; one and two threads train different checkpoints")
    parser.add_argument("--also", nargs="+", default=[], metavar="SEED:THREADS",
                        help="more pre-trainings, each a seed and a thread count, e.g. --also 7:1 (the seed CI uses)")
    parser.add_argument("--reuse", type=Path, default=None,
                        help="keep (and reuse) the checkpoints in DIR/seed{S}-t{T}/ instead of a temporary folder")
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this file (Markdown)")
    parser.add_argument("--json", type=Path, default=None, help="also write every run's results and failures to this file")
    parser.add_argument("--keep", type=Path, default=None,
                        help="reuse the runs an earlier --json wrote to this file (same lesson) instead of running them again")
    parser.add_argument("--skip-course", action="store_true", help="leave out the course's own checkpoint")
    args = parser.parse_args(argv)
    if any(t < 1 for t in args.threads):
        parser.error("--threads takes whole numbers of at least 1, e.g. --threads 1 2")
    pairs = [(s, t) for t in args.threads for s in args.seeds]
    for extra in args.also:
        try:
            seed, threads = (int(x) for x in extra.split(":"))
        except ValueError:
            parser.error(f"--also {extra}: give a seed and a thread count as SEED:THREADS, e.g. 7:1")
        if threads < 1:
            parser.error(f"--also {extra}: the thread count must be at least 1")
        pairs.append((seed, threads))
    if args.reuse is not None and not args.reuse.is_dir():
        parser.error(f"--reuse {args.reuse}: no such folder; create it, or leave --reuse out to use a temporary one.")

    base = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    runs: dict[str, dict] = {}
    kept = json.loads(args.keep.read_text()) if args.keep is not None and args.keep.is_file() else {}
    with tempfile.TemporaryDirectory(prefix="prompt-seeds-") as tmp:
        folder = args.reuse if args.reuse is not None else Path(tmp)
        plan = [] if args.skip_course else [("course (seed 123)", {})]
        plan += [(f"seed {s}, {t} thread{'s' if t > 1 else ''}",
                  {"WORKBOOK_ARTIFACTS": str(folder / f"seed{s}-t{t}"), "WORKBOOK_PRETRAIN_SEED": str(s),
                   "WORKBOOK_THREADS": str(t), "OMP_NUM_THREADS": str(t)})
                 for s, t in pairs]
        for name, env in plan:
            if name in kept:
                runs[name] = kept[name]
                print(f"kept the earlier run on {name}", file=sys.stderr, flush=True)
                continue
            print(f"running lesson 07 on {name} ...", file=sys.stderr, flush=True)
            runs[name] = run_lesson({**base, **env})
            if args.json is not None:   # after every run, so that --keep can resume an interrupted table
                args.json.write_text(json.dumps(runs, indent=1, default=str))
            print(f"   {runs[name]['seconds']:.0f} s, {len(runs[name]['failed'])} failed assertion(s)", file=sys.stderr,
                  flush=True)

    import torch

    names = list(runs)
    keys = list(dict.fromkeys(k for run in runs.values() for k in run["results"]))
    also = f" --also {' '.join(args.also)}" if args.also else ""
    lines = [f"# Lesson 07 over {len(runs)} pre-trainings", "",
             f"Written by `python tests/prompt_seeds.py --seeds {' '.join(map(str, args.seeds))} --threads "
             f"{' '.join(map(str, args.threads))}{also}` (torch {torch.__version__}, {platform.machine()}, "
             f"{os.cpu_count()} CPUs): the lesson's `lesson_results`, one column per pre-training "
             f"(the course's checkpoint with torch's default threads; the others pre-trained and run with the "
             f"threads named).", "",
             "| number | " + " | ".join(names) + " | lowest to highest |",
             "|---|" + "---|" * (len(names) + 1)]
    for key in keys:
        values = [runs[n]["results"].get(key) for n in names]
        present = [v for v in values if v is not None]
        lines.append(f"| {key} | " + " | ".join("" if v is None else show(v) for v in values)
                     + f" | {spread(present) if present else ''} |")
    lines += ["", "## Across the pre-trainings", "", *summary(runs), "", "## Assertions that failed", ""]
    broken = [(n, f) for n in names for f in runs[n]["failed"]]
    lines += [f"* {n}: {f}" for n, f in broken] or ["None: every assertion of the lesson held on every run."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.json is not None:
        args.json.write_text(json.dumps(runs, indent=1, default=str))
    if args.out is not None:
        args.out.write_text(text)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
