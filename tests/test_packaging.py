"""`pip install -e .` alone gives a working course: pyproject.toml declares every package of the lock
(requirements.txt) with a range that admits the pinned version, and the Python transformers needs."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from utils import colab

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def declared() -> dict[str, Requirement]:
    requirements = PROJECT["dependencies"] + [r for extra in PROJECT["optional-dependencies"].values() for r in extra]
    return {Requirement(r).name.lower(): Requirement(r) for r in requirements}


def test_every_pin_of_the_lock_is_declared_with_a_range_that_admits_it():
    ranges = declared()
    for name, version in colab.pinned_versions(ROOT / "requirements.txt").items():
        assert name in ranges, f"{name} is pinned in requirements.txt but not declared in pyproject.toml"
        assert ranges[name].specifier.contains(version), f"pyproject.toml's {ranges[name]} refuses the pin {version}"


def test_torch_is_pinned_exactly_so_pip_never_fetches_a_newer_cuda_build():
    (torch,) = [Requirement(r) for r in PROJECT["dependencies"] if Requirement(r).name == "torch"]
    assert str(torch.specifier) == f"=={colab.pinned_versions()['torch']}"


def test_the_course_runs_without_the_test_tools():
    course = {Requirement(r).name for r in PROJECT["dependencies"]}
    assert not course & {"pytest", "nbval", "pytest-xdist", "playwright"}
    assert {"transformers", "tokenizers", "datasets", "jupyterlab", "ipykernel"} <= course


def test_requires_python_is_what_the_pinned_transformers_declares():
    needed = SpecifierSet(metadata.metadata("transformers")["Requires-Python"])
    ours = SpecifierSet(PROJECT["requires-python"])
    for minor in range(8, 16):
        assert (f"3.{minor}.0" in ours) <= (f"3.{minor}.0" in needed), f"Python 3.{minor} cannot run transformers"
    assert "3.11.0" in ours
