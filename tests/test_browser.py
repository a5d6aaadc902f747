"""A student's path in a real browser: JupyterLab started as `make lab` starts it, a headless Chromium
opens lesson 00, runs all its cells, follows its link to lesson 01 and lesson 01's link to its exercises,
and runs the exercise notebook's first check, which says "not attempted". Screenshots of each step go to
build/browser/.

The browser is the system's Chromium (Debian: `apt-get install chromium`), driven by Playwright from PyPI;
nothing downloads a browser. In CI (CI=true) a missing browser is a failure; elsewhere the test skips and
says how to enable it. The server runs on a copy of the course, so running cells changes no committed file.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "build" / "browser"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
ENABLE = ("the real-browser test needs Chromium and Playwright: `sudo apt-get install chromium` "
          "(or set WORKBOOK_CHROMIUM to a Chromium binary) and `pip install playwright`")
TIMEOUT_MS = 60_000


def chromium() -> str | None:
    for candidate in (os.environ.get("WORKBOOK_CHROMIUM"), shutil.which("chromium"),
                      shutil.which("chromium-browser"), shutil.which("google-chrome")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def lab_args() -> list[str]:
    """The arguments `make lab` gives `jupyter lab` (the Makefile's LAB_ARGS), so the test serves the
    course exactly as a student sees it."""
    match = re.search(r"^LAB_ARGS\s*:?=\s*(.+)$", (ROOT / "Makefile").read_text(), flags=re.MULTILINE)
    assert match, "the Makefile defines LAB_ARGS for `make lab`"
    return shlex.split(match.group(1))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def browser_path():
    path = chromium()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the real-browser test: {ENABLE}")
        pytest.skip(ENABLE)
    return path


@pytest.fixture(scope="module")
def course_copy(tmp_path_factory) -> Path:
    """The course's notebooks and package in a folder of their own (the lab writes checkpoints there)."""
    copy = tmp_path_factory.mktemp("course")
    for folder in ("notebooks", "exercises", "solutions", "utils"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "requirements.txt", copy / "requirements.txt")
    if (ROOT / "build" / "bench.json").is_file():
        (copy / "build").mkdir()
        shutil.copy(ROOT / "build" / "bench.json", copy / "build" / "bench.json")
    return copy


@pytest.fixture(scope="module")
def lab(course_copy, tmp_path_factory):
    """JupyterLab as `make lab` starts it, on a random free loopback port with a random token; always stopped."""
    port, token = free_port(), secrets.token_hex(16)
    home = tmp_path_factory.mktemp("jupyter")
    env = {**os.environ, "PYTHONPATH": str(course_copy), "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [str(Path(sys.executable).with_name("jupyter-lab")), "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               *(["--allow-root"] if os.getuid() == 0 else []), *lab_args()]
    log = open(home / "server.log", "w")
    server = subprocess.Popen(command, cwd=course_copy, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240  # a busy 2-core machine can take minutes to import the server
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(f"JupyterLab did not start:\n{(home / 'server.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield {"base": base, "token": token, "root": course_copy, "log": home / "server.log"}
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def run_menu(page, menu: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{menu}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).first.click()


def current_notebook(page):
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")


def wait_idle(page) -> None:
    """Wait until no cell of the visible notebook is queued or running ([*])."""
    page.wait_for_function(
        """() => { const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
                   if (!panel) return false;
                   const prompts = [...panel.querySelectorAll('.jp-InputPrompt')].map(p => p.textContent);
                   return prompts.length > 0 && !prompts.some(p => p.includes('*')); }""",
        timeout=TIMEOUT_MS)


def open_tab(page, name: str) -> None:
    tab = page.locator(".lm-TabBar-tab.jp-mod-current .lm-TabBar-tabLabel", has_text=name)
    tab.wait_for(timeout=TIMEOUT_MS)
    current_notebook(page).locator(".jp-Cell").first.wait_for(timeout=TIMEOUT_MS)
    page.locator("#jp-main-statusbar", has_text=re.compile("Idle")).wait_for(timeout=TIMEOUT_MS)


def test_a_student_runs_lesson_00_and_reaches_the_exercises_of_lesson_01(browser_path, lab):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=browser_path, args=CHROMIUM_FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            # Where `make lab` sends the browser: lesson 00, in a server whose root is the repository.
            page.goto(f"{lab['base']}/lab/tree/notebooks/00_start_here.ipynb?token={lab['token']}")
            open_tab(page, "00_start_here.ipynb")
            page.screenshot(path=SHOTS / "1_lesson_00_opened.png")
            file_browser = page.locator(".jp-DirListing-content")
            for folder in ("exercises", "notebooks", "solutions"):
                assert file_browser.get_by_text(folder, exact=True).count() or page.locator(
                    ".jp-BreadCrumbs").count(), folder

            run_menu(page, "Run", "Run All Cells")
            wait_idle(page)
            lesson_00 = current_notebook(page)
            last = lesson_00.locator(".jp-CodeCell").last
            last.scroll_into_view_if_needed()
            assert "lessons in the syllabus" in last.locator(".jp-OutputArea").inner_text(), (
                "Run all reached the last cell of lesson 00")
            assert lesson_00.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                                     has_text="Traceback").count() == 0
            page.screenshot(path=SHOTS / "2_lesson_00_ran.png")

            lesson_00.locator("a", has_text="lesson 01, pre-training by masked language modelling").click()
            open_tab(page, "01_pretraining_mlm.ipynb")
            page.screenshot(path=SHOTS / "3_lesson_01_opened.png")

            current_notebook(page).locator("a", has_text="01_pretraining_mlm_exercises.ipynb").first.click()
            open_tab(page, "01_pretraining_mlm_exercises.ipynb")
            exercises = current_notebook(page)
            first_check = exercises.locator(".jp-CodeCell", has=page.locator(".cm-content", has_text="check(\"01."))
            first_check = first_check.first
            first_check.locator(".cm-content").click()
            run_menu(page, "Run", "Run All Above Selected Cell")
            wait_idle(page)
            first_check.locator(".cm-content").click()
            run_menu(page, "Run", "Run Selected Cell and Do not Advance")
            wait_idle(page)
            verdict = first_check.locator(".jp-OutputArea")
            verdict.scroll_into_view_if_needed()
            page.screenshot(path=SHOTS / "4_exercise_checked.png")
            assert "not attempted" in verdict.inner_text(), verdict.inner_text()
        finally:
            browser.close()
