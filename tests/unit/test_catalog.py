"""The packaged catalog loads, and a bad catalog file is refused with one clear line."""

import json
from pathlib import Path
from typing import Any

import pytest

from adapters.catalog import CATALOG_PATH, CatalogError, load_catalog
from domain.catalog import InvalidCountry, UnknownSku
from domain.errors import OrderflowError

GOOD: dict[str, Any] = {
    "products": [{"sku": "BOOK-1", "name": "Book", "price_cents": 2499}],
    "served_countries": ["DE"],
    "known_countries": ["DE", "BR"],
}


def write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "catalog.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def test_the_packaged_catalog_loads() -> None:
    catalog = load_catalog()
    assert 6 <= len(catalog.prices) <= 12
    assert all(isinstance(p, int) and p > 0 for p in catalog.prices.values())
    assert catalog.price_of("LAPTOP-15") > catalog.price_of("BOOK-1")
    for sku in ("BOOK-1", "MUG-1", "TSHIRT-M"):
        catalog.price_of(sku)


def test_the_packaged_catalog_knows_every_iso_country_and_serves_a_few() -> None:
    catalog = load_catalog()
    assert len(catalog.known_countries) == 249
    assert {"DE", "FR", "NL", "US", "GB"} <= catalog.served_countries
    for code in ("AQ", "KP", "BR"):
        assert catalog.check_country(code) == code
        assert not catalog.serves(code)
    for code in ("ZZ", "usa", "1A", "XK"):
        with pytest.raises(InvalidCountry):
            catalog.check_country(code)
    with pytest.raises(UnknownSku):
        catalog.price_of("NOPE-1")


def test_the_loaded_prices_are_read_only() -> None:
    with pytest.raises(TypeError):
        load_catalog().prices["BOOK-1"] = 1  # type: ignore[index]


def test_a_given_path_is_used(tmp_path: Path) -> None:
    catalog = load_catalog(write(tmp_path, GOOD))
    assert dict(catalog.prices) == {"BOOK-1": 2499}
    assert CATALOG_PATH.name == "catalog.json" and CATALOG_PATH.is_file()


def product(**changes: Any) -> dict[str, Any]:
    return GOOD | {"products": [GOOD["products"][0] | changes]}


BAD = [
    ("{not json", "Expecting property name"),
    ('{"products": [], "products": []}', "duplicate key 'products'"),
    ([], "exactly the keys"),
    (GOOD | {"extra": 1}, "exactly the keys"),
    (GOOD | {"products": []}, "products must be a non-empty list"),
    (product(price_cents=0), "between 1 and"),
    (product(price_cents=-1), "between 1 and"),
    (product(price_cents=24.99), "between 1 and"),
    (product(price_cents=True), "between 1 and"),
    (product(price_cents="2499"), "between 1 and"),
    (product(sku="'; DROP TABLE events;--"), "SKU must be"),
    (product(name=""), "non-empty name"),
    (product(colour="red"), "exactly the keys"),
    (GOOD | {"products": GOOD["products"] * 2}, "listed twice"),
    (GOOD | {"served_countries": ["FR"]}, "served country FR is not a known country"),
    (GOOD | {"known_countries": ["DE", "de"]}, "not an ISO 3166-1 alpha-2 code"),
    (GOOD | {"known_countries": ["DE", "DE"]}, "lists a country twice"),
    (GOOD | {"known_countries": []}, "non-empty list"),
]


@pytest.mark.parametrize(("document", "message"), BAD)
def test_bad_catalogs_are_refused(tmp_path: Path, document: Any, message: str) -> None:
    with pytest.raises(CatalogError, match=message) as caught:
        load_catalog(write(tmp_path, document))
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("catalog ")


def test_nan_prices_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps(product(price_cents=0)).replace("0}", "NaN}"))
    with pytest.raises(CatalogError, match="NaN is not a number"):
        load_catalog(path)


def test_a_missing_file_is_a_catalog_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="No such file"):
        load_catalog(tmp_path / "missing.json")


def test_catalog_errors_share_the_project_root() -> None:
    assert issubclass(CatalogError, OrderflowError)
