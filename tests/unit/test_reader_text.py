"""Reader-facing text speaks of the book alone: no talk of issues, tickets, sessions or how the
book's authors work, in the notebooks (prose and code comments) or the book's own pages."""
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WORDS = re.compile(r"\b(issues?|tickets?|pull requests?|sessions?|closing notes?|developers?|"
                   r"the team|backlog|sprint)\b", re.IGNORECASE)
PAGES = sorted(REPO.glob("notebooks/[0-9][0-9]_*.py")) + sorted(REPO.glob("book/*.md"))


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_no_talk_of_how_the_book_is_made(path):
    hits = [f"{path.name}:{i}: {line.strip()}" for i, line in enumerate(path.read_text().splitlines(), 1)
            if WORDS.search(line)]
    assert not hits, "reader-facing text mentions the making of the book:\n" + "\n".join(hits)
