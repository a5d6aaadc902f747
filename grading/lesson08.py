"""Checks for lesson 08's exercises (exercises/08_real_models_exercises.ipynb): the SHA-256 of a file read
in chunks, checking model weights against a pinned digest, the share of [UNK] tokens a tokenizer makes of
a text, SST-2's rows in the course's format, and two concept questions (why the tiny model cannot read
ordinary English, and what to expect from bert-base-uncased on SST-2).

The checks build their own files in a temporary folder, their own small WordPiece tokenizers and their own
small datasets, so they need no model, no checkpoint and no network.
"""

from __future__ import annotations

import contextlib

from .core import Incorrect, case, exercise
from .lesson06 import python_number

CHUNK = 4096  # the chunk size the checks ask for, so a small file already takes several reads
BIG = 8 * 2**20  # bytes of the file on which memory use is measured


# ---------------------------------------------------------------------------------------------------
# Files to hash, and a watch on how they are read
# ---------------------------------------------------------------------------------------------------

def _file_contents():
    """(where, bytes) of the files the digest checks hash: empty, one byte, exactly one chunk, several
    chunks with a short last one."""
    import random

    rng = random.Random(7)
    several = bytes(rng.getrandbits(8) for _ in range(3 * CHUNK + 123))
    yield "an empty file", b""
    yield "a file of one byte", b"\x00"
    yield f"a file of exactly one chunk ({CHUNK} bytes)", bytes(rng.getrandbits(8) for _ in range(CHUNK))
    yield f"a file of {len(several)} bytes, more than three chunks of {CHUNK}", several


@contextlib.contextmanager
def _peak_memory(peak: list):
    """Inside the block, Python's memory use is traced; ``peak`` then holds its highest point (in bytes) above
    where it started, or nothing when someone else was tracing already."""
    import tracemalloc

    if tracemalloc.is_tracing():  # not ours to stop, and its peak is not ours to reset
        yield
        return
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        yield
        peak.append(tracemalloc.get_traced_memory()[1] - start)
    finally:
        tracemalloc.stop()


def _hex_digest(value, name: str, where: str) -> str:
    if isinstance(value, (bytes, bytearray)):
        raise Incorrect(f"On {where}, {name} returned bytes ({len(value)} of them); return the digest as a string "
                        f"of hexadecimal digits, .hexdigest(), as the pinned digest is written.")
    if not isinstance(value, str):
        raise Incorrect(f"On {where}, {name} returned {type(value).__name__}; return the digest as a string of 64 "
                        f"hexadecimal digits (.hexdigest()).")
    return value


# ---------------------------------------------------------------------------------------------------
# 08.sha256_of
# ---------------------------------------------------------------------------------------------------

@exercise("08.sha256_of", points=2, answer="sha256_of", hints=[
    "hashlib.sha256() makes an empty digest; .update(chunk) adds bytes to it, as many times as you like, and "
    ".hexdigest() gives the result as text.",
    "Open the file in binary mode, open(path, 'rb'), and read it with handle.read(chunk_size) in a loop until "
    "read returns b'' (the end of the file). Update the digest with every chunk, not only the first or the last.",
])
def check_sha256_of(sha256_of):
    import hashlib
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        for number, (where, content) in enumerate(_file_contents()):
            path = Path(folder) / f"weights-{number}.bin"
            path.write_bytes(content)
            expected = hashlib.sha256(content).hexdigest()
            given = str(path) if number % 2 else path  # a str and a Path are both paths
            with case(where):
                got = sha256_of(given, chunk_size=CHUNK)
            got = _hex_digest(got, "sha256_of", where)
            if path.read_bytes() != content:
                raise Incorrect(f"On {where}, sha256_of changed the file: open it for reading only ('rb').")
            if got.strip().lower() == expected and got != expected:
                raise Incorrect(f"On {where}, sha256_of returned {got!r}: the right digest, but write it as "
                                f".hexdigest() does, 64 lower-case hexadecimal digits and nothing else.")
            if got != expected:
                if len(got) != 64:
                    message = (f"returned {len(got)} characters; a SHA-256 digest is 64 hexadecimal digits. Use "
                               f"hashlib.sha256, not another hash")
                elif got == hashlib.sha256(str(given).encode()).hexdigest():
                    message = "hashed the file's name; hash its contents (the bytes you read from it)"
                elif len(content) > CHUNK and got == hashlib.sha256(content[:CHUNK]).hexdigest():
                    message = "hashed the first chunk only; update the digest with every chunk until the end"
                elif len(content) > CHUNK and got == hashlib.sha256(content[3 * CHUNK:]).hexdigest():
                    message = "hashed the last chunk only; update one digest with every chunk, in order"
                else:
                    message = f"returned {got!r}, but the file's SHA-256 is {expected!r}"
                raise Incorrect(f"On {where}, sha256_of {message}.")
        # A file far bigger than a chunk: reading it whole would hold all of it in memory at once.
        path = Path(folder) / "large.safetensors"
        path.write_bytes(bytes(range(256)) * (BIG // 256))
        where = f"a file of {BIG // 2**20} MiB with chunk_size={CHUNK}"
        peak: list = []
        with case(where), _peak_memory(peak):
            got = sha256_of(path, chunk_size=CHUNK)
        if _hex_digest(got, "sha256_of", where) != _sha256_file(path):
            raise Incorrect(f"On {where}, sha256_of returned {got!r}, not the file's SHA-256.")
        if peak and peak[0] > BIG // 2:
            raise Incorrect(f"On {where}, sha256_of held {peak[0] / 2**20:.1f} MiB in memory at once: it read the "
                            f"file whole. Weights can be gigabytes: read at most chunk_size bytes at a time, "
                            f"handle.read(chunk_size), until it returns b''.")


def _sha256_file(path) -> str:
    import hashlib

    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


# ---------------------------------------------------------------------------------------------------
# 08.verify_weights
# ---------------------------------------------------------------------------------------------------

def _call_verify(verify_weights, path, expected, where):
    """(returned value, raised exception or None)."""
    with case(where):
        try:
            return verify_weights(path, expected), None
        except NotImplementedError:
            raise Incorrect("verify_weights calls code that is not written yet (sha256_of?): write it, run its "
                            "cell, then this one.") from None
        except Exception as error:  # a mismatch is answered by an exception
            return None, error


@exercise("08.verify_weights", points=2, answer="verify_weights", hints=[
    "Compute the file's digest with your sha256_of and compare it with expected. A digest written in capitals, "
    "or copied with a space or a line break around it, is the same digest: compare expected.strip().lower().",
    "On a match, return the digest. On a mismatch, raise ValueError (not assert, which `python -O` switches off) "
    "with a sentence that names the file, the digest found and the one expected, and says not to load the file.",
])
def check_verify_weights(verify_weights):
    import hashlib
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        content = bytes(range(256)) * (CHUNK // 64)  # several chunks
        path = Path(folder) / "model.safetensors"
        path.write_bytes(content)
        digest = hashlib.sha256(content).hexdigest()
        other = digest[:-1] + ("0" if digest[-1] != "0" else "1")  # differs in the last digit only
        matching = [("the right digest", digest), ("the right digest in upper case", digest.upper()),
                    ("the right digest with a line break after it, as copied from a file", digest + "\n")]
        for where, expected in matching:
            got, error = _call_verify(verify_weights, path, expected, where)
            if error is not None:
                detail = f"{type(error).__name__}: {error}".strip().rstrip(".")
                tip = (" Upper- and lower-case hexadecimal digits mean the same; surrounding white space is no part "
                       "of the digest: compare expected.strip().lower()." if expected != digest else "")
                raise Incorrect(f"On {where}, verify_weights raised {detail}, but the file matches.{tip}")
            got = _hex_digest(got, "verify_weights", where)
            if got != digest:
                raise Incorrect(f"On {where}, verify_weights returned {got!r}; when the file matches, return its "
                                f"digest as sha256_of gives it ({digest!r}).")
        empty = Path(folder) / "empty.safetensors"
        empty.write_bytes(b"")
        mismatches = [("a digest that differs in its last digit only", path, other, digest),
                      ("a digest in upper case that differs in its last digit", path, other.upper(), digest),
                      ("an empty (truncated) weights file", empty, digest, hashlib.sha256(b"").hexdigest()),
                      ("a pinned digest cut to its first 32 digits", path, digest[:32], digest)]
        for where, file, expected, found in mismatches:
            got, error = _call_verify(verify_weights, file, expected, where)
            if error is None:
                raise Incorrect(f"On {where}, verify_weights returned {got!r} instead of raising: a file whose digest "
                                f"differs must not be loaded. Raise ValueError.")
            if not isinstance(error, ValueError):
                raise Incorrect(f"On {where}, verify_weights raised {type(error).__name__}; a digest that differs is "
                                f"a wrong value, so raise ValueError (with a sentence saying what is wrong).")
            message = str(error).lower()
            if found not in message or expected.strip().lower() not in message:
                raise Incorrect(f"On {where}, the ValueError's message is {str(error)!r}. Name both digests, the one "
                                f"found and the one expected, so that whoever reads it can tell what went wrong.")


# ---------------------------------------------------------------------------------------------------
# 08.unknown_rate
# ---------------------------------------------------------------------------------------------------

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# A tiny vocabulary, like a tokenizer trained on a few synthetic reviews: "triumph", "storytelling" or
# "cringeworthy" cannot be cut into pieces it knows, so each becomes one unknown token.
SMALL_VOCABULARY = ["the", "movie", "was", "great", "dull", "plot", "a", "an", "of", "it", "not", "good",
                    "##s", "##ing", "##ly", "##er", ".", ",", "!"]


def _wordpiece(words, unk: str = "[UNK]"):
    """A BertTokenizerFast over a fixed WordPiece vocabulary: the same tokens on every run."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizerFast

    specials = [unk if s == "[UNK]" else s for s in SPECIALS]
    vocab = {w: i for i, w in enumerate(specials + list(words))}
    model = Tokenizer(models.WordPiece(vocab=vocab, unk_token=unk))
    model.normalizer = normalizers.BertNormalizer(lowercase=True)
    model.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    model.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    return BertTokenizerFast(tokenizer_object=model, unk_token=unk, pad_token="[PAD]", cls_token="[CLS]",
                             sep_token="[SEP]", mask_token="[MASK]")


def _unknown_cases():
    """(where, tokenizer, texts). The texts differ in length, so averaging per text is caught; some words
    split into several pieces, so counting words instead of tokens is caught."""
    small = _wordpiece(SMALL_VOCABULARY)
    yield ("3 texts of different lengths, a tiny vocabulary",
           small, ["An absolute triumph of storytelling.", "The movie was great, not dull.", "Dullness!"])
    yield ("texts with words cut into pieces (plots, greatly)", small,
           ["Greatly dull plots.", "The plots of the movie were cringeworthy."])
    yield ("an empty string among the texts", small, ["", "The movie was great.", "", "Triumph!"])
    yield ("a text of one unknown word", small, ["storytelling"])
    yield ("a text of one known word", small, ["movie"])
    yield ("texts without one unknown token", small, ["The movie was great.", "It was not good."])
    yield ("a tokenizer whose unknown token is '<unk>', not '[UNK]'", _wordpiece(SMALL_VOCABULARY, unk="<unk>"),
           ["An absolute triumph of storytelling.", "The plot was dull."])


def _rates(tokenizer, texts):
    """(pooled share, mean of per-text shares, share counting [CLS] and [SEP], share per word)."""
    tokens = [tokenizer.tokenize(t) for t in texts]
    unk = [sum(tok == tokenizer.unk_token for tok in ts) for ts in tokens]
    total = sum(len(ts) for ts in tokens)
    pooled = sum(unk) / total
    per_text = [u / len(ts) for u, ts in zip(unk, tokens) if ts]
    mean = sum(per_text) / len(per_text)
    with_specials = sum(unk) / (total + 2 * len(texts))
    words = sum(len(tokenizer.backend_tokenizer.pre_tokenizer.pre_tokenize_str(
        tokenizer.backend_tokenizer.normalizer.normalize_str(t))) for t in texts)
    return pooled, mean, with_specials, sum(unk) / words


@exercise("08.unknown_rate", points=3, answer="unknown_rate", hints=[
    "tokenizer.tokenize(text) gives a text's tokens without [CLS] and [SEP]; tokenizer.unk_token is the "
    "unknown token's spelling (it is not '[UNK]' for every tokenizer).",
    "Count over all texts together: the unknown tokens of every text, divided by the tokens of every text. An "
    "average of each text's own share would count a one-word text as much as a long one.",
    "An empty string has no tokens: it adds nothing to either count. When there are no tokens at all, there is "
    "no share to give: raise ValueError.",
])
def check_unknown_rate(unknown_rate):
    import math

    for where, tokenizer, texts in _unknown_cases():
        given = list(texts)
        with case(where):
            got = unknown_rate(tokenizer, given)
        if given != texts:
            raise Incorrect(f"On {where}, unknown_rate changed the list of texts it was given: only read it.")
        value = python_number(got, "unknown_rate", where)
        pooled, mean, with_specials, per_word = _rates(tokenizer, texts)
        if math.isclose(value, pooled, abs_tol=1e-9):
            continue
        for wrong, message in (
                (100 * pooled, "returned a percentage; return a share between 0 and 1"),
                (mean, "averaged each text's own share; count the unknown tokens of all texts together and divide "
                       "by all their tokens"),
                (with_specials, "counted [CLS] and [SEP] among the tokens; only the text's own tokens count "
                                "(tokenizer.tokenize adds no special tokens)"),
                (per_word, "divided by the number of words; divide by the number of tokens (a word can be cut "
                           "into several pieces)")):
            if math.isclose(value, wrong, abs_tol=1e-9):
                raise Incorrect(f"On {where} ({texts!r}), unknown_rate {message}.")
        if value == 0 and pooled > 0:
            raise Incorrect(f"On {where}, unknown_rate found no unknown token, but there are some. Compare each token "
                            f"with tokenizer.unk_token (here {tokenizer.unk_token!r}).")
        raise Incorrect(f"On {where} ({texts!r}), unknown_rate returned {value:.4f}; the share of unknown tokens "
                        f"among the texts' tokens is {pooled:.4f}.")
    small = _wordpiece(SMALL_VOCABULARY)
    for where, texts in (("an empty list of texts", []), ("a list of empty strings only", ["", ""])):
        with case(where):
            try:
                got = unknown_rate(small, list(texts))
            except ValueError as error:
                if not str(error).strip():
                    raise Incorrect(f"On {where}, unknown_rate raised ValueError without a message; say that there "
                                    f"are no tokens to count.") from None
                continue
            except ZeroDivisionError:
                raise Incorrect(f"On {where}, unknown_rate divided by zero: there are no tokens. Check for that first "
                                f"and raise ValueError saying so.") from None
        raise Incorrect(f"On {where}, unknown_rate returned {got!r}; with no tokens there is no share to give. "
                        f"Raise ValueError saying that there are no tokens to count.")


# ---------------------------------------------------------------------------------------------------
# 08.to_course_format
# ---------------------------------------------------------------------------------------------------

NAMES = ["negative", "positive"]


@contextlib.contextmanager
def _no_progress_bars():
    import datasets

    was_on = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_on:
            datasets.enable_progress_bars()


def _sst2_rows(sentences, labels, extra=None, class_label: bool = False):
    import datasets

    columns = {"sentence": list(sentences), "label": list(labels), "idx": list(range(len(sentences)))}
    features = {"sentence": datasets.Value("string"),
                "label": datasets.ClassLabel(names=NAMES) if class_label else datasets.Value("int64"),
                "idx": datasets.Value("int32")}
    for name, values in (extra or {}).items():
        columns[name], features[name] = list(values), datasets.Value("string")
    return datasets.Dataset.from_dict(columns, features=datasets.Features(features))


SENTENCES = ["it 's a charming and often affecting journey . ", "unflinchingly bleak and desperate ",
             "the acting , costumes , music , cinematography and sound are all astounding ",
             "a sometimes tedious film . ", "a gorgeous , witty , seductive movie . "]
LABELS = [1, 0, 1, 0, 1]


def _format_cases():
    yield "5 rows of SST-2 (sentence, label as an int, idx)", _sst2_rows(SENTENCES, LABELS)
    yield ("5 rows whose label is already a ClassLabel, as load_dataset('glue', 'sst2') gives it",
           _sst2_rows(SENTENCES, LABELS, class_label=True))
    yield ("rows with an extra column 'source'", _sst2_rows(SENTENCES[:3], LABELS[:3],
                                                            extra={"source": ["rt", "rt", "imdb"]}))
    yield "one row, negative", _sst2_rows(SENTENCES[3:4], [0])


@exercise("08.to_course_format", points=2, answer="to_course_format", hints=[
    "Dataset.rename_column('sentence', 'text') renames; select_columns(['text', 'label']) keeps only what the "
    "course uses, whatever else the rows have.",
    "Check the labels before casting: every value of rows['label'] must be 0 or 1. GLUE's test split has -1 "
    "(hidden labels), and casting to a ClassLabel lets -1 through as 'no label'.",
    "cast(datasets.Features({'text': datasets.Value('string'), 'label': datasets.ClassLabel(names=['negative', "
    "'positive'])})) gives the label column its names, in that order (0 is negative).",
])
def check_to_course_format(to_course_format):
    import datasets

    for where, rows in _format_cases():
        before = rows.to_dict()
        with case(where), _no_progress_bars():
            got = to_course_format(rows)
        if rows.to_dict() != before:
            raise Incorrect(f"On {where}, to_course_format changed the rows it was given; return a new Dataset.")
        if not isinstance(got, datasets.Dataset):
            raise Incorrect(f"On {where}, to_course_format returned {type(got).__name__}; return a datasets.Dataset, "
                            f"like one split of make_reviews().")
        if got.column_names != ["text", "label"]:
            raise Incorrect(f"On {where}, the result has columns {got.column_names}; it should have exactly "
                            f"['text', 'label'], in that order: rename 'sentence' to 'text' and drop every other "
                            f"column (idx too).")
        label = got.features["label"]
        if not isinstance(label, datasets.ClassLabel):
            raise Incorrect(f"On {where}, the label column is {label!r}; make it a ClassLabel with the names "
                            f"{NAMES}, so that the label names travel with the data.")
        if list(label.names) != NAMES:
            raise Incorrect(f"On {where}, the ClassLabel's names are {list(label.names)}; in SST-2, 0 is negative "
                            f"and 1 positive, so the names are {NAMES}, in that order.")
        if got.features["text"] != datasets.Value("string"):
            raise Incorrect(f"On {where}, the text column is {got.features['text']!r}; it should hold strings.")
        texts, labels = list(got["text"]), list(got["label"])
        if sorted(zip(texts, labels)) == sorted(zip(rows["sentence"], rows["label"])) and texts != list(rows["sentence"]):
            raise Incorrect(f"On {where}, the rows came back in another order; keep them as they are.")
        if texts != list(rows["sentence"]):
            raise Incorrect(f"On {where}, the texts changed (first: {texts[0]!r}); keep each sentence as it is.")
        if labels != list(rows["label"]):
            raise Incorrect(f"On {where}, the labels are {labels}; they should stay {list(rows['label'])}.")
    refused = [("rows with the label -1 (GLUE's test split, whose labels are hidden)", [1, -1, 0],
                "-1 is no label: it cannot be trained or scored on"),
               ("rows with the label 2", [0, 2, 1], "2 is neither 0 (negative) nor 1 (positive)")]
    for where, labels, why in refused:
        rows = _sst2_rows(SENTENCES[:3], labels)
        with case(where), _no_progress_bars():
            try:
                got = to_course_format(rows)
            except ValueError as error:
                if not str(error).strip():
                    raise Incorrect(f"On {where}, to_course_format raised ValueError without a message; say what is "
                                    f"wrong: {why}.") from None
                continue
            except Exception as error:
                raise Incorrect(f"On {where}, to_course_format raised {type(error).__name__}; raise ValueError with a "
                                f"sentence saying what is wrong ({why}).") from None
        raise Incorrect(f"On {where}, to_course_format did not raise: {why}. Check every label is 0 or 1 and raise "
                        f"ValueError otherwise.")
    with case("rows without a 'sentence' column"), _no_progress_bars():
        rows = datasets.Dataset.from_dict({"review": ["fine"], "label": [1]})
        try:
            to_course_format(rows)
        except ValueError as error:
            if not str(error).strip():
                raise Incorrect("On rows without a 'sentence' column, to_course_format raised ValueError without a "
                                "message; name the column it needs.") from None
            return
        except Exception as error:
            raise Incorrect(f"On rows without a 'sentence' column (columns review, label), to_course_format raised "
                            f"{type(error).__name__}; raise ValueError naming the columns it needs (sentence, "
                            f"label).") from None
    raise Incorrect("On rows without a 'sentence' column, to_course_format did not raise; raise ValueError naming "
                    "the columns it needs.")


# ---------------------------------------------------------------------------------------------------
# Concept questions: the key of each is a salted hash of its answer (grading/questions.py)
# ---------------------------------------------------------------------------------------------------

from .questions import single_choice  # noqa: E402 (the questions' helper, next to the questions)

single_choice("08.tiny_vocabulary", points=1, answer="answer_08_tiny_vocabulary", options="abcd",
    key="45c38ec4805c115b",
    hints=[
        "Look at what the tiny tokenizer makes of 'triumph' and 'storytelling' in section 2 of the lesson.",
        "Fine-tuning trains on the labeled reviews. Which of the words in this review ever reached the model, "
        "in pre-training or in fine-tuning?",
    ],
    feedback={
        "d3e9a2185a7757f0": "a wider head reads the same vectors: what 'triumph' means is missing from θ because "
                            "no text the model trained on used the word, and no size of ω brings it back.",
        "7ea0a463bb114923": "more layers would still read scraps of letters that no training text used: the "
                            "information is missing from the data, not from the model's depth. MiniLM reads the "
                            "review because its pre-training text had these words.",
        "a8a0b828592655a5": "the synthetic reviews never contain 'triumph' or 'storytelling', so no number of "
                            "epochs on them says what these words mean; only text that uses them can (lesson 03's "
                            "scratch model showed the same with held-out words).",
    })


single_choice("08.paper_figure", points=1, answer="answer_08_paper_figure", options="abcd",
    key="bf15016b6ac1e2a3",
    hints=[
        "Section 6 of the lesson quotes one number from Devlin et al. (2019). On which split was it measured, "
        "and who scored it?",
        "Which split does lesson 08 score, and which one did it choose the learning rate on?",
    ],
    feedback={
        "664cc3a3917eb5b9": "two runs of the same recipe differ with the seed (the new head's first weights, the "
                            "order of the batches) and with the hardware's arithmetic, and here the two figures "
                            "are not even on the same sentences.",
        "4fab5859f498d623": "SST-2's test labels are hidden: the paper's Table 1 reports GLUE test-set scores "
                            "from the benchmark's server, not the public validation set we score, so the two "
                            "figures are on different sentences.",
        "9a45acf1549afcde": "choosing by the accuracy you report makes that accuracy optimistic: the paper chose on "
                            "the dev set and reported the hidden test set. Choose on the validation split and read "
                            "the test split once, as lesson 08's recipe does.",
    })
