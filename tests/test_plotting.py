"""Figures state statistics of the data, not of what is drawn."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from retention_utils import formatting as F  # noqa: E402
from retention_utils import plotting  # noqa: E402


def test_distribution_median_is_of_all_values_while_the_axis_is_clipped():
    values = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 1000.0, 2000.0])
    ax = plotting.distribution(values, clip_quantile=0.8)
    label = ax.get_legend().get_texts()[0].get_text()
    assert label == f"median {F.number(float(np.median(values)))}"  # 6, not the median of the drawn values
    assert "not shown" in ax.get_title()
