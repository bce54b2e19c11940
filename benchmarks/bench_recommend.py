"""Benchmark: fit + score time and peak memory of every next-basket recommender on The Complete Journey.

Set-up: the primary protocol's test split of notebook 07 (global cutoff t0 = 28 days before the end of
2017; models fitted on every basket before t0) and the households evaluated there, each scored over
its model's item space and reduced to a top-20 list by chunked top-k (about 4M score cells per block),
never through the dense households x products float64 matrix. Parameters are the ones notebook 07
selects on validation.

For each model the script prints fit and score seconds and the peak *additional* resident memory
(Linux ``VmHWM`` reset through ``/proc/self/clear_refs`` before each model; ``tracemalloc`` peak as a
fallback), with the ratio to the target of issue 15 for every model (fit + score within 10 s and
1 GB). It then
measures a reference in the same run: the straightforward way for one model (the dense households x
products score matrix, then a full ``argsort`` per row) against the chunked path, checks that both give
the same top-20 lists, and prints the time and memory ratios. Timings are of this machine at the time
of the run (the machine may be shared): compare the ratios, not the seconds, between runs.

Usage::

    .venv/bin/python benchmarks/bench_recommend.py [--k 20] [--min-support 20] [--reference TIFU-KNN]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from retention_utils.data.cleaning import load_clean  # noqa: E402
from retention_utils.recommend import models as R  # noqa: E402
from retention_utils.recommend import split  # noqa: E402
from retention_utils.recommend.ranking import id_rank  # noqa: E402
from retention_utils.recommend.temporal import RepurchaseTimeKernel  # noqa: E402

TARGET_SECONDS, TARGET_MB = 10.0, 1024.0
FAMILY = {
    "G-TopFreq": "popularity",
    "P-TopFreq": "popularity",
    "GP-TopFreq": "popularity",
    "user-kNN": "kNN",
    "item-kNN": "kNN",
    "TIFU-KNN": "kNN",
    "TAIW-style": "time-aware",
}


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class PeakMemory:
    """Peak additional memory of a code block, in MB: VmHWM growth if the kernel lets us reset it,
    else the tracemalloc peak (numpy and Python allocations only)."""

    def __enter__(self) -> PeakMemory:
        gc.collect()
        self.hwm = False
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            self.base = _status_kb("VmRSS")
            self.hwm = self.base is not None
        except OSError:
            pass
        tracemalloc.start()
        return self

    def __exit__(self, *exc: object) -> None:
        _, traced = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        self.traced_mb = traced / 2**20
        peak = _status_kb("VmHWM") if self.hwm else None
        self.mb = (peak - self.base) / 1024 if peak is not None and self.base is not None else self.traced_mb
        self.source = "VmHWM" if peak is not None else "tracemalloc"


def chosen_models(products: pd.DataFrame, min_support: int, seed: int) -> dict[str, R.Recommender]:
    """The models of notebook 07 with the parameters it selects on The Complete Journey."""
    s = min_support
    return {
        "G-TopFreq": R.GTopFreq(),
        "P-TopFreq": R.PTopFreq(),
        "GP-TopFreq": R.GPTopFreq(),
        "user-kNN": R.UserKNN(n_neighbors=400, min_support=s),
        "item-kNN": R.ItemKNN("bm25", K=20, min_support=s, num_threads=2),
        "content TF-IDF": R.ContentTFIDF(products, min_support=s),
        "hybrid CF + content": R.Hybrid(
            R.UserKNN(n_neighbors=400, min_support=s), R.ContentTFIDF(products, min_support=s), alpha=0.5
        ),
        "EASE": R.EASE(l2=1000.0, min_support=s),
        "ALS": R.ALS(factors=128, iterations=10, random_state=seed, min_support=s, num_threads=2),
        "TIFU-KNN": R.TIFUKNN(alpha=0.5, n_neighbors=100),
        "TAIW-style": RepurchaseTimeKernel(pi=0.0, decay_scale=4.0, basket_decay=0.98, gamma=0.0, clock="household"),
    }


def dense_reference(model: R.Recommender, households: pd.Index, k: int) -> pd.DataFrame:
    """The straightforward way: the full (households x products) float64 score matrix, then a stable
    argsort of every row (ties by the natural id order, as in the recommenders)."""
    data = model.data_
    scores = np.round(model.score_block(data.rows(households)), R.SCORE_DECIMALS)
    items = np.asarray(model.items_)
    str_order = np.argsort(id_rank(items), kind="stable")
    ordered = scores[:, str_order]  # columns in id order so a stable sort breaks ties by it
    top = np.argsort(-ordered, axis=1, kind="stable")[:, :k]
    cols = str_order[top]
    return pd.DataFrame(
        {
            R.USER: np.repeat(np.asarray(households), k),
            R.ITEM: items[cols].ravel(),
            R.SCORE: np.take_along_axis(scores, cols, axis=1).ravel(),
            "rank": np.tile(np.arange(1, k + 1), len(households)),
        }
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--min-support", type=int, default=20)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--reference", default="TIFU-KNN", help="model measured against the dense reference")
    a = ap.parse_args(argv)

    t = time.perf_counter()
    ds, _ = load_clean("complete_journey", "2017-01-01", "2017-12-31")
    baskets = split.basket_items(ds.transactions)
    t0 = pd.Timestamp("2018-01-01") - pd.Timedelta(days=28)
    test = split.global_cutoff_split(baskets, t0, min_baskets=5)
    data = R.Interactions.from_baskets(test.train)
    households = test.households
    dense_mb = len(households) * data.n_items * 8 / 2**20
    print(
        f"data: {len(households):,} households scored (test split at {t0.date()}), {data.n_users:,} training "
        f"households, {data.n_items:,} products, {len(test.train):,} training rows (prepared in "
        f"{time.perf_counter() - t:.1f} s); the dense households x products float64 matrix would take "
        f"{dense_mb:,.0f} MB"
    )
    header = (
        f"{'model':<22}{'family':<11}{'items':>7}{'fit s':>8}{'score s':>9}{'total s':>9}{'peak MB':>9}"
        f"{'time/10s':>10}{'mem/1GB':>9}  verdict"
    )
    print(header)
    print("-" * len(header))
    fitted: dict[str, R.Recommender] = {}
    source = ""
    for name, model in chosen_models(ds.products, a.min_support, a.seed).items():
        with PeakMemory() as mem:
            t = time.perf_counter()
            model.fit(data)
            t_fit = time.perf_counter() - t
            t = time.perf_counter()
            recs = model.recommend(households, a.k)
            t_score = time.perf_counter() - t
        source = mem.source
        total = t_fit + t_score
        family = FAMILY.get(name, "other")
        ok = total <= TARGET_SECONDS and mem.mb <= TARGET_MB
        ratios = f"{total / TARGET_SECONDS:>10.2f}{mem.mb / TARGET_MB:>9.2f}"
        verdict = "within target" if ok else "OVER target"
        print(
            f"{name:<22}{family:<11}{len(model.items_):>7,}{t_fit:>8.2f}{t_score:>9.2f}{total:>9.2f}"
            f"{mem.mb:>9.0f}{ratios}  {verdict}"
        )
        if name == a.reference:
            fitted[name] = model
        del recs
    print(f"(peak MB = growth of resident memory over the model's fit + score, measured by {source})")

    if a.reference in fitted:
        model = fitted[a.reference]
        with PeakMemory() as mem_c:
            t = time.perf_counter()
            got = model.recommend(households, a.k)
            t_chunk = time.perf_counter() - t
        with PeakMemory() as mem_d:
            t = time.perf_counter()
            ref = dense_reference(model, households, a.k)
            t_ref = time.perf_counter() - t
        same = (
            got[[R.USER, R.ITEM, "rank"]]
            .reset_index(drop=True)
            .equals(ref[[R.USER, R.ITEM, "rank"]].reset_index(drop=True))
        )
        print(
            f"scoring only, {a.reference}: dense matrix + argsort {t_ref:.2f} s, peak {mem_d.mb:,.0f} MB; "
            f"chunked top-k {t_chunk:.2f} s, peak {mem_c.mb:,.0f} MB -> time ratio {t_ref / t_chunk:.1f}x, "
            f"memory ratio {mem_d.mb / max(mem_c.mb, 1.0):.1f}x; top-{a.k} lists identical: {same}"
        )
        if not same:
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
