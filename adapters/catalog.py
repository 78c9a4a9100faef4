"""The product catalog: prices and countries, read from the JSON file shipped beside
this module. Validation is strict, because a bad price list must stop the service at
start-up rather than mis-price orders later."""

import json
import re
from pathlib import Path
from types import MappingProxyType
from typing import Any

from domain.catalog import Catalog
from domain.errors import DomainError, OrderflowError
from domain.ids import validate_sku

CATALOG_PATH = Path(__file__).with_name("catalog.json")
MAX_PRICE_CENTS = 10**9
_ALPHA2 = re.compile(r"[A-Z]{2}")


class CatalogError(OrderflowError):
    """The catalog file is missing, unreadable or malformed."""


def load_catalog(path: Path | None = None) -> Catalog:
    source = CATALOG_PATH if path is None else path
    try:
        return _parse(_read(source))
    except (ValueError, DomainError, OSError) as exc:
        raise CatalogError(f"catalog {source} is invalid: {exc}") from exc


def _read(source: Path) -> Any:
    # Duplicate keys and NaN are legal for json.loads, but never intended in a price list.
    return json.loads(
        source.read_text(encoding="utf-8"),
        object_pairs_hook=_unique_keys,
        parse_constant=_no_constant,
    )


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"duplicate key {duplicates[0]!r}")
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _parse(data: Any) -> Catalog:
    _expect_keys(data, {"products", "served_countries", "known_countries"}, "the document")
    known = _country_set(data["known_countries"], "known_countries")
    served = _country_set(data["served_countries"], "served_countries")
    if not served <= known:
        raise ValueError(f"served country {sorted(served - known)[0]} is not a known country")
    prices = MappingProxyType(_prices(data["products"]))  # read-only, like the rest
    return Catalog(prices=prices, served_countries=served, known_countries=known)


def _expect_keys(data: Any, keys: set[str], what: str) -> None:
    if not isinstance(data, dict) or set(data) != keys:
        raise ValueError(f"{what} must be an object with exactly the keys {sorted(keys)}")


def _country_set(codes: Any, what: str) -> frozenset[str]:
    if not isinstance(codes, list) or not codes:
        raise ValueError(f"{what} must be a non-empty list of country codes")
    for code in codes:
        if not isinstance(code, str) or _ALPHA2.fullmatch(code) is None:
            raise ValueError(f"{what} has {code!r}, not an ISO 3166-1 alpha-2 code")
    if len(set(codes)) != len(codes):
        raise ValueError(f"{what} lists a country twice")
    return frozenset(codes)


def _prices(products: Any) -> dict[str, int]:
    if not isinstance(products, list) or not products:
        raise ValueError("products must be a non-empty list")
    prices: dict[str, int] = {}
    for product in products:
        sku, price = _product(product)
        if sku in prices:
            raise ValueError(f"SKU {sku} is listed twice")
        prices[sku] = price
    return prices


def _product(product: Any) -> tuple[str, int]:
    _expect_keys(product, {"sku", "name", "price_cents"}, "each product")
    sku = validate_sku(product["sku"])
    name, price = product["name"], product["price_cents"]
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"product {sku} needs a non-empty name")
    # bool is an int subclass; floats are refused because money is integer cents.
    if isinstance(price, bool) or not isinstance(price, int) or not 0 < price <= MAX_PRICE_CENTS:
        raise ValueError(
            f"price_cents of {sku} must be an integer between 1 and {MAX_PRICE_CENTS}, "
            f"got {price!r}"
        )
    return sku, price
