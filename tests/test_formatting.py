"""The one formatting rule for numbers people read (retention_utils.formatting)."""

import numpy as np
import pandas as pd

from retention_utils import formatting as F


def test_number_rule():
    assert F.number(2467) == "2,467"
    assert F.number(np.int64(5)) == "5"
    assert F.number(0.83791) == "0.8379"
    assert F.number(12.3456) == "12.35"
    assert F.number(4210472.16) == "4,210,472"
    assert F.number(-0.00001, decimals=4) == "0.0000"  # no -0
    assert F.number(-0.0) == "0.000"
    assert F.number(6.2e-16) == "6.200e-16"
    assert F.number(None) == F.MISSING and F.number(float("nan")) == F.MISSING and F.number(pd.NaT) == F.MISSING
    assert F.number(pd.Timestamp("2017-12-04")) == "2017-12-04"
    assert F.number(195.3, 3, approx=True) == "≈ 195"
    assert F.percent(0.83791) == "83.8 %"


def test_table_significant_digits_per_column_counts_as_integers():
    df = pd.DataFrame({"n": pd.array([141178, 2], dtype="int64"), "v": [10.2234, 961.49],
                       "p": [0.5, np.nan], "name": ["a", None]})
    t = F.table(df)
    assert t["n"].tolist() == ["141,178", "2"]
    assert t["v"].tolist() == ["10.22", "961.5"]  # four significant digits each
    assert F.table(df, per_value=False)["v"].tolist() == ["10.2", "961.5"]  # one number of decimals for the column
    assert F.table(df, decimals=3)["v"].tolist() == ["10.223", "961.490"]
    assert t["p"].tolist() == ["0.5000", F.MISSING]
    assert t["name"].tolist() == ["a", F.MISSING]
    per = F.table(pd.DataFrame({"estimate": [0.2426, -9582.43]}), per_value=True)
    assert per["estimate"].tolist() == ["0.2426", "-9,582"]
    ap = F.table(pd.DataFrame({"clv": [7.27, 8005.79]}), approx=("clv",))
    assert ap["clv"].tolist() == ["≈ 7.270", "≈ 8,006"]


def test_rounding_noise_of_a_zero_prints_as_zero_when_the_caller_says_so():
    df = pd.DataFrame({"mean": [-9.253e-17, 6.83, 1.2e-3]})
    assert F.table(df, zero_below=1e-12)["mean"].tolist() == ["0.000", "6.830", "0.001200"]
    assert F.table(df)["mean"].tolist()[0] == "-9.253e-17"  # by default a tiny value keeps its digits (p-values)


def test_row_decimals_for_results_known_less_precisely():
    df = pd.DataFrame({"ndcg": [0.15612, 0.17321]}, index=pd.MultiIndex.from_tuples([("ALS", 5), ("TIFU-KNN", 5)]))
    t = F.table(df, decimals=3, row_decimals={"ALS": 2})
    assert t["ndcg"].tolist() == ["0.16", "0.173"]


def test_estimates_marked_approx_show_only_their_significant_digits():
    """Hand-computed: a 2-significant-digit estimate of 229.4 is "≈ 230" (its third digit moved
    between BLAS kernels: 229 on one, 227 on another); 4 digits of 1,053,126 are 1,053,000; values
    below 10**digits and unmarked values are as before."""
    assert F.number(229.4, 2, approx=True) == "≈ 230"
    assert F.number(227.0, 2, approx=True) == "≈ 230"
    assert F.number(1053126.0, 4, approx=True) == "≈ 1,053,000"
    assert F.number(86.4, 2, approx=True) == "≈ 86" and F.number(0.0423, 2, approx=True) == "≈ 0.042"
    assert F.number(229.4, 2) == "229"
    col = F.column(pd.Series([229.4, 4.63, float("nan")]), 2, approx=True)
    assert col.tolist() == ["≈ 230", "≈ 4.6", F.MISSING]
