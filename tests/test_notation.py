"""One notation everywhere: θ and ω before fine-tuning, θ̂ and ω̂ after it.

θ holds the values pre-training gave the encoder and ω the freshly initialised prediction network; a hat
always means "after fine-tuning", and the deployed model is f(x; θ̂, ω̂). These tests read every lesson,
exercise and solution notebook (text and stored outputs), the README and the ``utils`` package, and fail
on a phrasing that puts a hat on parameters that have not been fine-tuned yet.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent

# θ̂ and ω̂ are a Greek letter followed by the combining circumflex U+0302; LaTeX spellings count too.
HAT = r"(?:[θω]\u0302|\\hat\{?\\(?:theta|omega)\}?)"
THETA_HAT = r"(?:θ\u0302|\\hat\{?\\theta\}?)"
OMEGA_HAT = r"(?:ω\u0302|\\hat\{?\\omega\}?)"

# Each entry: (what is wrong, pattern). Text is matched with runs of whitespace folded to one space and
# markdown emphasis removed, so a phrase broken over two lines is still found.
REFUSED = [
    ("a hat on the pre-trained encoder", rf"pre-?trained (?:encoder |parameters |weights |values )?{HAT}"),
    ("a hat on the pre-trained encoder", rf"pre-?trained (?:encoder|model)(?:'s)? \(?{HAT}"),
    ("a hat on what lesson 01 pre-trained", rf"{HAT},? (?:that|which) lesson 01"),
    ("a hat on what lesson 01 pre-trained", rf"{HAT},? (?:from|of|in) lesson 0?1\b"),
    ("a hat on the values pre-training gave", rf"{HAT},? (?:from|of|after|given by|as given by) (?:the )?pre-?training"),
    ("a hat on the starting point of fine-tuning", rf"starting point (?:of fine-tuning )?(?:\(?{HAT})"),
    ("a hat on the starting point of fine-tuning", rf"{HAT},? (?:is|as) the starting point"),
    ("a hat on the starting point of fine-tuning", rf"(?:start|starts|starting|begin|begins) (?:from|with|at) {HAT}"),
    ("a hat on parameters before fine-tuning", rf"{HAT},? (?:and {HAT} )?before (?:any )?fine-tuning"),
    ("a hat on parameters before fine-tuning", rf"before fine-tuning,? (?:the encoder |the head )?{HAT}"),
    ("a hat on a frozen encoder kept as it was", rf"keep(?:s|ing)? {THETA_HAT} (?:as it is|unchanged|fixed|frozen)"),
    ("a hat on the encoder's parameters kept from pre-training",
     rf"keep(?:s|ing)? the (?:pre-trained )?encoder's parameters {THETA_HAT}"),
    ("a hat on an untrained head", rf"(?:random|untrained|new|newly initiali[sz]ed|freshly initiali[sz]ed|initial) "
                                   rf"(?:head |prediction network )?{OMEGA_HAT}"),
    ("a hat on an untrained head", rf"{OMEGA_HAT},? (?:is|are|starts?) (?:random|untrained|freshly)"),
    ("a hat in a name for pre-trained parameters", r"pre_?trained_(?:theta|omega)_hat|(?:theta|omega)_hat_pre_?trained"),
]

# Sentences that must pass: the course's own notation, used correctly.
ALLOWED_EXAMPLES = [
    "Fine-tuning yields θ̂, ω̂, and the deployed model is f(x; θ̂, ω̂).",
    "The pre-trained encoder θ from lesson 01 and a freshly initialised head ω.",
    "With the frozen strategy θ̂ = θ exactly: the pre-trained values are kept.",
    "Deployment is inference with the fine-tuned parameters: the encoder with θ̂, the head with ω̂.",
    "We keep the encoder's parameters θ and drop the rest.",
    "from (θ, ω) to (θ̂, ω̂): what fine-tuning changed, layer by layer",
    "How far θ̂ moved from the pre-trained θ, next to how far two random initialisations are.",
]

# Phrasings that must fail, one for each way the course has used a hat wrongly.
REFUSED_EXAMPLES = [
    "The checkpoint we save here is the starting point θ̂ of lesson 03.",
    "We take the encoder θ̂ that lesson 01 pre-trained.",
    "## 1. The pre-trained encoder θ̂ from lesson 01",
    "we keep the encoder's parameters\nθ̂ and drop the rest.",
    "* **frozen**: train the head ω only, keep θ̂ as it is;",
    "You have a pre-trained encoder θ̂ and want to label reviews.",
    "the pre-trained θ̂ is loaded from artifacts/",
    "θ̂ from pre-training, and a random ω̂",
    "Fine-tuning starts from θ̂ and a random ω.",
    "θ̂ and ω̂ before fine-tuning give chance accuracy.",
    "a pre-trained \\hat{\\theta} goes into the classifier",
    "pretrained_theta_hat = model.encoder",
]


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("*", "").replace("`", ""))


def refused_phrasings(text: str) -> list[str]:
    """Each refused phrasing in ``text``, as 'what is wrong: «the words»'."""
    text = _normalise(text)
    found = {}  # one report per place in the text, however many patterns match there
    for reason, pattern in REFUSED:
        for match in re.finditer(pattern, text, flags=re.IGNORECASE):
            where = text[max(0, match.start() - 30):match.end() + 10].strip()
            found.setdefault(match.start(), f"{reason}: «{where}»")
    return [found[start] for start in sorted(found)]


def _notebook_texts(path: Path):
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        yield f"cell {index}", cell.source
        for output in cell.get("outputs", []):
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            if text:
                yield f"cell {index} output", text if isinstance(text, str) else "".join(text)


def _sources():
    for folder in ("notebooks", "exercises", "solutions"):
        for path in sorted((ROOT / folder).glob("*.ipynb")):
            yield path
    yield ROOT / "README.md"
    yield from sorted((ROOT / "utils").rglob("*.py"))
    yield from sorted((ROOT / "grading").rglob("*.py"))


def _texts(path: Path):
    if path.suffix == ".ipynb":
        yield from _notebook_texts(path)
    else:
        yield "text", path.read_text(encoding="utf-8")


SOURCES = list(_sources())


@pytest.mark.parametrize("sentence", REFUSED_EXAMPLES)
def test_each_known_misuse_of_the_hat_is_refused(sentence):
    assert refused_phrasings(sentence), f"the notation check lets through: {sentence!r}"


@pytest.mark.parametrize("sentence", ALLOWED_EXAMPLES)
def test_the_course_notation_used_correctly_passes(sentence):
    assert refused_phrasings(sentence) == []


def test_the_check_reads_lessons_exercises_solutions_readme_utils_and_grading():
    names = {path.relative_to(ROOT).parts[0] for path in SOURCES}
    assert names >= {"notebooks", "exercises", "solutions", "README.md", "utils", "grading"}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_hat_on_parameters_before_fine_tuning(path):
    problems = [f"{where}: {problem}" for where, text in _texts(path) for problem in refused_phrasings(text)]
    assert not problems, (f"{path.relative_to(ROOT)} writes θ̂ or ω̂ for parameters that have not been "
                          f"fine-tuned (θ and ω are the values before fine-tuning, θ̂ and ω̂ after):\n  "
                          + "\n  ".join(problems))
