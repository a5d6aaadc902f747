"""Checks for the review of the whole course (exercises/99_review_exercises.ipynb): concept questions
drawn from every lesson, 01 to 08, graded like the lessons' own. Each key is a salted hash of its answer;
see grading/questions.py for how to make one.
"""

from __future__ import annotations

from .questions import ordering, single_choice


single_choice("99.ignored_labels", points=1, answer="answer_99_ignored_labels", options="abcd",
    key="fd1f177a6f9e875a",
    hints=[
        "Which positions does the masked language modelling loss score?",
        "What does the cross-entropy of PyTorch do with a label of -100?",
    ],
    feedback={
        "0ee55c643fada307": "a position replaced by [MASK] is one the model must predict, so its label is the "
                            "original token's id, not -100.",
        "df5e93728ffa393d": "masking happens before the model runs and knows nothing of its guesses: the labels say "
                            "where to score, not how the model did.",
        "3f7b21f721209c7c": "a randomly replaced token is still a chosen one: the model must predict the original "
                            "there, so its label is the original token's id.",
    })


single_choice("99.loss_at_start", points=1, answer="answer_99_loss_at_start", options="abcd",
    key="12ef1492aa667f55",
    hints=[
        "What probability does a model that knows nothing give to each word?",
        "The cross-entropy of one prediction is minus the log of the probability of the right token.",
    ],
    feedback={
        "3c923323c2bdf258": "the cross-entropy is minus the log probability of the one right token, averaged over "
                            "the chosen positions; it is not a sum over the vocabulary.",
        "05cf01e6676dd54b": "any small random initialisation gives nearly even probabilities, so every seed starts "
                            "close to the same value; that is why lesson 06 uses it as a check.",
        "2e31252b06a29371": "with random weights nothing is known about any token, [MASK] or not: the even guess "
                            "comes from the untrained weights, and a trained model predicts the [MASK] positions "
                            "well.",
    })


single_choice("99.padding_in_mean", points=1, answer="answer_99_padding_in_mean", options="abcd",
    key="239bf5cf2d98edf2",
    hints=[
        "What decides how many padding positions a review gets?",
        "Which positions should the mean count, and which tensor says where they are?",
    ],
    feedback={
        "067d90bae6a2052c": "the attention mask stops every real token from attending to padding, so the real "
                            "tokens' vectors do not change (lesson 02 checks it); what changes is what the mean "
                            "counts.",
        "3a78d2b2909b070f": "[CLS] and [SEP] are real tokens of every review, the same in every batch; including "
                            "them does not make the vector depend on the batch.",
        "1abb9c0550a9fa59": "nothing is trained while the vectors are computed: the same weights give the same "
                            "token vectors.",
    })


single_choice("99.cls_summary", points=1, answer="answer_99_cls_summary", options="abcd",
    key="045c03baf8a8cfa9",
    hints=[
        "What does attention let the vector at position 0 see?",
        "Was our tiny model pre-trained with any objective that reads the [CLS] vector?",
    ],
    feedback={
        "3002e7e22f163c52": "the vector at position 0 attends to every real token, so it changes with the sentence "
                            "even though the token is always [CLS].",
        "db661bf63ab0f0e9": "BERT's [CLS] was shaped by next-sentence prediction; ours was pre-trained by masked "
                            "language modelling only, so nothing asked its [CLS] vector to summarise anything.",
        "9efaef6965bf28a9": "under bidirectional attention the vector at position 0 sees the whole sentence, and "
                            "nothing makes it favour its neighbour.",
    })


single_choice("99.head_report", points=1, answer="answer_99_head_report", options="abcd",
    key="5d89a34db61806d8",
    hints=[
        "Which part of the masked language model does a classifier not need, and which part does the checkpoint not "
        "have?",
        "Which names start with cls., and which part of the classifier is new?",
    ],
    feedback={
        "0d8c6275c01b634b": "a damaged file would fail to load or have the wrong shapes; here every name the report "
                            "lists is explained by the change of head.",
        "b8e3bdde4a666553": "the encoder's tensors are not in the report at all: they were found and loaded. Only "
                            "the old head and the new one are listed.",
        "10b363071842fd3e": "the number of labels only fixes the shape of the new head's last layer; the new head "
                            "is missing from the checkpoint whatever its shape.",
    })


single_choice("99.unseen_words", points=1, answer="answer_99_unseen_words", options="abcd",
    key="164c07d5c2abd61b",
    hints=[
        "Where do the test's sentiment words appear: in the labeled data, the unlabeled corpus, or both?",
        "What does an embedding that was never updated say about a word?",
    ],
    feedback={
        "66c71c2cd761c1d1": "no number of epochs on the labeled data updates the embeddings of words it never "
                            "contains: lesson 03 shows more labels and more training do not help the scratch model "
                            "on them.",
        "9656433c340486bf": "the test reviews come from the same templates as the others; what differs is which "
                            "sentiment words they use.",
        "d99690cb5eb37dd6": "regularisation helps a model use what it saw better; it cannot give meaning to words "
                            "the model never saw.",
    })


single_choice("99.deployed", points=1, answer="answer_99_deployed", options="abcd",
    key="7f6d4530a916349d",
    hints=[
        "What does a hat mean in the course's notation?",
        "Which parameters have been fit to the task's labels?",
    ],
    feedback={
        "c554e70ee714a3c1": "θ and ω are the parameters before fine-tuning: with ω still random the model labels at "
                            "about chance (lesson 04, section 2).",
        "5eb51165c5796e3b": "the hat marks the values after fine-tuning, not the pre-trained ones: θ is what "
                            "pre-training left, θ-hat what fine-tuning made of it, and the head trained on the "
                            "labels is ω-hat.",
        "c1f44d9f2b3d9f99": "the pre-training model predicts hidden words; its Softmax over the vocabulary is "
                            "discarded before fine-tuning, and it knows nothing of the task's labels.",
    })


single_choice("99.small_change", points=1, answer="answer_99_small_change", options="abcd",
    key="64d40606937af2ac",
    hints=[
        "ω started from random values and had nothing to keep: how far did it move?",
        "Which two other measurements did lesson 04 add to tell keeping from replacing?",
    ],
    feedback={
        "8b086a65e75aee01": "lesson 04 shows that this number alone cannot say: ω, which had nothing to keep, moved "
                            "by a similar amount, and a small step can change what a network computes completely. "
                            "θ-hat's distance next to a fresh encoder's, and a probe on another task, can tell.",
        "099048d979fd12a5": "every layer of θ moved, and lesson 04 finds full fine-tuning more accurate than the "
                            "frozen strategy, so the encoder's small changes matter.",
        "39480004d2002368": "validation accuracy went from chance to well above it, so the run worked, with changes "
                            "of a few percent; nothing asks a layer to change by its own size.",
    })


single_choice("99.init_loss", points=1, answer="answer_99_init_loss", options="abcd",
    key="89dd9bfd013ca2d4",
    hints=[
        "What loss does a model get that gives each of C classes the same probability?",
        "Which of these can be wrong before the optimiser has taken a single step?",
    ],
    feedback={
        "43d3222cf553edf6": "the loss at the start is predictable: about ln C for C classes. Far above it means the "
                            "untrained model is confidently wrong, which is a bug to find before training, not "
                            "after.",
        "0b93cbb8d2426a7a": "the learning rate acts only once the optimiser takes a step; this loss was measured "
                            "before any update.",
        "b57bfe8967e6c540": "an untrained head gives each class about 1/3 whatever the labels are, so every email "
                            "costs about ln 3 whichever its label: imbalance changes nothing before training.",
    })


single_choice("99.overfit_batch", points=1, answer="answer_99_overfit_batch", options="abcd",
    key="7c17101141d84b5e",
    hints=[
        "What should a working model and training step do to a batch it sees 50 times?",
        "If the model cannot even memorise 8 examples, can more data help?",
    ],
    feedback={
        "3f863abb54a219db": "a working model can memorise 8 examples in a few dozen steps; if it cannot, the long "
                            "run will fail too, only more slowly.",
        "a2ac58112accff75": "overfitting is exactly what this test asks for: here the model fails to fit even the "
                            "batch it trains on.",
        "dbc02a6bb86a938f": "the model cannot fit 8 examples it sees again and again: more data gives it more to "
                            "fail on, not a working training step.",
    })


single_choice("99.verbalizer", points=1, answer="answer_99_verbalizer", options="abcd",
    key="f44c428dd7478386",
    hints=[
        "Which scores does the prompt read, and at which position?",
        "Is anything trained when a review is labeled by prompt completion?",
    ],
    feedback={
        "4a3872d71ab3cea5": "prompting trains nothing: there is no new prediction network, only the pre-trained "
                            "model's own Softmax over the vocabulary.",
        "cc14f7b73fb35f2f": "the verbalizer compares only the label words' probabilities, whether or not one of "
                            "them is the model's top word overall.",
        "62171a7c57cf4db5": "the review need not contain either word: the model judges which word fits the blank "
                            "after reading the whole review.",
    })


single_choice("99.tokenizer_travels", points=1, answer="answer_99_tokenizer_travels", options="abcd",
    key="1970175c742346dd",
    hints=[
        "What does the encoder's embedding table look up?",
        "Lesson 01: why is a tokenizer always saved and loaded together with the model trained on its ids?",
    ],
    feedback={
        "02cbaf6826246dd8": "each tokenizer is trained on its own corpus and numbers its own pieces: lesson 01 "
                            "shows that another corpus or vocabulary size gives other pieces and other ids.",
        "ddd24e208c353d72": "the ids index rows of the embedding table learned with the other tokenizer: the "
                            "answers change, not only the speed.",
        "e8ccde302ed81d23": "nothing is trained while a service answers requests: θ-hat and ω-hat stay as they were "
                            "saved.",
    })


single_choice("99.macro_f1", points=1, answer="answer_99_macro_f1", options="abcd",
    key="9703ddc483932146",
    hints=[
        "What does always answering 'negative' score on each of the two, and is it a useful classifier?",
        "Lesson 09, section 9: which two scores does the table report for the customer messages?",
    ],
    feedback={
        "0196dcfb7279c1e4": "accuracy rewards always answering 'negative', a rule that never finds a neutral or a "
                            "positive message; the team needs those classes too, and macro-F1 counts each of them "
                            "as much as the majority.",
        "4bfadd01852a98b7": "accuracy counts every message of every class; on imbalanced classes the majority "
                            "dominates it, which is why lesson 09 reports macro-F1 beside it, not instead of it.",
        "7cf646e72ea1bb97": "they can rank two strategies differently: in lesson 09 the majority class beats "
                            "zero-shot on the messages' accuracy and loses to it on macro-F1.",
    })


single_choice("99.choose_on_validation", points=1, answer="answer_99_choose_on_validation", options="abcd",
    key="04f4ba3d9ba45496",
    hints=[
        "Which split did lesson 09 choose MiniLM's learning rate on, and which one did it report?",
        "Once a split has been used to choose among runs, is its score on the chosen run still an estimate for new "
        "sentences?",
    ],
    feedback={
        "5bff083516e2915b": "choosing by test accuracy makes the test split part of the choice: the best of four "
                            "noisy scores is higher than what the kept classifier will score on new sentences. "
                            "Lesson 09 chose on the validation split, never the test split.",
        "b758d01053fa1c00": "the lowest training loss rewards fitting the labeled sentences, memorising included; "
                            "it says nothing about new sentences, which is what the validation split measures.",
        "4dec589dd7f55387": "the validation split was used to choose, so the best of four validation scores is "
                            "optimistic in the same way; an honest figure comes from a split used for no choice: "
                            "the test split, read once.",
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
