"""The instructor's batch grader (``python -m grading``): every submitted notebook run in a fresh
kernel, then every registered exercise checked against what it defined; one CSV row per submission.

How a submission is graded
--------------------------
1. The file is read; a missing, oversized, non-JSON or non-notebook file gets a row with the error.
2. A fresh Python kernel (its own process, working in a new temporary folder, offline) runs the code
   cells in order. A cell that raises is recorded and the run goes on, so that answers in later
   cells are still graded (unlike "Run all", which stops at the first error). Outputs are thrown away
   as they arrive; only the error names are kept.
3. The cells share one time limit (``--timeout``). A cell still running when it is spent is stopped,
   and so is a cell that kills its kernel; the notebook is then run again in a new kernel without
   that cell (at most ``MAX_RUNS`` runs), so that the answers defined elsewhere are still graded.
4. One more cell, sent only now, grades the answers: it loads a private copy of the check code from
   the sources the grader read when it started (never the ``grading`` package the submission may
   have changed), looks every answer up by the name its exercise declares (never by cell position), runs
   each check with a time limit (what the student's code prints meanwhile is dropped), and sends each
   verdict after a random token made for this run. Only lines carrying the token, in that cell's
   output, count; points come from the grader's own registry, so a verdict cannot claim more than the
   exercise is worth.

What this defends against, and what not: see docs/instructors.md. In short, a submission that redefines
``check``, replaces or monkeypatches ``grading``, prints fake verdicts, loops, crashes its kernel or floods its
output gets a fair row. On Linux with bubblewrap each worker and its kernel run in a sandbox (``sandbox.py``):
the course and its Python read-only, no network, no process left when the row is written, the other
submissions out of sight. Without it (``--no-sandbox``, macOS, a Linux that does not let users make
namespaces) the grader says so and a submission runs as your user: grade untrusted notebooks in a container
or a throwaway account then. Code written to subvert the Python interpreter it runs in (for instance
replacing IPython's cell execution to read the token) is not defended against, in the sandbox or out of
it: the checks must call the student's functions, in the student's process.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# nbformat validates notebooks with jsonschema, which builds some forty parsers of internationalised
# addresses (IRIs) on import when the optional package rfc3987_syntax is there (Jupyter's server asks for
# it): two seconds at the start of the grader and of every submission's worker. Validating a notebook
# never checks that format, so the grader does not load the package.
sys.modules.setdefault("rfc3987_syntax", None)

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from nbclient.exceptions import CellTimeoutError, DeadKernelError  # noqa: E402

from . import core, sandbox  # noqa: E402

PACKAGE_DIR = Path(__file__).resolve().parent
ROOT = PACKAGE_DIR.parent
DEFAULT_TIMEOUT = 120        # seconds for all of a submission's cells, per run
CHECK_SECONDS = 60           # seconds each check may run the student's code (--check-timeout)
MAX_RUNS = 3                 # the first run and at most two re-runs without a stopped cell
MAX_FILE_BYTES = 50 * 2**20
MAX_LINE_CHARS = 2**20       # output kept while looking for the grading cell's verdict lines
MAX_ERROR_CHARS = 600


# ---------------------------------------------------------------------------------------------------
# The code sent to the submission's kernel and to the worker
# ---------------------------------------------------------------------------------------------------

# The check modules, and the grader's code that runs in the kernel and in the worker (private_copy.py),
# are read once when the batch starts and sent as text: a submission cannot swap them on the disk (in the
# sandbox the disk is read-only anyway, but without it this is the defence), and, loaded under a name of their
# own, they are not the modules a submission's cells imported and may have patched (that holds in the sandbox).
PRIVATE_COPY = PACKAGE_DIR / "private_copy.py"
# The grader's own modules the worker loads after the checks, in this order (the grader last: it runs it).
RUNNER_MODULES = ("sandbox", "grader")


def check_sources(extra_checks: Path | None = None) -> dict:
    """The code as the grader reads it now, sent to each worker and kernel as text, so what runs there is
    this copy: ``modules``, every module of this package that the checks need, in the order they are
    loaded (core and the package first, then the helpers the lesson modules import, then the lessons);
    ``extra``, the extra checks file (its path and text); ``private_copy``, the code that loads and runs
    them in the kernel and the worker; ``runner``, the grader's own modules, for the worker."""
    modules = {"__init__": (PACKAGE_DIR / "__init__.py").read_text(encoding="utf-8"),
               "core": (PACKAGE_DIR / "core.py").read_text(encoding="utf-8"),
               "questions": (PACKAGE_DIR / "questions.py").read_text(encoding="utf-8")}
    for path in sorted(PACKAGE_DIR.glob("lesson*.py")):
        modules[path.stem] = path.read_text(encoding="utf-8")
    extra = None
    if extra_checks is not None:
        extra = (str(Path(extra_checks).resolve()), Path(extra_checks).read_text(encoding="utf-8"))
    runner = {name: (PACKAGE_DIR / f"{name}.py").read_text(encoding="utf-8") for name in RUNNER_MODULES}
    return {"modules": modules, "extra": extra, "private_copy": PRIVATE_COPY.read_text(encoding="utf-8"),
            "runner": runner}


def grading_cell(token: str, sources: dict, wanted: list[str], check_timeout: float = CHECK_SECONDS) -> str:
    """The source of the cell that grades a submission's kernel."""
    package_name = "_workbook_grading_" + secrets.token_hex(8)
    # Only builtins are used from the notebook's namespace, through a fresh alias, so that a student's
    # variable called `exec` or `json` changes nothing.
    return ("import builtins as _workbook_builtins\n"
            "_workbook_namespace = {'__builtins__': _workbook_builtins, '__name__': '_workbook_grader'}\n"
            f"_workbook_builtins.exec(_workbook_builtins.compile({sources['private_copy']!r}, '<grader>', "
            "'exec'), _workbook_namespace)\n"
            f"_workbook_namespace['grade'](_workbook_builtins.globals(), {token!r}, {package_name!r}, "
            f"{sources['modules']!r}, {sources['extra']!r}, {wanted!r}, {float(check_timeout)!r})\n")


# ---------------------------------------------------------------------------------------------------
# Running one submission
# ---------------------------------------------------------------------------------------------------

class _Client(NotebookClient):
    """Runs cells one by one; keeps no output but the errors and the grading cell's verdict lines."""

    def __init__(self, nb, token: str, **kwargs):
        super().__init__(nb, **kwargs)
        self.token = token
        self.grading_index: int | None = None
        self.verdicts: list[dict] = []
        self.cell_errors: dict[int, str] = {}
        self.met: dict[int, tuple[str, str]] = {}  # cell index -> what it ran into (sandbox.what_a_cell_met)
        self._partial = ""
        self.on_cell_error = self._record_error

    def _record_error(self, cell, cell_index, execute_reply) -> None:
        content = execute_reply.get("content", {})
        self.cell_errors[cell_index] = core.one_line(f"{content.get('ename', 'Error')}: {content.get('evalue', '')}")
        self._note_met(cell_index, f"{content.get('ename', '')}: {content.get('evalue', '')}")

    def _note_met(self, cell_index: int, text: str) -> None:
        if cell_index != self.grading_index and cell_index not in self.met:
            met = sandbox.what_a_cell_met(text)
            if met is not None:
                self.met[cell_index] = met

    def output(self, outs, msg, display_id, cell_index):  # noqa: D102 - overrides nbclient's
        if cell_index == self.grading_index:
            content = msg.get("content", {})
            if msg.get("msg_type") == "stream":
                self._feed(content.get("text", ""))
            elif msg.get("msg_type") == "display_data":
                self._feed("\n" + str(content.get("data", {}).get("text/plain", ""))[:MAX_LINE_CHARS] + "\n")
        elif msg.get("msg_type") == "stream":  # what pip (%pip) prints when it fails: it raises nothing
            self._note_met(cell_index, str(msg.get("content", {}).get("text", ""))[:sandbox.SCANNED_CHARS])
        return None  # nothing is stored: a flood of output costs time, never memory

    def _feed(self, text: str) -> None:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()[-MAX_LINE_CHARS:]
        for line in lines:
            at = line.find(self.token)
            if at >= 0:
                try:
                    payload = json.loads(line[at + len(self.token):])
                except ValueError:
                    continue
                if isinstance(payload, dict):
                    self.verdicts.append(payload)


@dataclass
class RunResult:
    stopped: tuple[int, str] | None = None    # (cell index, why) when a cell had to be stopped
    cell_errors: dict[int, str] = field(default_factory=dict)
    met: dict[int, tuple[str, str]] = field(default_factory=dict)  # cell index -> what it ran into
    verdicts: list[dict] = field(default_factory=list)
    grading_problem: str | None = None
    failed: str | None = None                 # the kernel could not be started at all


def _kernel_env() -> dict:
    env = dict(os.environ)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "TQDM_DISABLE",
                 "HF_HUB_DISABLE_PROGRESS_BARS"):
        env.setdefault(name, "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    # One thread per kernel: the course's tensors are small, and kernels graded side by side (--jobs)
    # would otherwise wait on each other's threads.
    env.setdefault("OMP_NUM_THREADS", "1")
    env["MPLBACKEND"] = "Agg"  # figures are not kept, so do not draw them
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def _describe_cell(nb, index: int) -> str:
    first = next((line.strip() for line in nb.cells[index].source.splitlines() if line.strip()), "")
    first = first if len(first) <= 40 else first[:37] + "..."
    return f"cell {index + 1} (`{first}`)" if first else f"cell {index + 1}"


async def _run_once(nb, skip: set[int], timeout: float, sources: dict, wanted: list[str],
                    check_timeout: float, on_event=None) -> RunResult:
    token = "WORKBOOK-GRADE-" + secrets.token_hex(16) + ":"
    cells = list(nb.cells)
    work = nbformat.v4.new_notebook(cells=[nbformat.from_dict(c) for c in cells])
    work.cells.append(nbformat.v4.new_code_cell(grading_cell(token, sources, wanted, check_timeout)))
    grading_index = len(work.cells) - 1
    folder = tempfile.mkdtemp(prefix="workbook-grade-")
    client = _Client(work, token, kernel_name="python3", allow_errors=True, record_timing=False,
                     shutdown_kernel="immediate", startup_timeout=120, iopub_timeout=10,
                     resources={"metadata": {"path": folder}})
    result = RunResult()
    deadline = None
    client.timeout_func = lambda cell: max(1, int(deadline - time.monotonic() + 0.999))
    try:
        async with client.async_setup_kernel(env=_kernel_env(), stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL):
            deadline = time.monotonic() + timeout
            pid = getattr(getattr(client.km, "provisioner", None), "pid", None)
            if on_event is not None and pid:
                on_event({"kernel": pid})
            for index, cell in enumerate(work.cells[:grading_index]):
                if cell.cell_type != "code" or index in skip or not cell.source.strip():
                    continue
                if on_event is not None:
                    on_event({"cell": index})
                try:
                    if time.monotonic() >= deadline:
                        raise CellTimeoutError("time limit")
                    await client.async_execute_cell(cell, index)
                except CellTimeoutError:
                    result.stopped = (index, f"{_describe_cell(work, index)} was still running when the time "
                                             f"limit ({timeout:g} s) ran out")
                    break
                except DeadKernelError:
                    result.stopped = (index, f"{_describe_cell(work, index)} stopped the kernel "
                                             f"(a crash or os._exit)")
                    break
            if result.stopped is None:
                if on_event is not None:
                    on_event({"cell": None})
                client.grading_index = grading_index
                deadline = time.monotonic() + check_timeout * (len(wanted) + 1) + 60
                try:
                    await client.async_execute_cell(work.cells[grading_index], grading_index, store_history=False)
                except CellTimeoutError:
                    result.grading_problem = "the checks ran past their time limit"
                except DeadKernelError:
                    result.grading_problem = "the kernel died during the checks"
    except Exception as error:  # the kernel did not start, or the connection broke
        if result.stopped is None and client.grading_index is None:
            result.failed = core.one_line(f"could not run the notebook: {type(error).__name__}: {error}")
        else:
            result.grading_problem = core.one_line(f"{type(error).__name__}: {error}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result.cell_errors = dict(client.cell_errors)
    result.cell_errors.pop(grading_index, None)
    result.met = dict(client.met)
    result.verdicts = client.verdicts
    return result


# ---------------------------------------------------------------------------------------------------
# One row per submission
# ---------------------------------------------------------------------------------------------------

@dataclass
class Row:
    """One submission's grades: ``points`` holds the exercises of its lesson, the ones it is graded on."""

    submission: str
    points: dict[str, float]
    maximum: float
    errors: list[str] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.points.values())

    @property
    def error(self) -> str:
        text = "; ".join(self.errors)
        return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS - 3] + "..."


def read_submission(path: Path, text: str | None = None):
    """``(notebook, None)`` or ``(None, what is wrong with the file)``. ``text`` is the file's text when it
    was read already (the worker is sent it: in the sandbox, the submissions' folder is out of its sight)."""
    if text is not None:
        return _parse_submission(text)
    if not path.exists():
        return None, "no such file"
    if not path.is_file():
        return None, "not a file"
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        return None, f"the file is {size / 2**20:.0f} MB, more than the {MAX_FILE_BYTES // 2**20} MB a notebook may be"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, core.one_line(f"could not read the file as UTF-8 text ({error})")
    return _parse_submission(text)


def _parse_submission(text: str):
    try:
        data = json.loads(text)
    except ValueError as error:
        return None, core.one_line(f"not a Jupyter notebook: the file is not JSON ({error})")
    if not isinstance(data, dict) or "nbformat" not in data \
            or not isinstance(data.get("cells", data.get("worksheets")), list):
        return None, "not a Jupyter notebook: the JSON has no nbformat version and list of cells"
    try:
        nb = nbformat.reads(text, as_version=4)
        for cell in nb.cells:
            if cell.get("cell_type") not in ("code", "markdown", "raw") or not isinstance(cell.get("source"), str):
                raise ValueError("a cell without a type or source")
            cell.setdefault("metadata", nbformat.NotebookNode())
    except Exception as error:
        return None, core.one_line(f"not a Jupyter notebook ({type(error).__name__}: {error})")
    return nb, None


def lesson_of(exercise_id: str) -> str:
    """The lesson an exercise belongs to: its id up to the first dot ("01" for "01.masking")."""
    return exercise_id.split(".", 1)[0]


_CHECK_CALL = re.compile(r"""check\(\s*["']([^"'.]+)\.""")
_FILE_LESSON = re.compile(r"(?:^|[^0-9])([0-9]{2})_")


def submission_lessons(nb, path: str, known: list[str]) -> list[str]:
    """The lessons a submission is for, so that it is graded on their exercises only. Looked for, in
    turn: the notebook's ``workbook.lesson`` metadata (the generator writes it), the exercise ids in
    its ``check("NN.name", ...)`` calls, and ``NN_`` in the file's name. Empty when none says."""
    if nb is not None:
        lesson = nb.metadata.get("workbook", {}).get("lesson") if isinstance(nb.metadata.get("workbook"), dict) else None
        if isinstance(lesson, str) and lesson in known:
            return [lesson]
        called = {m.group(1) for cell in nb.cells if cell.cell_type == "code"
                  for m in _CHECK_CALL.finditer(cell.source)}
        if called & set(known):
            return [lesson for lesson in known if lesson in called]
    match = _FILE_LESSON.search(Path(path).name)
    return [match.group(1)] if match and match.group(1) in known else []


_OUT_OF_MEMORY = re.compile(r"MemoryError\b|Unable to allocate|can't allocate memory|std::bad_alloc|"
                            r"Cannot allocate memory|out of memory", re.I)


def _memory_words(limit_gb: float | None) -> str:
    return f"used more than {limit_gb:g} GB of memory (the limit, --memory-limit)" if limit_gb else "ran out of memory"


async def grade_submission(path: str, exercises: list[core.Exercise], sources: dict, timeout: float,
                           lesson: str | None = None, check_timeout: float = CHECK_SECONDS,
                           skip: set[int] | None = None, on_event=None, memory_limit_gb: float | None = None,
                           text: str | None = None) -> Row:
    """Grade one notebook (``text``, when given, is its file's text) on the exercises of its lesson (or of
    ``lesson``). Never raises: whatever goes wrong ends up in the row's errors."""
    nb, problem = read_submission(Path(path), text)
    known = list(dict.fromkeys(lesson_of(ex.id) for ex in exercises))
    lessons = [lesson] if lesson else submission_lessons(nb, path, known)
    scope = [ex for ex in exercises if lesson_of(ex.id) in lessons] or exercises
    row = Row(path, {ex.id: 0 for ex in scope}, sum(ex.points for ex in scope))
    if problem:
        row.errors.append(problem)
    if not lessons:
        row.errors.append("could not tell which lesson this notebook is for (no check(...) call, no NN_ in its "
                          "name): graded on every exercise; use --lesson")
    if problem:
        return row
    exercises = scope
    skip = set(skip or ())
    run = RunResult()
    for attempt in range(MAX_RUNS):
        run = await _run_once(nb, skip, timeout, sources, [ex.id for ex in scope], check_timeout, on_event)
        if run.failed or run.stopped is None:
            break
        index, why = run.stopped
        if memory_limit_gb and "stopped the kernel" in why:
            why = why.replace("(a crash or os._exit)", f"(a crash, os._exit, or it {_memory_words(memory_limit_gb)})")
        skip.add(index)
        last = attempt == MAX_RUNS - 1
        row.errors.append(why + ("; gave up after that many runs" if last else "; graded a re-run without it"))
    if run.failed:
        row.errors.append(run.failed)
        return row
    for index in sorted(set(run.cell_errors) | set(run.met)):
        error = run.cell_errors.get(index, "")
        if index in run.met:  # what it ran into, in words, rather than the error it raised
            what, why = run.met[index]
            row.errors.append(f"{_describe_cell(nb, index)} met {what}: {why}")
        elif _OUT_OF_MEMORY.search(error):
            row.errors.append(f"{_describe_cell(nb, index)} {_memory_words(memory_limit_gb)} and was stopped "
                              f"({error})")
        else:
            row.errors.append(f"{_describe_cell(nb, index)} raised {error}")
    if run.stopped is not None:
        return row
    fatal = next((v["fatal"] for v in run.verdicts if "fatal" in v), None)
    if fatal:
        row.errors.append(fatal)
        return row
    by_id = {ex.id: ex for ex in exercises}
    seen, missing = set(), []
    for verdict in run.verdicts:
        ex = by_id.get(verdict.get("id"))
        if ex is None or ex.id in seen:
            continue
        seen.add(ex.id)
        status = verdict.get("status")
        row.statuses[ex.id] = status
        row.messages[ex.id] = core.one_line(verdict.get("message", ""))
        if status == core.CORRECT:
            row.points[ex.id] = ex.points
        elif status == core.MISSING:
            missing.append(f"{ex.id} (`{ex.answer}`)")
        elif status == core.INCORRECT and "ran for more than" in str(verdict.get("message", "")):
            row.errors.append(f"{ex.id}: {verdict['message']}")
    if missing:
        row.errors.append(f"no answer defined for {', '.join(missing)}: the cell that defines it was deleted, "
                          f"renamed or failed")
    ungraded = [ex.id for ex in exercises if ex.id not in seen]
    if ungraded:
        started = [v["start"] for v in run.verdicts if "start" in v and v["start"] not in seen]
        during = f" while checking {started[0]}" if started else ""
        why = run.grading_problem or "the checks did not finish"
        row.errors.append(f"not graded: {', '.join(ungraded)} ({why}{during})")
    return row


# ---------------------------------------------------------------------------------------------------
# The worker: one submission, graded in a process of its own
# ---------------------------------------------------------------------------------------------------
#
# The process that writes the CSV never runs a kernel. For each submission it starts a worker (a new
# Python process in a session of its own) and sends it, on its stdin, the grader's code as read when the
# batch began, the notebook's path and a random token. The worker runs the notebook's kernel and sends
# back, on its stdout, lines carrying the token: which cell is running, and at the end the row. A kernel
# that kills its parent kills the worker only; the writer notes which cell was running, gives that
# submission its row (re-running it without that cell) and goes on with the others.

DEFAULT_MEMORY_GB = 4.0


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def worker_main(payload: dict) -> int:
    """Inside the worker: cap its memory (the kernel it starts inherits the cap), grade the one
    submission, send the row."""
    global ROOT
    ROOT = Path(payload["root"])
    token = payload["token"]
    try:  # Linux: die with the writer (a batch killed or stopped leaves no worker behind; the kernel then
        # sees its parent gone and stops too). In the sandbox bwrap does this (--die-with-parent, and its pid
        # namespace ends with the worker), and the writer's pid is not visible; without it, this is the defence.
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        writer = payload.get("writer")
        if writer is not None and os.getppid() != writer:
            return 1
    except (OSError, AttributeError):
        pass
    limit = payload.get("memory_limit_gb")
    if limit:
        try:
            import resource

            size = int(limit * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (size, size))
        except (ImportError, ValueError, OSError):  # not Linux: no cap, said in the README
            pass
    channel = sys.stdout
    sys.stdout = sys.stderr = open(os.devnull, "w")

    def send(event: dict) -> None:
        channel.write(token + json.dumps(event) + "\n")
        channel.flush()

    exercises = core.exercises()
    sources = {key: payload[key] for key in ("modules", "extra", "private_copy")}
    row = asyncio.run(grade_submission(payload["path"], exercises, sources, payload["timeout"], payload["lesson"],
                                       payload["check_timeout"], set(payload["skip"]), send, limit,
                                       payload["notebook"]))
    send({"row": {"errors": row.errors, "statuses": row.statuses, "messages": row.messages}})
    return 0


def _kill_group(pid: int | None) -> None:
    """Stop a process and its process group (a worker, or a kernel: each leads a session of its own)."""
    if not pid:
        return
    import signal

    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, OSError):
            pass


async def _run_worker(payload: dict, live: dict, box: sandbox.Sandbox) -> tuple[dict | None, list[dict], int]:
    """Start a worker (in the sandbox ``box``, if it is on), send it ``payload``, read its events until it ends:
    (row or None, events, exit code; a negative code for the signal that killed it)."""
    token = payload["token"]
    process = await asyncio.create_subprocess_exec(
        *box.wrap([sys.executable, "-c", payload["private_copy"]]), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, start_new_session=True, limit=2**24)
    live[process.pid] = None
    row, events = None, []
    try:
        process.stdin.write(json.dumps(payload).encode("utf-8"))
        await process.stdin.drain()
        process.stdin.close()
        while True:
            line = await process.stdout.readline()
            if not line:
                break
            text = line.decode("utf-8", errors="replace")
            if not text.startswith(token):
                continue
            try:
                event = json.loads(text[len(token):])
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            if "row" in event:
                row = event["row"]
            else:
                events.append(event)
                # The kernel's pid, to stop its process group at the end. In the sandbox it is a pid of the
                # sandbox's own namespace, meaningless outside, and the namespace ends with the worker anyway.
                if isinstance(event.get("kernel"), int) and not box.on:
                    live[process.pid] = event["kernel"]
        code = await process.wait()
    except (ConnectionError, BrokenPipeError):
        code = await process.wait()
    finally:
        kernel = live.pop(process.pid, None)
        # Whatever it left behind; its kernel too, which leads its own session. In the sandbox this stops bwrap,
        # and every process of the submission (its kernel, what it started in a session of its own) ends with
        # the sandbox's pid namespace; without the sandbox, a process started in a new session outlives this.
        _kill_group(process.pid)
        _kill_group(kernel)
    if box.on and code > 128:  # bwrap reports a worker killed by signal N as exit status 128 + N
        code = 128 - code
    return row, events, code


def scope_of(nb, path: str, exercises: list[core.Exercise], lesson: str | None) -> list[core.Exercise]:
    """The exercises a submission is graded on (as ``grade_submission`` decides)."""
    known = list(dict.fromkeys(lesson_of(ex.id) for ex in exercises))
    lessons = [lesson] if lesson else submission_lessons(nb, path, known)
    return [ex for ex in exercises if lesson_of(ex.id) in lessons] or exercises


async def grade_isolated(path: str, exercises: list[core.Exercise], sources: dict, timeout: float,
                         lesson: str | None, check_timeout: float, memory_limit_gb: float | None,
                         live: dict, box: sandbox.Sandbox = sandbox.Sandbox()) -> Row:
    """Grade one submission in a worker process (in the sandbox ``box``, if it is on), re-running it without
    the cell that killed a worker."""
    nb, problem = read_submission(Path(path))
    if problem:
        return await grade_submission(path, exercises, sources, timeout, lesson, check_timeout)
    scope = scope_of(nb, path, exercises, lesson)
    notes: list[str] = []
    skip: set[int] = set()
    result = None
    text = Path(path).read_text(encoding="utf-8")  # read_submission read it: it is a notebook of UTF-8 text
    for attempt in range(MAX_RUNS):
        payload = {"package": "_workbook_grader_" + secrets.token_hex(8), "modules": sources["modules"],
                   "extra": sources["extra"], "private_copy": sources["private_copy"], "runner": sources["runner"],
                   "root": str(ROOT), "token": "WORKBOOK-ROW-" + secrets.token_hex(16) + ":",
                   "path": path, "notebook": text, "timeout": timeout, "lesson": lesson,
                   "check_timeout": check_timeout, "skip": sorted(skip), "memory_limit_gb": memory_limit_gb,
                   "writer": None if box.on else os.getpid()}
        result, events, code = await _run_worker(payload, live, box)
        if result is not None:
            break
        how = f"signal {-code}" if code < 0 else f"exit status {code}"
        cells = [e.get("cell", -1) for e in events if "cell" in e]
        last = cells[-1] if cells else -1
        if last is None or last == -1 or not isinstance(last, int) or last >= len(nb.cells):
            during = "while its answers were checked" if last is None else "before its first cell ran"
            notes.append(f"the process grading this notebook was stopped {during} ({how}: the notebook killed "
                         f"its parent process, or the machine ran out of memory)")
            break
        final = attempt == MAX_RUNS - 1
        notes.append(f"{_describe_cell(nb, last)} stopped the process grading it ({how}: it killed its parent "
                     f"process, or the machine ran out of memory); "
                     + ("gave up after that many runs" if final else "graded a re-run without it"))
        skip.add(last)
    row = Row(path, {ex.id: 0 for ex in scope}, sum(ex.points for ex in scope))
    row.errors.extend(notes)
    if result is not None:
        row.errors.extend(str(e) for e in result.get("errors", []))
        statuses, messages = result.get("statuses", {}), result.get("messages", {})
        for ex in scope:  # points from the writer's own registry, whatever the worker said
            status = statuses.get(ex.id)
            if isinstance(status, str):
                row.statuses[ex.id] = status
                row.messages[ex.id] = core.one_line(messages.get(ex.id, ""))
            if status == core.CORRECT:
                row.points[ex.id] = ex.points
    return row


async def grade_all(paths: list[str], exercises: list[core.Exercise], sources: dict, timeout: float,
                    jobs: int = 1, lesson: str | None = None, check_timeout: float = CHECK_SECONDS,
                    progress=None, memory_limit_gb: float | None = DEFAULT_MEMORY_GB, on_row=None,
                    box: sandbox.Sandbox = sandbox.Sandbox()) -> list[Row]:
    """Grade every submission, ``jobs`` at a time, each in a worker process (in the sandbox ``box``, if it is
    on); ``on_row`` gets each row as soon as it is graded. Rows come back in the order of ``paths``. When
    cancelled (Ctrl-C), every worker and kernel still running is stopped before this returns."""
    limit = asyncio.Semaphore(max(1, jobs))
    live: dict[int, int | None] = {}

    async def one(path: str) -> Row:
        async with limit:
            start = time.monotonic()
            try:
                row = await grade_isolated(path, exercises, sources, timeout, lesson, check_timeout,
                                           memory_limit_gb, live, box)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a bug in the grader must not cost the other rows
                row = Row(path, {ex.id: 0 for ex in exercises}, sum(ex.points for ex in exercises),
                          [core.one_line(f"the grader failed on this file: {type(error).__name__}: {error}")])
            if on_row:
                on_row(row)
            if progress:
                progress(row, time.monotonic() - start)
            return row

    try:
        return list(await asyncio.gather(*(one(p) for p in paths)))
    finally:
        for worker, kernel in list(live.items()):
            _kill_group(worker)
            _kill_group(kernel)


def _points(value: float) -> str:
    return f"{value:g}"


def columns(rows: list[Row], exercises: list[core.Exercise]) -> list[str]:
    """The exercise ids some row is graded on, in the registry's order."""
    graded = {exercise_id for row in rows for exercise_id in row.points}
    return [ex.id for ex in exercises if ex.id in graded]


def _cells(row: Row, ids: list[str]) -> list[str]:
    cells = [_points(row.points[i]) if i in row.points else "" for i in ids]
    return [row.submission] + cells + [_points(row.total), _points(row.maximum), row.error]


class RowWriter:
    """The CSV, written as the batch goes: the header first, then each row the moment it is graded,
    flushed to the disk, so that a batch cut short (Ctrl-C, a power cut, a killed grader) keeps every
    row it finished. With ``resume`` the rows already in the file are kept and their submissions
    skipped."""

    FIXED = ["total", "max", "error"]

    def __init__(self, out: Path, ids: list[str], resume: bool):
        self.out = Path(out)
        self.done: list[str] = []
        self.written = 0
        if resume and self.out.exists() and self.out.stat().st_size > 0:
            data = self.out.read_bytes()
            if not data.endswith(b"\n"):  # a row cut off in the middle of writing: drop it, grade it again
                data = data[:data.rfind(b"\n") + 1]
                self.out.write_bytes(data)
            lines = list(csv.reader(data.decode("utf-8").splitlines()))
            header = lines[0] if lines else []
            if len(header) < 4 or header[0] != "submission" or header[-3:] != self.FIXED:
                raise ValueError(f"{self.out} is not a grades file this grader wrote (its first line is "
                                 f"{','.join(header)[:80]!r}); give --out a new file, or leave out --resume")
            self.ids = header[1:-3]
            self.done = [line[0] for line in lines[1:] if line and len(line) == len(header)]
            self.handle = open(self.out, "a", newline="", encoding="utf-8")
        else:
            self.ids = list(ids)
            self.handle = open(self.out, "w", newline="", encoding="utf-8")
            self._write(["submission"] + self.ids + self.FIXED)

    def _write(self, cells: list[str]) -> None:
        csv.writer(self.handle).writerow(cells)
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def add(self, row: Row) -> None:
        self._write(_cells(row, self.ids))
        self.written += 1

    def close(self) -> None:
        self.handle.close()

    def put_in_order(self, paths: list[str]) -> None:
        """Once the batch is complete: rewrite the file with its rows in the order of ``paths`` (rows of
        other submissions after them), replacing it in one step."""
        with open(self.out, newline="", encoding="utf-8") as handle:
            lines = list(csv.reader(handle))
        header, body = lines[0], lines[1:]
        rank = {path: i for i, path in enumerate(paths)}
        body.sort(key=lambda cells: rank.get(cells[0], len(rank)))
        temporary = self.out.with_name(self.out.name + ".partial")
        with open(temporary, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.out)


# ---------------------------------------------------------------------------------------------------
# Feedback for each student
# ---------------------------------------------------------------------------------------------------

VERDICTS = {core.CORRECT: "correct", core.INCORRECT: "not correct yet", core.NOT_ATTEMPTED: "not attempted",
            core.MISSING: "no answer"}


def feedback_name(submission: str) -> str:
    """The feedback file's name for a submission: its path with every character that is not a letter, a
    digit, a dot or a dash replaced, so that two students' files of the same name do not collide."""
    text = re.sub(r"[^\w.-]+", "_", str(Path(submission)).lstrip("./\\")).strip("_") or "submission"
    return text[:200] + ".md"


def _cell_text(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def feedback_markdown(row: Row, exercises: list[core.Exercise]) -> str:
    """One submission's feedback: every exercise it was graded on with its verdict, points and the check's
    message, then what went wrong while the notebook ran."""
    by_id = {ex.id: ex for ex in exercises}
    lines = [f"# Feedback: {Path(row.submission).name}", "",
             f"**Total: {_points(row.total)} of {_points(row.maximum)} points.**", "",
             "| exercise | verdict | points | message |", "| --- | --- | --- | --- |"]
    for exercise_id, points in row.points.items():
        ex = by_id.get(exercise_id)
        verdict = VERDICTS.get(row.statuses.get(exercise_id), "not graded")
        maximum = _points(ex.points) if ex else "?"
        lines.append(f"| {exercise_id} | {verdict} | {_points(points)} / {maximum} | "
                     f"{_cell_text(row.messages.get(exercise_id, ''))} |")
    if row.errors:
        lines += ["", "## While your notebook ran", ""] + [f"- {_cell_text(e)}" for e in row.errors]
    return "\n".join(lines) + "\n"


def write_feedback(folder: Path, row: Row, exercises: list[core.Exercise]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / feedback_name(row.submission)
    path.write_text(feedback_markdown(row, exercises), encoding="utf-8")
    return path


def summary(rows: list[Row]) -> str:
    width = max([len("submission")] + [len(Path(r.submission).name) for r in rows])
    lines = [f"{'submission':{width}s}  {'points':>9s}  error", f"{'-' * width}  {'-' * 9}  {'-' * 5}"]
    for row in rows:
        score = f"{_points(row.total)}/{_points(row.maximum)}"
        error = row.error if len(row.error) <= 70 else row.error[:67] + "..."
        lines.append(f"{Path(row.submission).name:{width}s}  {score:>9s}  {error}")
    return "\n".join(lines)


def load_exercises(extra_checks: Path | None) -> list[core.Exercise]:
    """The grader's own registry: the lesson modules, then the extra checks."""
    exercises = core.exercises()
    if extra_checks is not None:
        core.load_checks_file(Path(extra_checks).read_text(encoding="utf-8"), str(Path(extra_checks).resolve()))
        exercises = core.exercises()
    return exercises


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m grading",
        description="Grade submitted exercise notebooks: each runs in a fresh kernel, in a process of its own, with "
                    "a time and a memory limit, on Linux inside a sandbox (bubblewrap), then every registered "
                    "exercise is checked. Writes one CSV row per submission the moment it is graded.")
    parser.add_argument("submissions", nargs="+", metavar="SUBMISSION.ipynb", help="the notebooks to grade")
    parser.add_argument("--out", required=True, type=Path, help="the CSV file to write (grades.csv)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the rows already in --out and grade only the submissions it does not have yet")
    parser.add_argument("--feedback", type=Path, default=None, metavar="DIR",
                        help="also write one Markdown file per submission into DIR: every exercise's verdict, "
                             "points and message, to hand back to the student")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"seconds a submission's cells may run, per run (default {DEFAULT_TIMEOUT})")
    parser.add_argument("--check-timeout", type=float, default=CHECK_SECONDS, metavar="SECONDS",
                        help=f"seconds each check may run the student's code (default {CHECK_SECONDS})")
    parser.add_argument("--memory-limit", type=float, default=DEFAULT_MEMORY_GB, metavar="GB",
                        help=f"gigabytes of address space each submission may use, on Linux (default "
                             f"{DEFAULT_MEMORY_GB:g}; 0 for no limit)")
    parser.add_argument("--extra-checks", type=Path, default=None, metavar="FILE",
                        help="a Python file with more exercise checks (same API as grading/lessonNN.py)")
    parser.add_argument("--lesson", default=None, metavar="NN",
                        help="grade every submission on this lesson's exercises (default: each notebook's own, "
                             "from its metadata, its check(...) calls or NN_ in its name)")
    parser.add_argument("--jobs", type=int, default=_cores(),
                        help=f"submissions graded at the same time (default: the machine's cores, here {_cores()})")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run the submissions without bubblewrap, as processes of your user (the default on "
                             "Linux with bwrap is a sandbox: the course read-only, no network, no process left over)")
    args = parser.parse_args(argv)
    if args.timeout <= 0 or args.check_timeout <= 0:
        parser.error("--timeout and --check-timeout must be positive numbers of seconds.")
    if args.memory_limit < 0 or 0 < args.memory_limit < 1:
        parser.error("--memory-limit must be at least 1 (gigabytes; a kernel with torch needs about 1), or 0 for "
                     "no limit.")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1.")
    if args.extra_checks is not None and not args.extra_checks.is_file():
        parser.error(f"--extra-checks: no such file: {args.extra_checks}")
    try:
        exercises = load_exercises(args.extra_checks)
        sources = check_sources(args.extra_checks)
    except Exception as error:
        parser.error(f"could not load the checks: {type(error).__name__}: {error}")
    if not exercises:
        parser.error("no exercise is registered: there is nothing to grade.")
    lessons = list(dict.fromkeys(lesson_of(ex.id) for ex in exercises))
    if args.lesson is not None and args.lesson not in lessons:
        parser.error(f"--lesson {args.lesson}: no exercise of that lesson is registered (lessons: {', '.join(lessons)}).")

    paths = list(dict.fromkeys(args.submissions))
    scopes = {path: scope_of(read_submission(Path(path))[0], path, exercises, args.lesson) for path in paths}
    wanted = {ex.id for scope in scopes.values() for ex in scope}
    try:
        writer = RowWriter(args.out, [ex.id for ex in exercises if ex.id in wanted], args.resume)
    except (OSError, ValueError, csv.Error) as error:
        parser.error(f"--out: {error}")
    already = set(writer.done)
    pending = [path for path in paths if path not in already]
    outside = sorted({ex.id for path in pending for ex in scopes[path]} - set(writer.ids))
    if outside:
        writer.close()
        parser.error(f"--resume: {args.out} has no column for {', '.join(outside)}; grade these submissions into a "
                     f"new --out file.")
    if already:
        print(f"{len(paths) - len(pending)} submission(s) already in {args.out}: not graded again.", file=sys.stderr)

    # The submissions' and the feedback's folders are hidden inside the sandbox: no student reads another's.
    private = [Path(path).parent for path in pending] + ([args.feedback] if args.feedback is not None else [])
    box = sandbox.choose(ROOT, private + [Path(args.out).parent], no_sandbox=args.no_sandbox)
    if not box.on and pending:
        print(box.notice(), file=sys.stderr, flush=True)

    def on_row(row: Row) -> None:
        writer.add(row)
        if args.feedback is not None:
            write_feedback(args.feedback, row, exercises)

    def progress(row: Row, seconds: float) -> None:
        print(f"graded {row.submission}: {_points(row.total)} points in {seconds:.0f} s", file=sys.stderr, flush=True)

    try:
        rows = asyncio.run(grade_all(pending, exercises, sources, args.timeout, args.jobs, args.lesson,
                                     args.check_timeout, progress, args.memory_limit or None, on_row, box))
    except KeyboardInterrupt:
        writer.close()
        print(f"\nStopped: {writer.written} row(s) written to {args.out} in this run "
              f"({len(pending) - writer.written} not graded). Run the same command with --resume to grade the rest.",
              file=sys.stderr, flush=True)
        return 130
    writer.close()
    writer.put_in_order(paths)
    if rows:
        print(summary(rows))
    where = " in a sandbox (bubblewrap)" if box.on else f" (not sandboxed: {box.reason})"
    print(f"\n{len(rows)} submission(s) graded{where}; wrote {args.out}"
          + (f" and one feedback file each in {args.feedback}" if args.feedback is not None else ""))
    return 0
