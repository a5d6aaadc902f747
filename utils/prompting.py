"""Classification by prompt completion, and one polarity service with two backends (lesson 07).

Prompting adapts a pre-trained language model to a task without updating any parameter: the review is
written into a *template* with a blank, e.g. ``"{text} and [MASK] ."``, the model scores the words that
could fill the blank, and a *verbalizer* (label word -> label) turns the scores of the label words into
one score per label: the log of the probability that one of the label's words fills the blank. A
backend may average the scores of several templates. A bias per label is subtracted from the scores;
with two labels, only the gap between the two biases matters: it is the *threshold* that the score
difference must pass for the second label. It can be set from unlabeled reviews (``centering_bias``:
the mean score, so no label is needed) or from a few labeled ones (``label_threshold_bias``: halfway
between the labels' mean scores). Either moves the threshold, and only the threshold: it balances the
answers between the labels, it does not make the scores say more about a review, and it does not make
them calibrated probabilities. Neither changes a parameter of the model. ``draw_labeled`` draws the
labeled examples that lesson 07 gives both a prompt and fine-tuning.

``PolarityService`` answers with one canonical label set, ``["negative", "positive"]``, whichever
backend computes the answer:

* ``ClassifierBackend``: a fine-tuned ``EncoderClassifier`` (lesson 03); its ``id2label`` maps class
  ids to labels.
* ``PromptBackend``: the pre-trained masked language model of lesson 01 with a template and a
  verbalizer.
* ``CausalPromptBackend``: the same idea with a small GPT-2-style causal language model (see
  ``utils.causal_lm``), which scores the label word that comes next after the prompt; its templates
  end with the blank, and its label words may be several pieces (scored by the chain rule).

The mapping from a backend's outputs to the canonical labels is a contract, checked when the backend
is built (``check_id2label``, ``check_verbalizer``): a broken mapping raises a ``ValueError`` that says
what is wrong and how to fix it. A mapping that passes the contract can still be wrong in meaning (two
labels swapped); ``agreement`` and ``confusion_matrix`` are how lesson 07 finds that out.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from .data import POLARITY_LABELS, label_words
from .models import EncoderClassifier, check_vocabulary

MASK_SLOT = "[MASK]"
TEXT_SLOT = "{text}"
CANONICAL_LABELS: tuple[str, ...] = tuple(POLARITY_LABELS)  # ("negative", "positive")
# The review's closing full stop is dropped before it goes into the slot, so that the review and the
# template read as one sentence, as every sentence of the pre-training corpus does.
DEFAULT_TEMPLATE = "{text} and [MASK] ."
# The answer depends on the wording of the prompt; averaging the scores of a few wordings makes it
# depend less on any one of them. A causal model can only use wordings that end with the blank.
DEFAULT_TEMPLATES = ("{text} and [MASK] .", "{text} , [MASK] .", "[MASK] , {text} .")
CAUSAL_TEMPLATES = ("{text} and [MASK] .", "{text} , [MASK] .")
# The label words a person would write down first: the sentiment words of the labeled training data.
DEFAULT_VERBALIZER: dict[str, str] = {word: label for label, words in label_words("polarity", "seen").items()
                                      for word in words}


# ---------------------------------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------------------------------

def check_template(template: str) -> str:
    """Return ``template`` if it has exactly one ``{text}`` slot and exactly one ``[MASK]`` slot and no
    other ``{...}`` field; otherwise raise a ``ValueError`` that says what to change."""
    if not isinstance(template, str):
        raise TypeError(f"A template is a string such as {DEFAULT_TEMPLATE!r}, got {type(template).__name__}.")
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as error:
        raise ValueError(f"The template {template!r} has unbalanced braces ({error}). Write the review's slot "
                         f"as {TEXT_SLOT} and double any other brace.") from None
    others = [f for f in fields if f != "text"]
    if others:
        raise ValueError(f"The template {template!r} has the slot(s) {['{' + f + '}' for f in others]}; the "
                         f"only slot filled in is {TEXT_SLOT}. Rename it, or remove it.")
    if fields.count("text") != 1:
        raise ValueError(f"The template {template!r} has {fields.count('text')} {TEXT_SLOT} slots; it needs exactly "
                         f"one, where the review goes, e.g. {DEFAULT_TEMPLATE!r}.")
    masks = template.count(MASK_SLOT)
    if masks != 1:
        raise ValueError(f"The template {template!r} has {masks} {MASK_SLOT} slots; it needs exactly one, the "
                         f"blank whose filling words are scored, e.g. {DEFAULT_TEMPLATE!r}.")
    return template


def fill_template(template: str, text: str) -> str:
    """The prompt for one review: ``text``, without its closing full stop, in the ``{text}`` slot."""
    check_template(template)
    if not isinstance(text, str):
        raise TypeError(f"A review is a string, got {type(text).__name__}.")
    if MASK_SLOT in text:
        raise ValueError(f"The review {text!r} contains {MASK_SLOT} itself, so the prompt would have two blanks. "
                         f"Remove it from the text.")
    body = text.strip().rstrip(".!?").strip()
    # str.replace, not str.format: a review may contain braces of its own.
    return template.replace(TEXT_SLOT, body)


# ---------------------------------------------------------------------------------------------------
# The label contract
# ---------------------------------------------------------------------------------------------------

def _check_labels(labels: Sequence[str]) -> tuple[str, ...]:
    labels = tuple(labels)
    if len(labels) < 2 or len(set(labels)) != len(labels) or not all(isinstance(x, str) for x in labels):
        raise ValueError(f"The canonical labels must be at least two distinct strings, got {list(labels)}.")
    return labels


def check_id2label(id2label, labels: Sequence[str] = CANONICAL_LABELS,
                   num_outputs: int | None = None) -> dict[int, str]:
    """Check a classifier's ``id2label`` against the canonical ``labels`` and return it as {id: label}.

    ``id2label`` is a mapping {class id: label} (ids may be strings such as ``"0"``, as in a saved
    ``config.json``) or a list of label names in id order. The contract: the ids are exactly
    ``0 .. num_outputs-1``, each named once, and every canonical label is named by exactly one id.
    """
    labels = _check_labels(labels)
    if isinstance(id2label, Mapping):
        pairs = list(id2label.items())
    elif isinstance(id2label, Sequence) and not isinstance(id2label, str):
        pairs = list(enumerate(id2label))
    else:
        raise TypeError(f"id2label must be a mapping {{class id: label}} or a list of labels in id order, "
                        f"got {type(id2label).__name__}.")
    out: dict[int, str] = {}
    for key, label in pairs:
        try:
            class_id = int(key)
        except (TypeError, ValueError):
            raise ValueError(f"id2label has the key {key!r}, which is not a class id; the keys are the model's "
                             f"output positions 0, 1, ...") from None
        if class_id in out:
            raise ValueError(f"id2label names class id {class_id} twice ({out[class_id]!r} and {label!r}, keys "
                             f"given as {[k for k, _ in pairs if str(k) == str(class_id)]}); each id must be "
                             f"named once. Keep one of them.")
        if label not in labels:
            raise ValueError(f"id2label maps id {class_id} to {label!r}, which is not one of the service's labels "
                             f"{list(labels)}. Fix the spelling, or (for names such as 'LABEL_0', a model saved "
                             f"without label names) pass id2label with the training data's ClassLabel names.")
        named_by = [i for i, lab in out.items() if lab == label]
        if named_by:
            raise ValueError(f"id2label maps both id {named_by[0]} and id {class_id} to {label!r}; each label must "
                             f"be named by exactly one id, or the service could never answer the other label.")
        out[class_id] = label
    expected = num_outputs if num_outputs is not None else len(out)
    if sorted(out) != list(range(expected)):
        raise ValueError(f"id2label names the ids {sorted(out)}, but the model has {expected} outputs, numbered "
                         f"0..{expected - 1}: give exactly one label per output.")
    missing = [label for label in labels if label not in out.values()]
    if missing:
        raise ValueError(f"No id of id2label maps to {missing}; every canonical label {list(labels)} must be named "
                         f"by exactly one of the model's outputs. The model may have been trained on other labels.")
    return dict(sorted(out.items()))


def check_verbalizer(verbalizer, tokenizer, labels: Sequence[str] = CANONICAL_LABELS, *,
                     single_token: bool = True) -> dict[str, str]:
    """Check a verbalizer against the tokenizer and the canonical ``labels``; return it as {word: label}.

    ``verbalizer`` is a mapping {label word: label} or a list of ``(word, label)`` pairs. The contract:
    every canonical label has at least one word (several words pool their probability), no unknown
    label, no word mapped twice (after the tokenizer's lowercasing), and every word is in the
    tokenizer's vocabulary: a single token when ``single_token`` (a masked language model fills one
    ``[MASK]`` with one token), otherwise any sequence of known pieces (a causal language model scores
    the pieces one after the other).
    """
    labels = _check_labels(labels)
    if isinstance(verbalizer, Mapping):
        pairs = list(verbalizer.items())
    elif isinstance(verbalizer, Sequence) and not isinstance(verbalizer, str):
        pairs = list(verbalizer)
        if not all(isinstance(p, Sequence) and not isinstance(p, str) and len(p) == 2 for p in pairs):
            raise TypeError("A verbalizer given as a list must hold (label word, label) pairs.")
    else:
        raise TypeError(f"A verbalizer is a mapping {{label word: label}}, e.g. {{'great': 'positive', 'awful': "
                        f"'negative'}}, got {type(verbalizer).__name__}.")
    out: dict[str, str] = {}
    spelled: dict[str, str] = {}
    for word, label in pairs:
        if not isinstance(word, str) or not word.strip():
            raise ValueError(f"The verbalizer has the label word {word!r}; a label word is a non-empty string.")
        if label not in labels:
            raise ValueError(f"The verbalizer maps {word!r} to {label!r}, which is not one of the service's labels "
                             f"{list(labels)}. Fix the spelling, or remove the word.")
        pieces = tokenizer.tokenize(word)
        if not pieces or tokenizer.unk_token in pieces:
            raise ValueError(f"The label word {word!r} is not in the tokenizer's vocabulary (it becomes {pieces}). "
                             f"Choose a word the model has seen, such as one of its training corpus.")
        if set(pieces) & set(tokenizer.all_special_tokens):
            raise ValueError(f"The label word {word!r} is a special token; choose an ordinary word.")
        if single_token and len(pieces) != 1:
            raise ValueError(f"The label word {word!r} is split into {len(pieces)} pieces {pieces}, but a masked "
                             f"language model fills the one {MASK_SLOT} with one token. Choose a word that is a "
                             f"single token (len(tokenizer.tokenize(word)) == 1).")
        key = " ".join(pieces)
        if key in out:
            raise ValueError(f"The label word {word!r} ({label!r}) is the same word as {spelled[key]!r} "
                             f"({out[key]!r}) for the tokenizer; each word may be mapped once. Remove one.")
        out[key] = label
        spelled[key] = word
    missing = [label for label in labels if label not in out.values()]
    if missing:
        raise ValueError(f"The verbalizer has no label word for {missing}; every label {list(labels)} needs at "
                         f"least one word, or the service could never answer it.")
    return {spelled[key]: label for key, label in out.items()}


def _label_index(values, labels: tuple[str, ...]) -> torch.Tensor:
    """Labels given as canonical names or as ids into ``labels``, as a tensor of ids."""
    ids = []
    for value in values:
        if isinstance(value, str):
            if value not in labels:
                raise ValueError(f"Unknown label {value!r}; the labels are {list(labels)}.")
            ids.append(labels.index(value))
        elif isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 0 <= value < len(labels):
            ids.append(int(value))
        else:
            raise ValueError(f"Label {value!r} is neither one of {list(labels)} nor an id 0..{len(labels) - 1}.")
    return torch.tensor(ids, dtype=torch.long)


def _check_texts(texts) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("Pass a list of reviews, not one string: e.g. service.classify([review]).")
    texts = list(texts)
    if not texts:
        raise ValueError("No reviews given: pass a non-empty list of strings.")
    if not all(isinstance(t, str) for t in texts):
        raise TypeError("Every review must be a string.")
    return texts


# ---------------------------------------------------------------------------------------------------
# Scoring with a masked language model
# ---------------------------------------------------------------------------------------------------

@torch.no_grad()
def mask_log_probs(mlm_model, tokenizer, texts: Sequence[str], template: str = DEFAULT_TEMPLATE,
                   batch_size: int = 256) -> torch.Tensor:
    """log Pr(token at the blank | prompt) for every token of the vocabulary: shape (len(texts), vocabulary)."""
    check_template(template)
    check_vocabulary(tokenizer, mlm_model)
    prompts = [fill_template(template, t) for t in _check_texts(texts)]
    mlm_model.eval()
    device = next(mlm_model.parameters()).device
    rows = []
    for start in range(0, len(prompts), batch_size):
        enc = tokenizer(prompts[start:start + batch_size], padding=True, truncation=True,
                        max_length=mlm_model.config.max_position_embeddings, return_tensors="pt")
        at_mask = enc["input_ids"] == tokenizer.mask_token_id
        if not bool((at_mask.sum(1) == 1).all()):
            raise ValueError(f"A prompt lost its {MASK_SLOT} (it was cut at {mlm_model.config.max_position_embeddings} "
                             f"tokens): shorten the review or put {MASK_SLOT} before {TEXT_SLOT} in the template.")
        logits = mlm_model(input_ids=enc["input_ids"].to(device),
                           attention_mask=enc["attention_mask"].to(device)).logits
        rows.append(logits[at_mask.to(device)].log_softmax(-1).cpu())
    return torch.cat(rows)


def pool_label_words(log_probs: torch.Tensor, word_ids: Mapping[str, list[int]] | Sequence[list[int]]) -> torch.Tensor:
    """One score per label: log of the probability of all its words together (log-sum-exp of their
    log-probabilities). ``word_ids`` lists each label's token ids, in label order."""
    groups = list(word_ids.values()) if isinstance(word_ids, Mapping) else list(word_ids)
    return torch.stack([log_probs[:, ids].logsumexp(-1) for ids in groups], dim=-1)


def verbalizer_scores(mlm_model, tokenizer, texts: Sequence[str], verbalizer=None,
                      template: str = DEFAULT_TEMPLATE, labels: Sequence[str] = CANONICAL_LABELS,
                      batch_size: int = 256) -> torch.Tensor:
    """For each review and each label, log Pr(one of the label's words fills the blank): shape
    (len(texts), len(labels)), columns in the order of ``labels``."""
    labels = _check_labels(labels)
    verbalizer = check_verbalizer(DEFAULT_VERBALIZER if verbalizer is None else verbalizer, tokenizer, labels)
    log_probs = mask_log_probs(mlm_model, tokenizer, texts, template, batch_size)
    return pool_label_words(log_probs, _word_ids(verbalizer, tokenizer, labels))


def _word_ids(verbalizer: Mapping[str, str], tokenizer, labels: tuple[str, ...]) -> list[list[int]]:
    return [[tokenizer.convert_tokens_to_ids(tokenizer.tokenize(w)[0]) for w, lab in verbalizer.items() if lab == label]
            for label in labels]


def label_threshold_bias(scores: torch.Tensor, labels) -> torch.Tensor:
    """The bias to subtract from prompt scores, set from labeled examples: the average, over the labels,
    of each label's mean score vector. With two labels this puts the threshold halfway between the two
    labels' mean score differences. It moves the threshold only: which reviews score higher than which
    stays as the model put it."""
    scores = torch.as_tensor(scores, dtype=torch.float)
    index = labels if isinstance(labels, torch.Tensor) else torch.as_tensor(labels)
    if scores.ndim != 2 or len(index) != len(scores):
        raise ValueError(f"Setting the threshold needs one score row per labeled example: got scores of shape "
                         f"{tuple(scores.shape)} and {len(index)} labels.")
    absent = [c for c in range(scores.shape[1]) if not bool((index == c).any())]
    if absent:
        raise ValueError(f"Setting the threshold needs at least one labeled example of every label; none for label id(s) "
                         f"{absent}. Add examples of those labels.")
    return torch.stack([scores[index == c].mean(0) for c in range(scores.shape[1])]).mean(0)


def centering_bias(scores: torch.Tensor) -> torch.Tensor:
    """The bias to subtract from prompt scores, from unlabeled examples: the mean score of each label.

    A template may make the words of one label likelier whatever the review; subtracting the mean
    score over a few hundred unlabeled reviews of the task moves the threshold to the average review, so
    the answers split about evenly between the labels, without a single label. It balances the answers;
    it does not make them more often right. Zhao et al. (2021, "Calibrate Before Use") call this move
    contextual calibration and estimate the preference from a content-free input such as "N/A"; here the
    task's own reviews take that input's place."""
    scores = torch.as_tensor(scores, dtype=torch.float)
    if scores.ndim != 2 or len(scores) == 0:
        raise ValueError(f"Centering needs one score row per unlabeled example, at least one; got scores of "
                         f"shape {tuple(scores.shape)}.")
    return scores.mean(0)


def draw_labeled(labels: Sequence[int], sizes: Sequence[int], seed: int) -> dict[int, list[int]]:
    """Labeled sets of several sizes drawn from one split (lesson 07 gives each set to a prompt and to
    fine-tuning alike): for each size n in ``sizes``, the indices of n examples, as many of each label,
    drawn at random with ``seed``. The sets are nested, as when one labels more and more reviews: the
    set of 8 is part of the set of 32, and so on. ``labels`` are the split's label ids."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError("labels must be the split's label ids, a non-empty list of whole numbers.")
    classes = np.unique(labels)
    if len(classes) < 2:
        raise ValueError(f"The split has one label only ({classes.tolist()}); a labeled set needs examples of "
                         f"every label.")
    sizes = list(sizes)
    for n in sizes:
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < len(classes) or n % len(classes):
            raise ValueError(f"Size {n!r} cannot hold as many examples of each of the {len(classes)} labels: give "
                             f"a multiple of {len(classes)}.")
        fewest = min(int((labels == c).sum()) for c in classes)
        if n // len(classes) > fewest:
            raise ValueError(f"Size {n} needs {n // len(classes)} examples of each label, but the split has only "
                             f"{fewest} of its rarest label: ask for at most {fewest * len(classes)}.")
    rng = np.random.default_rng(seed)
    orders = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    return {int(n): sorted(int(i) for order in orders for i in order[:n // len(classes)]) for n in sizes}


# ---------------------------------------------------------------------------------------------------
# Backends and the service
# ---------------------------------------------------------------------------------------------------

class ClassifierBackend:
    """A fine-tuned ``EncoderClassifier``: the class ids its head outputs, mapped by ``id2label``."""

    kind = "fine-tuned classifier"

    def __init__(self, model: EncoderClassifier, tokenizer, id2label=None,
                 labels: Sequence[str] = CANONICAL_LABELS, batch_size: int = 256):
        if not isinstance(model, EncoderClassifier):
            raise TypeError(f"ClassifierBackend needs a utils.models.EncoderClassifier (lesson 03), got "
                            f"{type(model).__name__}.")
        check_vocabulary(tokenizer, model)
        self.labels = _check_labels(labels)
        self.id2label = check_id2label(model.label_names if id2label is None else id2label, self.labels,
                                       num_outputs=model.num_labels)
        self.model, self.tokenizer, self.batch_size = model.eval(), tokenizer, batch_size
        # Column j of the answer is the model's output whose id2label entry is labels[j].
        self._columns = [next(i for i, lab in self.id2label.items() if lab == label) for label in self.labels]

    @torch.no_grad()
    def scores(self, texts: Sequence[str]) -> torch.Tensor:
        """log Pr(label | review) from the classifier, columns in the canonical label order."""
        texts = _check_texts(texts)
        device = next(self.model.parameters()).device
        rows = []
        for start in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(texts[start:start + self.batch_size], padding=True, truncation=True,
                                 max_length=128, return_tensors="pt")
            logits = self.model(enc["input_ids"].to(device), enc["attention_mask"].to(device))
            rows.append(logits.log_softmax(-1).cpu())
        return torch.cat(rows)[:, self._columns]


class _Prompting:
    """What the two prompt backends share: a verbalizer, one or more templates and a bias (the threshold)."""

    def _setup(self, model, tokenizer, verbalizer, templates, labels, bias, batch_size, single_token):
        check_vocabulary(tokenizer, model)
        self.labels = _check_labels(labels)
        self.verbalizer = check_verbalizer(DEFAULT_VERBALIZER if verbalizer is None else verbalizer, tokenizer,
                                           self.labels, single_token=single_token)
        self.model, self.tokenizer, self.batch_size = model.eval(), tokenizer, batch_size
        self.templates = templates
        self.bias = torch.zeros(len(self.labels)) if bias is None else torch.as_tensor(bias, dtype=torch.float)
        if self.bias.shape != (len(self.labels),):
            raise ValueError(f"bias needs one value per label ({len(self.labels)}), got shape "
                             f"{tuple(self.bias.shape)}.")

    def raw_scores(self, texts: Sequence[str]) -> torch.Tensor:  # each backend defines its own
        raise NotImplementedError

    def scores(self, texts: Sequence[str]) -> torch.Tensor:
        """One score per label (columns in the canonical order): the raw score less the bias."""
        return self.raw_scores(texts) - self.bias

    def _with_bias(self, bias: torch.Tensor):
        return type(self)(self.model, self.tokenizer, self.verbalizer, self.templates, self.labels, bias,
                          self.batch_size)

    def centered(self, texts: Sequence[str]):
        """A copy whose bias is the mean raw score over unlabeled ``texts`` (see ``centering_bias``): the
        answers split around the average review instead of leaning towards one label. No label, no parameter."""
        return self._with_bias(centering_bias(self.raw_scores(texts)))

    def threshold_from_labels(self, texts: Sequence[str], labels):
        """A copy whose threshold is set from labeled examples (see ``label_threshold_bias``); no parameter
        of the model changes. ``labels`` are canonical names or their ids."""
        return self._with_bias(label_threshold_bias(self.raw_scores(texts), _label_index(labels, self.labels)))


def _templates(template, check) -> tuple[str, ...]:
    """One template or several (whose scores are averaged), each checked."""
    templates = (template,) if isinstance(template, str) else tuple(template)
    if not templates:
        raise ValueError("No template given: pass one template string or a list of them.")
    return tuple(check(t) for t in templates)


class PromptBackend(_Prompting):
    """Prompt completion with a masked language model: the template's blank, the verbalizer's words
    (each a single token, since the model fills the one blank with one token)."""

    kind = "prompt (masked LM)"

    def __init__(self, mlm_model, tokenizer, verbalizer=None, template: str | Sequence[str] = DEFAULT_TEMPLATES,
                 labels: Sequence[str] = CANONICAL_LABELS, bias=None, batch_size: int = 256):
        self._setup(mlm_model, tokenizer, verbalizer, _templates(template, check_template), labels, bias,
                    batch_size, single_token=True)
        self._word_ids = _word_ids(self.verbalizer, tokenizer, self.labels)

    def raw_scores(self, texts: Sequence[str]) -> torch.Tensor:
        """log Pr(one of the label's words fills the blank), averaged over the templates, before any bias."""
        return torch.stack([pool_label_words(mask_log_probs(self.model, self.tokenizer, texts, t, self.batch_size),
                                             self._word_ids) for t in self.templates]).mean(0)


def check_causal_template(template: str) -> str:
    """A template a causal language model can complete: the review comes before the blank, and nothing but
    punctuation comes after it (the model predicts each token from the ones before, so it never sees
    what follows the blank)."""
    check_template(template)
    before, after = template.split(MASK_SLOT)
    if TEXT_SLOT not in before:
        raise ValueError(f"In {template!r} the review comes after the blank; a causal language model reads left to "
                         f"right, so it would choose the word without having read the review. Put {TEXT_SLOT} "
                         f"before {MASK_SLOT}.")
    if after.strip(" .,;:!?"):
        raise ValueError(f"In {template!r} the words {after.strip()!r} come after the blank; a causal language model "
                         f"cannot use them to choose the word. Move them before {MASK_SLOT} or drop them.")
    return template


@torch.no_grad()
def causal_word_log_probs(lm, tokenizer, texts: Sequence[str], words: Sequence[str],
                          template: str = DEFAULT_TEMPLATE, batch_size: int = 256) -> torch.Tensor:
    """log Pr(word comes next | the prompt up to the blank) from a causal language model, for every review
    and word: shape (len(texts), len(words)). A word of several pieces is scored by the chain rule: the
    sum of the log-probabilities of its pieces, each given the prompt and the pieces before it."""
    check_causal_template(template)
    check_vocabulary(tokenizer, lm)
    texts = _check_texts(texts)
    prefixes = [[tokenizer.cls_token_id] + tokenizer(fill_template(template, t).split(MASK_SLOT)[0],
                                                     add_special_tokens=False)["input_ids"] for t in texts]
    pieces = [tokenizer(w, add_special_tokens=False)["input_ids"] for w in words]
    lm.eval()
    device = next(lm.parameters()).device
    longest = lm.config.n_positions
    out = torch.zeros(len(texts), len(words))
    for start in range(0, len(texts), batch_size):
        rows = prefixes[start:start + batch_size]
        last = torch.tensor([len(r) - 1 for r in rows])  # the position that predicts the first piece
        # One-piece words are read off the prompt alone; a several-piece word needs the prompt followed by
        # all its pieces but the last.
        for continuation in {tuple(p[:-1]) for p in pieces}:
            seqs = [r + list(continuation) for r in rows]
            width = max(len(q) for q in seqs)
            if width > longest:
                raise ValueError(f"A prompt is longer than the model's {longest} positions: shorten the review.")
            ids = torch.full((len(seqs), width), tokenizer.pad_token_id, dtype=torch.long)
            for i, q in enumerate(seqs):
                ids[i, :len(q)] = torch.tensor(q)
            log_probs = lm(input_ids=ids.to(device), attention_mask=(ids != tokenizer.pad_token_id).long().to(device)
                           ).logits.log_softmax(-1).cpu()
            for j, word_pieces in enumerate(pieces):
                if tuple(word_pieces[:-1]) == continuation:
                    positions = last[:, None] + torch.arange(len(word_pieces))  # position t predicts token t+1
                    targets = torch.tensor(word_pieces).expand(len(rows), -1)
                    rows_index = torch.arange(len(rows))[:, None]
                    out[start:start + len(rows), j] = log_probs[rows_index, positions, targets].sum(-1)
    return out


class CausalPromptBackend(_Prompting):
    """Prompt completion with a causal language model: which label word is most likely to come next.
    A label word may be several pieces: the chain rule scores them exactly."""

    kind = "prompt (causal LM)"

    def __init__(self, lm, tokenizer, verbalizer=None, template: str | Sequence[str] = CAUSAL_TEMPLATES,
                 labels: Sequence[str] = CANONICAL_LABELS, bias=None, batch_size: int = 256):
        self._setup(lm, tokenizer, verbalizer, _templates(template, check_causal_template), labels, bias,
                    batch_size, single_token=False)
        words = list(self.verbalizer)
        self._groups = [[words.index(w) for w, lab in self.verbalizer.items() if lab == label] for label in self.labels]

    def raw_scores(self, texts: Sequence[str]) -> torch.Tensor:
        """log Pr(one of the label's words comes next), averaged over the templates, before any bias."""
        words = list(self.verbalizer)
        return torch.stack([pool_label_words(causal_word_log_probs(self.model, self.tokenizer, texts, words, t,
                                                                   self.batch_size), self._groups)
                            for t in self.templates]).mean(0)


class PolarityService:
    """Review polarity with one canonical label set, whichever backend answers.

    Build it with ``PolarityService.from_classifier(model, tokenizer)`` or
    ``PolarityService.from_prompt(mlm_model, tokenizer, verbalizer, template)``; either way the label
    mapping is checked at once and ``classify`` answers with names from ``labels``.
    """

    def __init__(self, backend, labels: Sequence[str] = CANONICAL_LABELS):
        self.labels = _check_labels(labels)
        if not hasattr(backend, "scores") or tuple(getattr(backend, "labels", ())) != self.labels:
            raise ValueError(f"The backend must have a scores(texts) method and answer with the labels "
                             f"{list(self.labels)} in that order; build it with the same labels.")
        self.backend = backend

    @classmethod
    def from_classifier(cls, model: EncoderClassifier, tokenizer, id2label=None,
                        labels: Sequence[str] = CANONICAL_LABELS) -> "PolarityService":
        return cls(ClassifierBackend(model, tokenizer, id2label, labels), labels)

    @classmethod
    def from_prompt(cls, mlm_model, tokenizer, verbalizer=None, template: str | Sequence[str] = DEFAULT_TEMPLATES,
                    labels: Sequence[str] = CANONICAL_LABELS, bias=None) -> "PolarityService":
        return cls(PromptBackend(mlm_model, tokenizer, verbalizer, template, labels, bias), labels)

    def scores(self, texts: Sequence[str]) -> torch.Tensor:
        return self.backend.scores(texts)

    def classify(self, texts: Sequence[str]) -> list[str]:
        """The canonical label of each review."""
        return [self.labels[i] for i in self.scores(texts).argmax(-1).tolist()]

    __call__ = classify

    def __repr__(self) -> str:
        return f"PolarityService(backend={self.backend.kind!r}, labels={list(self.labels)})"


# ---------------------------------------------------------------------------------------------------
# Comparing two backends
# ---------------------------------------------------------------------------------------------------

def agreement(a: Sequence[str], b: Sequence[str]) -> float:
    """Share of reviews on which two lists of answers agree."""
    a, b = list(a), list(b)
    if len(a) != len(b) or not a:
        raise ValueError(f"Compare answers to the same reviews: got {len(a)} and {len(b)} answers "
                         f"(both must be the same, non-zero length).")
    return sum(x == y for x, y in zip(a, b)) / len(a)


def confusion_matrix(reference: Sequence, predicted: Sequence, labels: Sequence[str] = CANONICAL_LABELS) -> np.ndarray:
    """Counts of (reference label, predicted label): row i is ``labels[i]`` in ``reference``, column j is
    ``labels[j]`` in ``predicted``. Labels are canonical names or their ids."""
    labels = _check_labels(labels)
    reference, predicted = list(reference), list(predicted)
    if len(reference) != len(predicted) or not reference:
        raise ValueError(f"Compare answers to the same reviews: got {len(reference)} reference labels and "
                         f"{len(predicted)} predictions (both must be the same, non-zero length).")
    counts = np.zeros((len(labels), len(labels)), dtype=int)
    for r, p in zip(_label_index(reference, labels).tolist(), _label_index(predicted, labels).tolist()):
        counts[r, p] += 1
    return counts
