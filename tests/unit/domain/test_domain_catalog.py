"""The catalog: prices by SKU, and which countries exist and are served."""

import pytest

from domain.catalog import InvalidCountry, UnknownSku, check_country_code
from tests.unit.domain.builders import CATALOG


def test_price_of_a_known_sku() -> None:
    assert CATALOG.price_of("BOOK-1") == 2_499


def test_price_of_an_unknown_sku_is_refused() -> None:
    with pytest.raises(UnknownSku, match="unknown SKU 'NOPE-1'"):
        CATALOG.price_of("NOPE-1")


@pytest.mark.parametrize("code", ["DE", "US", "BR", "AQ", "KP"])
def test_known_countries_are_valid_input_served_or_not(code: str) -> None:
    assert CATALOG.check_country(code) == code


def test_served_is_a_separate_question() -> None:
    assert CATALOG.serves("DE")
    assert not CATALOG.serves("BR")


@pytest.mark.parametrize("code", ["ZZ", "usa", "1A", "de", "D", "", " DE", "DE\n", None, 49])
def test_unknown_or_malformed_countries_are_refused(code: object) -> None:
    with pytest.raises(InvalidCountry, match="ISO 3166-1 alpha-2"):
        CATALOG.check_country(code)


def test_shape_check_without_a_country_list() -> None:
    assert check_country_code("ZZ") == "ZZ"
    with pytest.raises(InvalidCountry):
        check_country_code("zz")
