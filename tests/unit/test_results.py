import json

import pytest

from course_utils.book import results


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


@pytest.mark.parametrize("text, parsed", [
    (">= 0.9", (">=", 0.9)), (">=0.9", (">=", 0.9)), ("≥ 0.9", (">=", 0.9)), ("≥0.9", (">=", 0.9)),
    ("<= 1e-6", ("<=", 1e-6)), ("≤1E-6", ("<=", 1e-6)), ("< -0.5", ("<", -0.5)), (">0", (">", 0.0)),
    ("== 3", ("==", 3.0)), ("  > .5 ", (">", 0.5)), ((">=", 0.9), (">=", 0.9)), (("≤", 2), ("<=", 2.0)),
])
def test_parse_target_accepts_comparisons_with_or_without_spaces(text, parsed):
    assert results.parse_target(text) == parsed


@pytest.mark.parametrize("bad", ["0.9", "=> 0.9", "= 0.9", "!= 1", ">= ", ">= 0.9 or so", ">= abc",
                                 "", "≥≥ 1", (">=", "x"), ("~", 1), (">=", None, 3), 0.9])
def test_parse_target_rejects_anything_else_saying_what_it_expects(bad):
    with pytest.raises(ValueError, match="a comparison .* and a number"):
        results.parse_target(bad)


def test_meets_and_record_use_the_same_parser(tmp_course):
    assert results.meets(0.9, "≥0.9") and results.meets(0.9, (">=", 0.9)) and not results.meets(1, "<1")
    assert results.meets(2, "== 2") and not results.meets(2.5, "==2")
    with pytest.raises(ValueError, match="expected|a comparison"):
        results.meets(1, "at least 1")
    results.begin("99_demo")
    with pytest.raises(ValueError, match="a comparison"):
        results.record("acc", 0.5, target="0.9+")


def test_claim_typed_form_and_short_form_agree(tmp_course, monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "0")
    results.begin("99_demo")
    results.claim("a", 0.95, ">=", 0.9)
    results.claim("b", 0.95, "≥0.9", ">= 0.5")
    results.claim("c", 3, "<", 4, fast=("<", 10), note="typed")
    stored = json.loads((tmp_course / "results" / "metrics" / "99_demo.json").read_text())["metrics"]
    assert [stored[k]["target"] for k in "abc"] == [">= 0.9", ">= 0.9", "< 4"]
    with pytest.raises(AssertionError, match="does not meet < 1"):
        results.claim("d", 3, "<", 1)
    monkeypatch.setenv("COURSE_FAST", "1")
    results.claim("c", 8, "<", 4, fast=("<", 10))  # fast mode checks the fast target
    with pytest.raises(ValueError, match="a comparison"):
        results.claim("e", 1, "at least", 0.5)
    with pytest.raises(TypeError, match="fast"):
        results.claim("f", 1, ">= 0.5", fast=">= 0.1")
