"""A seeded synthetic transaction log at any scale, written as partitioned parquet.

:func:`write_synthetic_log` writes ``N`` order lines with the shape of a real shop's log, for the
engines of :mod:`retention_utils.engines` to be tested and benchmarked on more lines than memory holds:

* **Customers** arrive uniformly over the first 80 % of the period and buy by the BG/NBD story
  (Fader, Hardie & Lee 2005): while alive, orders follow a Poisson process with a gamma-distributed
  rate (shape ``RATE_SHAPE``: heavy-tailed activity, a few customers place hundreds of orders), and
  after each order the customer drops out with a beta-distributed probability. Orders keep coming
  until the generation end, a few days past the observation window.
* **Baskets**: ``1 + negative binomial`` lines (mean about 5.5, long right tail); a line's product is
  one of the customer's own ``FAVOURITES`` (repeat items, with probability ``REPEAT_SHARE``) or a
  Zipf-popular product of the catalogue. Quantities are mostly 1, some 2-6, and weighed products
  carry fractional kilograms; revenue is quantity x the product's price, less an occasional discount,
  in cents.
* **Returns**: about 1.5 % of sales come back later as a line of their own (its own order id, up to
  30 days after the sale): 55 % full cancellations (same quantity and amount), 35 % partial returns
  (fewer units, or a partial refund), 10 % returns with no matching sale.
* **Bad rows of every kind** :func:`retention_utils.data.cleaning.clean_transactions` handles:
  orders without a customer id, exact duplicate lines, lines after the observation window (the
  generation runs ``STUB_DAYS`` past it), fuel lines (department ``FUEL``: non-merchandise),
  fuel-like quantities above 1,000, and lines of 0 units or $0.

Layout on disk (ids are 64-bit integers, as a warehouse export has them; the loaders turn them into
the canonical ``str``)::

    <out_dir>/transactions/part-00000.parquet ...   customer_id (int64, nullable), order_id (int64),
                                                    order_ts (timestamp[us]), product_id (int64),
                                                    quantity (double), revenue (double)
    <out_dir>/products.parquet                      product_id (int64), department, category (str)
    <out_dir>/manifest.json                         N, seed, window, files and the generator version

Each file holds the lines of one block of customers (``customers_per_file``), sorted by customer and
time. The output depends only on ``(n_lines, seed, start, days, lines_per_file)``: block ``k`` draws from
its own stream ``numpy.random.SeedSequence([seed, k + 1])`` (the catalogue from ``[seed, 0]``), so the
same call writes the same data.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

GENERATOR_VERSION = 1

#: observation window of the default log: two calendar years
DEFAULT_START = date(2022, 1, 1)
DEFAULT_DAYS = 730
#: lines are generated this many days past the window's end (they are "outside_window" for cleaning)
STUB_DAYS = 3

RATE_SHAPE = 0.55  # gamma shape of the order rate (smaller = heavier tail)
RATE_MEAN = 1 / 25  # mean orders per day while alive
DROPOUT_A, DROPOUT_B = 1.0, 7.0  # beta dropout probability after each order (mean 1/8)
BASKET_MEAN, BASKET_DISPERSION = 4.5, 1.2  # negative binomial extra lines per order
FAVOURITES = 24  # products a customer buys again and again
REPEAT_SHARE = 0.6
N_PRODUCTS_MAX = 50_000
ZIPF_EXPONENT = 1.1

RETURN_SHARE = 0.015
RETURN_KINDS = (0.55, 0.35, 0.10)  # full cancellation, partial, unmatched
NULL_CUSTOMER_ORDER_SHARE = 2e-4
DUPLICATE_LINE_SHARE = 5e-4
QUANTITY_OUTLIER_SHARE = 2e-5
NON_POSITIVE_SHARE = 3e-3

DEPARTMENTS = (
    ("GROCERY", 0.34), ("PRODUCE", 0.12), ("MEAT", 0.08), ("DELI", 0.06), ("DAIRY", 0.09),
    ("BAKERY", 0.05), ("FROZEN", 0.07), ("DRUG GM", 0.08), ("PERSONAL CARE", 0.05),
    ("PASTRY", 0.02), ("SEAFOOD", 0.02), ("MISCELLANEOUS", 0.015), ("FUEL", 0.005),
)
WEIGHED_DEPARTMENTS = ("PRODUCE", "MEAT", "DELI", "SEAFOOD")

TRANSACTION_SCHEMA = pa.schema(
    [
        ("customer_id", pa.int64()),
        ("order_id", pa.int64()),
        ("order_ts", pa.timestamp("us")),
        ("product_id", pa.int64()),
        ("quantity", pa.float64()),
        ("revenue", pa.float64()),
    ]
)


@dataclass(frozen=True)
class SyntheticLog:
    """What :func:`write_synthetic_log` wrote.

    Attributes
    ----------
    root : the output folder; ``transactions`` the folder of part files; ``products`` the products file.
    n_lines, n_files : lines written, part files; ``n_customers`` the largest customer id (ids run 1..).
    start, end : the inclusive observation window the log is made for (lines after ``end`` exist).
    seed : the seed used.
    """

    root: Path
    transactions: Path
    products: Path
    n_lines: int
    n_files: int
    n_customers: int
    start: date
    end: date
    seed: int


def _catalogue(n_products: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    names = np.array([d for d, _ in DEPARTMENTS])
    share = np.array([s for _, s in DEPARTMENTS])
    dept = rng.choice(len(names), size=n_products, p=share / share.sum())
    # fuel is popular: move it to the top-selling ranks as real logs have it
    fuel = np.flatnonzero(names == "FUEL")[0]
    dept[dept == fuel] = 0
    dept[rng.choice(np.arange(5, 60), size=3, replace=False)] = fuel
    price_cents = np.round(np.exp(rng.normal(math.log(3.0), 0.7, n_products)) * 100)
    price_cents[dept == fuel] = np.round(rng.uniform(2.8, 3.6, int((dept == fuel).sum())) * 100)  # per gallon
    weighed = np.isin(names[dept], WEIGHED_DEPARTMENTS) & (rng.random(n_products) < 0.4)
    weighed |= dept == fuel
    category = np.char.add(np.char.add(names[dept].astype(str), " "), (np.arange(n_products) % 7 + 1).astype(str))
    return {
        "product_id": np.arange(1, n_products + 1, dtype=np.int64),
        "department": names[dept],
        "category": category,
        "price_cents": price_cents,
        "weighed": weighed,
    }


def _zipf_ranks(n: int, n_products: int, rng: np.random.Generator) -> np.ndarray:
    """0-based product ranks with P(rank k) proportional to (k + 1)^-ZIPF_EXPONENT (inverse CDF)."""
    ks = np.arange(1, n_products + 1, dtype=np.float64)
    cdf = np.cumsum(ks**-ZIPF_EXPONENT)
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(n)), n_products - 1)


def _segment_cumsum(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at every index in ``starts`` (sorted, starting with 0)."""
    total = np.cumsum(values)
    base = np.concatenate([[0.0], total[starts[1:] - 1]])
    lengths = np.diff(np.append(starts, len(values)))
    offset = np.repeat(base, lengths)
    return total - offset


def _block(
    first_customer: int,
    n_customers: int,
    first_order: int,
    catalogue: dict[str, np.ndarray],
    start_s: int,
    days: int,
    rng: np.random.Generator,
) -> tuple[dict[str, np.ndarray], int]:
    """Lines of customers ``first_customer .. first_customer + n_customers - 1`` (sorted by customer,
    time); returns the columns and the number of order ids used."""
    day_s = 86_400
    horizon = days + STUB_DAYS  # generation runs past the window
    n_products = catalogue["product_id"].size
    # --- customers and their orders (BG/NBD story) ----------------------------------------------
    acq = rng.uniform(0, 0.8 * days, n_customers)
    rate = rng.gamma(RATE_SHAPE, RATE_MEAN / RATE_SHAPE, n_customers)
    p_drop = rng.beta(DROPOUT_A, DROPOUT_B, n_customers)
    repeats = np.minimum(rng.geometric(p_drop) - 1, 2_000)  # repeat orders before dropping out
    n_orders = 1 + repeats
    cust_of_order = np.repeat(np.arange(n_customers), n_orders)
    starts = np.concatenate([[0], np.cumsum(n_orders)[:-1]])
    gaps = rng.exponential(1.0, cust_of_order.size) / np.maximum(rate[cust_of_order], 1e-6)
    gaps[starts] = 0.0
    t = acq[cust_of_order] + _segment_cumsum(gaps, starts)
    alive = t < horizon
    cust_of_order, t = cust_of_order[alive], t[alive]
    # time of day: shops open 07:00-22:00
    ts_s = start_s + np.floor(t).astype(np.int64) * day_s + rng.integers(7 * 3600, 22 * 3600, t.size)
    n_ord = t.size
    order_id = first_order + np.arange(n_ord, dtype=np.int64)
    # --- lines ----------------------------------------------------------------------------------
    p_nb = BASKET_DISPERSION / (BASKET_DISPERSION + BASKET_MEAN)
    n_lines = 1 + rng.negative_binomial(BASKET_DISPERSION, p_nb, n_ord)
    line_order = np.repeat(np.arange(n_ord), n_lines)
    line_cust = cust_of_order[line_order]
    favourites = _zipf_ranks(n_customers * FAVOURITES, n_products, rng).reshape(n_customers, FAVOURITES)
    from_fav = rng.random(line_order.size) < REPEAT_SHARE
    slot = rng.integers(0, FAVOURITES, line_order.size)
    rank = np.where(from_fav, favourites[line_cust, slot], _zipf_ranks(line_order.size, n_products, rng))
    # a basket lists a product once (with its quantity): drop repeated draws within an order
    first = np.ones(rank.size, bool)
    by = np.lexsort((rank, line_order))
    first[by[1:]] = (np.diff(line_order[by]) != 0) | (np.diff(rank[by]) != 0)
    line_order, line_cust, rank = line_order[first], line_cust[first], rank[first]
    product = catalogue["product_id"][rank]
    weighed = catalogue["weighed"][rank]
    qty = np.where(rng.random(rank.size) < 0.85, 1.0, rng.integers(2, 7, rank.size).astype(np.float64))
    qty = np.where(weighed, np.round(rng.gamma(2.0, 0.4, rank.size) + 0.05, 3), qty)
    cents = np.round(qty * catalogue["price_cents"][rank])
    discount = rng.random(rank.size) < 0.2
    cents = np.where(discount, np.round(cents * rng.uniform(0.6, 0.95, rank.size)), cents)
    cents = np.maximum(cents, 1.0)
    cols = {
        "cust": line_cust.astype(np.int64),
        "order": order_id[line_order],
        "ts": ts_s[line_order],
        "product": product,
        "qty": qty,
        "cents": cents,
    }
    # --- returns: later lines of their own -------------------------------------------------------
    n = rank.size
    ret = np.flatnonzero(rng.random(n) < RETURN_SHARE)
    kind = rng.choice(3, size=ret.size, p=RETURN_KINDS)
    r_qty = -cols["qty"][ret]
    r_cents = -cols["cents"][ret]
    partial = kind == 1
    few = partial & (cols["qty"][ret] >= 2) & ~weighed[ret]
    r_qty[few] = -np.floor(cols["qty"][ret][few] / 2)
    r_cents[few] = -np.round(cols["cents"][ret][few] * (-r_qty[few]) / cols["qty"][ret][few])
    refund = partial & ~few  # a price adjustment: the units stay bought
    r_cents[refund] = -np.maximum(np.round(cols["cents"][ret][refund] * 0.3), 1.0)
    r_product = cols["product"][ret].copy()
    unmatched = kind == 2
    r_product[unmatched] = catalogue["product_id"][rng.integers(0, n_products, int(unmatched.sum()))]
    r_ts = cols["ts"][ret] + rng.integers(3600, 30 * day_s, ret.size)
    keep = r_ts < start_s + horizon * day_s
    ret, r_qty, r_cents, r_product, r_ts = ret[keep], r_qty[keep], r_cents[keep], r_product[keep], r_ts[keep]
    r_order = first_order + n_ord + np.arange(ret.size, dtype=np.int64)
    cols = {
        "cust": np.concatenate([cols["cust"], cols["cust"][ret]]),
        "order": np.concatenate([cols["order"], r_order]),
        "ts": np.concatenate([cols["ts"], r_ts]),
        "product": np.concatenate([cols["product"], r_product]),
        "qty": np.concatenate([cols["qty"], r_qty]),
        "cents": np.concatenate([cols["cents"], r_cents]),
    }
    n = cols["qty"].size
    # --- bad rows -------------------------------------------------------------------------------
    outlier = np.flatnonzero(rng.random(n) < QUANTITY_OUTLIER_SHARE)
    outlier = outlier[cols["qty"][outlier] > 0]
    cols["qty"][outlier] = rng.integers(1_001, 40_000, outlier.size).astype(np.float64)
    nonpos = np.flatnonzero(rng.random(n) < NON_POSITIVE_SHARE)
    nonpos = nonpos[cols["qty"][nonpos] > 0]
    zero_qty = rng.random(nonpos.size) < 0.5
    cols["qty"][nonpos[zero_qty]] = 0.0
    cols["cents"][nonpos[~zero_qty]] = 0.0
    dup = np.flatnonzero(rng.random(n) < DUPLICATE_LINE_SHARE)
    order_key = np.lexsort((np.arange(n + dup.size), np.concatenate([cols["ts"], cols["ts"][dup]]),
                            np.concatenate([cols["cust"], cols["cust"][dup]])))
    cols = {k: np.concatenate([v, v[dup]])[order_key] for k, v in cols.items()}
    customer_id = cols["cust"] + first_customer + 1
    null_orders = rng.random(n_ord + ret.size) < NULL_CUSTOMER_ORDER_SHARE
    null_cust = null_orders[cols["order"] - first_order]
    out = {
        "customer_id": customer_id,
        "customer_null": null_cust,
        "order_id": cols["order"],
        "order_ts": cols["ts"],
        "product_id": cols["product"],
        "quantity": cols["qty"],
        "revenue": cols["cents"] / 100.0,
    }
    return out, n_ord + ret.size


def _table(cols: dict[str, np.ndarray], lo: int, hi: int) -> pa.Table:
    sl = slice(lo, hi)
    return pa.table(
        {
            "customer_id": pa.array(cols["customer_id"][sl], pa.int64(), mask=cols["customer_null"][sl]),
            "order_id": pa.array(cols["order_id"][sl], pa.int64()),
            "order_ts": pa.array(cols["order_ts"][sl] * 1_000_000, pa.int64()).cast(pa.timestamp("us")),
            "product_id": pa.array(cols["product_id"][sl], pa.int64()),
            "quantity": pa.array(cols["quantity"][sl], pa.float64()),
            "revenue": pa.array(cols["revenue"][sl], pa.float64()),
        },
        schema=TRANSACTION_SCHEMA,
    )


def write_synthetic_log(
    out_dir: str | Path,
    n_lines: int,
    seed: int = 42,
    start: date = DEFAULT_START,
    days: int = DEFAULT_DAYS,
    lines_per_file: int = 2_000_000,
    overwrite: bool = False,
    progress: bool = False,
) -> SyntheticLog:
    """Write a synthetic log of exactly ``n_lines`` lines (module docstring) under ``out_dir``.

    Parameters
    ----------
    out_dir : folder to create (``transactions/``, ``products.parquet``, ``manifest.json``).
    n_lines : lines to write (>= 100).
    seed : the seed of every random draw; the same arguments give the same data.
    start, days : the observation window ``[start, start + days - 1]`` (inclusive); lines run
        ``STUB_DAYS`` past its end.
    lines_per_file : about this many lines per part file (the last block is cut at ``n_lines``).
    overwrite : replace an existing ``out_dir``; otherwise an existing non-empty folder is an error.
    progress : print one line per file written (stage log for ``make bigdata``).

    Raises
    ------
    ValueError : ``n_lines < 100``, ``days < 30`` or ``lines_per_file < 1000``.
    FileExistsError : ``out_dir`` exists, is not empty, and ``overwrite`` is false.
    """
    if int(n_lines) < 100:
        raise ValueError(f"n_lines must be at least 100, got {n_lines}")
    if int(days) < 30:
        raise ValueError(f"days must be at least 30, got {days}")
    if int(lines_per_file) < 1000:
        raise ValueError(f"lines_per_file must be at least 1000, got {lines_per_file}")
    n_lines, days = int(n_lines), int(days)
    root = Path(out_dir)
    if root.exists() and any(root.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{root} exists and is not empty; pass overwrite=True (make bigdata FORCE=1) to replace it")
        shutil.rmtree(root)
    tx_dir = root / "transactions"
    tx_dir.mkdir(parents=True)
    n_products = int(min(N_PRODUCTS_MAX, max(200, n_lines // 200)))
    catalogue = _catalogue(n_products, np.random.default_rng(np.random.SeedSequence([seed, 0])))
    products = pa.table(
        {
            "product_id": pa.array(catalogue["product_id"], pa.int64()),
            "department": pa.array(catalogue["department"].astype(str)),
            "category": pa.array(catalogue["category"].astype(str)),
        }
    )
    pq.write_table(products, root / "products.parquet")
    start_s = int(np.datetime64(start, "s").astype(np.int64))
    # expected lines per customer, from a pilot block; blocks are sized to about lines_per_file lines
    written, files, next_customer, next_order, block = 0, [], 0, 1, 0
    per_customer: float | None = None
    max_customer = 0
    while written < n_lines:
        rng = np.random.default_rng(np.random.SeedSequence([seed, block + 1]))
        want = min(lines_per_file, n_lines - written)
        n_cust = 2_000 if per_customer is None else max(1, math.ceil(want / per_customer * 1.02))
        cols, used_orders = _block(next_customer, n_cust, next_order, catalogue, start_s, days, rng)
        if per_customer is None:
            per_customer = max(cols["order_id"].size / n_cust, 1.0)
        n = min(cols["order_id"].size, n_lines - written)
        path = tx_dir / f"part-{block:05d}.parquet"
        pq.write_table(_table(cols, 0, n), path, row_group_size=1_000_000)
        if n:
            max_customer = max(max_customer, int(cols["customer_id"][:n].max()))
        files.append(path.name)
        written += n
        next_customer += n_cust
        next_order += used_orders
        block += 1
        if progress:
            print(f"  {path.name}: {n:,} lines ({written:,} / {n_lines:,})", flush=True)
    end = date.fromordinal(start.toordinal() + days - 1)
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "n_lines": written,
        "seed": seed,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "files": files,
        "products": int(n_products),
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return SyntheticLog(root, tx_dir, root / "products.parquet", written, len(files), max_customer, start, end, seed)


def main(argv: list[str] | None = None) -> int:
    """``python -m retention_utils.data.synthetic --lines N --out DIR [--seed S] [--overwrite]``
    (what ``make bigdata`` runs)."""
    import argparse
    import time

    ap = argparse.ArgumentParser(prog="python -m retention_utils.data.synthetic", description=main.__doc__)
    ap.add_argument("--lines", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--lines-per-file", type=int, default=2_000_000)
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    print(f"writing {args.lines:,} lines (seed {args.seed}) to {args.out}/", flush=True)
    log = write_synthetic_log(args.out, args.lines, seed=args.seed, lines_per_file=args.lines_per_file,
                              overwrite=args.overwrite, progress=True)
    size = sum(f.stat().st_size for f in Path(args.out).rglob("*.parquet"))
    print(f"{log.n_lines:,} lines in {log.n_files} files, {size / 1e9:.2f} GB, window {log.start} .. {log.end} "
          f"(+{STUB_DAYS} days), {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
