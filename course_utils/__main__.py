"""``python -m course_utils ...``: the book's command line (:mod:`course_utils.book.cli`)."""
import sys

from .book.cli import main

if __name__ == "__main__":
    sys.exit(main())
