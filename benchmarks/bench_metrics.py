"""Benchmark: our ranking metrics against microsoft/recommenders' ``python_evaluation`` (the field's reference).

Builds a seeded synthetic next-basket case per size (default 2,300 and 23,000 users: The Complete
Journey's households and ten times as many; 20 recommendations per user with distinct scores, about 10
truth items per user, a 5,000-item catalogue), computes precision, recall, NDCG and MAP at k on the
*same top-k lists* with both packages, checks that the values are identical (``np.isclose`` at 1e-12)
where the definitions agree, prints where they differ and why, then times both (best of ``--repeat``;
the reference's DataFrame cache is cleared between repeats) and prints the speed ratio (target >= 10x
at both sizes).

microsoft/recommenders 1.2.1 (PyPI ``recommenders``) pins a large stack (cornac, lightgbm,
transformers, ...) that is not ours; ``python_evaluation`` itself needs only numpy, pandas and
scikit-learn. The script therefore installs the package *without its dependencies* into a throwaway
virtual environment (``--msrec-venv``, default ``/tmp/bench-msrec-venv``; created with ``python -m venv``
and ``pip install --no-deps recommenders==1.2.1`` on first use) and imports it from there with our
numpy / pandas / scikit-learn. It is never added to the project's dependencies or lock.

Where the definitions agree and where they differ (1.2.1, ``relevancy_method="top_k"``):

* precision@k (hits / k), recall@k (hits / |truth|), NDCG@k with binary gains (theirs uses the natural
  log discount, ours log2: the bases cancel in the ratio DCG / IDCG) and MAP@k (sum of precision at
  each hit / min(|truth|, k), theirs from Spark MLlib) agree; the script asserts it.
* Users with truth items but no recommendation: ours count them as all misses in every metric (rule 4
  of :mod:`retention_utils.recommend.metrics`); theirs drop them from precision, recall and MAP (mean
  over the users present in both frames), which flatters a recommender that skips hard users, but
  count them as 0 in NDCG (an outer join with the truth). Shown on the data with 5 % of the users'
  lists removed.
* Tied scores: theirs rank ties by input row order (``sort_values`` then ``head(k)``), so shuffling the
  rows changes the value; ours take the expected value over the orders of the tied items (rule 7).
  Shown on the data with scores rounded to one decimal.

Usage::

    .venv/bin/python benchmarks/bench_metrics.py [--users 2300 23000] [--recs 20] [--truth 10]
                                                 [--items 5000] [--k 10] [--seed 0] [--repeat 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from retention_utils.recommend.metrics import (  # noqa: E402
    map_at_k,
    ndcg_at_k,
    per_user_metrics,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
)

USER, ITEM, SCORE = "customer_id", "product_id", "score"
MSREC_VERSION = "1.2.1"


def import_msrec(venv: Path):
    """``recommenders.evaluation.python_evaluation`` from a throwaway venv (created on first use)."""
    try:
        from recommenders.evaluation import python_evaluation  # type: ignore[import-not-found]

        return python_evaluation
    except ImportError:
        pass
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    if not (Path(site) / "recommenders").exists():
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "--no-deps", f"recommenders=={MSREC_VERSION}"], check=True
        )
    if sysconfig.get_python_version() not in site:
        raise RuntimeError(f"the throwaway venv {venv} runs another Python than this one; remove it")
    sys.path.append(site)
    from recommenders.evaluation import python_evaluation  # type: ignore[import-not-found]

    return python_evaluation


def make_data(n_users: int, n_recs: int, n_truth: int, n_items: int, seed: int):
    """Top-``n_recs`` lists with distinct scores per user (no ties) and truth baskets overlapping them."""
    rng = np.random.default_rng(seed)
    users = np.arange(100_000, 100_000 + n_users)
    items = np.stack([rng.choice(n_items, n_recs, replace=False) for _ in range(n_users)])
    recs = pd.DataFrame(
        {
            USER: np.repeat(users, n_recs),
            ITEM: items.ravel(),
            SCORE: np.tile(np.arange(n_recs, 0, -1, dtype=np.float64), n_users) + rng.random(n_users * n_recs) * 0.5,
        }
    )
    sizes = np.maximum(rng.poisson(n_truth, n_users), 1)
    truth = pd.DataFrame({USER: np.repeat(users, sizes), ITEM: rng.integers(0, n_items, sizes.sum())})
    take = rng.random(len(truth)) < 0.5  # about half of the truth rows are recommended items
    pos = np.searchsorted(users, truth[USER].to_numpy())
    truth.loc[take, ITEM] = items[pos[take], rng.integers(0, n_recs, int(take.sum()))]
    truth = truth.drop_duplicates([USER, ITEM])
    return truth.sample(frac=1.0, random_state=seed).reset_index(drop=True), recs.sample(
        frac=1.0, random_state=seed + 1
    ).reset_index(drop=True)


def theirs(pe, truth: pd.DataFrame, recs: pd.DataFrame, k: int) -> dict[str, float]:
    kw = dict(col_user=USER, col_item=ITEM, col_prediction=SCORE, relevancy_method="top_k", k=k)
    truth = truth.assign(rating=1.0)  # their NDCG reads the truth relevance (binary here)
    return {
        "precision": pe.precision_at_k(truth, recs, **kw),
        "recall": pe.recall_at_k(truth, recs, **kw),
        "ndcg": pe.ndcg_at_k(truth, recs, **kw),
        "map": pe.map_at_k(truth, recs, **kw),
    }


def ours(truth: pd.DataFrame, recs: pd.DataFrame, k: int) -> dict[str, float]:
    res = ranking_metrics(truth, recs, k)
    return {m: res[m].value for m in ("precision", "recall", "ndcg", "map")}


def ours_four_calls(truth: pd.DataFrame, recs: pd.DataFrame, k: int) -> dict[str, float]:
    return {
        "precision": precision_at_k(truth, recs, k).value,
        "recall": recall_at_k(truth, recs, k).value,
        "ndcg": ndcg_at_k(truth, recs, k).value,
        "map": map_at_k(truth, recs, k).value,
    }


def timed(fn, repeat: int, before=None):
    best, result = float("inf"), None
    for _ in range(repeat):
        if before is not None:
            before()
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def clear_cache(pe) -> None:
    for name in dir(pe):
        f = getattr(pe, name)
        if hasattr(f, "cache_clear"):
            f.cache_clear()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, nargs="+", default=[2_300, 23_000])
    ap.add_argument("--recs", type=int, default=20)
    ap.add_argument("--truth", type=int, default=10)
    ap.add_argument("--items", type=int, default=5_000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--msrec-venv", type=Path, default=Path("/tmp/bench-msrec-venv"))
    a = ap.parse_args(argv)
    pe = import_msrec(a.msrec_venv)
    print(f"reference: microsoft/recommenders {MSREC_VERSION} python_evaluation ({Path(pe.__file__).parent.parent})")
    target, k, ok_all = 10.0, a.k, True
    for n_users in a.users:
        truth, recs = make_data(n_users, a.recs, a.truth, a.items, a.seed)
        print(f"\n{n_users:,} users, {len(recs):,} recommendation rows, {len(truth):,} truth rows, k = {k}")
        t_ref, ref = timed(lambda t=truth, r=recs: theirs(pe, t, r, k), a.repeat, before=lambda: clear_cache(pe))
        t_one, one = timed(lambda t=truth, r=recs: ours(t, r, k), a.repeat)
        t_four, four = timed(lambda t=truth, r=recs: ours_four_calls(t, r, k), a.repeat)
        agree = all(np.isclose(one[m], ref[m], rtol=1e-12, atol=0) and one[m] == four[m] for m in ref)
        ok_all &= agree
        print("  " + "  ".join(f"{m}@{k} ours {one[m]:.6f} theirs {ref[m]:.6f}" for m in ref))
        print(f"  values identical (rtol 1e-12): {agree}")
        r1, r4 = t_ref / t_one, t_ref / t_four
        ok_all &= r1 >= target
        print(
            f"  best of {a.repeat}: theirs (4 calls) {t_ref * 1e3:,.1f} ms; ours one pass (ranking_metrics) "
            f"{t_one * 1e3:,.1f} ms -> {r1:.1f}x; ours 4 calls {t_four * 1e3:,.1f} ms -> {r4:.1f}x "
            f"(target >= {target:.0f}x: {'met' if r1 >= target else 'NOT met'})"
        )

    # ---- where the definitions differ, on the smallest size
    truth, recs = make_data(a.users[0], a.recs, a.truth, a.items, a.seed)
    users = np.sort(truth[USER].unique())
    dropped = users[:: 20]  # 5 % of the users get no recommendation
    short = recs[~recs[USER].isin(dropped)]
    clear_cache(pe)
    o, t = ours(truth, short, k), theirs(pe, truth, short, k)
    print(
        f"\nusers without recommendations ({len(dropped)} of {len(users):,}): ours count them as misses in every "
        f"metric; theirs drop them from precision, recall and MAP (mean over users with a list) but count them "
        f"in NDCG (outer join): "
        + ", ".join(f"{m}@{k} ours {o[m]:.4f} theirs {t[m]:.4f}" for m in ("precision", "recall", "map", "ndcg"))
    )
    tied = recs.assign(**{SCORE: (recs[SCORE] / 4).round(0)})  # ties of ~4 items
    vals = []
    for s in range(3):
        clear_cache(pe)
        vals.append(theirs(pe, truth, tied.sample(frac=1.0, random_state=s), k)["precision"])
    ours_tied = {per_user_metrics(truth, tied.sample(frac=1.0, random_state=s), k)["precision"].mean() for s in range(3)}
    print(
        f"tied scores, three row orders: precision@{k} theirs {', '.join(f'{v:.5f}' for v in vals)} (input order "
        f"decides); ours {', '.join(f'{v:.5f}' for v in sorted(ours_tied))} (expected value over tie orders)"
    )
    return 0 if ok_all else 1


if __name__ == "__main__":
    raise SystemExit(main())
