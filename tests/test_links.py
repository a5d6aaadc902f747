"""The links between the course's notebooks: every relative link in a notebook's text (and in the stored
output of lesson 00's syllabus table) opens a file of the repository, and a student who starts at lesson 00
and follows links reaches every lesson, exercise and solutions notebook."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for folder in ("notebooks", "exercises", "solutions") for p in (ROOT / folder).glob("*.ipynb"))
LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")


def links(path: Path) -> list[str]:
    """The relative targets of the Markdown links in the notebook's text cells and text outputs."""
    found = []
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        texts = ["".join(cell["source"])] if cell["cell_type"] == "markdown" else []
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            texts += ["".join(data[kind]) for kind in ("text/markdown",) if kind in data]
        for text in texts:
            found += [target for target in LINK.findall(text) if not re.match(r"[a-z]+:", target)]
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_relative_link_of_a_notebook_opens_a_file_of_the_repository(path):
    broken = [target for target in links(path) if not (path.parent / target).resolve().is_file()]
    assert not broken, f"{path.relative_to(ROOT)} links to files that do not exist: {broken}"


def test_from_lesson_00_the_links_reach_every_notebook_of_the_course():
    start = (ROOT / "notebooks" / "00_start_here.ipynb").resolve()
    seen, todo = {start}, [start]
    while todo:
        path = todo.pop()
        for target in links(path):
            found = (path.parent / target).resolve()
            if found.suffix == ".ipynb" and found.is_file() and found not in seen:
                seen.add(found)
                todo.append(found)
    missing = [str(p.relative_to(ROOT)) for p in NOTEBOOKS if p.resolve() not in seen]
    assert not missing, f"no chain of links from lesson 00 reaches {missing}"
