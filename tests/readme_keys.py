"""The README's `--json` key table, checked against what the commands print: every top-level
key a command prints is in its row, and every name its row gives in backticks is a key of
the output (at any depth), unless the caller names it as absent from this kind of run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent.parent / "README.md"


def documented(command: str) -> set[str]:
    """The names in backticks in the README's `--json` row of `command`."""
    rows = [line for line in README.read_text().splitlines() if line.startswith(f"| `{command}` |")]
    assert len(rows) == 1, f"the README's --json table has {len(rows)} rows for {command}"
    return set(re.findall(r"`([a-z0-9_]+)`", rows[0].split("|")[2]))


def _keys(obj: Any) -> set[str]:
    if isinstance(obj, dict):
        return set(obj) | {k for v in obj.values() for k in _keys(v)}
    if isinstance(obj, list):
        return {k for v in obj for k in _keys(v)}
    return set()


def assert_documented(command: str, out: dict[str, Any], absent: set[str] = frozenset()) -> None:
    names = documented(command)
    undocumented = set(out) - names
    assert not undocumented, f"{command} --json prints {sorted(undocumented)}, not in the README"
    missing = names - _keys(out) - set(absent)
    assert not missing, f"the README lists {sorted(missing)} for {command}; its --json has none"
