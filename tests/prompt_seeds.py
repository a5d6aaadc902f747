"""Lesson 06's masked-LM prompt over several pre-training seeds:
``python tests/prompt_seeds.py [--seeds 0 1 2 3 4] [--threads N]``.

For each seed, pre-trains the tiny BERT exactly as lesson 01 does with the laptop profile (another seed
gives another corpus, another initialisation and other masks), in a temporary folder, then scores the
review test split with lesson 06's zero-shot prompt: the three default templates, the seen sentiment
words as the verbalizer, centered on 300 unlabeled training reviews. Prints one row per seed: the
seconds of pre-training, the test accuracy overall and by kind of review (plain, negated, contrast).
It checks what lesson 06 asserts of its own checkpoint: at least 0.70 on plain reviews, better than
chance overall, and the exit status says whether every seed passed.

Not part of the test suite (about a minute and a half per seed on a 2-core CPU, one seed at a time);
lesson 06 quotes its output.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KINDS = ("plain", "negation", "contrast")


def kind_of(review: str) -> str:
    """The kind of a test review, as lesson 06 tells them apart."""
    if re.search(r"\b(but|although|yet|despite)\b", review):
        return "contrast"
    if re.search(r"\b(not|never|nobody)\b", review):
        return "negation"
    return "plain"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Lesson 06's masked-LM prompt over several pre-training seeds.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's choice); one and two threads train different checkpoints")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="prompt-seeds-") as tmp:
        os.environ["WORKBOOK_ARTIFACTS"] = tmp  # read when each checkpoint's folder is made
        import numpy as np
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)

        from utils import config, data, pretraining, prompting

        task = data.make_reviews(seed=config.SEED)
        texts, labels = list(task["test"]["text"]), np.array(task["test"]["label"])
        kinds = np.array([kind_of(t) for t in texts])
        unlabeled = list(task["train"]["text"][:300])
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.machine()}, "
              f"{os.cpu_count()} CPUs; profile {config.get_profile().name}")
        print(f"{'seed':>5s}{'pre-training s':>16s}{'all':>7s}" + "".join(f"{k:>10s}" for k in KINDS))
        failed = []
        for seed in args.seeds:
            model, tokenizer, history = pretraining.load_or_pretrain(
                seed=seed, directory=Path(tmp) / f"seed-{seed}", progress=False)
            prompt = prompting.PromptBackend(model, tokenizer, None, prompting.DEFAULT_TEMPLATES).centered(unlabeled)
            right = prompt.scores(texts).argmax(-1).numpy() == labels
            by_kind = {k: float(right[kinds == k].mean()) for k in KINDS}
            print(f"{seed:5d}{history['seconds']:16.0f}{right.mean():7.3f}" + "".join(f"{by_kind[k]:10.3f}" for k in KINDS),
                  flush=True)
            if by_kind["plain"] < 0.7 or right.mean() <= 0.55:
                failed.append(seed)
    if failed:
        print(f"seeds below 0.70 on plain reviews or at chance overall: {failed}")
        return 1
    print("every seed: at least 0.70 on plain reviews and above chance overall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
