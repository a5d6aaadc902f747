"""A simulated Colab runtime: ``python tests/colab_sim.py [--lessons 00 09] [--exercises 01 09] [--jobs 2]``
(``make colab-check`` runs every notebook that has a Colab badge).

Colab cannot be opened from a test, so this builds the nearest thing and runs notebooks top to bottom
through their set-up cell, as a student's "Run all" does on a fresh runtime:

* a virtual environment with Colab's published package versions (``COLAB``, from the pip freeze in
  googlecolab/backend-info, August 2026; the nearest that install here: torch's CPU build 2.13 and this
  machine's Python stand in for Colab's torch 2.11 and Python 3.13), built once under
  ``build/colab-sim/base`` and reused; each notebook gets its own copy of it (hard links, seconds), because
  each Colab notebook gets its own runtime;
* a ``google.colab`` module, and ``pandas`` imported when the kernel starts, as Colab's kernel does (so
  pyarrow is loaded before the set-up cell runs, which is what broke ``datasets`` upgrades on Colab);
* the clone: the set-up cell runs ``git clone https://github.com/<REPOSITORY>`` into
  ``/content/bert-workbook`` exactly as on Colab; git is told (``url.<...>.insteadOf``) to fetch that
  address from this checkout's HEAD instead, so the committed course is what the notebook finds. Every
  notebook starts with an empty ``/content`` of its own: where the kernel can be given its own mount
  namespace (``unshare``, as root), a private folder is mounted on ``/content`` for it, so two notebooks
  run at a time; elsewhere they run one after another in the real ``/content``;
* the notebook as GitHub serves it (the committed file at HEAD), run with the kernel's working folder
  ``/content``; ``pip`` in the set-up cell installs from the package index as on Colab.

What runs: every lesson in ``notebooks/``, and every exercise notebook in ``exercises/`` as a student hands
it in, with the solutions' answers filled in (:func:`filled_exercise`: each ``# YOUR CODE HERE`` stub gets
back the answer region of the solution notebook it was generated from).

A lesson passes when no cell fails, the set-up cell says the course is ready, nothing the kernel had
imported changed version, and every cell whose output the tests pin (``# NBVAL_CHECK_OUTPUT``) prints what
the committed notebook shows. A filled-in exercise notebook passes on the same terms, its pinned cells
compared with the solution notebook's, and every ``check`` in it must say *correct*.

Notebooks run a few at a time (``--jobs``, default: one per CPU core, at most four: two on 2 cores), each
kernel with its share of the cores as torch threads (``OMP_NUM_THREADS``); the slowest start first (by the
CPU seconds of the last run, kept in ``build/colab-sim/timings.json``). A notebook that needs the
pre-trained tiny BERT pre-trains it on its own runtime, as on Colab. Needs the package index, git, and
write access to ``/content`` (CI runs as root). Each notebook's wall and CPU seconds are printed, and kept
with its problems in ``build/colab-sim/results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from utils import colab, syllabus  # noqa: E402
from grading import generate  # noqa: E402

# Colab's versions of what the lessons import (googlecolab/backend-info, pip-freeze.txt, August 2026).
COLAB = {
    "torch": "2.13.0",  # Colab: 2.11 with CUDA; the CPU build of 2.13 is the one this machine installs
    "transformers": "5.15.0",
    "tokenizers": "0.22.2",
    "datasets": "4.0.0",
    "huggingface-hub": "1.27.0",
    "pyarrow": "18.1.0",
    "pandas": "2.2.3",
    "numpy": "2.1.3",
    "sentence-transformers": "5.7.0",
    "matplotlib": "3.10.0",
    "scikit-learn": "1.6.1",
    "accelerate": "1.10.1",
    "ipykernel": "7.4.0",
    "ipywidgets": "8.1.9",
    "tqdm": "4.67.1",
    "nbformat": "5.10.4",
}
SIM = ROOT / "build" / "colab-sim"
CONTENT = Path(colab.COLAB_CHECKOUT).parent  # /content
KERNEL = "colab-sim"
READY = "The course is ready."
FAKE_COLAB = '"""Stands in for Colab\'s google.colab in tests/colab_sim.py: its presence is what the set-up cell asks."""\n'
NOTEBOOK_TIMEOUT_S = 2400  # one notebook, set-up and pre-training included
# What check() prints for an answer it does not accept (grading.core.describe).
NOT_ACCEPTED = re.compile(r"^(\d\d\.\w+): (not correct yet|not attempted yet|no answer)\b", re.MULTILINE)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
CHECK_CALL = re.compile(r"""\bcheck\(\s*["'](\d\d\.\w+)["']""")


def say(text: str) -> None:
    print(text, flush=True)


def run(command: list[str], **kw) -> None:
    done = subprocess.run(command, capture_output=True, text=True, **kw)
    if done.returncode:
        raise SystemExit(f"colab-check: `{' '.join(map(str, command))}` failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")


# ---------------------------------------------------------------------------------------------------
# What runs: lessons, and exercise notebooks with the solutions' answers filled in
# ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Notebook:
    """A notebook to run: ``path`` in the repository; for an exercise notebook, ``solution`` is the solution
    notebook whose answers are filled in (and whose pinned outputs it must print)."""

    path: str
    solution: str | None = None

    @property
    def label(self) -> str:
        return f"{self.path} (answers filled in)" if self.solution else self.path


def course_notebooks() -> list[Notebook]:
    """Every notebook with a Colab badge that a student runs, from the syllabus (utils/syllabus.py): the
    lessons, then the exercise notebooks (each with the solution it was generated from), the review's last.
    Solutions themselves are what the exercises become."""
    lessons = [Notebook(entry.notebook) for entry in syllabus.LESSONS]
    exercises = [Notebook(entry.exercise_notebook, entry.solution_notebook) for entry in syllabus.LESSONS
                 if entry.exercises]
    review = syllabus.REVIEW_EXERCISES
    exercises.append(Notebook(review, review.replace("exercises/", "solutions/").replace(
        generate.EXERCISES_SUFFIX, generate.SOLUTIONS_SUFFIX)))
    for notebook in lessons + exercises:
        for path in filter(None, (notebook.path, notebook.solution)):
            if not (ROOT / path).is_file():
                raise SystemExit(f"colab-check: utils/syllabus.py lists {path}, which is not in the repository.")
    return lessons + exercises


def answer_source(solution_source: str, where: str) -> str:
    """A solution cell's code as a student who answered writes it: the answer regions' markers
    (``### BEGIN SOLUTION`` / ``### END SOLUTION``) and the ``# NBVAL_CHECK_OUTPUT`` lines go, the answers stay."""
    lines = solution_source.split("\n")
    markers = {i for begin, end in generate.answer_regions(lines, where) for i in (begin, end)}
    return "\n".join(line for i, line in enumerate(lines)
                     if i not in markers and line.strip() != generate.NBVAL_MARKER)


def filled_exercise(exercise: nbformat.NotebookNode, solution: nbformat.NotebookNode,
                    where: str = "exercise") -> nbformat.NotebookNode:
    """The exercise notebook as a student hands it in: a copy of ``exercise`` in which each stub
    (``# YOUR CODE HERE`` and its ``raise NotImplementedError`` or ``name = ...``) holds the answer region of
    ``solution`` it was generated from. Everything else (markdown, badge, set-up cell, metadata) stays the
    exercise's. A code cell that is not what ``solution`` generates (``make exercises`` not run) is refused."""
    filled = nbformat.from_dict(json.loads(json.dumps(exercise)))
    if len(filled.cells) != len(solution.cells):
        raise ValueError(f"{where}: {len(filled.cells)} cells, but its solution has {len(solution.cells)}: run "
                         f"`make exercises` and commit the exercise notebooks.")
    for index, (cell, answer) in enumerate(zip(filled.cells, solution.cells)):
        if cell.cell_type != answer.cell_type:
            raise ValueError(f"{where}, cell {index}: a {cell.cell_type} cell where its solution has a "
                             f"{answer.cell_type} cell: run `make exercises`.")
        if cell.cell_type != "code" or index == 1:  # cell 1: the exercise's own set-up cell
            continue
        if generate.stub_code(answer.source, f"{where}, cell {index}") != cell.source:
            raise ValueError(f"{where}, cell {index}: not what its solution generates: run `make exercises` and "
                             f"commit the exercise notebooks.")
        cell.source = answer_source(answer.source, f"{where}, cell {index}")
    return filled


def committed(path: str, head: str) -> nbformat.NotebookNode:
    """The notebook at repository path ``path`` as committed at ``head`` (what GitHub serves)."""
    text = subprocess.run(["git", "show", f"{head}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return nbformat.reads(text, as_version=4)


# ---------------------------------------------------------------------------------------------------
# The runtime: the environment, the origin of the clone, /content
# ---------------------------------------------------------------------------------------------------

def base_environment() -> Path:
    """The virtual environment with Colab's versions, built once (rebuilt when ``COLAB`` changes)."""
    base, stamp = SIM / "base", SIM / "base.json"
    wanted = json.dumps(COLAB, sort_keys=True)
    if stamp.is_file() and stamp.read_text() == wanted and (base / "bin" / "python").exists():
        return base
    shutil.rmtree(base, ignore_errors=True)
    stamp.unlink(missing_ok=True)
    say(f"building a Colab-like environment in {base.relative_to(ROOT)} (minutes, once)")
    run([sys.executable, "-m", "venv", str(base)])
    python = base / "bin" / "python"
    run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         *(f"{name}=={version}" for name, version in COLAB.items())])
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    fake = SIM / "fake" / "google" / "colab"
    fake.mkdir(parents=True, exist_ok=True)
    (fake / "__init__.py").write_text(FAKE_COLAB)
    (site / "colab_sim_fake.pth").write_text(str(SIM / "fake") + "\n")
    stamp.write_text(wanted)
    return base


def can_isolate() -> bool:
    """Whether a kernel can get a private ``/content`` (a mount namespace: ``unshare -m``, as root)."""
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        probe = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", 'mount --bind "$0" "$1"', a, b],
                               capture_output=True)
    return probe.returncode == 0


def kernel_argv(python: Path, content: Path | None) -> list[str]:
    """How the simulated kernel starts: Colab's kernel imports google.colab and pandas first. With
    ``content``, in a mount namespace of its own where ``content`` is mounted on ``/content``."""
    kernel = [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}",
              "--IPKernelApp.exec_lines=['import google.colab', 'import pandas']"]
    if content is None:
        return kernel
    # The kernel starts in /content; after the mount it moves into the mounted folder, not the one beneath.
    return ["unshare", "-m", "--propagation", "private", "sh", "-c",
            f'mount --bind "$0" {CONTENT} && cd {CONTENT} && exec "$@"', str(content), *kernel]


def fresh_runtime(base: Path, slot: Path, isolated: bool) -> tuple[Path, Path]:
    """A copy of the base environment for one notebook (hard links: seconds, and pip replaces files rather
    than writing into them, so the base stays as built), its kernel spec, and an empty ``/content``.
    Returns (the runtime's folder, the folder the kernel sees as /content)."""
    runtime, content = slot / "runtime", (slot / "content" if isolated else CONTENT)
    shutil.rmtree(runtime, ignore_errors=True)
    run(["cp", "-al", str(base), str(runtime)])
    kernels = slot / "jupyter" / "kernels" / KERNEL
    kernels.mkdir(parents=True, exist_ok=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": kernel_argv(runtime / "bin" / "python", content if isolated else None),
        "display_name": "Colab (simulated)", "language": "python"}, indent=1))
    if isolated:
        shutil.rmtree(content, ignore_errors=True)
        content.mkdir(parents=True)
    else:
        clear_content()
    return runtime, content


def origin() -> tuple[Path, str]:
    """A bare copy of this checkout whose ``main`` is HEAD: what the set-up cell's clone fetches."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    bare = SIM / "origin.git"
    shutil.rmtree(bare, ignore_errors=True)
    run(["git", "clone", "-q", "--bare", str(ROOT), str(bare)])
    run(["git", "--git-dir", str(bare), "branch", "-f", colab.BRANCH, head])
    return bare, head


def make_content_folder() -> None:
    try:
        CONTENT.mkdir(exist_ok=True)
    except PermissionError:
        raise SystemExit(f"colab-check: the set-up cell clones into {colab.COLAB_CHECKOUT} as on Colab, and {CONTENT} "
                         f"cannot be made here: run as root (CI does), or `sudo mkdir {CONTENT} && sudo chown $USER {CONTENT}`.")


def clear_content() -> None:
    """Empty the real /content's clone (when notebooks run there one after another)."""
    checkout = Path(colab.COLAB_CHECKOUT)
    marker = CONTENT / ".colab-sim"
    if checkout.exists():
        if not marker.exists():
            raise SystemExit(f"colab-check: {checkout} exists and was not made by this check; move it away first.")
        shutil.rmtree(checkout)
    make_content_folder()
    try:
        marker.touch()
    except PermissionError:
        raise SystemExit(f"colab-check: {CONTENT} cannot be written here: run as root (CI does), or "
                         f"`sudo chown $USER {CONTENT}`.")


# ---------------------------------------------------------------------------------------------------
# One notebook on one fresh runtime
# ---------------------------------------------------------------------------------------------------

def pinned_outputs(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data") and "text/plain" in output.get("data", {}):
            parts.append(output.data["text/plain"])
    return "".join(parts)


def failed_cell(nb: nbformat.NotebookNode) -> str | None:
    """Which cell failed, its error and the end of its traceback (without the terminal's colours)."""
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                trace = "\n".join(ANSI.sub("", "\n".join(output.get("traceback", []))).splitlines()[-12:])
                return f"cell {index} failed: {output.ename}: {ANSI.sub('', output.evalue)}\n{trace}"
    return None


def check_verdicts(ran: nbformat.NotebookNode) -> list[str]:
    """Problems with the checks of a filled-in exercise notebook: each ``check("NN.x", ...)`` must print that
    ``NN.x`` is correct."""
    problems = []
    for index, cell in enumerate(ran.cells):
        if cell.cell_type != "code":
            continue
        printed = pinned_outputs(cell)
        for match in NOT_ACCEPTED.finditer(printed):
            problems.append(f"cell {index}: the check did not accept the solution's answer: "
                            f"{printed[match.start():].splitlines()[0]}")
        for exercise_id in CHECK_CALL.findall(cell.source):
            if f"{exercise_id}: correct" not in printed and not NOT_ACCEPTED.search(printed):
                problems.append(f"cell {index}: check({exercise_id!r}) did not say it is correct: {printed[-300:]!r}")
    return problems


def installed(runtime: Path) -> dict[str, str]:
    listed = subprocess.run([str(runtime / "bin" / "python"), "-m", "pip", "list", "--format", "json",
                             "--disable-pip-version-check"], capture_output=True, text=True, check=True).stdout
    return {row["name"].lower(): row["version"] for row in json.loads(listed)}


def run_notebook(notebook: Notebook, base: Path, bare: Path, head: str, slot: Path, isolated: bool,
                 threads: int) -> dict:
    """Run ``notebook`` as committed at ``head`` on a fresh simulated runtime in ``slot``; the problems found
    (none when it passed) and what the set-up cell installed."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    began = time.perf_counter()
    runtime, content = fresh_runtime(base, slot, isolated)
    reference = committed(notebook.solution or notebook.path, head)  # what the pinned cells must print
    nb = committed(notebook.path, head)
    problems = []
    if notebook.solution:
        try:
            nb = filled_exercise(nb, reference, notebook.path)
        except ValueError as error:
            return {"problems": [str(error)], "installed": {}, "seconds": 0.0}
    before = installed(runtime)
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("PYTHONPATH", "VIRTUAL_ENV") and not key.startswith(("WORKBOOK_", "HF_", "TQDM"))}
    environment.update(JUPYTER_PATH=str(slot / "jupyter"), GIT_CONFIG_COUNT="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
                       GIT_CONFIG_KEY_0=f"url.file://{bare}.insteadOf", GIT_CONFIG_VALUE_0=colab.github_url(),
                       OMP_NUM_THREADS=str(threads))
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(environment)
    try:
        client = NotebookClient(nb, kernel_name=KERNEL, timeout=1200, resources={"metadata": {"path": str(CONTENT)}})
        client.execute()
    except CellExecutionError as error:
        problems.append(failed_cell(nb) or f"a cell failed: {ANSI.sub('', str(error))[-1500:]}")
    except Exception as error:  # the kernel died, or a cell ran past the timeout
        problems.append(f"the run stopped: {type(error).__name__}: {str(error)[-1500:]}")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    setup_output = pinned_outputs(nb.cells[1])
    if not problems and READY not in setup_output:
        problems.append(f"the set-up cell did not say the course is ready: {setup_output!r}")
    for index, (ran, stored) in enumerate(zip(nb.cells, reference.cells)):
        if ran.cell_type == "code" and "# NBVAL_CHECK_OUTPUT" in stored.source and not problems:
            if pinned_outputs(ran) != pinned_outputs(stored):
                problems.append(f"cell {index} printed\n{pinned_outputs(ran)}\nbut the committed "
                                f"{'solution' if notebook.solution else 'notebook'} shows\n{pinned_outputs(stored)}")
    if notebook.solution and not problems:
        problems += check_verdicts(nb)
    after = installed(runtime)
    loaded_at_start = {"pandas", "pyarrow", "numpy"}
    changed = sorted(name for name in loaded_at_start if before.get(name) != after.get(name))
    if changed:
        problems.append(f"packages the kernel had loaded at start changed version: {changed}")
    upgraded = {name: f"{before.get(name)} -> {version}" for name, version in after.items() if before.get(name) != version}
    shutil.rmtree(content / Path(colab.COLAB_CHECKOUT).name, ignore_errors=True)
    return {"problems": problems, "installed": upgraded, "seconds": round(time.perf_counter() - began, 1)}


# ---------------------------------------------------------------------------------------------------
# All of them, a few at a time
# ---------------------------------------------------------------------------------------------------

def default_jobs() -> int:
    """One notebook per CPU core, at most four (a lesson's kernel peaks near 2 GB of memory): two on 2 cores."""
    return max(1, min(os.cpu_count() or 1, 4))


def slowest_first(notebooks: list[Notebook], timings: dict[str, float]) -> list[Notebook]:
    """Longest first by the last run's times; without them, lessons from the last (lesson 09 is the longest),
    then the exercise notebooks, the same way."""
    if all(n.path in timings for n in notebooks):
        return sorted(notebooks, key=lambda n: -timings[n.path])
    return sorted(notebooks, key=lambda n: (n.solution is not None, -int(Path(n.path).name[:2])))


def run_in_child(notebook: Notebook, slot: Path, isolated: bool, threads: int, bare: Path, head: str) -> dict:
    """Run one notebook in a process of its own (its environment, its kernel), and return its result."""
    slot.mkdir(parents=True, exist_ok=True)
    result = slot / "result.json"
    result.unlink(missing_ok=True)
    command = [sys.executable, __file__, "--one", json.dumps(asdict(notebook)), "--slot", str(slot),
               "--threads", str(threads), "--origin", str(bare), "--head", head] + (["--isolated"] if isolated else [])
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=NOTEBOOK_TIMEOUT_S)
        output = done.stdout + done.stderr
    except subprocess.TimeoutExpired as error:
        output = f"ran past {NOTEBOOK_TIMEOUT_S} s: {error}"
    if result.is_file():
        return json.loads(result.read_text())
    return {"problems": [f"the run did not finish: {output[-2000:]}"], "installed": {}, "seconds": None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lessons", nargs="*", default=None, metavar="NN",
                        help="lesson numbers to run (default: every lesson, unless --exercises alone is given)")
    parser.add_argument("--exercises", nargs="*", default=None, metavar="NN",
                        help="exercise notebooks to run with the solutions' answers filled in, by number (default: "
                             "every one, unless --lessons alone is given)")
    parser.add_argument("--jobs", type=int, default=None,
                        help=f"notebooks at a time (default {default_jobs()}: one per CPU core, at most 4); each kernel gets "
                             "the cores divided among them as torch threads")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--slot", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--origin", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--head", help=argparse.SUPPRESS)
    parser.add_argument("--isolated", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.one:  # a child: one notebook on one fresh runtime
        result = run_notebook(Notebook(**json.loads(args.one)), base_environment(), args.origin, args.head,
                              args.slot, args.isolated, args.threads)
        # The CPU time of the kernel and what it started (pip, git): on a busy machine, a better guide than the
        # wall time to how long the notebook takes on an idle one.
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        result["cpu_seconds"] = round(used.ru_utime + used.ru_stime, 1)
        (args.slot / "result.json").write_text(json.dumps(result))
        return 0

    everything = course_notebooks()
    lessons_wanted = args.lessons if args.lessons is not None else ([] if args.exercises is not None else None)
    exercises_wanted = args.exercises if args.exercises is not None else ([] if args.lessons is not None else None)
    chosen = []
    for wanted, of_kind in ((lessons_wanted, [n for n in everything if not n.solution]),
                            (exercises_wanted, [n for n in everything if n.solution])):
        numbers = {Path(n.path).name[:2] for n in of_kind}
        unknown = sorted(set(wanted or []) - numbers)
        if unknown:
            parser.error(f"no notebook numbered {', '.join(unknown)} (there are {', '.join(sorted(numbers))})")
        chosen += [n for n in of_kind if wanted is None or Path(n.path).name[:2] in wanted]
    if not chosen:
        parser.error("nothing to run: give lesson or exercise numbers, such as --lessons 00 01")
    if shutil.which("git") is None:
        parser.error("git is needed (the set-up cell clones the course): install it, e.g. apt-get install git")

    start = time.perf_counter()
    make_content_folder()
    isolated = can_isolate()
    jobs = args.jobs or default_jobs()
    if jobs > 1 and not isolated:
        say(f"colab-check: a kernel cannot get a /content of its own here (unshare -m), so notebooks run one at a "
            f"time instead of {jobs}")
        jobs = 1
    threads = max(1, (os.cpu_count() or 1) // jobs)
    base = base_environment()
    bare, head = origin()
    timings_file, results_file = SIM / "timings.json", SIM / "results.json"
    timings = json.loads(timings_file.read_text()) if timings_file.is_file() else {}
    order = slowest_first(chosen, timings)
    say(f"simulated Colab ({', '.join(f'{n} {v}' for n, v in COLAB.items())}); course at {head[:12]}; "
        f"{len(order)} notebooks, {jobs} at a time, {threads} torch thread(s) each")

    slots: queue.Queue = queue.Queue()
    for index in range(jobs):
        slots.put(SIM / f"slot-{index}")
    results: dict[str, dict] = {}

    def one(notebook: Notebook) -> None:
        slot = slots.get()
        try:
            result = run_in_child(notebook, slot, isolated, threads, bare, head)
        finally:
            slots.put(slot)
        results[notebook.path] = result
        verdict = "passed" if not result["problems"] else "FAILED"
        took = f"{result['seconds']:.0f} s" if result.get("seconds") is not None else "?"
        if result.get("cpu_seconds") is not None:
            took += f" ({result['cpu_seconds']:.0f} s of CPU)"
        installs = ", ".join(f"{n} {v}" for n, v in sorted(result["installed"].items())) or "nothing"
        say(f"{notebook.label}: {verdict} in {took}\n  installed by the set-up cell: {installs}")
        for problem in result["problems"]:
            say("  " + problem.replace("\n", "\n  "))

    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, order))
    for index in range(jobs):
        shutil.rmtree(SIM / f"slot-{index}", ignore_errors=True)
    if not isolated:
        shutil.rmtree(Path(colab.COLAB_CHECKOUT), ignore_errors=True)

    # CPU seconds order the next run: unlike the wall time they hardly change with what else the machine runs.
    timings.update({path: r.get("cpu_seconds") or r["seconds"] for path, r in results.items() if r.get("seconds")})
    timings_file.write_text(json.dumps(timings, indent=1, sort_keys=True) + "\n")
    results_file.write_text(json.dumps({"head": head, "jobs": jobs, "threads": threads, "notebooks": results},
                                       indent=1) + "\n")
    failed = [n.label for n in order if results[n.path]["problems"]]
    cpu = sum(r.get("cpu_seconds") or 0 for r in results.values())
    say(f"colab-check: {len(order) - len(failed)} of {len(order)} notebooks passed in "
        f"{time.perf_counter() - start:.0f} s ({jobs} at a time, {cpu:.0f} s of CPU in all)"
        + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
