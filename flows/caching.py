"""Prefect task caching for the expensive steps, keyed by what determines their result.

`cached_task(fn, name=..., code=("models/ssgan",))` is `prefect.task(fn, ...)` with a cache
policy and persisted results. The key of a call is a sha256 over:

- the task's name and the code version: a hash of the source files that compute it (the
  `code` folders, the file that defines the step, and the core: the config base, engine,
  registry and tasks/io.py), so an edit to the family recomputes;
- every parameter, made canonical: a record that carries tensors by its `cache_identity()`
  (name, shape, data fingerprint), a config or any dataclass by its dict, a path that names
  a file by the file's sha256 (a data bundle, a checkpoint: so the data fingerprint and the
  trained weights are in the key, not where they lie), a user's data folder (a data
  spec's `source.root`, `data_root`, `samples`, `input`) by its listing, anything else by its JSON;
- never a parameter that only says where to write (`outputs`, e.g. out_dir), and never a
  tensor or a module: a parameter that is neither plain data nor a path is refused.

Results (the small JSON dicts the steps return) are persisted as JSON under the cache
storage path, `$GANFLOW_CACHE` or <data>/cache/prefect (`cache_root()`): the cache records
in keys/, the results in results/ (Prefect's PREFECT_RESULTS_LOCAL_STORAGE_PATH, which
importing ganflow.flows sets when the user has not). A flow killed between tasks and started again finds the finished tasks'
records and reuses them (task-run state "Cached"); `ganflow <command> --refresh` (or
PREFECT_TASKS_REFRESH_CACHE=true) recomputes. A cached result that names a file which has
since been deleted (a removed run directory) is recomputed, not returned (`call`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ganflow.tasks.io import DATA_DIR, file_sha256

ROOT = Path(__file__).resolve().parent.parent
# Source that every step's result depends on, whatever its family.
CORE = ("models/config.py", "models/engine.py", "models/registry.py", "tasks/io.py")
# Parameters that say where to write, never what is computed.
OUTPUTS = ("out_dir", "cache_dir", "run_dir", "progress")
# Parameters that name a folder of input data, by their dotted names' ends: keyed by its
# listing (names, sizes, times). A data spec's source.root is input; export's root is not.
DATA_FOLDERS = ("source.root", "data_root", "samples", "input")
# Result keys that name files a later step reads: a cached result whose file is gone is stale.
FILE_KEYS = ("checkpoint", "path", "bundle")


def cache_root() -> Path:
    return Path(os.environ.get("GANFLOW_CACHE") or DATA_DIR / "cache" / "prefect")


@functools.cache
def code_version(folders: tuple[str, ...]) -> str:
    """sha256 of the source files under the folders (and the core), by relative path and
    content, in sorted order."""
    h = hashlib.sha256()
    files: set[Path] = set()
    for rel in (*CORE, *folders):
        p = ROOT / rel
        files.update(p.rglob("*.py") if p.is_dir() else [p] if p.exists() else [])
    for f in sorted(files):
        h.update(str(f.relative_to(ROOT)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


@functools.lru_cache(maxsize=256)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(path)


def folder_listing(root: Path) -> str:
    """sha256 of every file under root by relative path, size and modification time: an
    image added, removed or replaced in a user's data folder changes the key."""
    h = hashlib.sha256()
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            full = Path(dirpath) / f
            try:
                st = full.stat()
            except OSError:
                continue
            h.update(f"{full.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def canonical(value: Any, name: str = "") -> Any:
    """A JSON-able stand-in for a parameter: what its result depends on, nothing else."""
    if hasattr(value, "cache_identity"):  # a record that carries data: its fingerprint
        return canonical(value.cache_identity(), name)
    if hasattr(value, "to_dict") and dataclasses.is_dataclass(value):
        return canonical(value.to_dict(), name)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return canonical(dataclasses.asdict(value), name)
    if isinstance(value, dict):
        return {str(k): canonical(v, f"{name}.{k}") for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [canonical(v, name) for v in value]
    if isinstance(value, Path) or (isinstance(value, str) and os.sep in value):
        p = Path(value)
        if p.is_file():
            st = p.stat()
            return {"file_sha256": _file_digest(str(p.resolve()), st.st_size, st.st_mtime_ns)}
        if p.is_dir() and any(name == k or name.endswith("." + k) for k in DATA_FOLDERS):
            return {"folder": str(value), "listing_sha256": folder_listing(p)}
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(
        f"cache key: parameter {name!r} is a {type(value).__name__}; tasks take paths and "
        "plain records, never tensors or modules"
    )


def cache_key(
    task_name: str, folders: tuple[str, ...], parameters: dict[str, Any], outputs: Iterable[str]
) -> str:
    skip = set(outputs)
    kept = {k: canonical(v, k) for k, v in parameters.items() if k not in skip}
    text = json.dumps(
        {"task": task_name, "code": code_version(folders), "parameters": kept}, sort_keys=True
    )
    return f"{task_name}-{hashlib.sha256(text.encode()).hexdigest()}"


def cached_task(
    fn: Callable[..., Any],
    *,
    name: str,
    code: tuple[str, ...] = (),
    outputs: tuple[str, ...] = OUTPUTS,
    **task_kwargs: Any,
) -> Any:
    """prefect.task(fn, name=name, ...) with ganflow's cache policy and JSON results."""
    from prefect import task
    from prefect.cache_policies import CacheKeyFnPolicy

    own = Path(inspect.getsourcefile(fn) or "").resolve()
    folders = (*code, str(own.relative_to(ROOT))) if own.is_relative_to(ROOT) else code

    def key_fn(context: Any, parameters: dict[str, Any]) -> str:
        return cache_key(name, folders, parameters, outputs)

    policy = CacheKeyFnPolicy(cache_key_fn=key_fn).configure(key_storage=str(cache_root() / "keys"))
    return task(
        fn,
        name=name,
        cache_policy=policy,
        persist_result=True,
        result_serializer="json",
        **task_kwargs,
    )


def cached_step(fn: Callable[..., Any], **kwargs: Any) -> Callable[..., Any]:
    """`cached_task(fn, ...)` as a step: called like fn, stale cache entries recomputed."""
    made = cached_task(fn, **kwargs)

    @functools.wraps(fn)
    def step(*args: Any, **kw: Any) -> Any:
        return call(made, *args, **kw)

    step.task = made  # type: ignore[attr-defined]
    return step


def _stale(result: Any) -> bool:
    """True when a result names a file (checkpoint, bundle, version) that no longer exists."""
    if not isinstance(result, dict):
        return False
    for k in FILE_KEYS:
        v = result.get(k)
        if isinstance(v, str) and v and not Path(v).exists():
            return True
    return any(_stale(v) for v in result.values() if isinstance(v, dict))


def call(made: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a cached task; when its cached result names files that are gone, run it again
    with the cache refreshed."""
    result = made(*args, **kwargs)
    if _stale(result):
        result = made.with_options(refresh_cache=True)(*args, **kwargs)
    return result


@contextmanager
def refreshing() -> Iterator[None]:
    """Inside: every cached task recomputes and overwrites its cache record (--refresh),
    in this process and in task-runner workers started inside (the environment variable)."""
    from prefect.settings import PREFECT_TASKS_REFRESH_CACHE, temporary_settings

    before = os.environ.get("PREFECT_TASKS_REFRESH_CACHE")
    os.environ["PREFECT_TASKS_REFRESH_CACHE"] = "true"
    try:
        with temporary_settings({PREFECT_TASKS_REFRESH_CACHE: True}):
            yield
    finally:
        if before is None:
            os.environ.pop("PREFECT_TASKS_REFRESH_CACHE", None)
        else:
            os.environ["PREFECT_TASKS_REFRESH_CACHE"] = before
