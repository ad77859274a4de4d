"""One params dataclass per flow, serving the @flow signature, the CLI and serve.

A flow's parameters are written once, as a Config dataclass whose fields carry their help
text (`param(default, "help")`). `params_flow` turns a body `(params) -> result` into a
Prefect flow whose signature is those fields (so the Prefect UI, deployments and
`--param key=value` see them by name), and `add_param_options` turns them into argparse
options; `params_from_args` reads them back. The same checks (types, then the dataclass's
`validate`) run in every path, before any work starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import math
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

from ganflow.models.config import Config, ConfigError, param, parse_setting  # noqa: F401 (param: re-exported)
from ganflow.tasks.data.bundle import DataSpec
from ganflow.tasks.data.raw import check_reading
from ganflow.tasks.data.sources import SourceOptions

P = TypeVar("P", bound=Config)


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return inspect.Parameter.empty


def params_flow(cls: type[P], **flow_kwargs: Any) -> Callable[[Callable[[P], Any]], Any]:
    """@params_flow(Params, name="...") over `def body(p: Params) -> dict`: a Prefect flow
    taking Params' fields as keyword parameters."""
    from prefect import flow

    def deco(body: Callable[[P], Any]) -> Any:
        hints = cls.field_types()

        @functools.wraps(body)
        def fn(**kwargs: Any) -> Any:
            return body(cls.from_dict(kwargs))

        fields = dataclasses.fields(cls)
        fn.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [
                inspect.Parameter(
                    f.name,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=_default(f),
                    annotation=hints[f.name],
                )
                for f in fields
            ],
            return_annotation=dict[str, Any],
        )
        fn.__annotations__ = {**{f.name: hints[f.name] for f in fields}, "return": dict[str, Any]}
        del fn.__wrapped__  # Prefect must read the generated signature, not the body's
        made = flow(**flow_kwargs)(fn)
        made.params_class = cls  # serve checks --param values with it
        return made

    return deco


def _base_type(tp: Any) -> Any:
    """int for `int | None`, list for `list[int]`, ... (the type argparse converts to)."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1:
        return _base_type(args[0])
    return typing.get_origin(tp) or tp


def _numbers(text: str, kind: type, what: str) -> list:
    try:
        values = [kind(s) for s in text.split(",") if s.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r}") from e
    if not values:
        raise argparse.ArgumentTypeError("give at least one value")
    if not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected finite {what}, got {text!r}")
    return values


def int_list(text: str) -> list[int]:
    return _numbers(text, int, "integers")


def float_list(text: str) -> list[float]:
    return _numbers(text, float, "numbers")


def str_list(text: str) -> list[str]:
    values = [s.strip() for s in text.split(",") if s.strip()]
    if not values:
        raise argparse.ArgumentTypeError("give at least one value")
    return values


def _list_item_type(tp: Any) -> Any:
    """The item type of list[int], list[str] | None, ..."""
    for a in (tp, *typing.get_args(tp)):
        if typing.get_origin(a) is list:
            return (typing.get_args(a) or (str,))[0]
    return str


def setting(text: str) -> tuple[str, Any]:
    try:
        return parse_setting(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def _flag(f: dataclasses.Field) -> str:
    """The command-line option of a params field: its `flag`, else --field-name."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def add_param_options(
    parser: argparse.ArgumentParser, cls: type[Config], skip: tuple[str, ...] = ()
) -> None:
    """One option per field of cls: --field-name (or the field's `flag`), typed from its
    annotation; bools are --x / --no-x, int lists comma-separated, dicts repeated KEY=VALUE."""
    hints = cls.field_types()
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = _flag(f)
        base, default = _base_type(hints[f.name]), _default(f)
        shown = (
            "" if default in (None, inspect.Parameter.empty, [], {}) else f" (default {default})"
        )
        kw: dict[str, Any] = {
            "dest": f.name,
            "help": f.metadata.get("help", "") + shown,
            "default": argparse.SUPPRESS,
        }
        if "choices" in f.metadata:
            kw["choices"] = f.metadata["choices"]
        if base is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        elif base is list:
            item = _list_item_type(hints[f.name])
            parse, metavar = {int: (int_list, "N,N,..."), float: (float_list, "X,X,...")}.get(
                item, (str_list, "A,B,...")
            )
            parser.add_argument(flag, type=parse, metavar=metavar, **kw)
        elif base is dict:
            parser.add_argument(flag, type=setting, action="append", metavar="KEY=VALUE", **kw)
        else:
            parser.add_argument(flag, type=base if base in (int, float, str) else str, **kw)


def settings_dict(pairs: list[tuple[str, Any]], field: str) -> dict[str, Any]:
    """Repeated KEY=VALUE options as one dict; a key given twice with two values is refused
    (one of them would be dropped)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out and out[key] != value:
            raise ConfigError(
                f"{key} is given twice ({field}: {out[key]!r} and {value!r}); give it once"
            )
        out[key] = value
    return out


def params_from_args(cls: type[P], args: argparse.Namespace, **extra: Any) -> P:
    """The params of the options given (the rest take their defaults), checked."""
    hints = cls.field_types()
    given = {k: v for k, v in vars(args).items() if k in hints}
    for k, v in given.items():  # repeated KEY=VALUE options arrive as (key, value) pairs
        if _base_type(hints[k]) is dict:
            given[k] = settings_dict(
                v, _flag(next(f for f in dataclasses.fields(cls) if f.name == k))
            )
    return cls.from_dict({**given, **extra})


SIDE_HELP = (
    "the image side: a folder's images are centre-cropped to a square and resized to it, a "
    "built-in set is resized (default: the set's own; a folder 32)"
)
CHANNELS_HELP = "1 = greyscale, 3 = RGB; images are converted (default: the set's own; a folder 3)"


@dataclasses.dataclass
class DataReading(Config):
    """Where a flow's data set is and how its images are read: the fields every command that
    reads a data set shares (a base of its params)."""

    data_root: str | None = param(
        None, "where the data set's files are (folder source: the image tree)"
    )
    image_size: int | None = param(None, SIDE_HELP)
    channels: int | None = param(None, CHANNELS_HELP, choices=(1, 3))

    def check_reading(self) -> None:
        try:
            check_reading(self.image_size, self.channels)
        except ValueError as e:
            raise ConfigError(str(e)) from e

    def source_options(self, download: bool = False) -> SourceOptions:
        return SourceOptions(
            root=self.data_root,
            download=download,
            image_size=self.image_size,
            channels=self.channels,
        )


@dataclasses.dataclass
class BundleSource(DataReading):
    """The fields of a flow that prepares a data bundle from a named source (a base of its
    params): where the files are, how their images are read, the validation split."""

    val_fraction: float = param(0.1, "stratified validation fraction of the training set")

    def check_bundle_source(self) -> None:
        self.check_reading()
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in [0, 1), got {self.val_fraction}")

    def bundle_spec(self, data: str, labels_per_class: int, seed: int) -> DataSpec:
        opts = self.source_options()
        return DataSpec(data, labels_per_class, seed, self.val_fraction, opts)
