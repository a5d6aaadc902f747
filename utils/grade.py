"""Grade submitted exercise notebooks: ``python -m utils.grade SUB.ipynb ... --out grades.csv``.

A thin entry point; the grader is ``utils.grading.grader`` (see the README, For instructors).
"""

import sys

from utils.grading.grader import main

if __name__ == "__main__":
    sys.exit(main())
