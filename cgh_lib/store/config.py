"""Experiment configs as data.

A run is fully described by a frozen dataclass. It serializes to canonical JSON,
and the SHA-256 of that JSON (with the experiment name) keys the run store, so
the same config always maps to the same stored result. Runtime choices that do
not change the result's meaning (data location, device, progress bars) are
*not* part of a config.

User overrides arrive as strings (``-p key=value`` on the CLI, papermill
parameters); `apply_overrides` coerces them by the field's type and validates
them, raising `UserError` messages that name the bad value and what is accepted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import typing
from typing import Any, Mapping, TypeVar

from cgh_lib.errors import UserError

C = TypeVar("C")


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain JSON-ready dict of a config (tuples become lists)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def experiment_name(cfg: Any) -> str:
    """The registered experiment name carried by a config class."""
    return type(cfg).EXPERIMENT  # type: ignore[attr-defined]


def canonical_json(cfg: Any) -> str:
    """Canonical JSON (sorted keys, no spaces) including the experiment name."""
    return json.dumps({"experiment": experiment_name(cfg), "config": to_dict(cfg)},
                      sort_keys=True, separators=(",", ":"))


def config_hash(cfg: Any, length: int = 16) -> str:
    """Stable content hash of a config: the run store's key."""
    return hashlib.sha256(canonical_json(cfg).encode()).hexdigest()[:length]


def from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
    """Rebuild a config from `to_dict` output (lists become tuples again)."""
    hints = typing.get_type_hints(cls)
    kw = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            v = data[f.name]
            if isinstance(v, list) and _is_tuple(hints[f.name]):
                v = tuple(v)
            kw[f.name] = v
    return cls(**kw)


def _is_tuple(tp: Any) -> bool:
    return typing.get_origin(tp) is tuple or tp is tuple


def _coerce(name: str, raw: Any, tp: Any) -> Any:
    """Coerce one raw value (usually a string) to the field type ``tp``."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or str(origin) == "types.UnionType":
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if raw is None or (isinstance(raw, str) and raw.lower() in ("none", "null", "")):
            return None
        return _coerce(name, raw, args[0])
    if tp is bool:
        if isinstance(raw, bool):
            return raw
        s = str(raw).lower()
        if s in ("1", "true", "yes", "on"):
            return True
        if s in ("0", "false", "no", "off"):
            return False
        raise UserError(f"parameter {name}={raw!r} is not a boolean; accepted: true, false")
    if tp is int:
        return parse_int(name, raw)
    if tp is float:
        try:
            v = float(raw)
        except (TypeError, ValueError):
            raise UserError(f"parameter {name}={raw!r} is not a number; accepted: a real number") from None
        if not math.isfinite(v):
            raise UserError(f"parameter {name}={raw!r} is not finite; accepted: a finite real number")
        return v
    if _is_tuple(tp):
        (elem, *_rest) = typing.get_args(tp) or (str,)
        items = raw if isinstance(raw, (list, tuple)) else [s for s in str(raw).split(",") if s.strip()]
        return tuple(_coerce(name, s.strip() if isinstance(s, str) else s, elem) for s in items)
    return str(raw)


def parse_int(name: str, raw: Any) -> int:
    """Parse an integer count; '1e5' is accepted, '1.5' or 'ten' are not."""
    if isinstance(raw, bool):
        raise UserError(f"parameter {name}={raw!r} is not an integer; accepted: a whole number")
    if isinstance(raw, int):
        return raw
    try:
        v = float(raw)
    except (TypeError, ValueError):
        raise UserError(f"parameter {name}={raw!r} is not an integer; accepted: a whole number such as 10000") from None
    if not math.isfinite(v) or v != int(v):
        raise UserError(f"parameter {name}={raw!r} is not an integer; accepted: a whole number such as 10000")
    return int(v)


def apply_overrides(cfg: C, overrides: Mapping[str, Any]) -> C:
    """Return a copy of ``cfg`` with string/typed overrides applied and validated."""
    hints = typing.get_type_hints(type(cfg))
    names = [f.name for f in dataclasses.fields(cfg)]  # type: ignore[arg-type]
    changes = {}
    for key, raw in overrides.items():
        if key not in names:
            raise UserError(f"unknown parameter key {key!r} for {experiment_name(cfg)}; accepted: {', '.join(names)}")
        changes[key] = _coerce(key, raw, hints[key])
        _check_range(key, changes[key])
    new = dataclasses.replace(cfg, **changes)  # type: ignore[type-var]
    validate = getattr(new, "validate", None)
    if callable(validate):
        validate()
    return new


FLOAT32_MAX = 3.4028234663852886e38
INT_LIMIT = 2**62  # every count / width here is far below; seeds derived as seed * 100_003 + epoch stay in int64
SEED_LIMIT = 2**31


def _check_range(name: str, value: Any) -> None:
    """Refuse numbers no run can use, one line each: a seed torch cannot take, a count
    beyond 64 bits, a float that overflows float32 (the tensors' type; ``lr=1e300``
    became inf inside the update)."""
    for v in value if isinstance(value, tuple) else (value,):
        if isinstance(v, bool):
            continue
        if isinstance(v, int):
            if (name == "seed" or name.endswith("_seed")) and not 0 <= v < SEED_LIMIT:
                raise UserError(f"parameter {name}={v:.3g} is out of range; accepted: 0 <= {name} < 2**31")
            if abs(v) >= INT_LIMIT:
                raise UserError(f"parameter {name}={v:.3g} is out of range; accepted: |{name}| < 2**62")
        elif isinstance(v, float) and abs(v) > FLOAT32_MAX:
            raise UserError(f"parameter {name}={v:g} overflows float32 (the tensors' type); accepted: "
                            f"|{name}| <= 3.4e38")


def parse_kv(pairs: list[str] | None) -> dict[str, str]:
    """Parse CLI ``key=value`` strings into a dict (values stay strings)."""
    out: dict[str, str] = {}
    for p in pairs or []:
        if "=" not in p:
            raise UserError(f"parameter {p!r} is not of the form key=value; accepted: key=value")
        k, v = p.split("=", 1)
        out[k.strip()] = v.strip()
    return out
