import json

import pytest

from course_utils import results


def test_record_and_load_all(tmp_course, monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    results.begin("99_demo")
    results.record("acc", 0.93, target=">= 0.9")
    results.record("loss", 0.2)
    rows = results.load_all()
    assert [(r["name"], r["value"], r["met"], r["mode"]) for r in rows] == \
        [("acc", 0.93, True, "fast"), ("loss", 0.2, None, "fast")]
    results.begin("99_demo")  # a new run starts a fresh record
    assert results.load_all() == []


def test_claim_uses_the_target_of_the_mode(tmp_course, monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    results.begin("99_demo")
    assert results.claim("acc", 0.6, ">= 0.9", ">= 0.5") == 0.6
    monkeypatch.setenv("COURSE_FAST", "0")
    with pytest.raises(AssertionError, match="acc = 0.6 does not meet >= 0.9"):
        results.claim("acc", 0.6, ">= 0.9", ">= 0.5")
    stored = json.loads((tmp_course / "results" / "metrics" / "99_demo.json").read_text())
    assert stored["metrics"]["acc"]["target"] == ">= 0.9"


def test_meets_operators():
    assert results.meets(1.0, ">= 1") and not results.meets(1.0, "> 1")
    assert results.meets(99, "<= 100") and results.meets(1, "< 2") and results.meets(3, None) is None
