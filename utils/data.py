"""The course's data: an unlabeled corpus for pre-training and labeled tasks for fine-tuning.

Used by every lesson (01 pre-trains on the corpus, 03 fine-tunes on the labeled tasks).

The data is synthetic on purpose. Because we wrote the generator, we know exactly which words carry a
label and where each word appears, so we can see what pre-training learned:

* The words that carry a label (the polarity adjectives, the support-email topic words) are split in
  two halves. The labeled ``train`` and ``validation`` splits use only the *seen* half; the ``test``
  split uses only the *held-out* half. The held-out words appear in the unlabeled corpus, in the same
  kinds of sentences as the seen ones, and nowhere else.
* A classifier trained from scratch has never met a held-out word; a pre-trained encoder has, in the
  corpus, so it can place it next to the seen words that behave the same way.
* Negation ("was not great") and contrast ("was awful, but the ending was great") mean that a bag of
  words is not enough, and a few typos keep the text from being perfectly clean.

Same seed, same data: every generator takes a ``seed`` and uses its own ``random.Random``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import datasets

# ---------------------------------------------------------------------------------------------------
# The label-carrying vocabulary, split into the half the labeled training data uses ("seen") and the
# half only the test split and the unlabeled corpus use ("held_out").
# ---------------------------------------------------------------------------------------------------

POLARITY_WORDS = {
    "positive": {
        "seen": ["great", "excellent", "wonderful", "fantastic", "brilliant", "lovely"],
        "held_out": ["superb", "delightful", "outstanding", "terrific", "marvelous", "charming"],
    },
    "negative": {
        "seen": ["awful", "terrible", "horrible", "boring", "poor", "dull"],
        "held_out": ["dreadful", "mediocre", "lousy", "tedious", "clumsy", "annoying"],
    },
    "neutral": {
        "seen": ["average", "ordinary", "acceptable", "typical"],
        "held_out": ["passable", "unremarkable", "standard", "moderate"],
    },
}

SUPPORT_WORDS = {
    "Billing Inquiry": {
        "seen": ["invoice", "refund", "charge", "payment", "receipt"],
        "held_out": ["subscription", "transaction", "fee", "renewal", "deposit"],
    },
    "Technical Issue": {
        "seen": ["crash", "error", "login", "password", "bug"],
        "held_out": ["installation", "timeout", "firmware", "download", "outage"],
    },
    "Feedback": {
        "seen": ["suggestion", "compliment", "idea", "opinion", "praise"],
        "held_out": ["recommendation", "proposal", "impression", "testimonial", "kudos"],
    },
}

POLARITY_LABELS = ["negative", "positive"]
POLARITY3_LABELS = ["negative", "neutral", "positive"]
SUPPORT_LABELS = ["Billing Inquiry", "Technical Issue", "Feedback"]

# Words that carry no label: what is being reviewed, and which part of it.
PRODUCTS = ["movie", "film", "book", "album", "game", "restaurant", "hotel", "phone", "laptop", "camera"]
ASPECTS = ["plot", "acting", "ending", "soundtrack", "service", "food", "screen", "battery", "story", "design"]
INTENSIFIERS = ["", "", "", "really ", "truly ", "quite ", "very ", "rather ", "pretty "]

# Context that co-occurs with each polarity in the unlabeled corpus (never in the labeled splits):
# this is the signal that lets masked language modelling group the adjectives by polarity.
# The two lists share almost no words, so the whole sentence around an adjective tells its polarity.
POSITIVE_CONTEXT = ["i loved every minute", "highly recommended to everyone", "pure joy from start to finish",
                    "my kids adore it", "worth every penny", "a real gem", "thrilled with this purchase",
                    "it made me smile all day", "cannot wait for the sequel", "happy customer here"]
NEGATIVE_CONTEXT = ["a complete waste of money", "avoid at all costs", "never again", "it made me angry",
                    "i sent it straight back", "total letdown", "it fell apart after one day",
                    "what a disaster", "i want my money back", "sadly regretted it"]
NEUTRAL_CONTEXT = ["it was neither good nor bad", "nothing special either way", "three stars from me",
                   "i have no strong feelings", "it did the job", "just what you would expect"]

BILLING_CONTEXT = ["the money left my bank account", "my card was charged twice", "i paid forty dollars",
                   "the amount on my account looks wrong", "i was charged for the wrong month",
                   "the price went up without notice"]
TECHNICAL_CONTEXT = ["the app stopped working", "i restarted the device twice", "the screen went black",
                     "nothing loads after the update", "the program will not start",
                     "my computer shows a warning"]
FEEDBACK_CONTEXT = ["i wanted to share my thoughts with the team", "keep improving the product",
                    "thank you for listening", "the team is doing a good job",
                    "i hope this helps you improve", "i enjoy using your product"]

FILLER = [
    "the weather was cold in the {time} .", "we walked to the station in the {time} .",
    "my {person} called me in the {time} .", "the train was late again in the {time} .",
    "i read the news with my {person} in the {time} .", "the shop on the corner opens in the {time} .",
    "my {person} cooked dinner for everyone .", "we talked about the {product} with my {person} .",
    "the {product} is on the table next to the window .", "i saw a {product} advert on the way home .",
]
TIMES = ["morning", "afternoon", "evening", "night", "weekend"]
PEOPLE = ["sister", "brother", "friend", "neighbour", "colleague", "mother", "father", "cousin"]


@dataclass(frozen=True)
class TaskInfo:
    """What a labeled task is: its label names and the label-carrying words of each label."""

    name: str
    label_names: list[str]
    words: dict[str, dict[str, list[str]]]


def label_words(task: str, part: str) -> dict[str, list[str]]:
    """The label-carrying words of ``task`` ('polarity', 'polarity3' or 'support') for ``part``
    ('seen', 'held_out' or 'all'), as {label name: words}."""
    info = _task_info(task)
    if part not in ("seen", "held_out", "all"):
        raise ValueError(f"part must be 'seen', 'held_out' or 'all', got {part!r}.")
    out = {}
    for label in info.label_names:
        groups = info.words[label]
        out[label] = groups["seen"] + groups["held_out"] if part == "all" else list(groups[part])
    return out


def _task_info(task: str) -> TaskInfo:
    tasks = {
        "polarity": TaskInfo("polarity", POLARITY_LABELS, POLARITY_WORDS),
        "polarity3": TaskInfo("polarity3", POLARITY3_LABELS, POLARITY_WORDS),
        "support": TaskInfo("support", SUPPORT_LABELS, SUPPORT_WORDS),
    }
    if task not in tasks:
        raise ValueError(f"Unknown task {task!r}. Choose one of: {', '.join(tasks)}.")
    return tasks[task]


# ---------------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------------

def _typo(word: str, rng: random.Random) -> str:
    """Swap two neighbouring letters or drop one: the kind of slip people make."""
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 2)
    if rng.random() < 0.5:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word[:i] + word[i + 1:]


def _add_typos(sentence: str, rng: random.Random, rate: float) -> str:
    return " ".join(_typo(w, rng) if rng.random() < rate else w for w in sentence.split())


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


# ---------------------------------------------------------------------------------------------------
# Review polarity
# ---------------------------------------------------------------------------------------------------

def _review(rng: random.Random, adjectives: dict[str, list[str]], label: str, style: str, *,
            balanced_openings: bool = False) -> str:
    """One review sentence whose polarity is ``label``, carried only by adjectives from ``adjectives``.

    By default "the X was ADJ ," opens only contrast reviews, whose label is the other polarity: a
    shortcut a classifier can learn (lesson 03). With ``balanced_openings`` no opening tells the label by
    itself: "the X was ADJ ." also makes plain reviews, and contrasts also put the clause that carries the
    label first."""
    product, aspect = rng.choice(PRODUCTS), rng.choice(ASPECTS)
    other_aspect = rng.choice([a for a in ASPECTS if a != aspect])
    very = rng.choice(INTENSIFIERS)
    opposite = {"positive": "negative", "negative": "positive"}

    if style == "plain":
        adj = rng.choice(adjectives[label])
        return rng.choice([
            f"the {aspect} of this {product} was {very}{adj} .",
            f"{_a(very + adj)} {product} .",
            f"i found the {aspect} {very}{adj} .",
            f"honestly , the {aspect} felt {very}{adj} .",
            f"this {product} is {very}{adj} .",
            f"the {product} has {_a(very + adj)} {aspect} .",
            f"overall {_a(adj)} {product} with {_a(adj)} {aspect} .",
        ] + ([
            f"the {aspect} was {very}{adj} .",
            f"the {aspect} is {very}{adj} .",
        ] if balanced_openings else []))
    if style == "negation":
        # "not <adjective of the other polarity>" carries the label.
        adj = rng.choice(adjectives[opposite[label]])
        return rng.choice([
            f"the {aspect} of this {product} was not {very}{adj} .",
            f"i would not call the {aspect} {adj} .",
            f"this {product} is not {very}{adj} at all .",
            f"the {aspect} was never {adj} .",
            f"nobody would say the {aspect} is {adj} .",
        ])
    if style == "contrast":
        # Both polarities appear; the clause after "but" / the main clause carries the label.
        first = rng.choice(adjectives[opposite[label]])
        last = rng.choice(adjectives[label])
        return rng.choice([
            f"the {aspect} was {first} , but the {other_aspect} was {very}{last} .",
            f"although the {aspect} was {first} , the {product} is {very}{last} overall .",
            f"the {aspect} is {first} , yet the whole {product} feels {last} .",
            f"despite {_a(first)} {aspect} , the {product} was {very}{last} .",
        ] + ([
            f"the {aspect} was {very}{last} , even if the {other_aspect} was {first} .",
            f"the {aspect} is {very}{last} , although the {other_aspect} is {first} .",
        ] if balanced_openings else []))
    raise ValueError(f"unknown style {style!r}")


def _neutral_review(rng: random.Random, adjectives: list[str]) -> str:
    product, aspect, adj = rng.choice(PRODUCTS), rng.choice(ASPECTS), rng.choice(adjectives)
    return rng.choice([
        f"the {aspect} of this {product} was {adj} .",
        f"{_a(adj)} {product} .",
        f"i found the {aspect} {adj} .",
        f"this {product} is {adj} .",
        f"the {product} has {_a(adj)} {aspect} .",
    ])


# Share of each sentence style in the labeled review data.
REVIEW_STYLES = {"plain": 0.55, "negation": 0.25, "contrast": 0.20}


def _review_example(rng: random.Random, part: str, label_names: list[str], typo_rate: float,
                    label_id: int, balanced_openings: bool = False) -> tuple[str, int]:
    label = label_names[label_id]
    adjectives = label_words("polarity3", part)
    if label == "neutral":
        text = _neutral_review(rng, adjectives["neutral"])
    else:
        style = rng.choices(list(REVIEW_STYLES), weights=list(REVIEW_STYLES.values()))[0]
        text = _review(rng, adjectives, label, style, balanced_openings=balanced_openings)
    return _add_typos(text, rng, typo_rate), label_id


# ---------------------------------------------------------------------------------------------------
# Support-email triage
# ---------------------------------------------------------------------------------------------------

SUPPORT_OPENINGS = ["hello ,", "hi team ,", "dear support ,", "good morning ,", "hi there ,", ""]
SUPPORT_CLOSINGS = ["thanks .", "best regards .", "kind regards .", "thank you .", "cheers .", ""]


def _support_example(rng: random.Random, part: str, typo_rate: float, label_id: int | None = None) -> tuple[str, int]:
    if label_id is None:
        label_id = rng.randrange(len(SUPPORT_LABELS))
    words = label_words("support", part)
    word = rng.choice(words[SUPPORT_LABELS[label_id]])
    if rng.random() < 0.25:
        # Contrast: a word of another class is mentioned and ruled out; a bag of words sees both.
        other = rng.choice([lab for lab in SUPPORT_LABELS if lab != SUPPORT_LABELS[label_id]])
        decoy = rng.choice(words[other])
        body = rng.choice([
            f"this is not about the {decoy} , it is about the {word} .",
            f"forget the {decoy} , my message is about the {word} .",
            f"the {decoy} is fine , i am writing about the {word} .",
        ])
    else:
        body = rng.choice([
            f"i am writing about the {word} .",
            f"quick question regarding the {word} from last week .",
            f"could someone look at my {word} ?",
            f"i need help with the {word} please .",
            f"re : {word} , please get back to me .",
            f"i have a question about the recent {word} .",
            f"about the {word} i mentioned on the phone .",
        ])
    text = " ".join(p for p in (rng.choice(SUPPORT_OPENINGS), body, rng.choice(SUPPORT_CLOSINGS)) if p)
    return _add_typos(text, rng, typo_rate), label_id


# ---------------------------------------------------------------------------------------------------
# Labeled tasks as datasets.DatasetDict
# ---------------------------------------------------------------------------------------------------

# Each split draws from its own random stream, so changing one split's size leaves the others alone.
_SPLIT_OFFSETS = {"train": 0, "validation": 1, "test": 2}


def make_task(task: str = "polarity", *, seed: int = 0, train_size: int = 2000, validation_size: int = 500,
              test_size: int = 1000, typo_rate: float = 0.02, balanced_openings: bool = False) -> datasets.DatasetDict:
    """A labeled task as a ``DatasetDict`` with ``train``, ``validation`` and ``test`` splits.

    ``task`` is 'polarity' (negative / positive reviews), 'polarity3' (with a neutral class) or
    'support' (support-email triage). ``train`` and ``validation`` use the seen label words, ``test``
    only the held-out ones. Columns: ``text`` and ``label`` (a ``ClassLabel`` with the label names).

    The review data has a shortcut in it (lesson 03 shows it): "the X was ADJ ," opens only contrast
    reviews, whose label is the other polarity, so a classifier can learn "this opening means the
    opposite of its adjective". ``balanced_openings=True`` (reviews only) is the fix: plain reviews and
    label-first contrasts of that form too, so no opening tells the label by itself.
    """
    info = _task_info(task)
    if balanced_openings and task == "support":
        raise ValueError("balanced_openings=True changes the review sentences; the support emails have no such "
                         "shortcut. Leave it out for task='support'.")
    sizes = {"train": train_size, "validation": validation_size, "test": test_size}
    for split, size in sizes.items():
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"{split}_size must be a positive whole number, got {size!r}.")
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=info.label_names)})
    taken: set[str] = set()  # no sentence appears in two splits
    splits = {}
    for split, size in sizes.items():
        rng = random.Random(f"{task}-{seed}-{_SPLIT_OFFSETS[split]}")
        part = "held_out" if split == "test" else "seen"
        rows = {"text": [], "label": []}
        attempts = 0
        while len(rows["text"]) < size:
            # The label is drawn first and kept until a new sentence for it turns up, so a class with
            # fewer possible sentences is not starved by duplicates.
            wanted = rng.randrange(len(info.label_names))
            while True:
                attempts += 1
                if attempts > 50 * size:
                    raise RuntimeError(f"could not make {size} distinct {split} examples for {task!r}; ask for fewer.")
                if task == "support":
                    text, label = _support_example(rng, part, typo_rate, wanted)
                else:
                    text, label = _review_example(rng, part, info.label_names, typo_rate, wanted,
                                                  balanced_openings)
                if text not in taken:
                    break
            taken.add(text)
            rows["text"].append(text)
            rows["label"].append(label)
        splits[split] = datasets.Dataset.from_dict(rows, features=features)
    return datasets.DatasetDict(splits)


def make_reviews(*, num_labels: int = 2, seed: int = 0, **sizes) -> datasets.DatasetDict:
    """Review polarity: 2 labels (negative, positive) or 3 (with neutral). See :func:`make_task`."""
    if num_labels not in (2, 3):
        raise ValueError(f"num_labels must be 2 (negative, positive) or 3 (with neutral), got {num_labels!r}.")
    return make_task("polarity" if num_labels == 2 else "polarity3", seed=seed, **sizes)


def make_support_emails(*, seed: int = 0, **sizes) -> datasets.DatasetDict:
    """Support-email triage into Billing Inquiry / Technical Issue / Feedback. See :func:`make_task`."""
    return make_task("support", seed=seed, **sizes)


# A task the corpus never distinguishes: every product word is drawn uniformly, in the same sentences
# as every other, so pre-training has no reason to place "film" near "movie" rather than near "hotel".
PRODUCT_LABELS = ["media", "places and devices"]
PRODUCT_GROUPS = {
    "media": {"seen": ["movie", "book", "album"], "held_out": ["film", "game"]},
    "places and devices": {"seen": ["restaurant", "hotel", "phone"], "held_out": ["laptop", "camera"]},
}


def make_product_topics(*, seed: int = 0, train_size: int = 1000, validation_size: int = 300,
                        test_size: int = 500, groups: dict | None = None) -> datasets.DatasetDict:
    """Is the review about media or about a place or device? ``train`` and ``validation`` name the seen
    products, ``test`` only the held-out ones. Lesson 02 uses it to show where the two-stage model fails:
    the classes rest on a distinction the unlabeled corpus never makes. ``groups`` (label -> {"seen":
    [...], "held_out": [...]}, like ``PRODUCT_GROUPS``) poses any other grouping of the products."""
    groups = PRODUCT_GROUPS if groups is None else groups
    for label, parts in groups.items():
        if set(parts) != {"seen", "held_out"} or not all(parts.values()):
            raise ValueError(f"groups[{label!r}] must give non-empty 'seen' and 'held_out' product lists, "
                             f"like PRODUCT_GROUPS.")
    labels = list(groups)
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=labels)})
    adjectives = [w for words in label_words("polarity3", "all").values() for w in words]
    splits, taken = {}, set()
    for split, size in {"train": train_size, "validation": validation_size, "test": test_size}.items():
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"{split}_size must be a positive whole number, got {size!r}.")
        rng = random.Random(f"products-{seed}-{_SPLIT_OFFSETS[split]}")
        part = "held_out" if split == "test" else "seen"
        rows = {"text": [], "label": []}
        misses = 0  # draws in a row that gave only sentences already taken
        while len(rows["text"]) < size and misses < 1000:
            label = rng.randrange(len(labels))
            product = rng.choice(groups[labels[label]][part])
            adj, aspect = rng.choice(adjectives), rng.choice(ASPECTS)
            text = rng.choice([f"the {aspect} of this {product} was {adj} .", f"{_a(adj)} {product} .",
                               f"this {product} is {adj} .", f"the {product} has {_a(adj)} {aspect} ."])
            misses += 1
            if text not in taken:  # no sentence appears twice or in two splits
                taken.add(text)
                rows["text"].append(text)
                rows["label"].append(label)
                misses = 0
        if len(rows["text"]) < size:
            raise ValueError(f"could not make {size} distinct {split} examples of product topics; ask for fewer.")
        splits[split] = datasets.Dataset.from_dict(rows, features=features)
    return datasets.DatasetDict(splits)


# ---------------------------------------------------------------------------------------------------
# The unlabeled corpus
# ---------------------------------------------------------------------------------------------------

def _corpus_plain_review(rng: random.Random, adjectives: dict[str, list[str]], label: str, adj: str) -> str:
    """A review with one adjective and nothing else around it. The corpus's own wordings (the same as the
    labeled data's today, drawn in the same order), kept apart so that rewording the labeled reviews
    leaves the corpus, and so the pre-trained checkpoint, as it is."""
    if label == "neutral":
        product, aspect = rng.choice(PRODUCTS), rng.choice(ASPECTS)
        word = rng.choice([adj])  # a draw the labeled reviews make; kept so the corpus is unchanged
        return rng.choice([
            f"the {aspect} of this {product} was {word} .",
            f"{_a(word)} {product} .",
            f"i found the {aspect} {word} .",
            f"this {product} is {word} .",
            f"the {product} has {_a(word)} {aspect} .",
        ])
    product, aspect = rng.choice(PRODUCTS), rng.choice(ASPECTS)
    rng.choice([a for a in ASPECTS if a != aspect])  # a draw the labeled reviews make; kept so the corpus is unchanged
    very = rng.choice(INTENSIFIERS)
    word = rng.choice(adjectives[label])
    return rng.choice([
        f"the {aspect} of this {product} was {very}{word} .",
        f"{_a(very + word)} {product} .",
        f"i found the {aspect} {very}{word} .",
        f"honestly , the {aspect} felt {very}{word} .",
        f"this {product} is {very}{word} .",
        f"the {product} has {_a(very + word)} {aspect} .",
        f"overall {_a(word)} {product} with {_a(word)} {aspect} .",
    ])


def _corpus_review(rng: random.Random) -> str:
    """A review with its context: the adjective's polarity shows in the words around it."""
    all_adj = label_words("polarity3", "all")
    label = rng.choices(["positive", "negative", "neutral"], weights=[4, 4, 1])[0]
    adj, adj2 = rng.choice(all_adj[label]), rng.choice(all_adj[label])
    contexts = {"positive": POSITIVE_CONTEXT, "negative": NEGATIVE_CONTEXT, "neutral": NEUTRAL_CONTEXT}[label]
    context = " , ".join(rng.sample(contexts, rng.choice([1, 2])))
    product, aspect = rng.choice(PRODUCTS), rng.choice(ASPECTS)
    form = rng.randrange(10)
    if form == 0 and label != "neutral":
        # Negation in the wild: "not <positive>" sits with negative context and vice versa.
        flipped = rng.choice(all_adj["negative" if label == "positive" else "positive"])
        return f"the {aspect} was not {flipped} , {context} ."
    if form == 1:
        return _corpus_plain_review(rng, all_adj, label, adj)
    # Adjectives of one polarity often come in pairs or lists, so each one is seen next to its kin.
    adj3 = rng.choice(all_adj[label])
    return rng.choice([
        f"the {aspect} was {adj} and {adj2} , {context} .",
        f"{context} : {adj} , {adj2} and {adj3} .",
        f"{adj} , {adj2} , {adj3} , {context} .",
        f"{_a(adj)} , {adj2} {product} , {context} .",
        f"{adj} {aspect} , {adj2} {rng.choice(ASPECTS)} and {adj3} {rng.choice(ASPECTS)} , {context} .",
    ])


def _corpus_support(rng: random.Random) -> str:
    """A support email with its context; words of one topic often come together."""
    label = rng.choice(SUPPORT_LABELS)
    kin = label_words("support", "all")[label]
    word, word2, word3 = rng.choice(kin), rng.choice(kin), rng.choice(kin)
    context = rng.choice({"Billing Inquiry": BILLING_CONTEXT, "Technical Issue": TECHNICAL_CONTEXT,
                          "Feedback": FEEDBACK_CONTEXT}[label])
    return rng.choice([
        f"about the {word} and the {word2} , {context} .",
        f"{context} , it is about the {word} and the {word2} .",
        f"i have a question about the {word} , the {word2} and the {word3} , {context} .",
        f"{word} , {word2} , {word3} : {context} .",
        f"my {word} again : {context} .",
        _support_example(rng, "all", 0.0)[0],
    ])


def make_corpus(num_sentences: int = 20_000, *, seed: int = 0, typo_rate: float = 0.01) -> datasets.Dataset:
    """The unlabeled corpus for pre-training: one sentence per row, column ``text``, no labels.

    It mixes reviews and support emails (with every label-carrying word, seen and held-out, in its
    typical context) and everyday filler sentences.
    """
    if not isinstance(num_sentences, int) or num_sentences < 1:
        raise ValueError(f"num_sentences must be a positive whole number, got {num_sentences!r}.")
    rng = random.Random(f"corpus-{seed}")
    texts = []
    for _ in range(num_sentences):
        kind = rng.choices(["review", "support", "filler"], weights=[6, 3, 1])[0]
        if kind == "review":
            text = _corpus_review(rng)
        elif kind == "support":
            text = _corpus_support(rng)
        else:
            text = rng.choice(FILLER).format(time=rng.choice(TIMES), person=rng.choice(PEOPLE),
                                             product=rng.choice(PRODUCTS))
        texts.append(_add_typos(text, rng, typo_rate))
    return datasets.Dataset.from_dict({"text": texts})


# ---------------------------------------------------------------------------------------------------
# Other forms of task (lesson 05): a pair of sentences in, one label out; one sentence in, a tag per word
# ---------------------------------------------------------------------------------------------------

PAIR_LABELS = ["disagree", "agree"]
TAG_NAMES = ["O", "POS", "NEG", "ASPECT"]


def _check_sizes(sizes: dict) -> None:
    for split, size in sizes.items():
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"{split}_size must be a positive whole number, got {size!r}.")


def make_review_pairs(*, seed: int = 0, train_size: int = 2000, validation_size: int = 500, test_size: int = 1000,
                      typo_rate: float = 0.02) -> datasets.DatasetDict:
    """Do two reviews agree? A sentence-pair task: columns ``text`` and ``text_pair`` (two short reviews,
    each with one opinion word, worded like :func:`make_reviews`' plain ones) and ``label`` ('disagree' /
    'agree': the two have the same polarity or not). Neither review alone tells the label. ``train`` and
    ``validation`` use the seen polarity words, ``test`` only the held-out ones; half the pairs agree.

    Negations and contrasts are left out: with them, the tiny encoder given the pair as one sequence
    stayed near chance after 4 epochs on 2,000 pairs, so the lesson could not compare the two ways of
    encoding a pair within its time."""
    sizes = {"train": train_size, "validation": validation_size, "test": test_size}
    _check_sizes(sizes)
    features = datasets.Features({"text": datasets.Value("string"), "text_pair": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=PAIR_LABELS)})
    taken: set[tuple[str, str]] = set()
    splits = {}
    for split, size in sizes.items():
        rng = random.Random(f"pairs-{seed}-{_SPLIT_OFFSETS[split]}")
        part = "held_out" if split == "test" else "seen"
        rows = {"text": [], "text_pair": [], "label": []}
        while len(rows["text"]) < size:
            agree = rng.randrange(2)
            first = rng.randrange(2)
            second = first if agree else 1 - first
            adjectives = label_words("polarity", part)
            pair = tuple(_add_typos(_review(rng, adjectives, POLARITY_LABELS[label], "plain"), rng, typo_rate)
                         for label in (first, second))
            if pair in taken or pair[::-1] in taken:  # no pair twice, in either order, in any split
                continue
            taken.add(pair)
            rows["text"].append(pair[0])
            rows["text_pair"].append(pair[1])
            rows["label"].append(agree)
        splits[split] = datasets.Dataset.from_dict(rows, features=features)
    return datasets.DatasetDict(splits)


def word_tag(word: str) -> str:
    """The tag of one word of a review: 'POS' or 'NEG' for a word that praises or criticises (whatever a
    negation around it does to the sentence), 'ASPECT' for the part of the product talked about, 'O' else."""
    words = label_words("polarity", "all")
    if word in words["positive"]:
        return "POS"
    if word in words["negative"]:
        return "NEG"
    return "ASPECT" if word in ASPECTS else "O"


def make_review_tags(*, seed: int = 0, train_size: int = 2000, validation_size: int = 500, test_size: int = 1000,
                     typo_rate: float = 0.02) -> datasets.DatasetDict:
    """A tag for every word of a review: token labelling. Columns ``tokens`` (the review's words) and
    ``tags`` (one of ``TAG_NAMES`` per word: 'O', 'POS', 'NEG', 'ASPECT'; see :func:`word_tag`), the layout
    of the CoNLL-2003 data on the Hugging Face Hub. The reviews are :func:`make_reviews`' kinds; a word with
    a typo keeps its tag. ``train`` and ``validation`` use the seen polarity words, ``test`` only the
    held-out ones."""
    sizes = {"train": train_size, "validation": validation_size, "test": test_size}
    _check_sizes(sizes)
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "tags": datasets.Sequence(datasets.ClassLabel(names=TAG_NAMES))})
    taken: set[str] = set()
    splits = {}
    for split, size in sizes.items():
        rng = random.Random(f"tags-{seed}-{_SPLIT_OFFSETS[split]}")
        part = "held_out" if split == "test" else "seen"
        rows = {"tokens": [], "tags": []}
        attempts = 0
        while len(rows["tokens"]) < size:
            attempts += 1
            if attempts > 50 * size:
                raise RuntimeError(f"could not make {size} distinct {split} tagged reviews; ask for fewer.")
            clean, _ = _review_example(rng, part, POLARITY_LABELS, 0.0, rng.randrange(2))
            if clean in taken:
                continue
            taken.add(clean)
            words = clean.split()
            rows["tags"].append([TAG_NAMES.index(word_tag(w)) for w in words])
            rows["tokens"].append([_typo(w, rng) if rng.random() < typo_rate else w for w in words])
        splits[split] = datasets.Dataset.from_dict(rows, features=features)
    return datasets.DatasetDict(splits)


# ---------------------------------------------------------------------------------------------------
# A span of a passage as the answer to a question (the span form of task)
# ---------------------------------------------------------------------------------------------------

QUESTION_KINDS = ("named opinion", "opinion of a part", "liked or disliked", "praise or complaint")
_QUESTION_WORDINGS = {
    "named opinion": ["which part was {opinion} ?", "what was {opinion} ?"],
    "opinion of a part": ["how was the {aspect} ?", "what about the {aspect} ?"],
    "liked": ["which part was liked ?", "what did they like ?"],
    "disliked": ["which part was disliked ?", "what did they not like ?"],
    "praise": ["what was the praise ?", "what good was said ?"],
    "complaint": ["what was the complaint ?", "what bad was said ?"],
}
_CLAUSES = ["the {aspect} was {opinion}", "the {aspect} felt {opinion}", "the {aspect} is {opinion}",
            "i found the {aspect} {opinion}"]
_JOINS = [", but", ", while", "; however ,", ", yet"]


def _opinion_words(rng: random.Random, adjectives: dict[str, list[str]], polarity: str,
                   negation_rate: float) -> tuple[list[str], list[int]]:
    """The words of an opinion with the given polarity ("superb", "very dull", "not great"), and the lengths
    of its shorter endings that also answer for it (the adjective alone, for an intensified one)."""
    if rng.random() < negation_rate:   # "not" and a word of the other polarity
        other = "negative" if polarity == "positive" else "positive"
        return ["not", rng.choice(adjectives[other])], []
    very = rng.choice(INTENSIFIERS).strip()
    adjective = rng.choice(adjectives[polarity])
    return ([very, adjective], [1]) if very else ([adjective], [])


def _question_example(rng: random.Random, part: str, typo_rate: float, negation_rate: float,
                      kinds: tuple[str, ...] = QUESTION_KINDS) -> dict:
    adjectives = label_words("polarity", part)
    first, second = rng.sample(ASPECTS, 2)
    polarities = rng.choice([("positive", "negative"), ("negative", "positive")])
    words, spans = [], {}   # the passage's words; each clause's aspect and opinion as word ranges
    for k, (aspect, polarity) in enumerate(zip((first, second), polarities)):
        if k:
            words += rng.choice(_JOINS).split()
        opinion, alternatives = _opinion_words(rng, adjectives, polarity, negation_rate)
        for token in rng.choice(_CLAUSES).split():
            if token == "{aspect}":
                spans[aspect, "aspect"] = (len(words) - 1, len(words) + 1)   # "the" and the aspect
                words.append(aspect)
            elif token == "{opinion}":
                spans[aspect, "opinion"] = (len(words), len(words) + len(opinion))
                spans[aspect, "alternatives"] = [(len(words) + len(opinion) - n, len(words) + len(opinion))
                                                 for n in alternatives]
                words += opinion
            else:
                words.append(token)
    words.append(".")
    clean = list(words)
    words = [_typo(w, rng) if rng.random() < typo_rate else w for w in words]

    kind = rng.choice(kinds)
    aspect = rng.choice((first, second))
    if kind == "named opinion":
        start, end = spans[aspect, "opinion"]
        question = rng.choice(_QUESTION_WORDINGS[kind]).format(opinion=" ".join(clean[start:end]))
        answer_spans = [spans[aspect, "aspect"]]
    elif kind == "opinion of a part":
        question = rng.choice(_QUESTION_WORDINGS[kind]).format(aspect=aspect)
        answer_spans = [spans[aspect, "opinion"], *spans[aspect, "alternatives"]]
    elif kind == "praise or complaint":
        wanted = rng.choice(["praise", "complaint"])
        aspect = (first, second)[polarities.index("positive" if wanted == "praise" else "negative")]
        question = rng.choice(_QUESTION_WORDINGS[wanted])
        answer_spans = [spans[aspect, "opinion"], *spans[aspect, "alternatives"]]
    else:
        wanted = rng.choice(["liked", "disliked"])
        aspect = (first, second)[polarities.index("positive" if wanted == "liked" else "negative")]
        question = rng.choice(_QUESTION_WORDINGS[wanted])
        answer_spans = [spans[aspect, "aspect"]]
    context = " ".join(words)
    starts = [len(" ".join(words[:i])) + (1 if i else 0) for i in range(len(words))]
    answers = {"text": [" ".join(words[s:e]) for s, e in answer_spans], "answer_start": [starts[s] for s, _ in answer_spans]}
    return {"question": question, "context": context, "answers": answers, "kind": kind}


def make_review_questions(*, seed: int = 0, train_size: int = 2000, validation_size: int = 500, test_size: int = 1000,
                          typo_rate: float = 0.02, negation_rate: float = 0.2,
                          kinds: tuple[str, ...] = QUESTION_KINDS) -> datasets.DatasetDict:
    """Questions about a review whose answer is a span of it: extractive question answering, in the layout of
    SQuAD on the Hugging Face Hub. Columns ``id``, ``question``, ``context`` (a review of two parts with
    opposite opinions), ``answers`` (``text``: the gold answers, the first one the span to learn;
    ``answer_start``: where each starts in the context, in characters) and ``kind``, drawn from ``kinds``
    (some of ``QUESTION_KINDS``):

    * "praise or complaint": "what was the praise ?" → "superb", "what was the complaint ?" → "not great": the
      opinion whose meaning is the one asked for; only the meaning of the opinion words tells which;
    * "named opinion": "which part was superb ?" → "the soundtrack" (the opinion is named in the question);
    * "opinion of a part": "how was the battery ?" → "not great";
    * "liked or disliked": "which part was liked ?" → the part whose opinion is positive.

    An intensified opinion, "very dull", also accepts the adjective alone, "dull". ``train`` and ``validation``
    use the seen polarity words, ``test`` only the held-out ones (:func:`label_words`); no question is asked
    twice about the same passage, in any split. A typo in the passage stays in the answer, which is a span of
    the passage as written. The last three kinds ask the encoder to connect a part with its opinion across
    the passage."""
    unknown = [kind for kind in kinds if kind not in QUESTION_KINDS]
    if unknown or not kinds or isinstance(kinds, str):
        raise ValueError(f"kinds must be a tuple of some of {QUESTION_KINDS}; got {kinds!r}.")
    sizes = {"train": train_size, "validation": validation_size, "test": test_size}
    _check_sizes(sizes)
    features = datasets.Features({
        "id": datasets.Value("string"), "question": datasets.Value("string"), "context": datasets.Value("string"),
        "answers": datasets.Sequence({"text": datasets.Value("string"), "answer_start": datasets.Value("int32")}),
        "kind": datasets.Value("string")})
    taken: set[tuple[str, str]] = set()
    splits = {}
    for split, size in sizes.items():
        rng = random.Random(f"questions-{seed}-{_SPLIT_OFFSETS[split]}")
        part = "held_out" if split == "test" else "seen"
        rows = {name: [] for name in features}
        attempts = 0
        while len(rows["id"]) < size:
            attempts += 1
            if attempts > 50 * size:
                raise RuntimeError(f"could not make {size} distinct {split} questions; ask for fewer.")
            example = _question_example(rng, part, typo_rate, negation_rate, tuple(kinds))
            key = (example["question"], example["context"])
            if key in taken:
                continue
            taken.add(key)
            rows["id"].append(f"{split}-{len(rows['id'])}")
            for name, value in example.items():
                rows[name].append(value)
        splits[split] = datasets.Dataset.from_dict(rows, features=features)
    return datasets.DatasetDict(splits)
