"""Shared fixtures for the unit tests.

* Everything runs offline: the Hugging Face hub is switched off before transformers is imported.
* ``WORKBOOK_ARTIFACTS`` points at a temporary folder for the whole session, so no test writes to the
  repository's ``artifacts/``.
* torch uses one thread (much faster for these tiny tensors on a small CPU).
* One tiny pre-trained checkpoint (a few hundred sentences, a few optimizer steps) is built once per
  session and reused; no test runs the full default pre-training.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Before transformers / datasets / huggingface_hub are imported anywhere: never reach for the network.
for _flag in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[_flag] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402
import torch  # noqa: E402

# The tiny model's tensors are far too small to gain from intra-op threads; on a busy 2-core machine the
# thread hand-offs made a 4-step fine-tuning run take seconds instead of a fraction of one.
torch.set_num_threads(1)

from utils import syllabus  # noqa: E402
from utils.config import Profile  # noqa: E402

# The files that take longest in `make test` are handed out first: with one pytest-xdist worker per core, a
# long file started last keeps one core busy while the other has nothing left to do. The lessons say how
# long they take in utils/syllabus.py (``test_seconds``); these test files, about how many seconds they take
# on one thread of a 2-core CPU (`pytest --durations=0` on a clean clone). Every other file follows in its
# usual order. The Makefile passes --no-loadscope-reorder, so that pytest-xdist keeps this order instead of
# sorting files by their number of tests.
SLOW_TEST_FILES = {"tests/test_grading.py": 160, "tests/test_export.py": 65, "tests/test_browser.py": 55}
_SECONDS = {**{lesson.notebook: lesson.test_seconds for lesson in syllabus.LESSONS if lesson.test_seconds},
            **SLOW_TEST_FILES}
SLOWEST_FIRST = sorted(_SECONDS, key=_SECONDS.get, reverse=True)

# Tests that take minutes get the `slow` marker here, in one place: `make unit` leaves them out
# (-m "not slow"), `make test` runs them. By test (path::name, or a file) and by the fixture they use.
SLOW_TESTS = {
    "tests/test_browser.py": "a real browser runs lesson 00 in JupyterLab",
    "tests/test_export.py::test_nbgrader_gives_the_solutions_full_marks_and_the_untouched_release_zero":
        "nbgrader's round trip",
    "tests/test_grading.py::test_a_resumed_batch_grades_only_the_submissions_the_csv_does_not_have":
        "two batches of the grader",
    "tests/test_grading.py::test_ctrl_c_stops_the_batch_and_says_how_many_rows_were_written":
        "the grader, stopped while a submission runs",
}
SLOW_FIXTURES = {
    "whole_notebooks": "the grader runs every solution and exercise notebook whole",
    "broken": "the grader runs a dozen broken submissions, whose time limits run out on purpose",
}


def _relative(item) -> str:
    path = Path(str(item.path)).resolve()
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else ""


def pytest_collection_modifyitems(session, config, items):
    for item in items:
        test = f"{_relative(item)}::{getattr(item, 'originalname', item.name)}"
        if (_relative(item) in SLOW_TESTS or test in SLOW_TESTS
                or set(getattr(item, "fixturenames", ())) & set(SLOW_FIXTURES)):
            item.add_marker(pytest.mark.slow)
    rank = {path: i for i, path in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(_relative(item), len(rank)))  # stable: the order within a file stays


TINY_PROFILE = Profile("tiny-test", corpus_sentences=300, vocab_size=200, pretrain_steps=5,
                       pretrain_batch_size=8, pretrain_lr=2e-3, finetune_epochs=1, finetune_batch_size=16)


@pytest.fixture(scope="session")
def _test_artifacts(tmp_path_factory):
    return tmp_path_factory.mktemp("artifacts")


@pytest.fixture(scope="module", autouse=True)
def workbook_environment(_test_artifacts):
    """Send every checkpoint of the unit tests to a temporary folder and pin the default profile.

    Set for each test module and undone after it, never for the whole session: the notebooks that
    `make test` runs after the unit tests start their kernels from this process's environment, and they
    must find the checkpoints in the repository's artifacts/, where `make test` pre-trained them."""
    artifacts = _test_artifacts
    patch = pytest.MonkeyPatch()
    patch.setenv("WORKBOOK_ARTIFACTS", str(artifacts))
    patch.delenv("WORKBOOK_PROFILE", raising=False)
    yield artifacts
    patch.undo()


@pytest.fixture(scope="session")
def tiny_profile() -> Profile:
    return TINY_PROFILE


@pytest.fixture(scope="session")
def pretrained_dir(tmp_path_factory, tiny_profile) -> Path:
    """A tiny pre-trained checkpoint, built once for the whole session."""
    from utils.pretraining import load_or_pretrain

    directory = tmp_path_factory.mktemp("pretrained") / "tiny-bert-mlm"
    load_or_pretrain(tiny_profile, directory=directory, progress=False)
    return directory


@pytest.fixture(scope="session")
def pretrained(pretrained_dir, tiny_profile):
    """``(mlm_model, tokenizer, history)`` of the session's tiny checkpoint. Do not modify the model."""
    from utils.pretraining import load_or_pretrain

    return load_or_pretrain(tiny_profile, directory=pretrained_dir, progress=False)


@pytest.fixture(scope="session")
def mlm_model(pretrained):
    return pretrained[0]


@pytest.fixture(scope="session")
def tokenizer(pretrained):
    return pretrained[1]


@pytest.fixture(scope="session")
def default_corpus():
    """The unlabeled corpus with its default size (about half a second to make)."""
    from utils.data import make_corpus

    return make_corpus()


@pytest.fixture(scope="session")
def small_reviews():
    """A small review-polarity task for the fine-tuning tests."""
    from utils.data import make_reviews

    return make_reviews(train_size=64, validation_size=40, test_size=40)
