"""ganflow's Prefect layer. Importing it (before prefect) points Prefect's persisted task
results at ganflow's cache storage path (flows/caching.py), unless the user set one."""

import os as _os

from ganflow.flows.caching import cache_root as _cache_root

_os.environ.setdefault("PREFECT_RESULTS_LOCAL_STORAGE_PATH", str(_cache_root() / "results"))
