"""The lessons' assertions on another pre-training: ``python tests/lessons_on_seed.py --seed 0``.

Every lesson asserts its claims with a margin, so that they hold for other pre-trainings than the one its
stored outputs show. This pre-trains the tiny BERT and the tiny causal model with another seed (another
corpus, another initialisation, other masks), in a temporary folder, exactly as ``make test`` does with the
course's seed, then re-runs lessons 01 to 07 on them with nbval: every assertion in every lesson must hold
again. The labeled tasks and the fine-tuning seeds stay the course's. Lesson 08 does not use the tiny
models and is left out.

Not part of the test suite (about 7 minutes per seed on a 2-core CPU). The exit status is pytest's. With
``--artifacts DIR`` the checkpoints stay in DIR, to run a failing lesson on them by hand
(``WORKBOOK_ARTIFACTS=DIR WORKBOOK_PRETRAIN_SEED=0 jupyter lab``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ["01", "02", "03", "04", "05", "06", "07"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Re-run lessons 01-07 on a tiny BERT pre-trained with another seed.")
    parser.add_argument("--seed", type=int, required=True, help="the pre-training seed (the course's own is 123)")
    parser.add_argument("--lessons", nargs="+", default=LESSONS, choices=LESSONS)
    parser.add_argument("--jobs", type=int, default=2, help="pytest-xdist workers (default 2)")
    parser.add_argument("--artifacts", type=Path, default=None,
                        help="keep the checkpoints in this folder (default: a temporary one, deleted at the end)")
    args = parser.parse_args(argv)
    notebooks = [str(path) for number in args.lessons for path in sorted((ROOT / "notebooks").glob(f"{number}_*.ipynb"))]
    with tempfile.TemporaryDirectory(prefix=f"lessons-seed-{args.seed}-") as tmp:
        folder = str(args.artifacts.resolve()) if args.artifacts else tmp
        env = dict(os.environ, WORKBOOK_ARTIFACTS=folder, WORKBOOK_PRETRAIN_SEED=str(args.seed), TQDM_DISABLE="1")
        # Pre-trained first, with the threads a lesson has, as `make test` does.
        subprocess.run([sys.executable, "-m", "utils.causal_lm"], cwd=ROOT, env=env, check=True)
        command = [sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider", *notebooks]
        if args.jobs > 1:
            command += ["-n", str(args.jobs), "--dist", "loadfile"]
            env["OMP_NUM_THREADS"] = "1"
        return subprocess.run(command, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
