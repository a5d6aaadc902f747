"""Training a WordPiece tokenizer on the corpus, wrapped as a Hugging Face ``BertTokenizerFast``.

Used by lesson 01 (and by every lesson that loads the checkpoint it saves).
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import BertTokenizerFast

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def train_tokenizer(texts: Iterable[str], vocab_size: int = 1024, min_frequency: int = 2) -> BertTokenizerFast:
    """Learn a lowercase WordPiece vocabulary of at most ``vocab_size`` entries from ``texts``.

    The pieces are the same as BERT's: lowercasing, splitting on spaces and punctuation, ``##`` for a
    piece that continues a word, and ``[CLS] ... [SEP]`` around every sequence.
    """
    texts = list(texts)
    if not texts:
        raise ValueError("Cannot train a tokenizer on no text: pass a non-empty list of sentences.")
    if vocab_size < len(SPECIAL_TOKENS) + 26:
        raise ValueError(f"vocab_size={vocab_size} is too small: it must hold the {len(SPECIAL_TOKENS)} special "
                         f"tokens and at least the letters of the alphabet.")
    normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True, clean_text=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    # The trainer numbers the pieces that continue a word ("##e") in the order it meets them in a hash
    # map, which differs from run to run, and it breaks ties between equally frequent pairs by those
    # numbers: the same corpus then gives a slightly different vocabulary each time. Naming every
    # continuing piece up front, sorted, gives them fixed numbers, so the vocabulary is the same on
    # every run (huggingface/tokenizers issue #1794).
    continuing = sorted({"##" + char for text in texts
                         for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))
                         for char in word[1:]})
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                        special_tokens=SPECIAL_TOKENS + continuing,
                                        continuing_subword_prefix="##", show_progress=False)
    learner = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix="##"))
    learner.normalizer, learner.pre_tokenizer = normalizer, pre_tokenizer
    learner.train_from_iterator(texts, trainer=trainer)
    # Number the pieces in a fixed order: special tokens first, then alphabetical. The tokenizer is
    # built afresh so that only the five real special tokens are special.
    learned = sorted(set(learner.get_vocab()) - set(SPECIAL_TOKENS))
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS + learned)}
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", continuing_subword_prefix="##"))
    tok.normalizer, tok.pre_tokenizer = normalizer, pre_tokenizer
    tok.add_special_tokens(SPECIAL_TOKENS)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    tok.decoder = decoders.WordPiece(prefix="##")
    return BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                             sep_token="[SEP]", mask_token="[MASK]", do_lower_case=True,
                             model_max_length=128)
