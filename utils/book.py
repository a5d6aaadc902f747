"""The lessons as a static HTML book, for reading without Jupyter: ``make book`` (``python -m utils.book``).

Each lesson in ``notebooks/`` is executed in order, each in a fresh kernel, and exported to HTML with
nbconvert under ``build/book/``, next to an ``index.html`` that lists the lessons with their titles (each
notebook's first heading) and one-line summaries (``utils.syllabus``). Figures are embedded in the
pages as data URIs, links between lessons point at their pages, and links to exercises and solutions
point at the repository on GitHub, so the folder can be read on its own or published as it is.

Lessons run with the usual artifacts folder, as a learner runs them: lesson 01 reuses a cached
checkpoint if there is one. For a cold run, point ``WORKBOOK_ARTIFACTS`` at an empty folder.
``--no-execute`` exports the committed notebooks with their stored outputs instead (seconds).
"""

from __future__ import annotations

import argparse
import html
import os
import posixpath
import re
import sys
import time
from pathlib import Path

import nbformat

from . import syllabus as course_syllabus
from .colab import BRANCH, REPOSITORY

ROOT = Path(__file__).resolve().parent.parent
BOOK_DIR = ROOT / "build" / "book"
# Stored outputs read badly with frozen progress bars (the same switches as `make execute`).
QUIET = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}

HEADING = re.compile(r"^#\s+(.+?)\s*$", re.MULTILINE)
NOTEBOOK_LINK = re.compile(r'href="([^":#?]+\.ipynb)(#[^"]*)?"')


def lessons(root: Path = ROOT) -> list[Path]:
    """The lessons, in the order the course runs them (by their number)."""
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def title(nb) -> str:
    """A notebook's title: the text of its first ``# heading``."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and (match := HEADING.search(cell.source)):
            return match.group(1)
    raise ValueError("the notebook has no `# title` heading; start cell 0 with `# Lesson NN: Title`")


def first_sentence(nb) -> str:
    """The first sentence of the summary paragraph under a notebook's title (the badge skipped)."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for paragraph in re.split(r"\n\s*\n", cell.source):
            paragraph = " ".join(paragraph.split())
            if paragraph and not paragraph.startswith(("#", "[![", "![")):
                return re.split(r"(?<=[.!?])\s", paragraph, maxsplit=1)[0]
    return ""


def syllabus() -> dict[str, str]:
    """``{notebook file name: one-line summary}`` of every lesson in the syllabus (utils/syllabus.py)."""
    return {lesson.file: lesson.summary for lesson in course_syllabus.LESSONS}


def execute(nb, path: Path, timeout: int = 900) -> None:
    """Run ``nb`` (read from ``path``) top to bottom in a fresh kernel started in its folder, in place."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute(env={**os.environ, **QUIET})
    except CellExecutionError as error:
        raise RuntimeError(f"{path.name} failed while running; fix it (or build with --no-execute):\n"
                           f"{error}") from None
    except CellTimeoutError:
        raise RuntimeError(f"{path.name} failed: a cell ran for more than {timeout} s. On a slow or busy "
                           f"machine give it longer with --timeout, or build with --no-execute.") from None
    except DeadKernelError:
        raise RuntimeError(f"{path.name} failed: its kernel died while running (out of memory?).") from None


def _link_target(href: str, pages: dict[str, str]) -> str:
    """Where a notebook link in a lesson points in the book: its page, or the file on GitHub."""
    repository_path = posixpath.normpath(posixpath.join("notebooks", href))
    name = posixpath.basename(repository_path)
    if repository_path == f"notebooks/{name}" and name in pages:
        return pages[name]
    return f"https://github.com/{REPOSITORY}/blob/{BRANCH}/{repository_path}"


def _navigation(index: int, names: list[str], pages: dict[str, str], titles: dict[str, str]) -> str:
    parts = ['<a href="index.html">Contents</a>']
    if index > 0:
        previous = names[index - 1]
        parts.insert(0, f'<a href="{pages[previous]}">&larr; {html.escape(titles[previous])}</a>')
    if index + 1 < len(names):
        following = names[index + 1]
        parts.append(f'<a href="{pages[following]}">{html.escape(titles[following])} &rarr;</a>')
    return ('<nav class="book-nav" style="display:flex;justify-content:space-between;gap:1em;'
            'max-width:1200px;margin:0.5em auto;padding:0.5em 1em;font-family:sans-serif">'
            + "".join(f"<span>{part}</span>" for part in parts) + "</nav>")


def to_html(nb, page_title: str, pages: dict[str, str], navigation: str = "") -> str:
    """One lesson as a stand-alone HTML page (nbconvert's HTML exporter, images embedded)."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb, resources={"metadata": {"name": page_title}})
    body = NOTEBOOK_LINK.sub(lambda m: f'href="{_link_target(m.group(1), pages)}{m.group(2) or ""}"', body)
    if navigation:
        body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + navigation, body, count=1)
        body = body.replace("</body>", navigation + "</body>", 1)
    return body


def _index_page(entries: list[tuple[str, str, str]], root: Path) -> str:
    from nbconvert.filters.markdown import markdown2html

    book_title, introduction = "The lessons", ""
    readme = root / "README.md"
    if readme.is_file():
        text = readme.read_text()
        if match := HEADING.search(text):
            book_title = match.group(1)
            introduction = next((p for p in re.split(r"\n\s*\n", text[match.end():]) if p.strip()), "")
    items = "\n".join(f'<li><a href="{page}">{html.escape(name)}</a><p>{html.escape(summary)}</p></li>'
                      for page, name, summary in entries)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(book_title)}</title>
<style>
body {{ font-family: sans-serif; max-width: 50em; margin: 2em auto; padding: 0 1em; line-height: 1.5; }}
ol {{ padding-left: 1.2em; }} li {{ margin-bottom: 0.8em; }} li p {{ margin: 0.2em 0; color: #444; }}
</style>
</head>
<body>
<h1>{html.escape(book_title)}</h1>
{markdown2html(introduction) if introduction else ""}
<h2>Lessons</h2>
<ol class="lessons">
{items}
</ol>
</body>
</html>
"""


def build_book(out: Path = BOOK_DIR, *, run: bool = True, notebooks: list[Path] | None = None,
               timeout: int = 900, root: Path = ROOT, log=print) -> Path:
    """Export the lessons (all of ``notebooks/``, or ``notebooks``) to HTML pages in ``out``, executing
    each first when ``run`` is true, and write ``out/index.html``. Returns the index's path."""
    paths = list(notebooks) if notebooks is not None else lessons(root)
    if not paths:
        raise ValueError(f"no lessons to put in the book: {root / 'notebooks'} has no NN_topic.ipynb")
    names = [path.name for path in paths]
    pages = {name: Path(name).with_suffix(".html").name for name in names}
    books = {name: nbformat.read(path, as_version=4) for name, path in zip(names, paths)}
    titles = {name: title(nb) for name, nb in books.items()}
    one_liners = syllabus()

    out.mkdir(parents=True, exist_ok=True)
    for stale in [*out.glob("[0-9][0-9]_*.html"), out / "index.html"]:
        stale.unlink(missing_ok=True)
    for i, (name, path) in enumerate(zip(names, paths)):
        nb = books[name]
        if run:
            start = time.perf_counter()
            execute(nb, path, timeout)
            log(f"ran {name} in {time.perf_counter() - start:.0f} s")
        page = to_html(nb, titles[name], pages, _navigation(i, names, pages, titles))
        (out / pages[name]).write_text(page, encoding="utf-8")
    entries = [(pages[name], titles[name], one_liners.get(name) or first_sentence(books[name])) for name in names]
    index = out / "index.html"
    index.write_text(_index_page(entries, root), encoding="utf-8")
    log(f"wrote {index} ({len(names)} lessons)")
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Execute the lessons and export them as a static HTML "
                                                 "book with an index (build/book/index.html).")
    parser.add_argument("notebooks", nargs="*", type=Path, help="lessons to include (default: all of notebooks/)")
    parser.add_argument("--no-execute", action="store_true",
                        help="export the committed notebooks with their stored outputs, without running them")
    parser.add_argument("--out", type=Path, default=BOOK_DIR, help=f"output folder (default: {BOOK_DIR})")
    parser.add_argument("--timeout", type=int, default=900, help="seconds a single cell may run (default: 900)")
    args = parser.parse_args(argv)
    missing = [str(path) for path in args.notebooks if not path.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    try:
        build_book(args.out, run=not args.no_execute, notebooks=args.notebooks or None, timeout=args.timeout)
    except (RuntimeError, ValueError) as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
