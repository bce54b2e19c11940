"""Benchmark: retention_utils.models.btyd vs lifetimes 0.11.3 on the CDNOW 1/10 calibration data.

Run:  python benchmarks/bench_btyd.py [--repeats N]

Fits BG/NBD, Pareto/NBD (cdnow_customers_summary.csv, 2,357 customers, weeks) and the
gamma-gamma spend model (946 repeat buyers; mean repeat-transaction value computed from
CDNOW_sample.txt, calibration 1997-01-01 .. 1997-09-30) with both libraries in the same process.
Each fit is warmed up once, then timed ``--repeats`` times, alternating ours / lifetimes so that
background load hits both alike; the minimum and the median wall-clock times are printed with the
ratio ours / lifetimes (< 1 means we are faster).  ``lifetimes.datasets`` is not imported (it
needs pkg_resources); the data files are read by path.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from retention_utils.data.datasets import load_cdnow  # noqa: E402
from retention_utils.models.btyd import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter  # noqa: E402
from retention_utils.tables.summary import btyd_summary  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import lifetimes  # noqa: E402

DATA_DIR = Path(importlib.util.find_spec("lifetimes").submodule_search_locations[0]) / "datasets"
CALIBRATION_END = pd.Timestamp("1997-09-30")


def load_rfm():
    df = pd.read_csv(DATA_DIR / "cdnow_customers_summary.csv")
    return df["frequency"], df["recency"], df["T"]


def load_monetary():
    """Frequency and mean repeat-purchase value per customer, from the package's CDNOW loader and
    BTYD summary (calibration 1997-01-01 .. 1997-09-30)."""
    tx = load_cdnow(sample=True).transactions
    s = btyd_summary(tx[tx["order_ts"] <= CALIBRATION_END], observation_end=CALIBRATION_END, time_unit="weeks")
    return s["frequency"], s["monetary_value"]


def timed(fn, repeats):
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)

    f, r, T = load_rfm()
    freq, mon = load_monetary()
    rep = freq > 0

    cases = [
        ("BG/NBD", lambda: BetaGeoFitter().fit(f, r, T), lambda: lifetimes.BetaGeoFitter().fit(f, r, T)),
        (
            "Pareto/NBD",
            lambda: ParetoNBDFitter().fit(f, r, T),
            lambda: lifetimes.ParetoNBDFitter().fit(f, r, T),
        ),
        (
            "Gamma-Gamma",
            lambda: GammaGammaFitter().fit(freq, mon),
            lambda: lifetimes.GammaGammaFitter().fit(freq[rep], mon[rep]),
        ),
    ]

    print(
        f"CDNOW 1/10 sample: {len(f)} customers (BG/NBD, Pareto/NBD), {int(rep.sum())} repeat buyers (gamma-gamma)"
    )
    print(
        f"numpy {np.__version__}, pandas {pd.__version__}, lifetimes {lifetimes.__version__}; repeats={args.repeats}\n"
    )
    header = f"{'model':<12} {'ours min':>10} {'ours med':>10} {'lifetimes min':>14} {'lifetimes med':>14} {'ratio(min)':>11} {'ratio(med)':>11}"
    print(header)
    print("-" * len(header))
    totals = [0.0, 0.0]
    fitted = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, ours_fn, theirs_fn in cases:
            fitted[name] = (ours_fn(), theirs_fn())  # warm-up (imports, caches) + results
            t_ours, t_theirs = [], []
            for _ in range(args.repeats):  # alternate so that background load affects both
                t_ours += timed(ours_fn, 1)
                t_theirs += timed(theirs_fn, 1)
            mo, mt = min(t_ours), min(t_theirs)
            do, dt = statistics.median(t_ours), statistics.median(t_theirs)
            totals[0] += do
            totals[1] += dt
            print(
                f"{name:<12} {mo * 1e3:>8.1f}ms {do * 1e3:>8.1f}ms {mt * 1e3:>12.1f}ms {dt * 1e3:>12.1f}ms {mo / mt:>11.2f} {do / dt:>11.2f}"
            )
    print("-" * len(header))
    print(
        f"{'total (med)':<12} {'':>10} {totals[0] * 1e3:>8.1f}ms {'':>14} {totals[1] * 1e3:>12.1f}ms {'':>11} {totals[0] / totals[1]:>11.2f}"
    )

    print("\nFitted parameters (ours | lifetimes):")
    for name, (ours, theirs) in fitted.items():
        cells = ", ".join(f"{k}={v:.5g}|{float(theirs.params_[k]):.5g}" for k, v in ours.params_.items())
        print(f"  {name:<12} {cells}  LL(ours)={ours.log_likelihood_:.4f}")


if __name__ == "__main__":
    main()
