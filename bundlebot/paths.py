"""Where bundlebot reads data and writes everything it makes.

One home directory holds indexes, the model cache and statistics: ``~/.bundlebot`` unless
``BUNDLEBOT_HOME`` or the config file says otherwise. The shared data sets are read from
``../shared/data`` relative to the project root, overridable by ``BUNDLEBOT_DATA``.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from bundlebot.errors import DiskError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_home() -> Path:
    env = os.environ.get("BUNDLEBOT_HOME")
    return Path(env).expanduser() if env else Path.home() / ".bundlebot"


def default_data_dir() -> Path:
    env = os.environ.get("BUNDLEBOT_DATA")
    return Path(env).expanduser() if env else (PROJECT_ROOT.parent / "shared" / "data")


# The OS saying "this disk will not take the write": full, over quota, file too large, read-only, not ours.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM})
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
# The same refusals as SQLite (the embedding cache, embedded Chroma) and Chroma's server word them.
_DISK_WORDS = ("disk is full", "no space left", "quota exceeded", "disk i/o error", "readonly database",
               "read-only file system", "permission denied", "unable to open database file")
_FULL_WORDS = ("disk is full", "no space left", "quota exceeded", "disk i/o error")


def disk_refused(exc: BaseException) -> bool:
    """Did the disk refuse a write (rather than a bug or a bad file)?

    >>> disk_refused(OSError(errno.ENOSPC, "No space left on device")), disk_refused(ValueError("bad row"))
    (True, False)
    >>> disk_refused(RuntimeError("error returned from database: (code: 8) attempt to write a readonly database"))
    True
    """
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc.errno in DISK_ERRNOS
    return any(w in str(exc).lower() for w in _DISK_WORDS)


def disk_error(exc: BaseException, what: str, where: Path | str) -> DiskError:
    """The DiskError for a write of ``what`` under ``where`` that the disk refused, with the fix.

    >>> print(disk_error(OSError(errno.EROFS, "Read-only file system"), "co-purchase statistics", "/srv/bb"))
    cannot write co-purchase statistics in /srv/bb: [Errno 30] Read-only file system (fix: make /srv/bb \
writable, or point BUNDLEBOT_HOME at a writable folder, then run it again: what was stored before is unchanged)
    """
    full = exc.errno in _FULL_ERRNOS if isinstance(exc, OSError) and exc.errno is not None else any(
        w in str(exc).lower() for w in _FULL_WORDS)
    fix = (f"free space on the disk that holds {where}" if full else
           f"make {where} writable, or point BUNDLEBOT_HOME at a writable folder")
    return DiskError(f"cannot write {what} in {where}: {exc}",
                     hint=f"{fix}, then run it again: what was stored before is unchanged")


@contextmanager
def writing(what: str, where: Path | str, *, discard: Sequence[Path] = ()) -> Iterator[None]:
    """Around a write: an OSError the disk raised becomes a DiskError with the fix (others propagate), and
    on any failure the ``discard`` files (half-written temporaries) are removed, as far as the disk lets."""
    try:
        yield
    except BaseException as exc:
        for tmp in discard:
            with suppress(OSError):
                tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and disk_refused(exc):
            raise disk_error(exc, what, where) from exc
        raise


def check_writable(folder: Path, what: str) -> None:
    """Refuse a long job up front when ``folder`` (or, before it exists, the nearest folder above it) cannot
    be written, rather than at its first write minutes later. A full disk is only seen at a write (``writing``);
    root passes the permission part of this check."""
    folder = Path(folder)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), folder)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise disk_error(OSError(errno.EACCES, "not writable"), what, existing)
