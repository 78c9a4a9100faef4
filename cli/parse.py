"""Turning command-line text into typed values; bad text is one clear line."""

from __future__ import annotations

import re
import uuid

import typer

_ITEM = re.compile(r"^(?P<sku>[^=]{1,64})=(?P<qty>-?\d{1,30})$")
_AMOUNT = re.compile(r"^(?P<units>\d{1,10})(?:\.(?P<cents>\d{1,2}))?$")
_SHORT_ID = re.compile(r"^[0-9a-f]{8}[0-9a-f-]{0,27}$")


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


def order_ref(text: str) -> str:
    """An order's UUID, or its first 8 or more hex digits (what the tables show), as
    lower-case text; the read models resolve a short one (`ReadModels.resolve`)."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        pass
    if _SHORT_ID.match(text.lower()):
        return text.lower()
    raise typer.BadParameter(f"{text[:40]!r} is not a valid UUID, nor a short order id "
                             "(its first 8 or more hex digits)")
