"""Former name of :mod:`.proxy_runs`, re-exported for callers not yet moved to ``mixkit.domain.search``."""

from mixkit.domain.search.proxy_runs import BACKENDS, run_proxies

__all__ = ["BACKENDS", "run_proxies"]
