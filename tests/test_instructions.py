"""Instruction tuning and preference tuning (utils/instructions.py, lesson 10): the examples keep the held-out words
out of tuning, the loss reads the answer only and agrees with the model's own, batched answers equal answers one
by one, the DPO loss is the paper's, and a saved model answers through transformers' text-generation pipeline."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import GPT2LMHeadModel, pipeline

from utils import causal_lm, instructions
from utils.data import label_words


@pytest.fixture(scope="module")
def gpt(tokenizer):
    torch.manual_seed(0)
    return GPT2LMHeadModel(causal_lm.tiny_gpt_config(tokenizer)).eval()


def words_in(text: str) -> set[str]:
    return set(text.replace(",", " ").split())


def test_tuning_examples_use_only_the_seen_words_and_the_test_only_the_held_out_ones():
    examples = instructions.make_instructions(seed=0, train_size=300, validation_size=60, test_size=90)
    seen = {w for ws in label_words("polarity", "seen").values() for w in ws}
    held_out = {w for ws in label_words("polarity", "held_out").values() for w in ws}
    for split in ("train", "validation"):
        found = set().union(*(words_in(p) for p in examples[split]["prompt"]))
        assert found & seen and not found & held_out
    found = set().union(*(words_in(p) for p in examples["test"]["prompt"]))
    assert found & held_out and not found & seen
    assert set(examples["train"]["task"]) == set(instructions.TASKS)
    for row in examples["train"]:
        assert row["answer"] in instructions.OPTIONS[row["task"]]
        assert row["prompt"].endswith(instructions.ANSWER_CUE)


def test_the_kept_back_wording_is_never_a_tuning_wording():
    unseen = instructions.make_instructions(seed=0, train_size=30, validation_size=30, test_size=30, unseen_wording=True)
    for row in unseen["train"]:
        assert row["prompt"].startswith(instructions.UNSEEN_WORDINGS[row["task"]])
        assert not any(row["prompt"].startswith(w) for w in instructions.WORDINGS[row["task"]])


def test_unknown_tasks_and_sizes_are_refused_with_what_to_ask_for():
    with pytest.raises(ValueError, match="Choose one of: sentiment, aspect, agreement"):
        instructions.make_instructions(tasks=["translation"])
    with pytest.raises(ValueError, match="train_size must be a positive whole number"):
        instructions.make_instructions(train_size=0)


def test_the_labels_score_the_answer_and_its_sep_only(tokenizer):
    ids, labels = instructions.encode_example(tokenizer, "is this review good or bad ? review : the plot was great . "
                                              "answer :", "good")
    answer = tokenizer("good", add_special_tokens=False)["input_ids"] + [tokenizer.sep_token_id]
    scored = [(i, label) for i, label in enumerate(labels) if label != -100]
    assert [ids[i] for i, _ in scored] == [label for _, label in scored] == answer
    assert [i for i, _ in scored] == list(range(len(ids) - len(answer), len(ids))) and ids[0] == tokenizer.cls_token_id


def test_answer_only_labels_pad_and_refuse_a_row_too_short():
    assert instructions.answer_only_labels([2, 7, 8], [9, 3], pad_to=7) == [-100, -100, -100, 9, 3, -100, -100]
    assert instructions.answer_only_labels([2, 7], []) == [-100, -100]
    with pytest.raises(ValueError, match="shorter than the example"):
        instructions.answer_only_labels([2, 7, 8], [9, 3], pad_to=4)


def test_the_answer_loss_is_the_models_own_loss_given_the_labels(gpt, tokenizer):
    rows = [instructions.encode_example(tokenizer, "which part does the review talk about ? review : the plot was "
                                        "dull . answer :", "plot"),
            instructions.encode_example(tokenizer, "do the two reviews agree ? answer :", "yes")]
    ids, attention, labels = instructions._batch(rows, tokenizer.pad_token_id)
    with torch.no_grad():
        ours = instructions.answer_loss(gpt, ids, attention, labels)
        library = gpt(input_ids=ids, attention_mask=attention, labels=labels).loss
    assert torch.allclose(ours, library, atol=1e-5)


def test_the_courses_causal_models_name_their_loss_so_the_library_need_not_warn(tokenizer):
    # GPT2LMHeadModel's class name names no loss: model(labels=...) fell back to the causal loss with a warning.
    from transformers.loss.loss_utils import LOSS_MAPPING

    model = instructions.starting_model("from scratch", tokenizer)
    assert model.loss_type == "ForCausalLM" and model.loss_function is LOSS_MAPPING["ForCausalLM"]


def test_answers_of_a_batch_padded_on_the_left_equal_the_answers_one_by_one(gpt, tokenizer):
    prompts = ["is this review good or bad ? review : the plot was great . answer :",
               "do the two reviews agree ? first review : a dull film . second review : the acting was "
               "truly wonderful and the ending was lovely . answer :",
               "answer :"]
    together = instructions.generate_answers(gpt, tokenizer, prompts, max_new_tokens=4)
    alone = [instructions.generate_answers(gpt, tokenizer, [p], max_new_tokens=4)[0] for p in prompts]
    assert together == alone


def test_tuning_on_a_few_examples_lowers_the_answer_loss_and_changes_every_layer(gpt, tokenizer):
    import copy

    examples = instructions.make_instructions(seed=0, train_size=64, validation_size=8, test_size=8)
    model = copy.deepcopy(gpt)
    history = instructions.instruction_tune(model, tokenizer, examples["train"], lr=3e-3, steps=12, batch_size=16,
                                            progress=False)
    assert sum(history["train_loss"][-3:]) < sum(history["train_loss"][:3])
    before = dict(gpt.named_parameters())
    assert all(not torch.equal(p, before[name]) for name, p in model.named_parameters())
    with pytest.raises(ValueError, match="no instruction examples"):
        instructions.instruction_tune(model, tokenizer, examples["train"].select([]), lr=1e-3)


def test_the_dpo_loss_is_the_papers():
    worked = [torch.tensor([v]) for v in (-1.2, -0.9, -1.5, -0.7)]
    assert instructions.dpo_loss(*worked, beta=0.1).item() == pytest.approx(math.log1p(math.exp(-0.05)), rel=1e-6)
    same = torch.tensor([-1.0, -3.0])
    assert instructions.dpo_loss(same, same - 1, same, same - 1).item() == pytest.approx(math.log(2), rel=1e-6)
    far = instructions.dpo_loss(torch.tensor([-300.0]), torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([0.0]),
                                beta=1.0)
    assert far.item() == pytest.approx(300.0, rel=1e-4), "no overflow for a very negative margin"


def test_preference_tuning_keeps_its_reference_and_moves_the_policy_towards_the_preferred(gpt, tokenizer):
    import copy

    pairs = instructions.preference_pairs(seed=0, size=32)
    assert set(pairs.column_names) == {"prompt", "chosen", "rejected"}
    assert all(c in ("good", "bad") and r != c for c, r in zip(pairs["chosen"], pairs["rejected"]))
    policy = copy.deepcopy(gpt)
    with torch.no_grad():
        margin = (instructions.answer_log_probs(policy, tokenizer, pairs["prompt"], pairs["chosen"])
                  - instructions.answer_log_probs(policy, tokenizer, pairs["prompt"], pairs["rejected"])).mean()
    reference, history = instructions.preference_tune(policy, tokenizer, pairs, steps=8, batch_size=16, lr=3e-3,
                                                      progress=False)
    assert history["loss"][0] == pytest.approx(math.log(2), rel=1e-4), "the policy starts as its reference"
    assert all(torch.equal(p, q) for p, q in zip(reference.parameters(), gpt.parameters()))
    assert not any(p.requires_grad for p in reference.parameters())
    with torch.no_grad():
        after = (instructions.answer_log_probs(policy, tokenizer, pairs["prompt"], pairs["chosen"])
                 - instructions.answer_log_probs(policy, tokenizer, pairs["prompt"], pairs["rejected"])).mean()
    assert after > margin


def test_preference_prompts_use_neither_a_tuning_wording_nor_the_kept_back_one():
    pairs = instructions.preference_pairs(seed=0, size=60)
    tuning = instructions.WORDINGS["sentiment"] + [instructions.UNSEEN_WORDINGS["sentiment"]]
    positive = set(label_words("polarity", "seen")["positive"])
    for prompt, chosen in zip(pairs["prompt"], pairs["chosen"]):
        assert any(prompt.startswith(w + " review :") for w in instructions.PREFERENCE_WORDINGS)
        assert not any(prompt.startswith(w + " review :") for w in tuning)
        assert (bool(words_in(prompt.split("review : ")[1]) & positive)) == (chosen == "good")
    with pytest.raises(ValueError, match="at least one wording"):
        instructions.preference_pairs(wordings=[])


def test_a_combination_asks_about_the_first_of_two_reviews_that_disagree():
    examples = instructions.combination_examples(size=20, part="seen")
    positive = set(label_words("polarity", "seen")["positive"])
    for prompt, answer in zip(examples["prompt"], examples["answer"]):
        first = prompt.split("first review : ")[1].split(" second review : ")[0]
        assert (bool(words_in(first) & positive)) == (answer == "good")


def test_few_shot_prompts_hold_the_solved_examples_before_the_question():
    examples = instructions.few_shot_examples(shots=4, size=5)
    for prompt in examples["prompt"]:
        assert prompt.count(instructions.ANSWER_CUE) == 5 and prompt.endswith(instructions.ANSWER_CUE)
        assert prompt.count(" good .") + prompt.count(" bad .") == 4


def test_a_saved_model_answers_through_the_text_generation_pipeline_as_the_course_does(gpt, tokenizer, tmp_path):
    folder = instructions.save_for_pipeline(gpt, tokenizer, tmp_path / "instruct")
    generator = pipeline("text-generation", model=str(folder))
    prompts = ["is this review good or bad ? review : the plot was great . answer :", "do the two reviews agree ?"]
    for prompt in prompts:
        reply = generator(prompt, return_full_text=False, add_special_tokens=False)[0]["generated_text"]
        assert reply.strip() == instructions.generate_answers(gpt, tokenizer, [prompt])[0]


def test_of_task_keeps_the_rows_of_one_task_in_order():
    examples = instructions.make_instructions(seed=0, train_size=9, validation_size=3, test_size=3)["train"]
    agreement = instructions.of_task(examples, "agreement")
    assert agreement["prompt"] == [p for p, t in zip(examples["prompt"], examples["task"]) if t == "agreement"]
