"""The Makefile's front door: `make help` lists the commands, `make unit` leaves the slow tests to
`make test`, and `make setup` asks uv for the torch build of the machine, with pip as the fallback."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAKEFILE = (ROOT / "Makefile").read_text()


def make(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_make_help_lists_every_command_that_has_a_description():
    described = re.findall(r"^([a-z-]+):.*## ", MAKEFILE, flags=re.MULTILINE)
    assert {"lab", "test", "unit", "setup", "bench", "help"} <= set(described)
    listed = make("help")
    assert listed.returncode == 0, listed.stderr
    assert re.findall(r"^  make (\S+)", listed.stdout, flags=re.MULTILINE) == described
    assert make().stdout == listed.stdout, "`make` alone shows the commands instead of installing anything"


def test_make_unit_leaves_the_slow_tests_out():
    recipe = re.search(r"^unit:.*\n\t(.+)$", MAKEFILE, flags=re.MULTILINE).group(1)
    assert 'pytest tests -m "not slow"' in recipe
    assert make("-n", "unit", "JOBS=1").stdout.strip().splitlines()[-1].endswith('pytest tests -m "not slow"')


class Item:
    """What the marking in tests/conftest.py reads of a collected test."""

    def __init__(self, path: str, name: str, fixtures=()):
        self.path, self.name, self.originalname, self.fixturenames = ROOT / path, name, name, list(fixtures)
        self.markers = []

    def add_marker(self, marker):
        self.markers.append(marker.name)


def test_the_slow_tests_get_the_slow_marker_by_file_name_or_fixture():
    import conftest

    items = [Item("tests/test_browser.py", "test_a_student_runs_lesson_00_and_reaches_the_exercises_of_lesson_01"),
             Item("tests/test_export.py", "test_nbgrader_gives_the_solutions_full_marks_and_the_untouched_release_zero"),
             Item("tests/test_grading.py", "test_the_solutions_get_full_marks", ["whole_notebooks"]),
             Item("tests/test_grading.py", "test_a_flood_of_output_is_thrown_away_not_graded", ["broken"]),
             Item("tests/test_grading.py", "test_check_says_correct_with_the_points", ["capsys"]),
             Item("tests/test_export.py", "test_a_failing_check_fails_its_test_cell_and_a_passing_one_does_not")]
    slow = {item.name for item in items[:4]}
    conftest.pytest_collection_modifyitems(None, None, items)  # marks them, then orders them slowest first
    assert {item.name for item in items if item.markers == ["slow"]} == slow
    assert all(item.markers == [] for item in items if item.name not in slow)



def test_every_slow_test_named_in_conftest_exists():
    import conftest

    for name in conftest.SLOW_TESTS:
        path, _, test = name.partition("::")
        assert (ROOT / path).is_file(), f"tests/conftest.py marks {name} slow, but {path} is gone"
        assert not test or f"def {test}(" in (ROOT / path).read_text(), f"no test {test} in {path}"
    defined = "".join(path.read_text() for path in (ROOT / "tests").glob("test_*.py"))
    for fixture in conftest.SLOW_FIXTURES:
        assert f"def {fixture}(" in defined, f"tests/conftest.py marks the users of {fixture} slow; it is gone"


def setup_commands(env: dict) -> str:
    """What `make setup` would run to (re)create .venv, without running it."""
    done = make("-n", "-W", "requirements.txt", "setup", env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_setup_asks_uv_for_the_torch_build_of_this_machine():
    commands = setup_commands({"PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": ""})
    uv = next(line for line in commands.splitlines() if "uv pip install" in line and "-r requirements.txt" in line)
    assert "--torch-backend auto" in uv
    assert "pip install --quiet -r requirements.txt" in commands, "pip is the fallback"
    chosen = setup_commands({"PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": "", "TORCH_BACKEND": "cpu"})
    assert "--torch-backend cpu" in chosen


def test_a_local_torch_wheel_is_installed_as_it_is_without_the_torch_index(tmp_path):
    (tmp_path / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"")
    commands = setup_commands({"PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": str(tmp_path)})
    assert f"--find-links {tmp_path}" in commands and "--torch-backend" not in commands


def fake_program(path: Path, log: Path, status: int) -> None:
    path.write_text(f'#!/bin/sh\necho "$(basename "$0") $*" >> "{log}"\nexit {status}\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.mark.parametrize("uv_status", [0, 1], ids=["uv installs", "uv fails, pip installs"])
def test_setup_installs_with_uv_and_falls_back_to_pip_when_uv_fails(tmp_path, uv_status):
    venv, log = tmp_path / "venv", tmp_path / "log"
    (venv / "bin").mkdir(parents=True)
    fake_program(venv / "bin" / "python", log, 0)
    fake_program(venv / "bin" / "uv", log, uv_status)
    done = make(f"VENV={venv}", "setup", env={"PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": ""})
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    assert calls[0] == "python -m pip install --quiet uv==0.13.9"
    assert "--torch-backend auto" in calls[1] and calls[1].endswith("-r requirements.txt")
    pip = [call for call in calls if call.startswith("python -m pip install --quiet -r requirements.txt")]
    assert len(pip) == uv_status, "pip installs the requirements exactly when uv failed"
    assert (venv / ".ready").is_file()
