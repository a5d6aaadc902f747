"""What a student's JupyterLab does with the committed notebooks: opening one and saving it without an
edit changes nothing, and no stored output shows the machine that ran it."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from utils import colab

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = colab.notebooks()
# Absolute paths of the machine that ran a notebook: its checkout, temporary folders, home folders.
MACHINE_PATH = re.compile(r"/work/|/tmp/|/home/|/root/|/Users/|[A-Za-z]:\\\\")


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=relative)
def test_saving_a_notebook_without_an_edit_writes_the_committed_bytes(path):
    """JupyterLab saves through nbformat: what it writes back is what is committed."""
    committed = path.read_text(encoding="utf-8")
    nb = nbformat.reads(committed, as_version=4)
    nbformat.validate(nb)
    rewritten = nbformat.writes(nb)
    assert rewritten + ("" if rewritten.endswith("\n") else "\n") == committed, (
        "run `python -m utils.colab`, which writes every notebook as nbformat does")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=relative)
def test_notebook_carries_the_course_kernelspec(path):
    metadata = nbformat.read(path, as_version=4).metadata
    assert metadata.get("kernelspec") == colab.KERNELSPEC, "run `python -m utils.colab`"
    language = metadata.get("language_info", {})
    assert {key: language.get(key) for key in colab.LANGUAGE_INFO} == colab.LANGUAGE_INFO
    assert re.fullmatch(r"3\.\d+\.\d+", language.get("version", "")), "language_info names a Python version"


def stored_texts(nb) -> list[tuple[int, str]]:
    """(cell index, text) of every stored output: streams, results, errors, and text-like rich data."""
    texts = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if "text" in output:
                texts.append((index, output["text"]))
            if "traceback" in output:
                texts.append((index, "\n".join(output["traceback"])))
            for mime, data in output.get("data", {}).items():
                if mime.startswith("text/") or mime.endswith("json"):
                    texts.append((index, data if isinstance(data, str) else repr(data)))
    return texts


@pytest.mark.parametrize("path", NOTEBOOKS, ids=relative)
def test_no_stored_output_shows_a_machine_path(path):
    found = [f"cell {index}: ...{text[max(0, m.start() - 40):m.end() + 40]!r}..."
             for index, text in stored_texts(nbformat.read(path, as_version=4))
             for m in [MACHINE_PATH.search(text)] if m]
    assert not found, "stored outputs show paths of the machine that ran them:\n" + "\n".join(found)


def test_the_path_scan_finds_each_kind_of_machine_path():
    for text in ("/work/main/artifacts/tiny-bert-mlm", "see /tmp/x", "/home/ana/x", "/root/.cache",
                 "/Users/ana/course", r"C:\\Users\\ana"):
        assert MACHINE_PATH.search(text), text
    for text in ("artifacts/tiny-bert-mlm", "../exercises/01_pretraining_mlm_exercises.ipynb", "3/4 = 0.75"):
        assert not MACHINE_PATH.search(text), text
