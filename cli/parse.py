"""Turning command-line text into typed values; bad text is one clear line."""

from __future__ import annotations

import re

import typer

_ITEM = re.compile(r"^(?P<sku>[^=]{1,64})=(?P<qty>-?\d{1,30})$")
_AMOUNT = re.compile(r"^(?P<units>\d{1,10})(?:\.(?P<cents>\d{1,2}))?$")


def item(text: str) -> tuple[str, int]:
    """`SKU=QTY` → (sku, qty); the domain checks the SKU and the quantity's range."""
    match = _ITEM.match(text)
    if match is None:
        raise typer.BadParameter(f"expected SKU=QUANTITY (e.g. BOOK-1=2), got {text[:40]!r}")
    return match["sku"], int(match["qty"])


def amount_cents(text: str) -> int:
    """`1250` or `1250.5` or `1250.50` (currency units, at most 2 decimals) → cents."""
    match = _AMOUNT.match(text.strip())
    if match is None:
        raise typer.BadParameter(f"expected an amount like 1250 or 1250.50, got {text[:40]!r}")
    return int(match["units"]) * 100 + int((match["cents"] or "0").ljust(2, "0"))


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"
