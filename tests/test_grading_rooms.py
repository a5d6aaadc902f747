"""Two packages, one direction: ``utils`` is the course's library, what the lessons import; ``grading`` (the
checks, the generator, the nbgrader export and the batch grader) sits beside it and imports it, never the
other way round. Read from the source of every module (imports inside functions included): no module of
utils imports grading, no import circle, and no module reaches for another module's private names."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("utils", "grading")

# Still to undo, each in a module of the course's library: a circle (lazy imports both ways) or a private
# name imported from another module. None is left; should one ever have to stay for a while, list it here
# as ("circle", (module, module)) or ("private", (module, name)): the test fails when one more appears, and
# when a listed one is gone.
KNOWN: set[tuple[str, tuple[str, str]]] = set()


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = modules()


def imports(name: str) -> list[tuple[str, str | None]]:
    """``(module, imported name or None)`` for every import of a course module in ``name``'s source."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]) if node.level else ""
            target = ".".join(filter(None, [base, node.module]))
            for alias in node.names:
                if f"{target}.{alias.name}" in MODULES:
                    found.append((f"{target}.{alias.name}", None))
                elif target in MODULES:
                    found.append((target, alias.name))
        elif isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names if alias.name in MODULES]
    return [(module, what) for module, what in found if module != name]


def circles(edges: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(tuple(sorted(component)))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


EDGES = {name: {module for module, _ in imports(name)} for name in MODULES}


def test_no_module_of_the_course_library_imports_grading():
    upward = sorted((name, module) for name in MODULES if name.startswith("utils")
                    for module in EDGES[name] if module.split(".")[0] == "grading")
    assert not upward, f"utils must not import grading (the checks import the library, not the other way): {upward}"


def test_no_import_circle_and_no_private_name_imported_from_another_module():
    found = {("circle", component) for component in circles(EDGES)}
    found |= {("private", (name, f"{module}.{what}")) for name in MODULES for module, what in imports(name)
              if what and what.startswith("_") and not what.startswith("__")}
    assert found - KNOWN == set(), "new import circles or private names imported across modules"
    assert KNOWN - found == set(), "undone: take these off KNOWN"


def test_the_graph_sees_imports_inside_functions_and_relative_ones():
    # utils.finetuning's command line imports load_or_pretrain inside main(), from .pretraining
    assert ("utils.pretraining", "load_or_pretrain") in imports("utils.finetuning")
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [("a", "b", "c")]


def test_the_grader_code_sent_to_kernels_and_workers_imports_only_the_standard_library():
    tree = ast.parse((ROOT / "grading" / "private_copy.py").read_text(encoding="utf-8"))
    names = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}
    names |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert names <= set(sys.stdlib_module_names) | {"IPython"}, names
    assert not any(isinstance(node, ast.ImportFrom) and node.level for node in ast.walk(tree))


def test_a_lesson_checks_module_imports_the_grading_core_relatively():
    # A new lesson's checks are written `from .core import ...` (solutions/README.md); the grader's private copy
    # loads them under another package name, which only relative imports follow.
    for path in sorted((ROOT / "grading").glob("lesson*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        absolute = [node.module for node in nodes if not node.level and node.module.split(".")[0] == "grading"]
        assert not absolute, f"{path.name} imports {absolute[0]}: write `from .core import ...`"
        assert {node.module for node in nodes if node.level == 1} & {"core", "questions"}, path.name
    assert (ROOT / "grading" / "core.py").is_file() and (ROOT / "grading" / "questions.py").is_file()
