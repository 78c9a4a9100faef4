"""The price list and the countries the store knows and ships to."""

import re
from collections.abc import Mapping
from dataclasses import dataclass

from domain.errors import DomainError
from domain.values import shown

_ALPHA2 = re.compile(r"[A-Z]{2}")


class UnknownSku(DomainError):
    """A SKU the catalog does not sell."""


class InvalidCountry(DomainError):
    """Not an ISO 3166-1 alpha-2 country code."""


def check_country_code(code: object) -> str:
    """The shape only (two uppercase letters), for places without the country list."""
    if not isinstance(code, str) or _ALPHA2.fullmatch(code) is None:
        raise _invalid_country(code)
    return code


def _invalid_country(code: object) -> InvalidCountry:
    return InvalidCountry(
        f"country must be an ISO 3166-1 alpha-2 code such as DE or US, got {shown(code)}"
    )


@dataclass(frozen=True)
class Catalog:
    prices: Mapping[str, int]  # sku -> unit price in cents
    served_countries: frozenset[str]
    known_countries: frozenset[str]

    def price_of(self, sku: str) -> int:
        try:
            return self.prices[sku]
        except KeyError:
            raise UnknownSku(f"unknown SKU {shown(sku)}: the catalog does not sell it") from None

    def check_country(self, code: object) -> str:
        # Known but not served is valid input: shipping rejects it later, visibly.
        country = check_country_code(code)
        if country not in self.known_countries:
            raise _invalid_country(code)
        return country

    def serves(self, code: str) -> bool:
        return code in self.served_countries
