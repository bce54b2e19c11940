"""The notebook-test comparator: what counts as the same output on another machine, and what not."""

import json

import nbformat
import pytest

from retention_utils.reports import nbcheck as N
from retention_utils.reports.records import RECORD_MIME


def _stream(text, name="stdout"):
    return nbformat.v4.new_output("stream", name=name, text=text)


def _data(**data):
    return nbformat.v4.new_output("display_data", data=data)


def _rec(name, value, kind):
    return _data(**{RECORD_MIME: {"name": name, "value": value, "kind": kind}, "text/plain": f"{name} = {value!r}"})


@pytest.mark.parametrize("ref,test", [
    ("ROC-AUC 0.8375 (CI 0.812–0.861)", "ROC-AUC 0.8376 (CI 0.812–0.861)"),  # one unit of the last digit
    ("mean 0.0000", "mean -0.0000"),  # a sign of zero is not a difference
    ("revenue   1,053,125.5\ncount   2,467", "revenue 1,053,125.6\ncount 2,467"),  # alignment moved
    ("p = 6.2e-16", "p = 6.3e-16"),
    ("b 27.0 (se 27)", "b 26.9 (se 27)"),
])
def test_text_within_one_unit_of_the_last_digit_passes(ref, test):
    assert N.compare_text(ref, test) is None


@pytest.mark.parametrize("ref,test,why", [
    ("ROC-AUC 0.8375", "ROC-AUC 0.8377", "0.8375 became 0.8377"),  # two units: a real change
    ("customers 2,467", "customers 2,468", "integer 2,467 became 2,468"),  # counts are exact
    ("test cutoff 2017-12-04", "test cutoff 2017-11-04", "integer"),  # dates are exact
    ("best model: random forest", "best model: logistic regression", "text differs"),
    ("k = 6", "k = 6 clusters", "pieces"),
    ("se 6.2116", "se 6.2109", "6.2116 became 6.2109"),  # printed finer than the computation supports
])
def test_real_changes_fail(ref, test, why):
    d = N.compare_text(ref, test)
    assert d is not None and why in d


def test_identifiers_with_digits_are_text_not_numbers():
    assert N._tokens("log1p x2 v0.11.0") == ["log1p x2 v0.11.0"]
    assert N.compare_text("model v2", "model v3") is not None


def test_record_tolerance_by_kind():
    def cmp(kind, a, b):
        return N.compare_records({"name": "x", "value": a, "kind": kind}, {"name": "x", "value": b, "kind": kind})

    assert cmp("count", 2467, 2467) is None and "became" in cmp("count", 2467, 2468)
    assert cmp("exact", "2017-12-04", "2017-12-04") is None and cmp("exact", "a", "b")
    assert cmp("share", 0.9874341305, 0.9874341306) is None  # last recorded digit
    assert cmp("share", 0.98743413, 0.98743414) is not None
    assert cmp("estimate", 1053125.50, 1053125.52) is None  # 2e-8: a machine's last digits
    assert cmp("estimate", 7.2704, 7.2701) is None  # 4e-5
    assert cmp("estimate", 7.27, 7.35) is not None  # 1 %: a real change
    assert cmp("metric", 0.0970, 0.09705) is None and cmp("metric", 0.097, 0.096) is not None
    assert cmp("metric", [0.861, 0.892], [0.8611, 0.892]) is None
    assert "value[1]" in cmp("metric", [0.861, 0.892], [0.861, 0.90])
    assert cmp("estimate", {"r": 0.2426}, {"r": 0.2426001}) is None
    assert cmp("estimate", None, None) is None and cmp("estimate", None, 1.0) is not None
    assert "kind" in N.compare_records({"name": "x", "value": 1, "kind": "count"}, {"name": "x", "value": 1, "kind": "exact"})
    # timings: any seconds, but the same models timed
    assert cmp("timing", {"EASE": 1.9, "ALS": 3.7}, {"EASE": 19.0, "ALS": 0.4}) is None
    assert "keys" in cmp("timing", {"EASE": 1.9, "ALS": 3.7}, {"EASE": 1.9})
    assert cmp("timing", 12.5, None) is not None  # a missing time is still a change


def test_stderr_is_ignored_and_record_text_twin_not_compared_again():
    ref = [_stream("tau = 106 days\n"), _rec("auc", 0.8375012345, "metric")]
    test = [_stream("tau = 106 days\n"), _stream("FutureWarning: something changed\n", "stderr"),
            _rec("auc", 0.8375112345, "metric")]  # text twin differs in the 5th digit: within 1e-3
    assert N.compare_outputs(ref, test) == []
    assert N.compare_outputs([_stream("x\n", "stderr")], []) == []


def test_missing_or_extra_outputs_fail():
    assert N.compare_outputs([_stream("a\n")], []) == ["missing output(s) of type ['stdout']"]
    assert "unexpected" in N.compare_outputs([], [_data(**{"text/html": "<b>1</b>"})])[0]
    two = N.compare_outputs([_stream("a 1\n")], [_stream("a 2\n")])
    assert two and "integer 1 became 2" in two[0]


def test_images_are_not_compared_but_json_records_are():
    ref = [_data(**{"image/png": "AAAA", "text/plain": "<Figure size 900x450 with 1 Axes>"})]
    test = [_data(**{"image/png": "BBBB", "text/plain": "<Figure size 900x450 with 1 Axes>"})]
    assert N.compare_outputs(ref, test) == []
    stored = json.dumps({"name": "n", "value": 5, "kind": "count"})  # nbformat may store JSON as text
    assert N.compare_records(stored, {"name": "n", "value": 5, "kind": "count"}) is None


def test_approx_marked_numbers_get_a_relative_tolerance():
    assert N.compare_text("total ≈ 2,018,244", "total ≈ 2,018,250") is None  # 3e-6
    assert N.compare_text("b ≈ 195", "b ≈ 196") is None  # one unit
    assert N.compare_text("b ≈ 195", "b ≈ 199") is not None  # 2 %: a real change
    assert N.compare_text("total 2,018,244", "total 2,018,250") is not None  # unmarked integer: exact


def test_dict_records_compare_keys_as_a_set():
    a = {"name": "sizes", "value": {"b": 1, "a": 2}, "kind": "count"}
    b = {"name": "sizes", "value": {"a": 2, "b": 1}, "kind": "count"}
    assert N.compare_records(a, b) is None
