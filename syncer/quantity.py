"""Kubernetes resource quantities (``500m``, ``1.5``, ``2Gi``, ``1e3``) as exact Decimals.

Gateway policies (and tenants, at load time) compare limits with maxima; the change
detector treats ``0.5`` and ``500m`` as the same value, since the API server stores the
canonical form.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_SUFFIXES = {
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
BINARY_UNITS = tuple((suffix, _SUFFIXES[suffix]) for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"))
"""Binary size suffixes, largest first, for writing a quantity back."""
DECIMAL_UNITS = tuple((suffix, _SUFFIXES[suffix]) for suffix in ("E", "P", "T", "G", "M", "k"))
"""Decimal size suffixes, largest first."""
_PATTERN = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$"
)


def parse(value: object) -> Decimal:
    """The quantity's value; ``ValueError`` naming the accepted forms when it is not one."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a quantity")
    if isinstance(value, int | float):
        return Decimal(str(value))
    match = _PATTERN.match(str(value).strip())
    if not match:
        raise ValueError(
            f"{value!r} is not a quantity: write a number with an optional suffix "
            "(m, k, M, G, Ki, Mi, Gi, ...), e.g. 500m or 2Gi"
        )
    number, exponent, suffix = match.groups()
    try:
        base = Decimal(number)
    except InvalidOperation as err:  # the pattern should make this unreachable
        raise ValueError(f"{value!r} is not a quantity") from err
    if exponent:
        return base * (Decimal(10) ** int(exponent[1:]))
    return base * _SUFFIXES[suffix or ""]


def same(left: object, right: object) -> bool:
    """True when both are quantities of equal value (``0.5`` == ``500m``)."""
    try:
        return parse(left) == parse(right)
    except ValueError:
        return False


def normalize(value: Decimal) -> str:
    """A Decimal written plainly, without exponent or trailing zeros (``2``, ``1.5``)."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
