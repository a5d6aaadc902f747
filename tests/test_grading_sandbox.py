"""The batch grader's sandbox (grading/sandbox.py): when it is used and what the grader says when it is not;
what bubblewrap is asked for (nothing writable of the course or its Python, no network, no capability, the
submissions' folder out of sight); what a row says a cell met; and, where bwrap runs, that each way out is
closed: a write into the repository or the Python, the network, a process left running, another student's
notebook. The whole grader in the sandbox, on submissions that try each of these, is in tests/test_grading.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from grading import sandbox

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------------
# When the grader sandboxes, and what it says when it does not
# ---------------------------------------------------------------------------------------------------

def test_no_sandbox_is_chosen_by_the_option_and_said_so():
    box = sandbox.choose(ROOT, no_sandbox=True)
    assert not box.on and box.wrap(["python"]) == ["python"]
    assert box.notice().startswith("Not sandboxed: --no-sandbox was given.")


def test_without_bwrap_the_grader_names_the_command_that_installs_it():
    box = sandbox.choose(ROOT, which=lambda name: None, platform="linux")
    assert not box.on and "bubblewrap (bwrap) is not installed" in box.reason
    assert "sudo apt-get install bubblewrap" in box.notice() and "sudo dnf install bubblewrap" in box.notice()


def test_on_macos_the_grader_says_the_sandbox_is_linux_only():
    box = sandbox.choose(ROOT, which=lambda name: "/usr/local/bin/bwrap", platform="darwin")
    assert not box.on and "Linux only" in box.reason


def fake_bwrap(folder: Path, message: str) -> str:
    path = folder / "bwrap"
    path.write_text(f"#!/bin/sh\necho '{message}' >&2\nexit 1\n")
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize("message, words", [
    ("bwrap: No permissions to creating new namespace, likely because the kernel does not allow non-privileged "
     "user namespaces.", "this system does not let users create namespaces; docs/instructors.md says how"),
    ("bwrap: setting up uid map: Permission denied", "this system does not let users create namespaces"),
    ("bwrap: execvp python: No such file or directory", "the course's Python does not start inside bwrap"),
])
def test_a_bwrap_that_cannot_make_the_sandbox_is_named_with_what_it_said(tmp_path, message, words):
    bwrap = fake_bwrap(tmp_path, message)
    box = sandbox.choose(ROOT, which=lambda name: bwrap, platform="linux")
    assert not box.on and words in box.reason and message[:40] in box.reason


# ---------------------------------------------------------------------------------------------------
# What bwrap is asked for
# ---------------------------------------------------------------------------------------------------

def arguments(private=()) -> list[str]:
    return sandbox.bwrap_arguments("bwrap", ROOT, list(private))


def mounts(args: list[str], option: str) -> list[str]:
    """The destinations of every ``option`` (``--ro-bind``, ``--tmpfs``...) in ``args``, in order."""
    width = {"--ro-bind": 2, "--ro-bind-try": 2, "--bind": 2, "--bind-try": 2, "--dev-bind": 2, "--symlink": 2}
    return [args[i + width.get(option, 1)] for i, a in enumerate(args) if a == option]


def test_bwrap_is_asked_for_every_namespace_no_capability_and_to_end_with_the_grader():
    args = arguments()
    assert {"--unshare-all", "--die-with-parent", "--new-session"} <= set(args)
    assert args[args.index("--cap-drop") + 1] == "ALL", "as root, bwrap would leave the sandbox free to remount"
    assert "--share-net" not in args


def test_nothing_of_the_machine_is_mounted_writable_and_the_course_and_its_python_are_read_only():
    args = arguments()
    assert not mounts(args, "--bind") and not mounts(args, "--bind-try") and not mounts(args, "--dev-bind")
    read_only = [Path(p) for p in mounts(args, "--ro-bind")]
    for needed in (ROOT, Path(sys.prefix), Path(sys.base_prefix)):
        assert any(p == needed or p in needed.parents for p in read_only), needed
    assert Path("/") not in read_only and Path.home() not in read_only
    assert "/tmp" in mounts(args, "--tmpfs"), "a private, empty /tmp"


def test_the_private_home_is_mounted_before_what_is_read_only_inside_it():
    args = arguments()
    home = str(Path.home().resolve())
    tmpfs = [i for i, a in enumerate(args) if a == "--tmpfs" and args[i + 1] == home]
    inside = [i for i, a in enumerate(args) if a == "--ro-bind" and args[i + 2].startswith(home + "/")]
    assert tmpfs and all(i > tmpfs[0] for i in inside)


@pytest.fixture
def submissions_in_the_repository():
    """A folder of submissions inside the repository (under build/, which git ignores), removed after."""
    (ROOT / "build").mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="sandbox-test-submissions-", dir=ROOT / "build"))
    (folder / "someone_else.ipynb").write_text("{}")
    yield folder
    shutil.rmtree(folder)


def test_the_submissions_folder_is_hidden_where_it_would_show_but_never_the_course_itself(
        submissions_in_the_repository, tmp_path):
    folder = submissions_in_the_repository
    args = arguments([folder, ROOT, ROOT / "utils", ROOT / "grading", tmp_path])
    assert mounts(args, "--tmpfs")[-1:] == [str(folder)]
    assert not {str(ROOT), str(ROOT / "utils"), str(ROOT / "grading")} & set(mounts(args, "--tmpfs"))
    assert str(tmp_path) not in mounts(args, "--tmpfs"), "under /tmp it is out of sight already"


@pytest.mark.parametrize("text, met", [
    ("ERROR: Could not install packages due to an OSError: [Errno 30] Read-only file system: '/x/site-packages/a'",
     "a read-only environment"),
    ("OSError: [Errno 30] Read-only file system: '/course/utils/x.py'", "a read-only environment"),
    ("URLError: <urlopen error [Errno -3] Temporary failure in name resolution>", "no network"),
    ("WARNING: Retrying (Retry(total=4)) after connection broken by 'NewConnectionError(': Failed to establish a new "
     "connection: [Errno 101] Network is unreachable')'", "no network"),
    ("ValueError: invalid literal for int() with base 10: 'x'", None),
])
def test_a_row_names_what_a_cell_met_from_its_error_or_what_it_printed(text, met):
    found = sandbox.what_a_cell_met(text)
    assert (found[0] if found else None) == met


# ---------------------------------------------------------------------------------------------------
# Where bwrap runs: each way out is closed
# ---------------------------------------------------------------------------------------------------

@pytest.fixture
def box(submissions_in_the_repository):
    chosen = sandbox.choose(ROOT, [submissions_in_the_repository])
    if not chosen.on:
        pytest.skip(f"no sandbox on this machine: {chosen.reason}")
    return chosen


def inside(box: sandbox.Sandbox, code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(box.wrap([sys.executable, "-c", code]), capture_output=True, text=True, timeout=timeout)


def test_inside_the_course_and_its_python_cannot_be_written(box):
    target = ROOT / "utils" / f"sandbox_test_{os.getpid()}.py"
    site = Path(sys.prefix) / f"sandbox_test_{os.getpid()}"
    done = inside(box, f"import os\nfor path in ({str(target)!r}, {str(site)!r}):\n"
                       "    try:\n        open(path, 'w')\n    except OSError as error:\n        print(error.errno)")
    assert done.stdout.split() == ["30", "30"], done.stderr  # EROFS, twice
    assert not target.exists() and not site.exists()


def test_inside_the_sandbox_cannot_mount_the_course_writable_again_even_as_root(box):
    done = subprocess.run(box.wrap(["mount", "-o", "remount,bind,rw", str(ROOT)]), capture_output=True, text=True)
    assert done.returncode != 0
    assert inside(box, f"open({str(ROOT / 'x')!r}, 'w')").returncode != 0


def test_inside_there_is_no_network_and_a_connection_fails_at_once(box):
    code = ("import socket, time\nstart = time.monotonic()\ntry:\n"
            "    socket.create_connection(('1.1.1.1', 443), timeout=30)\nexcept OSError as error:\n"
            "    print(type(error).__name__, round(time.monotonic() - start))")
    done = inside(box, code)
    assert done.stdout.split() == ["OSError", "0"], done.stdout + done.stderr
    lookup = inside(box, "import socket; socket.getaddrinfo('pypi.org', 443)")
    assert "Temporary failure in name resolution" in lookup.stderr


def test_a_process_started_inside_in_a_session_of_its_own_ends_with_the_sandbox(box):
    token = f"9{os.getpid()}.{time.monotonic_ns() % 10**6}"
    done = inside(box, f"import subprocess\nsubprocess.Popen(['sleep', '{token}'], start_new_session=True)\n"
                       "print('ok')")
    assert done.stdout.strip() == "ok", done.stderr
    time.sleep(0.5)
    left = [p for p in Path("/proc").iterdir() if p.name.isdigit() and (p / "cmdline").exists()
            and token.encode() in (p / "cmdline").read_bytes()]
    assert left == []


def test_inside_tmp_and_home_are_private_and_the_submissions_folder_is_empty(box, submissions_in_the_repository,
                                                                             tmp_path):
    folder = submissions_in_the_repository
    (tmp_path / "outside.txt").write_text("x")
    code = (f"import os, pathlib\nprint(os.listdir({str(folder)!r}))\nprint(os.path.exists({str(tmp_path)!r}))\n"
            "pathlib.Path('/tmp/mine').write_text('x')\npathlib.Path.home().joinpath('mine').write_text('x')\n"
            "print('wrote')")
    done = inside(box, code)
    assert done.stdout.split("\n")[:3] == ["[]", "False", "wrote"], done.stdout + done.stderr
    assert not (tmp_path / "mine").exists() and not (Path.home() / "mine").exists()
