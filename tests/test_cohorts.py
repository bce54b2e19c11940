import numpy as np
import pandas as pd
import pytest

from retention_utils.tables.cohorts import cohort_retention

from .conftest import make_tx


def _cohort_log():
    rows = []
    # January cohort: 100 customers, 40 of them back in February
    for i in range(100):
        rows.append((f"j{i}", f"j{i}-1", "2020-01-10", "p", 1, 1.0))
        if i < 40:
            rows.append((f"j{i}", f"j{i}-2", "2020-02-12", "p", 1, 1.0))
    # February cohort: 50 customers, 25 back in March
    for i in range(50):
        rows.append((f"f{i}", f"f{i}-1", "2020-02-03", "p", 1, 1.0))
        if i < 25:
            rows.append((f"f{i}", f"f{i}-2", "2020-03-20", "p", 1, 1.0))
    return make_tx(rows)


def test_hand_cohorts():
    # the data ends 2020-03-20, so March is partial: flag it to read its values
    ct = cohort_retention(_cohort_log(), "M", start="2020-01-01", end="2020-03-31", partial="flag")
    assert ct.window[1] == pd.Timestamp("2020-03-20")  # an end after the data is clamped to it
    assert ct.sizes.tolist() == [100, 50]
    r = ct.retention
    assert r.loc[pd.Period("2020-01", "M"), 0] == 1.0
    assert r.loc[pd.Period("2020-01", "M"), 1] == 0.4
    assert r.loc[pd.Period("2020-02", "M"), 0] == 1.0
    assert r.loc[pd.Period("2020-02", "M"), 1] == 0.5
    # January cohort in March: observed, nobody came: 0, not NaN
    assert r.loc[pd.Period("2020-01", "M"), 2] == 0.0
    # February cohort two months on (April) is after the window: NaN
    assert np.isnan(r.loc[pd.Period("2020-02", "M"), 2])
    assert ct.retention_at(1) == pytest.approx((40 + 25) / 150)
    assert ct.retention_at(1, skip_first=True) == pytest.approx(25 / 50)  # February only
    assert np.isnan(ct.retention_at(2, skip_first=True))  # only January is observed two months on
    assert np.isfinite(r.to_numpy()[~np.isnan(r.to_numpy())]).all()


def test_cohort_from_full_history_with_later_window():
    tx = make_tx([("c", "1", "2023-11-10", "p", 1, 1.0), ("c", "2", "2024-02-03", "p", 1, 1.0)])
    ct = cohort_retention(tx, "M", start="2024-01-01", end="2024-02-29", partial="flag")
    assert list(ct.sizes.index) == [pd.Period("2023-11", "M")]
    r = ct.retention.loc[pd.Period("2023-11", "M")]
    assert np.isnan(r[0]) and np.isnan(r[1])  # Nov and Dec are outside the window
    assert r[2] == 0.0 and r[3] == 1.0  # January observed empty, February active
    assert not np.isinf(ct.retention.to_numpy()).any()


def test_trailing_partial_period_dropped_or_flagged():
    tx = make_tx([
        ("a", "1", "2020-01-05", "p", 1, 1.0),
        ("a", "2", "2020-02-05", "p", 1, 1.0),
        ("a", "3", "2020-03-01", "p", 1, 1.0),  # a one-day stub of March
    ])
    dropped = cohort_retention(tx, "M")
    assert list(dropped.retention.columns) == [0, 1]
    flagged = cohort_retention(tx, "M", partial="flag")
    assert flagged.retention.loc[pd.Period("2020-01", "M"), 2] == 1.0
    assert bool(flagged.partial.loc[pd.Period("2020-01", "M"), 2])
    assert not bool(flagged.partial.loc[pd.Period("2020-01", "M"), 1])


def test_weekly_cohorts():
    tx = make_tx([
        ("a", "1", "2024-01-01", "p", 1, 1.0),  # Monday
        ("a", "2", "2024-01-08", "p", 1, 1.0),
        ("b", "3", "2024-01-07", "p", 1, 1.0),  # Sunday: same week as a's first
    ])
    ct = cohort_retention(tx, "W", end="2024-01-14", partial="flag")
    assert ct.sizes.tolist() == [2]
    assert ct.retention.iloc[0].tolist() == [1.0, 0.5]


def test_bad_arguments():
    tx = _cohort_log()
    with pytest.raises(ValueError, match="period"):
        cohort_retention(tx, "Q")
    with pytest.raises(ValueError, match="partial"):
        cohort_retention(tx, partial="keep")
    with pytest.raises(ValueError, match="empty window|holds no transactions"):
        cohort_retention(tx, start="2020-03-01", end="2020-01-01")
    with pytest.raises(ValueError, match="holds no transactions"):
        cohort_retention(tx, start="2019-01-01", end="2019-06-30")


def test_end_after_the_data_is_not_zero_retention():
    tx = make_tx([("a", "1", "2011-08-05", "p", 1, 1.0), ("a", "2", "2011-09-29", "p", 1, 1.0),
                  ("b", "3", "2011-08-10", "p", 1, 1.0)])
    ct = cohort_retention(tx, "M", end="2011-12-09")
    # October and November are after the data: not observed (NaN), never 0 %; September is partial
    assert list(ct.retention.columns) == [0]
    flagged = cohort_retention(tx, "M", end="2011-12-09", partial="flag")
    assert flagged.retention.iloc[0].tolist() == [1.0, 0.5]
    assert bool(flagged.partial.iloc[0, 1])
