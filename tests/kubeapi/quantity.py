"""Canonical resource quantities, as kube-apiserver stores them (``0.5`` → ``500m``).

defaults.py calls ``canonical`` on container resources, PVC requests, ResourceQuota and
LimitRange values, following resource.Quantity's rules: the suffix family is kept
(binary ``Ki…Ei``, decimal ``n…E``, or exponent ``e3``), the largest unit that keeps an
integer mantissa is chosen, binary values under 1024 become decimal, and precision
below nano rounds up. A value that is not a quantity is left alone (validation reports
it).
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any

_BINARY = [("Ei", 2**60), ("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)]
_DECIMAL = {18: "E", 15: "P", 12: "T", 9: "G", 6: "M", 3: "k", 0: "", -3: "m", -6: "u", -9: "n"}
_SCALE = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_PATTERN = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:[eE]([+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$"
)


def canonical(value: Any) -> Any:
    """The canonical string of a quantity (str or number); other values unchanged."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return value
    match = _PATTERN.match(str(value).strip())
    if match is None:
        return value
    number, exponent, suffix = match.group(1), match.group(2), match.group(3) or ""
    amount = Fraction(number)
    if exponent is not None:
        return _decimal(amount * Fraction(10) ** int(exponent), exponent_form=True)
    if suffix.endswith("i"):
        amount *= dict(_BINARY)[suffix]
        if -1024 < amount < 1024:
            return _decimal(amount, exponent_form=False)
        for name, size in _BINARY:
            if amount % size == 0:
                return f"{int(amount // size)}{name}"
        return (
            _decimal(amount, exponent_form=False) if amount.denominator != 1 else str(int(amount))
        )
    return _decimal(amount * Fraction(10) ** _SCALE[suffix], exponent_form=False)


def _decimal(amount: Fraction, *, exponent_form: bool) -> str:
    if amount == 0:
        return "0"
    for exp in sorted(_DECIMAL, reverse=True):
        mantissa = amount / Fraction(10) ** exp
        if mantissa.denominator == 1:
            return _render(int(mantissa), exp, exponent_form)
    # finer than nano: round up to the next nano, as resource.Quantity does
    return _render(math.ceil(amount * 10**9), -9, exponent_form)


def _render(mantissa: int, exp: int, exponent_form: bool) -> str:
    if exponent_form:
        return f"{mantissa}e{exp}" if exp else str(mantissa)
    return f"{mantissa}{_DECIMAL[exp]}"
