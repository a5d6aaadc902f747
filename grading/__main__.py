"""``python -m grading SUBMISSION.ipynb ... --out grades.csv``: the instructor's batch grader
(:mod:`grading.grader`; docs/instructors.md)."""

import sys

from .grader import main

sys.exit(main())
