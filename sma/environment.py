"""The machine SMA runs on: private files and folders, and faults a person must fix on disk.

Everything SMA keeps (database, logs, artifacts, the Temporal database) may hold secrets or personal data,
so folders are created 0700 and files 0600, and an existing data dir or log file this user owns is
tightened to that. `EnvironmentFault` is the one-line error for what was found on disk (an unwritable
folder, a damaged database, a file in the wrong encoding); the `sma` entrypoint prints it without a
traceback.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from sma.settings import ConfigError

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_OTHERS = 0o077


class EnvironmentFault(ConfigError):
    """A problem with files or folders on this machine; the message names the path and the fix.

    A ConfigError, so every place that turns a configuration problem into one line does the same for it.
    """


def private_umask() -> None:
    """Make everything this process and its children create private (adds 077 to the umask)."""
    os.umask(os.umask(_OTHERS) | _OTHERS)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def unwritable(path: Path, what: str = "data dir") -> EnvironmentFault:
    return EnvironmentFault(
        f"{what} {path} is not writable by user {_user()} (permission denied): give this user write "
        f"permission (chmod u+rwx {path}) or set data_dir / SMA_DATA_DIR to a folder it owns")


def denied(path: Path) -> EnvironmentFault:
    """For a PermissionError from anywhere: which path, and the fix."""
    return EnvironmentFault(
        f"{path}: permission denied for user {_user()}: give this user access to it (chmod u+rw {path}) "
        "or set data_dir / SMA_DATA_DIR to a folder it owns")


def tighten(path: Path) -> None:
    """Remove group and other permissions from a file or folder this user owns (others are left alone)."""
    try:
        info = path.stat()
    except OSError:
        return
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid == os.getuid() and mode & _OTHERS:
        with contextlib.suppress(OSError):
            path.chmod(mode & ~_OTHERS)


def private_dir(path: Path, what: str = "data dir", *, tighten_existing: bool = True) -> Path:
    """Create `path` (and its parents) as a folder only this user may enter; tighten it if it exists."""
    try:
        path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    except FileExistsError:
        raise EnvironmentFault(f"{what} {path} is a file, not a folder: move it or set data_dir") from None
    except PermissionError:
        existing = _nearest_existing(path)
        raise unwritable(existing, what if existing == path.absolute() else f"the {what}'s parent folder") from None
    if tighten_existing:
        tighten(path)
    return path


def private_opener(path: str, flags: int) -> int:
    """For `open(..., opener=private_opener)`: a file created by it is 0600 whatever the umask."""
    return os.open(path, flags, PRIVATE_FILE)


def open_private(path: Path, mode: str = "ab", **kwargs: Any) -> IO[Any]:
    """Open (creating 0600, and its folder 0700 when missing) a file; an existing one is tightened first."""
    private_dir(path.parent, "folder", tighten_existing=False)
    tighten(path)
    opener: Callable[[str, int], int] = private_opener
    try:
        return open(path, mode, opener=opener, **kwargs)
    except PermissionError:
        raise unwritable(path, "file") from None


def private_logs(data_dir: Path) -> Path:
    """`<data dir>/logs`, created private like the data dir; log files an older version left readable are
    tightened."""
    private_dir(data_dir)
    logs = private_dir(data_dir / "logs", "log dir")
    for child in logs.iterdir():
        if child.is_file():
            tighten(child)
    return logs


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_data_dir(data_dir: Path) -> None:
    """Raise EnvironmentFault when this user could not create or write the data dir or its logs.

    Creates nothing: a read-only command on a fresh folder must leave it as it was.
    """
    existing = _nearest_existing(data_dir)
    if not existing.is_dir():
        raise EnvironmentFault(f"data dir {data_dir}: {existing} is a file, not a folder: move it or set data_dir")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise unwritable(existing, "data dir" if existing == data_dir.absolute() else "the data dir's parent folder")
    logs = data_dir / "logs"
    if logs.is_dir() and not os.access(logs, os.W_OK | os.X_OK):
        raise unwritable(logs.absolute(), "log dir")
