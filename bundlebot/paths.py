"""Where bundlebot reads data and writes everything it makes.

One home directory holds indexes, the model cache and statistics: ``~/.bundlebot`` unless
``BUNDLEBOT_HOME`` or the config file says otherwise. The shared data sets are read from
``../shared/data`` relative to the project root, overridable by ``BUNDLEBOT_DATA``.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_home() -> Path:
    env = os.environ.get("BUNDLEBOT_HOME")
    return Path(env).expanduser() if env else Path.home() / ".bundlebot"


def default_data_dir() -> Path:
    env = os.environ.get("BUNDLEBOT_DATA")
    return Path(env).expanduser() if env else (PROJECT_ROOT.parent / "shared" / "data")
