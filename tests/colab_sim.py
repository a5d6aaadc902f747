"""A simulated Colab runtime: ``python tests/colab_sim.py [--lessons 00 01]`` (``make colab-check``).

Colab cannot be opened from a test, so this builds the nearest thing and runs lessons top to bottom
through their set-up cell, as a student's "Run all" does on a fresh runtime:

* a virtual environment with Colab's published package versions (``COLAB``, from the pip freeze in
  googlecolab/backend-info, August 2026; the nearest that install here: torch's CPU build 2.13 and this
  machine's Python stand in for Colab's torch 2.11 and Python 3.13), built once under
  ``build/colab-sim/`` and copied afresh for each lesson, because each Colab notebook gets its own runtime;
* a ``google.colab`` module, and ``pandas`` imported when the kernel starts, as Colab's kernel does (so
  pyarrow is loaded before the set-up cell runs, which is what broke ``datasets`` upgrades on Colab);
* the clone: the set-up cell runs ``git clone https://github.com/<REPOSITORY>`` into
  ``/content/bert-workbook`` exactly as on Colab; git is told (``url.<...>.insteadOf``) to fetch that
  address from this checkout's HEAD instead, so the committed course is what the lesson finds;
* the notebook as GitHub serves it (the committed file at HEAD), run with the kernel's working folder
  ``/content``; ``pip`` in the set-up cell installs from the package index as on Colab.

A lesson passes when no cell fails, the set-up cell says the course is ready, nothing the kernel had
imported changed version, and every cell whose output the tests pin (``# NBVAL_CHECK_OUTPUT``) prints
what the committed notebook shows. Needs the package index and write access to ``/content`` (CI runs as
root). It takes minutes: about three to build the environment the first time, then each lesson's set-up
and run (lesson 01 pre-trains its model on the simulated runtime, which has no checkpoint yet).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from utils import colab  # noqa: E402

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


def say(text: str) -> None:
    print(text, flush=True)


def run(command: list[str], **kw) -> None:
    done = subprocess.run(command, capture_output=True, text=True, **kw)
    if done.returncode:
        raise SystemExit(f"colab-check: `{' '.join(map(str, command))}` failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")


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


def fresh_runtime(base: Path) -> Path:
    """A copy of the base environment for one notebook (hard links: seconds, and pip replaces files
    rather than writing into them, so the base stays as built)."""
    runtime = SIM / "runtime"
    shutil.rmtree(runtime, ignore_errors=True)
    run(["cp", "-al", str(base), str(runtime)])
    kernels = SIM / "jupyter" / "kernels" / KERNEL
    kernels.mkdir(parents=True, exist_ok=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(runtime / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--IPKernelApp.exec_lines=['import google.colab', 'import pandas']"],
        "display_name": "Colab (simulated)", "language": "python"}, indent=1))
    return runtime


def origin() -> tuple[Path, str]:
    """A bare copy of this checkout whose ``main`` is HEAD: what the set-up cell's clone fetches."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    bare = SIM / "origin.git"
    shutil.rmtree(bare, ignore_errors=True)
    run(["git", "clone", "-q", "--bare", str(ROOT), str(bare)])
    run(["git", "--git-dir", str(bare), "branch", "-f", colab.BRANCH, head])
    return bare, head


def clear_content() -> None:
    checkout = Path(colab.COLAB_CHECKOUT)
    marker = CONTENT / ".colab-sim"
    if checkout.exists():
        if not marker.exists():
            raise SystemExit(f"colab-check: {checkout} exists and was not made by this check; move it away first.")
        shutil.rmtree(checkout)
    try:
        CONTENT.mkdir(exist_ok=True)
        marker.touch()
    except PermissionError:
        raise SystemExit(f"colab-check: the set-up cell clones into {checkout} as on Colab, and {CONTENT} cannot be "
                         f"written here: run as root (CI does), or `sudo mkdir {CONTENT} && sudo chown $USER {CONTENT}`.")


def pinned_outputs(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data") and "text/plain" in output.get("data", {}):
            parts.append(output.data["text/plain"])
    return "".join(parts)


def run_lesson(path: str, base: Path, bare: Path, head: str) -> list[str]:
    """Run the committed notebook at repository path ``path`` on a fresh simulated runtime; the problems
    found (empty when it passed)."""
    runtime = fresh_runtime(base)
    clear_content()
    committed = nbformat.reads(subprocess.run(["git", "show", f"{head}:{path}"], cwd=ROOT, capture_output=True,
                                              text=True, check=True).stdout, as_version=4)
    nb = nbformat.from_dict(json.loads(json.dumps(committed)))
    before = installed(runtime)
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("PYTHONPATH", "VIRTUAL_ENV") and not key.startswith(("WORKBOOK_", "HF_", "TQDM"))}
    environment.update(JUPYTER_PATH=str(SIM / "jupyter"), GIT_CONFIG_COUNT="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
                       GIT_CONFIG_KEY_0=f"url.file://{bare}.insteadOf", GIT_CONFIG_VALUE_0=colab.github_url())
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(environment)
    problems = []
    try:
        client = NotebookClient(nb, kernel_name=KERNEL, timeout=1200, resources={"metadata": {"path": str(CONTENT)}})
        client.execute()
    except CellExecutionError as error:
        problems.append(f"a cell failed: {str(error)[-1500:]}")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    setup_output = pinned_outputs(nb.cells[1])
    if not problems and READY not in setup_output:
        problems.append(f"the set-up cell did not say the course is ready: {setup_output!r}")
    for index, (ran, stored) in enumerate(zip(nb.cells, committed.cells)):
        if ran.cell_type == "code" and "# NBVAL_CHECK_OUTPUT" in ran.source and not problems:
            if pinned_outputs(ran) != pinned_outputs(stored):
                problems.append(f"cell {index} printed\n{pinned_outputs(ran)}\nbut the committed notebook shows\n"
                                f"{pinned_outputs(stored)}")
    after = installed(runtime)
    loaded_at_start = {"pandas", "pyarrow", "numpy"}
    changed = sorted(name for name in loaded_at_start if before.get(name) != after.get(name))
    if changed:
        problems.append(f"packages the kernel had loaded at start changed version: {changed}")
    upgraded = {name: f"{before.get(name)} -> {version}" for name, version in after.items() if before.get(name) != version}
    say(f"  installed by the set-up cell: {', '.join(f'{n} {v}' for n, v in sorted(upgraded.items())) or 'nothing'}")
    return problems


def installed(runtime: Path) -> dict[str, str]:
    listed = subprocess.run([str(runtime / "bin" / "python"), "-m", "pip", "list", "--format", "json",
                             "--disable-pip-version-check"], capture_output=True, text=True, check=True).stdout
    return {row["name"].lower(): row["version"] for row in json.loads(listed)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lessons", nargs="+", default=["00", "01"], help="lesson numbers (default: 00 01)")
    args = parser.parse_args(argv)
    paths = []
    for lesson in args.lessons:
        found = sorted(p for p in (ROOT / "notebooks").glob(f"{lesson}_*.ipynb"))
        if not found:
            parser.error(f"no lesson {lesson!r} in notebooks/ (give numbers such as 00 01)")
        paths.append(found[0].relative_to(ROOT).as_posix())
    if shutil.which("git") is None:
        parser.error("git is needed (the set-up cell clones the course): install it, e.g. apt-get install git")
    start = time.perf_counter()
    base = base_environment()
    bare, head = origin()
    say(f"simulated Colab ({', '.join(f'{n} {v}' for n, v in COLAB.items())}); course at {head[:12]}")
    failed = 0
    for path in paths:
        began = time.perf_counter()
        problems = run_lesson(path, base, bare, head)
        verdict = "passed" if not problems else "FAILED"
        say(f"{path}: {verdict} in {time.perf_counter() - began:.0f} s")
        for problem in problems:
            say("  " + problem.replace("\n", "\n  "))
        failed += bool(problems)
    shutil.rmtree(Path(colab.COLAB_CHECKOUT), ignore_errors=True)
    say(f"colab-check: {len(paths) - failed} of {len(paths)} lessons passed in {time.perf_counter() - start:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
