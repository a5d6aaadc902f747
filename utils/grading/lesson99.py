"""Checks for the review of the whole course (exercises/99_review_exercises.ipynb): concept questions
drawn from every lesson, graded like the lessons' own. Each key is a salted hash of its answer; see
utils/grading/questions.py for how to make one.
"""

from __future__ import annotations

from .questions import ordering, single_choice

single_choice("99.ignored_labels", points=1, answer="answer_99_ignored_labels", options="abcd",
    key="e511bd9078d9d23a",
    hints=[
        "Which positions does the masked language modelling loss score?",
        "What does the cross-entropy of PyTorch do with a label of -100?",
    ],
    feedback={
        "0ee55c643fada307": "a position replaced by [MASK] is one the model must predict, so its label is the "
                            "original token's id, not -100.",
        "3f7b21f721209c7c": "a randomly replaced token is still a chosen one: the model must predict the "
                            "original there, so its label is the original token's id.",
        "f1fc3dedaf063c23": "masking happens before the model runs and knows nothing of its guesses: the labels"
                            " say where to score, not how the model did.",
    })


single_choice("99.loss_at_start", points=1, answer="answer_99_loss_at_start", options="abcd",
    key="685c5c699a11c98e",
    hints=[
        "What probability does a model that knows nothing give to each word?",
        "The cross-entropy of one prediction is minus the log of the probability of the right token.",
    ],
    feedback={
        "05cf01e6676dd54b": "the cross-entropy is minus the log probability of the one right token, averaged "
                            "over the chosen positions; it is not a sum over the vocabulary.",
        "2e31252b06a29371": "a model that had learned something would score below ln(vocabulary size); at the "
                            "start it cannot have learned anything yet.",
        "62ec538ac9cb23ec": "any small random initialisation gives nearly even probabilities, so every seed "
                            "starts close to the same value; that is why lesson 05 uses it as a check.",
    })


single_choice("99.padding_in_mean", points=1, answer="answer_99_padding_in_mean", options="abcd",
    key="ad411a4dff03dcc1",
    hints=[
        "What decides how many padding positions a review gets?",
        "Which positions should the mean count, and which tensor says where they are?",
    ],
    feedback={
        "067d90bae6a2052c": "the attention mask stops every real token from attending to padding, so the real "
                            "tokens' vectors do not change (lesson 02 checks it); what changes is what the mean"
                            " counts.",
        "3a78d2b2909b070f": "[CLS] is a real token of every review and is the same in every batch; including it"
                            " does not make the vector depend on the batch.",
        "e4e947746b2c96c1": "nothing is trained while the vectors are computed: the same weights give the same "
                            "token vectors.",
    })


single_choice("99.cls_summary", points=1, answer="answer_99_cls_summary", options="abcd",
    key="0a34d462a789179b",
    hints=[
        "What does attention let the vector at position 0 see?",
        "Was our tiny model pre-trained with any objective that reads the [CLS] vector?",
    ],
    feedback={
        "13b79417e1b70564": "BERT's [CLS] was shaped by next-sentence prediction; ours was pre-trained by "
                            "masked language modelling only, so nothing asked its [CLS] vector to summarise "
                            "anything.",
        "3002e7e22f163c52": "the vector at position 0 attends to every real token, so it changes with the "
                            "sentence even though the token is always [CLS].",
        "9efaef6965bf28a9": "under bidirectional attention the vector at position 0 sees the whole sentence, "
                            "not just its neighbour.",
    })


single_choice("99.head_report", points=1, answer="answer_99_head_report", options="abcd",
    key="f9065cbfe34865bb",
    hints=[
        "Which part of the masked language model does a classifier not need, and which part does the checkpoint"
        " not have?",
        "Which names start with cls., and which part of the classifier is new?",
    ],
    feedback={
        "0d8c6275c01b634b": "a damaged file would fail to load or have the wrong shapes; here every name the "
                            "report lists is explained by the change of head.",
        "ae954d6c7bde0cea": "the number of labels only fixes the shape of the new head's last layer; the new "
                            "head is missing from the checkpoint whatever its shape.",
        "b8e3bdde4a666553": "the encoder's tensors are not in the report at all: they were found and loaded. "
                            "Only the old head and the new one are listed.",
    })


single_choice("99.unseen_words", points=1, answer="answer_99_unseen_words", options="abcd",
    key="1be14c0f44d9b88a",
    hints=[
        "Where do the test's sentiment words appear: in the labeled data, the unlabeled corpus, or both?",
        "What does an embedding that was never updated say about a word?",
    ],
    feedback={
        "9656433c340486bf": "the test reviews come from the same templates as the others; what differs is which"
                            " sentiment words they use.",
        "d99690cb5eb37dd6": "regularisation helps a model use what it saw better; it cannot give meaning to "
                            "words the model never saw.",
        "ff477e8aa230d58f": "no number of epochs on the labeled data updates the embeddings of words it never "
                            "contains: lesson 03 shows more labels and more training do not help the scratch "
                            "model on them.",
    })


single_choice("99.deployed", points=1, answer="answer_99_deployed", options="abcd",
    key="a2dd3164e6afdb86",
    hints=[
        "What does a hat mean in the course's notation?",
        "Which parameters have been fit to the task's labels?",
    ],
    feedback={
        "c1f44d9f2b3d9f99": "an encoder returns vectors, not labels: the prediction network is what maps a "
                            "vector to a score per class.",
        "c554e70ee714a3c1": "θ and ω are the parameters before fine-tuning: with ω still random the model "
                            "labels at about chance (lesson 04, section 2).",
        "dea580b686018d54": "the pre-training model predicts hidden words; its Softmax over the vocabulary is "
                            "discarded before fine-tuning, and it knows nothing of the task's labels.",
    })


single_choice("99.small_change", points=1, answer="answer_99_small_change", options="abcd",
    key="c2ccb6f04a5aa9e0",
    hints=[
        "What would a relative change close to 1 mean for what pre-training learned?",
        "Lesson 04 compares full fine-tuning with the frozen strategy: were they equally accurate?",
    ],
    feedback={
        "39480004d2002368": "a relative change close to 1 would replace what pre-training learned; the run "
                            "already reaches good accuracy with small changes.",
        "8b086a65e75aee01": "every layer of θ moved, and lesson 04 finds full fine-tuning more accurate than "
                            "the frozen strategy, so the encoder's small changes matter.",
        "8c8280c9e6eb9c02": "validation accuracy went from chance to well above it, so the run worked; a small "
                            "change is what a working fine-tuning run looks like.",
    })


single_choice("99.init_loss", points=1, answer="answer_99_init_loss", options="abcd",
    key="21b739c54642fcf4",
    hints=[
        "What loss does a model get that gives each of C classes the same probability?",
        "Which of these can be wrong before the optimiser has taken a single step?",
    ],
    feedback={
        "43d3222cf553edf6": "the loss at the start is predictable: about ln C for C classes. Far above it means"
                            " the untrained model is confidently wrong, which is a bug to find before training,"
                            " not after.",
        "707661a02bdf0d5a": "epochs change what happens after the first step; the first loss is wrong before "
                            "training starts.",
        "b57bfe8967e6c540": "the learning rate acts only once the optimiser takes a step; this loss was "
                            "measured before any update.",
    })


single_choice("99.overfit_batch", points=1, answer="answer_99_overfit_batch", options="abcd",
    key="209e6e9fc556f567",
    hints=[
        "What should a working model and training step do to a batch it sees 50 times?",
        "If the model cannot even memorise 8 examples, can more data help?",
    ],
    feedback={
        "3f863abb54a219db": "a working model can memorise 8 examples in a few dozen steps; if it cannot, the "
                            "long run will fail too, only more slowly.",
        "a2ac58112accff75": "the model cannot fit 8 examples it sees again and again: more data gives it more "
                            "to fail on, not a working training step.",
        "ac833baf7403850d": "overfitting is exactly what this test asks for: here the model fails to fit even "
                            "the batch it trains on.",
    })


single_choice("99.verbalizer", points=1, answer="answer_99_verbalizer", options="abcd",
    key="4c89a2b39258168b",
    hints=[
        "Which scores does the prompt read, and at which position?",
        "Is anything trained when a review is labeled by prompt completion?",
    ],
    feedback={
        "62171a7c57cf4db5": "the verbalizer compares only the label words' probabilities, whether or not one of"
                            " them is the model's top word overall.",
        "b4428a19df34c2c9": "the review need not contain either word: the model judges which word fits the "
                            "blank after reading the whole review.",
        "cc14f7b73fb35f2f": "prompting trains nothing: there is no new prediction network, only the pre-trained"
                            " model's own Softmax over the vocabulary.",
    })


single_choice("99.tokenizer_travels", points=1, answer="answer_99_tokenizer_travels", options="abcd",
    key="8be158269d00f87d",
    hints=[
        "What does the encoder's embedding table look up?",
        "Lesson 01: why is a tokenizer always saved and loaded together with the model trained on its ids?",
    ],
    feedback={
        "02cbaf6826246dd8": "the ids index rows of the embedding table learned with the other tokenizer: the "
                            "answers change, not the speed.",
        "4c5f7eeddf752ef7": "each tokenizer is trained on its own corpus and numbers its own pieces: lesson 01 "
                            "shows that another corpus or vocabulary size gives other pieces and other ids.",
        "e8ccde302ed81d23": "nothing is trained while a service answers requests: θ-hat and ω-hat stay as they "
                            "were saved.",
    })


ordering("99.training_step", points=1, answer="answer_99_training_step", options="ABCDE",
    key="619bcafe4f6b2b64",
    hints=[
        "What does each part need as its input?",
        "Can the optimiser move the parameters before it knows their gradients?",
    ],
    feedback={
        "7c383d911b32bdbc": "the model reads token ids and an attention mask: where do they come from?",
        "8c4c616a3f83d00f": "the cross-entropy compares the model's scores with the labels: what must exist "
                            "before it?",
        "ac30e8897b2c4876": "the model never reads text, only ids: what comes before everything else?",
        "d976838080075d3e": "backward differentiates the loss: what must have been computed first?",
        "dacafa5410c0b90b": "the optimiser moves each parameter against its gradient: which part computes the "
                            "gradients?",
    })
