"""Crash points for fault-injection tests: with ``BUNDLEBOT_CRASH_AT=<point>`` in its environment a process
kills itself (SIGKILL: no cleanup, no flush) when it reaches that point, so a test can check that the next
run repairs everything. Unset, a point costs one dictionary lookup.

>>> crash_point("catalog")  # nothing happens without the variable
"""

from __future__ import annotations

import os
import signal

ENV = "BUNDLEBOT_CRASH_AT"
POINTS = ("embeddings", "catalog", "history", "copurchase", "meta")
"""Where ``bundlebot index`` can be killed: after embedding (and caching) the first batch but before storing
it; after storing the first catalog batch; after the first history batch; between the two co-purchase
files; before the shop's metadata is written."""
FIT_POINTS = ("ranker", "ranker-swap")
"""Where ``bundlebot fit`` can be killed: with the new model and manifest written as temporaries, before any
rename; and after the model is renamed in, before the manifest is."""


def crash_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
