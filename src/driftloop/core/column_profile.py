"""What each column of a raw table is: a number, a category, a code, an ID, a date, a constant.

Pure: a column of raw values (strings, as ``prepare`` reads a CSV, or typed, as Parquet
gives them) in, a ``ColumnProfile`` with the role and the reason for it out. ``driftloop
init`` builds a spec from these; the reasons become the comments of the written YAML.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Literal

import pandas as pd

Role = Literal["numeric", "categorical", "id", "constant", "date", "text"]

MAX_CODE_LEVELS = 10
"""Integer columns with 3..this many distinct values are treated as category codes."""
NUMERIC_SHARE = 0.95
"""Share of non-blank cells that must parse as numbers for a column to be numeric."""
DATE_SHARE = 0.95
"""Share of non-blank cells that must parse as dates for a column to be a date."""
TEXT_DISTINCT_SHARE = 0.5
"""A string column with more distinct values than this share of its rows is not a category."""
_ID_NAME = re.compile(r"(^|[_\W])(id|uuid|guid|key)$|^(id|uuid|guid)([_\W]|$)|[a-z]ID$|Id$")


@dataclass(frozen=True)
class ColumnProfile:
    """One column: its role in the spec and why."""

    name: str
    role: Role
    reason: str
    distinct: int
    missing_share: float

    @property
    def is_feature(self) -> bool:
        """True for roles that become model features."""
        return self.role in ("numeric", "categorical")


def non_blank(values: pd.Series) -> pd.Series:
    """The values that are neither missing nor empty strings (stripped)."""
    s = values[values.notna()]
    if s.dtype == object or pd.api.types.is_string_dtype(s):
        s = s.astype(str).str.strip()
        s = s[s != ""]
    return s


def as_numbers(values: pd.Series) -> pd.Series:
    """Values parsed as numbers (NaN where they do not parse)."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64")
    return pd.to_numeric(values.astype(str).str.strip(), errors="coerce")


def looks_like_id_name(name: str) -> bool:
    """Names such as ``customer_id``, ``customerID``, ``id``, ``uuid``, ``order_key``."""
    return bool(_ID_NAME.search(name.strip()))


def _parses_as_dates(values: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(values):
        return True
    sample = values.astype(str).head(2000)
    if not sample.str.contains(r"\d{1,4}[-/.:]\d{1,2}", regex=True).mean() >= DATE_SHARE:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "could not infer format" for mixed formats
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= DATE_SHARE)


def profile_column(name: str, values: pd.Series) -> ColumnProfile:
    """The role of one raw column, decided in this order: constant, date, ID, number, text,
    category (the first rule that fits wins; the reason says which fired)."""
    rows = len(values)
    present = non_blank(values)
    missing = 1 - len(present) / rows if rows else 1.0
    distinct = int(present.nunique())

    def made(role: Role, reason: str) -> ColumnProfile:
        return ColumnProfile(name, role, reason, distinct, round(missing, 4))

    if distinct <= 1:
        what = "no values" if distinct == 0 else f"one value ({present.iloc[0]!s:.30})"
        return made("constant", f"dropped: constant, {what}; it cannot inform a model")
    numbers = as_numbers(present)
    numeric_share = float(numbers.notna().mean())
    is_numeric = numeric_share >= NUMERIC_SHARE
    if not is_numeric and _parses_as_dates(present):
        return made(
            "date",
            "dropped: a date; as a raw feature it takes values never seen in training "
            "(derive day-of-week or age columns into the file if they matter)",
        )
    integral = is_numeric and bool((numbers.dropna() % 1 == 0).all())
    unique_per_row = distinct == len(present) and len(present) > MAX_CODE_LEVELS
    if unique_per_row and (integral or not is_numeric):
        return made("id", f"dropped: ID-like, a different value on each of {distinct} rows")
    if looks_like_id_name(name) and distinct > TEXT_DISTINCT_SHARE * len(present):
        return made("id", f"dropped: ID-like name with {distinct} distinct values")
    if is_numeric:
        if integral and 2 < distinct <= MAX_CODE_LEVELS:
            return made(
                "categorical",
                f"integer code with {distinct} values: treated as categories "
                "(move to numeric_features if their order means something)",
            )
        kind = "integer" if integral else "number"
        extra = "" if numeric_share == 1 else f", {1 - numeric_share:.1%} unparsable -> missing"
        return made("numeric", f"{kind}, {distinct} distinct values{extra}")
    if distinct > TEXT_DISTINCT_SHARE * len(present) and distinct > 100:
        return made(
            "text", f"dropped: {distinct} distinct strings, too many for categories (free text?)"
        )
    return made("categorical", f"{distinct} categories")
