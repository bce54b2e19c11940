"""Benchmark: vectorised ranking metrics vs a straightforward pandas-merge implementation.

Builds a seeded synthetic next-basket case (default 50k users x 20 recommendations, ~10 truth
items each, 5k-item catalogue, coarse scores so ties occur, a few duplicate recommendation
rows), computes precision / recall / NDCG@k both ways, asserts the per-user values agree
(``np.allclose``), then prints timings and the speed ratio (target >= 10x).

Usage::

    .venv/bin/python benchmarks/bench_metrics.py [--users 50000] [--recs 20] [--truth 10]
                                                 [--items 5000] [--k 10] [--seed 0] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from retention_utils.recommend.metrics import (  # noqa: E402
    ndcg_at_k,
    per_user_metrics,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
)
from retention_utils.recommend.ranking import top_k_from_scores  # noqa: E402

USER, ITEM, SCORE = "customer_id", "product_id", "score"


def make_data(n_users: int, n_recs: int, n_truth: int, n_items: int, seed: int):
    rng = np.random.default_rng(seed)
    users = np.arange(100_000, 100_000 + n_users)
    recs = pd.DataFrame(
        {
            USER: np.repeat(users, n_recs),
            ITEM: rng.integers(0, n_items, n_users * n_recs),
            SCORE: np.round(rng.random(n_users * n_recs), 2),  # 2 decimals -> ties
        }
    )
    sizes = rng.poisson(n_truth, n_users)
    sizes[rng.random(n_users) < 0.02] = 0  # ~2% of users have no truth basket -> excluded
    truth = pd.DataFrame({USER: np.repeat(users, sizes), ITEM: rng.integers(0, n_items, sizes.sum())})
    # make truth overlap the recommendations (about half of the truth rows are recommended items)
    take = rng.random(len(truth)) < 0.5
    user_pos = np.searchsorted(users, truth[USER].to_numpy())
    pick = user_pos * n_recs + rng.integers(0, n_recs, len(truth))
    truth.loc[take, ITEM] = recs[ITEM].to_numpy()[pick[take]]
    return truth.sample(frac=1.0, random_state=seed).reset_index(drop=True), recs.sample(
        frac=1.0, random_state=seed + 1
    ).reset_index(drop=True)


def pandas_merge_reference(truth: pd.DataFrame, recs: pd.DataFrame, k: int) -> pd.DataFrame:
    """Same definitions, written the obvious way with sort_values / groupby / merge."""
    t = truth.drop_duplicates([USER, ITEM])
    r = recs.sort_values(SCORE, ascending=False).drop_duplicates([USER, ITEM], keep="first")
    r = r.assign(item_str=r[ITEM].astype(str))
    r = r.sort_values([USER, SCORE, "item_str"], ascending=[True, False, True])
    r["rank"] = r.groupby(USER).cumcount() + 1
    r = r[r["rank"] <= k]
    m = r.merge(t.assign(hit=1), on=[USER, ITEM], how="left")
    m["hit"] = m["hit"].fillna(0)
    m["dcg"] = m["hit"] / np.log2(m["rank"] + 1)
    per = m.groupby(USER).agg(hits=("hit", "sum"), dcg=("dcg", "sum"))
    n_truth = t.groupby(USER).size().rename("n_truth")
    out = n_truth.to_frame().join(per, how="left").fillna(0.0)
    ideal = pd.DataFrame({USER: np.repeat(out.index, np.minimum(out["n_truth"], k))})
    ideal["rank"] = ideal.groupby(USER).cumcount() + 1
    ideal["disc"] = 1 / np.log2(ideal["rank"] + 1)
    out["idcg"] = ideal.groupby(USER)["disc"].sum()
    out["precision"] = out["hits"] / k
    out["recall"] = out["hits"] / out["n_truth"]
    out["ndcg"] = out["dcg"] / out["idcg"]
    return out[["precision", "recall", "ndcg"]]


def timed(fn, repeat: int):
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=50_000)
    ap.add_argument("--recs", type=int, default=20)
    ap.add_argument("--truth", type=int, default=10)
    ap.add_argument("--items", type=int, default=5_000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)

    t0 = time.perf_counter()
    truth, recs = make_data(a.users, a.recs, a.truth, a.items, a.seed)
    print(
        f"data: {a.users:,} users, {len(recs):,} recommendation rows, {len(truth):,} truth rows, "
        f"{a.items:,} items, k={a.k}, seed={a.seed} (built in {time.perf_counter() - t0:.2f}s)"
    )

    def ours_three_calls():
        return (
            precision_at_k(truth, recs, a.k).value,
            recall_at_k(truth, recs, a.k).value,
            ndcg_at_k(truth, recs, a.k).value,
        )

    t_ref, ref = timed(lambda: pandas_merge_reference(truth, recs, a.k), a.repeat)
    t_three, three = timed(ours_three_calls, a.repeat)
    t_all, all_m = timed(lambda: ranking_metrics(truth, recs, a.k), a.repeat)
    t_pu, pu = timed(lambda: per_user_metrics(truth, recs, a.k), a.repeat)

    # ---- agreement
    ref = ref.sort_index()
    pu = pu.sort_index()
    assert list(pu.index) == list(ref.index), "evaluated user sets differ"
    for col in ("precision", "recall", "ndcg"):
        assert np.allclose(pu[col].to_numpy(), ref[col].to_numpy(), rtol=1e-12, atol=1e-12), col
    ref_means = tuple(ref[c].mean() for c in ("precision", "recall", "ndcg"))
    assert np.allclose(three, ref_means, rtol=1e-12, atol=0)
    assert np.allclose([all_m[c].value for c in ("precision", "recall", "ndcg")], ref_means, rtol=1e-12)
    print(
        f"values agree (np.allclose, per user and mean): precision@{a.k}={three[0]:.6f} "
        f"recall@{a.k}={three[1]:.6f} ndcg@{a.k}={three[2]:.6f} "
        f"(n_users={all_m['ndcg'].n_users:,}, n_excluded={all_m['ndcg'].n_excluded:,})"
    )

    print(f"best of {a.repeat} runs:")
    rows = [
        ("pandas-merge reference (precision+recall+ndcg)", t_ref),
        ("ours, three separate metric calls", t_three),
        ("ours, ranking_metrics (all 6 metrics, 1 pass)", t_all),
        ("ours, per_user_metrics (1 pass)", t_pu),
    ]
    for label, t in rows:
        ratio_txt = "" if t is t_ref else f"  ratio {t_ref / t:5.1f}x"
        print(f"  {label:<48s}{t * 1e3:9.1f} ms{ratio_txt}")
    target = 10.0
    ratio = t_ref / t_all
    print(
        f"speed ratio (reference / one-pass ranking_metrics) = {ratio:.1f}x; target >= {target:.0f}x: "
        f"{'met' if ratio >= target else 'NOT met'}"
    )

    # ---- top_k_from_scores on a chunked score matrix
    n_u, n_i = min(a.users, 20_000), 2_000
    rng = np.random.default_rng(a.seed)
    user_factors = rng.standard_normal((n_u, 16)).astype(np.float32)
    item_factors = rng.standard_normal((n_i, 16)).astype(np.float32)

    def block(start: int, stop: int) -> np.ndarray:
        return user_factors[start:stop] @ item_factors.T

    t_topk, topk = timed(
        lambda: top_k_from_scores(np.arange(n_u), np.arange(n_i), block, a.k, chunk_size=2048), 1
    )
    print(
        f"top_k_from_scores: {n_u:,} users x {n_i:,} items (callable, chunk_size=2048) -> "
        f"{len(topk):,} rows in {t_topk * 1e3:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
