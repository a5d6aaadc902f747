"""utils.tokenization.train_tokenizer: a WordPiece vocabulary wrapped as a Hugging Face BERT tokenizer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import AutoTokenizer, BertTokenizerFast

from utils.data import make_corpus
from utils.tokenization import SPECIAL_TOKENS, train_tokenizer

VOCAB_SIZE = 400
TEXTS = ["the plot of this movie was superb .", "I found the ACTING rather dull .",
         "hi team , could someone look at my restuarant invoice ?", "an utterly unforgettable film !"]


@pytest.fixture(scope="module")
def corpus_texts():
    return make_corpus(2000, seed=1)["text"]


@pytest.fixture(scope="module")
def trained(corpus_texts):
    return train_tokenizer(corpus_texts, vocab_size=VOCAB_SIZE)


def test_result_is_a_fast_bert_tokenizer(trained):
    assert isinstance(trained, BertTokenizerFast)
    assert trained.is_fast


def test_vocabulary_is_at_most_the_requested_size_and_holds_the_special_tokens(trained):
    assert len(trained) <= VOCAB_SIZE
    vocab = trained.get_vocab()
    for token in SPECIAL_TOKENS:
        assert token in vocab
    assert trained.pad_token == "[PAD]" and trained.mask_token == "[MASK]" and trained.unk_token == "[UNK]"
    assert trained.pad_token_id == 0


def test_encoding_starts_with_cls_and_ends_with_sep(trained):
    for text in TEXTS:
        ids = trained(text)["input_ids"]
        assert ids[0] == trained.cls_token_id
        assert ids[-1] == trained.sep_token_id
        assert trained.cls_token_id not in ids[1:-1] and trained.sep_token_id not in ids[1:-1]


def test_sentence_pair_is_cls_a_sep_b_sep(trained):
    enc = trained("the plot", "was great")
    tokens = trained.convert_ids_to_tokens(enc["input_ids"])
    assert tokens == ["[CLS]", "the", "plot", "[SEP]", "was", "great", "[SEP]"]
    assert enc["token_type_ids"] == [0, 0, 0, 0, 1, 1, 1]


def test_tokenizer_lowercases(trained):
    assert trained("THE Movie WAS Great")["input_ids"] == trained("the movie was great")["input_ids"]
    tokens = trained.tokenize("HELLO Team")
    assert all(t == t.lower() for t in tokens)


def test_frequent_corpus_words_are_single_tokens(trained):
    for word in ["the", "was", "great", "superb", "about"]:
        assert trained.tokenize(word) == [word]


def test_misspelled_word_is_split_into_continuation_pieces(trained):
    word = "restuarant"
    assert word not in trained.get_vocab()
    pieces = trained.tokenize(word)
    assert len(pieces) > 1
    assert not pieces[0].startswith("##")
    assert all(p.startswith("##") for p in pieces[1:])
    assert "[UNK]" not in pieces
    assert "".join(p.removeprefix("##") for p in pieces) == word


def test_punctuation_is_split_off(trained):
    assert trained.tokenize("great,superb.") == ["great", ",", "superb", "."]


def test_decode_reverses_the_word_pieces(trained):
    ids = trained("the restuarant invoice", add_special_tokens=False)["input_ids"]
    assert trained.decode(ids) == "the restuarant invoice"


def test_save_and_auto_tokenizer_round_trip_gives_identical_ids(trained, tmp_path):
    trained.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert len(loaded) == len(trained)
    assert loaded.get_vocab() == trained.get_vocab()
    for text in TEXTS:
        assert loaded(text)["input_ids"] == trained(text)["input_ids"]
    batch = loaded(TEXTS, padding=True)["input_ids"]
    assert batch == trained(TEXTS, padding=True)["input_ids"]
    assert loaded.mask_token_id == trained.mask_token_id


def test_retraining_gives_the_same_vocabulary(corpus_texts, trained):
    again = train_tokenizer(corpus_texts, vocab_size=VOCAB_SIZE)
    assert again.get_vocab() == trained.get_vocab()
    for word in ("the", "was", "great"):
        assert again.tokenize(word) == trained.tokenize(word) == [word]


def test_empty_text_list_raises_value_error():
    with pytest.raises(ValueError, match="non-empty"):
        train_tokenizer([])


def test_too_small_vocabulary_raises_value_error():
    with pytest.raises(ValueError, match="too small"):
        train_tokenizer(["the movie was great ."], vocab_size=10)


def test_only_the_five_special_tokens_are_special(trained):
    assert sorted(trained.all_special_tokens) == sorted(SPECIAL_TOKENS)
    # "##e" is an ordinary piece: written in a text it is split into "#", "#" and "e" like any other text.
    assert len(trained.tokenize("##e")) == 3


_VOCABULARY_IN_A_NEW_PROCESS = """
import hashlib, json
from utils.data import make_corpus
from utils.tokenization import train_tokenizer
vocab = train_tokenizer(make_corpus(2000, seed=1)["text"], vocab_size=700).get_vocab()
print(hashlib.sha256(json.dumps(vocab, sort_keys=True).encode()).hexdigest())
"""


def test_the_same_corpus_gives_the_same_vocabulary_in_every_process():
    # Hash maps are seeded differently in each process, which is where the trainer's order came from: three
    # processes with three different hash seeds.
    root = Path(__file__).resolve().parent.parent
    digests = {subprocess.run([sys.executable, "-c", _VOCABULARY_IN_A_NEW_PROCESS], cwd=root, check=True,
                              env=dict(os.environ, PYTHONHASHSEED=str(seed)), capture_output=True,
                              text=True).stdout.strip() for seed in (1, 2, 3)}
    assert len(digests) == 1, f"three trainings gave {len(digests)} different vocabularies"
