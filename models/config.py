"""The config base every family config and run config stands on.

A config is a plain dataclass: it round-trips through JSON (`to_dict` / `from_dict`), refuses
keys it does not know (naming them), and checks each value against its field's type, so a
checkpoint, a `--set KEY=VALUE` and a flow parameter are read by the same rules. A family
adds its domain checks (ranges, choices) in `validate`, which `from_dict` and
`with_overrides` call.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from typing import Any, ClassVar, TypeVar

C = TypeVar("C", bound="Config")


class ConfigError(ValueError):
    """A config value of the wrong type or outside its domain, or an unknown key."""


def _type_name(tp: Any) -> str:
    args = typing.get_args(tp)
    if args and (typing.get_origin(tp) in (typing.Union, types.UnionType)):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in args)
    if typing.get_origin(tp) is not None:
        return str(typing.get_origin(tp).__name__)
    return getattr(tp, "__name__", str(tp))


def coerce(name: str, value: Any, tp: Any) -> Any:
    """value as a field of type tp: ints are accepted for floats, nothing else is converted.
    Raises ConfigError naming the field, the value and what is allowed."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(name, value, a)
            except ConfigError as e:
                if "finite" in str(e):  # the right type, outside every setting's domain
                    raise
                continue
        raise ConfigError(f"{name}={value!r}: expected {_type_name(tp)}")
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):  # nan and inf are in no setting's domain
                raise ConfigError(f"{name}={value!r}: expected a finite number")
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif origin in (list, tuple):
        if isinstance(value, (list, tuple)):
            inner = args[0] if args else Any
            return [coerce(f"{name}[{i}]", v, inner) for i, v in enumerate(value)]
    elif origin is dict or tp is dict:
        if isinstance(value, dict):
            return dict(value)
    else:  # a type this base does not check (a nested record): taken as it is
        return value
    raise ConfigError(f"{name}={value!r}: expected {_type_name(tp)}")


@dataclasses.dataclass
class Config:
    """Base of every config dataclass (subclasses are dataclasses too)."""

    # fields added after runs of the family were saved -> the value those runs trained with
    ADDED: ClassVar[dict[str, Any]] = {}

    @classmethod
    def field_types(cls) -> dict[str, Any]:
        hints = typing.get_type_hints(cls)
        return {f.name: hints[f.name] for f in dataclasses.fields(cls)}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_record(cls: type[C], d: dict[str, Any]) -> C:
        """The config a saved run trained with: from_dict, where each field of ADDED that the
        record lacks (the run was saved before the field existed) takes the value such runs
        trained with, not today's default."""
        if isinstance(d, dict):
            d = {**{k: v for k, v in cls.ADDED.items() if k not in d}, **d}
        return cls.from_dict(d)

    @classmethod
    def from_dict(cls: type[C], d: dict[str, Any]) -> C:
        """The config of a JSON dict: unknown keys and values of the wrong type are refused."""
        if not isinstance(d, dict):
            raise ConfigError(f"a {cls.__name__} is read from a dict, got {type(d).__name__}")
        types_ = cls.field_types()
        unknown = sorted(set(d) - set(types_))
        if unknown:
            raise ConfigError(
                f"unknown {cls.__name__} key(s) {unknown}; known: {', '.join(sorted(types_))}"
            )
        cfg = cls(**{k: coerce(k, v, types_[k]) for k, v in d.items()})
        cfg.validate()
        return cfg

    def with_overrides(self: C, overrides: dict[str, Any]) -> C:
        """A copy with key=value overrides (from --set or a flow's `model` dict), checked."""
        types_ = self.field_types()
        unknown = sorted(set(overrides) - set(types_))
        if unknown:
            what = type(self).__name__.removesuffix("Config") or "config"
            raise ConfigError(
                f"unknown {what} setting(s) {unknown}; known: {', '.join(sorted(types_))}"
            )
        changed = {k: coerce(k, v, types_[k]) for k, v in overrides.items()}
        cfg = dataclasses.replace(self, **changed)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Domain checks of a family (ranges, choices); raise ConfigError. None here."""

    def require(self, test: str, *names: str) -> None:
        """Range checks for validate(): test is "positive", "at least 1", "not negative" or
        "in [0, 1)" or "in [0, 1]"; a field that is None (a default still to be resolved) passes."""
        checks = {"positive": (lambda v: v > 0, "must be positive"),
                  "at least 1": (lambda v: v >= 1, "must be at least 1"),
                  "not negative": (lambda v: v >= 0, "must not be negative"),
                  "in [0, 1)": (lambda v: 0 <= v < 1, "must be in [0, 1)"),
                  "in [0, 1]": (lambda v: 0 <= v <= 1, "must be in [0, 1]")}  # fmt: skip
        ok, says = checks[test]
        for name in names:
            value = getattr(self, name)
            if value is not None and not ok(value):
                raise ConfigError(f"{name} {says}, got {value}")


def parse_setting(text: str) -> tuple[str, Any]:
    """'KEY=VALUE' -> (key, value): VALUE is read as JSON (true, 3, 1e-3, null, [1, 2]) and
    otherwise taken as a string; the config's field type then decides if it fits."""
    if "=" not in text:
        raise ConfigError(f"a setting is KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"a setting is KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def param(
    default: Any = dataclasses.MISSING, help: str = "", flag: str | None = None, **kw: Any
) -> Any:
    """A params field with its help text; `flag` names the CLI option when the field's own
    name would not do (e.g. model overrides as --set). Lists and dicts get a factory."""
    meta = {"help": help, "flag": flag, **kw}
    if isinstance(default, list | dict):
        value = default
        return dataclasses.field(default_factory=lambda: type(value)(value), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)
