"""`make book` turns the lessons into a static HTML book that reads on its own (utils.book), with the
syllabus's titles and one-line summaries as its table of contents."""

from __future__ import annotations

import html
import re
from pathlib import Path

import nbformat
import pytest

from utils import book

ROOT = Path(__file__).resolve().parent.parent
LESSONS = book.lessons()
IMG_EMBEDDED = re.compile(r'<img\b[^>]*\bsrc="data:image/png;base64,')


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """The book of the committed lessons, exported once (stored outputs, nothing executed)."""
    out = tmp_path_factory.mktemp("book")
    book.build_book(out, run=False, log=lambda *args: None)
    return out


def index_entries(out: Path) -> list[tuple[str, str, str]]:
    text = (out / "index.html").read_text()
    return [(href, html.unescape(name), html.unescape(summary)) for href, name, summary
            in re.findall(r'<li><a href="([^"]+)">(.*?)</a><p>(.*?)</p></li>', text)]


def png_outputs(path: Path) -> int:
    nb = nbformat.read(path, as_version=4)
    return sum("image/png" in output.get("data", {})
               for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs)


def test_index_links_every_lesson_in_order_with_its_title_and_a_summary(exported):
    entries = index_entries(exported)
    assert [href for href, _, _ in entries] == [f"{path.stem}.html" for path in LESSONS]
    assert [name for _, name, _ in entries] == [book.title(nbformat.read(p, as_version=4)) for p in LESSONS]
    assert all(summary.strip() for _, _, summary in entries), "every lesson has a one-line summary"


def test_every_file_the_book_links_to_exists(exported):
    pages = sorted(exported.glob("*.html"))
    assert len(pages) == len(LESSONS) + 1
    for page in pages:
        for href in re.findall(r'href="([^"]+)"', page.read_text()):
            if not re.match(r"[a-z]+:|#", href):  # a page of the book, not a web address or an anchor
                assert (exported / href.split("#")[0]).is_file(), f"{page.name} links to missing {href}"


def test_lessons_link_to_each_other_as_pages_not_notebooks(exported):
    for path in LESSONS:
        text = (exported / f"{path.stem}.html").read_text()
        assert not re.search(r'href="(?![a-z]+:)[^"]*\.ipynb', text), f"{path.name} still links a notebook"


@pytest.mark.parametrize("path", [p for p in LESSONS if png_outputs(p)], ids=lambda p: p.name)
def test_figures_are_embedded_in_the_page(exported, path):
    text = (exported / f"{path.stem}.html").read_text()
    assert len(IMG_EMBEDDED.findall(text)) >= png_outputs(path), "every plot is in the page as a data URI"
    local = [src for src in re.findall(r'<img\b[^>]*\bsrc="([^"]+)"', text) if not re.match(r"data:|https?:", src)]
    assert not local, f"images that would be missing from the book: {local}"


def test_links_outside_the_lessons_point_at_the_repository():
    pages = {"03_fine_tuning.ipynb": "03_fine_tuning.html"}
    assert book._link_target("03_fine_tuning.ipynb", pages) == "03_fine_tuning.html"
    assert book._link_target("../exercises/03_fine_tuning_exercises.ipynb", pages) == (
        f"https://github.com/{book.REPOSITORY}/blob/{book.BRANCH}/exercises/03_fine_tuning_exercises.ipynb")


def test_title_and_summary_come_from_the_first_cell():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "# Lesson 98: A tiny lesson\n\n[![Open In Colab](badge.svg)](somewhere)\n\n"
        "It prints one line. Then\nit stops.")])
    assert book.title(nb) == "Lesson 98: A tiny lesson"
    assert book.first_sentence(nb) == "It prints one line."
    with pytest.raises(ValueError, match="no `# title`"):
        book.title(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("no heading")]))


def test_build_runs_each_lesson_in_a_fresh_quiet_kernel_and_embeds_new_figures(tmp_path):
    lesson = tmp_path / "notebooks" / "98_tiny.ipynb"
    lesson.parent.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Lesson 98: A tiny lesson\n\nIt draws one line."),
        nbformat.v4.new_code_cell("import os\nprint('progress bars off:', os.environ.get('TQDM_DISABLE'), "
                                  "'in', os.path.basename(os.getcwd()))"),
        nbformat.v4.new_code_cell("%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([0, 1]);"),
    ]), lesson)
    stored = lesson.read_text()
    index = book.build_book(tmp_path / "book", root=tmp_path, log=lambda *args: None)
    page = (index.parent / "98_tiny.html").read_text()
    assert "progress bars off: 1 in notebooks" in page, "ran in the lesson's folder with progress bars off"
    assert len(IMG_EMBEDDED.findall(page)) == 1
    assert index_entries(index.parent) == [("98_tiny.html", "Lesson 98: A tiny lesson", "It draws one line.")]
    assert lesson.read_text() == stored, "the notebook on disk is left as it was"


@pytest.mark.parametrize("code, message", [("1 / 0", "ZeroDivisionError"),
                                           ("import time\ntime.sleep(60)", "ran for more than 2 s")],
                         ids=["error", "too slow"])
def test_a_failing_lesson_stops_the_build_and_is_named(tmp_path, code, message):
    lesson = tmp_path / "notebooks" / "98_broken.ipynb"
    lesson.parent.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Lesson 98: Broken"),
                                                   nbformat.v4.new_code_cell(code)]), lesson)
    with pytest.raises(RuntimeError, match="98_broken.ipynb failed") as failure:
        book.build_book(tmp_path / "book", root=tmp_path, timeout=2, log=lambda *args: None)
    assert message in str(failure.value)


def test_command_exports_without_running_and_refuses_a_missing_notebook(tmp_path, capsys):
    assert book.main(["--no-execute", "--out", str(tmp_path), str(LESSONS[0])]) == 0
    assert (tmp_path / f"{LESSONS[0].stem}.html").is_file() and (tmp_path / "index.html").is_file()
    with pytest.raises(SystemExit):
        book.main(["--no-execute", "--out", str(tmp_path), "notebooks/99_missing.ipynb"])
    assert "no such notebook" in capsys.readouterr().err


# --- the table of contents, from the syllabus --------------------------------------------------------

def test_the_index_summarises_each_lesson_with_its_syllabus_line(exported):
    from utils import syllabus

    summaries = {href: summary for href, _, summary in index_entries(exported)}
    assert summaries == {f"{lesson.name}.html": lesson.summary for lesson in syllabus.LESSONS}


def test_start_here_looks_for_the_checkpoint_where_pretraining_saves_it():
    from utils import pretraining

    source = "\n".join(c.source for c in nbformat.read(ROOT / "notebooks" / "00_start_here.ipynb",
                                                       as_version=4).cells)
    assert f'"{pretraining.CHECKPOINT_NAME}"' in source and f'"{pretraining.SETTINGS_FILE}"' in source
