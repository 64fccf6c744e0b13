"""A disk that refuses writes, for fault tests: every folder under a root stops taking new, renamed or
removed entries while the fault is on.

Tests run as root, where `chmod a-w` stops nothing. As root the fault sets the immutable attribute
(`chattr +i`, needs CAP_LINUX_IMMUTABLE and ext4/xfs/btrfs): then creating, renaming or unlinking a file
in those folders fails with EPERM for root too, which is what a read-only disk does to the store (a
process that already holds an open file keeps writing to it, as with a real fault that hits between
writes). Other users get `chmod a-w`. A filesystem without the attribute skips the test with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


class DiskFault:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.folders: list[Path] = []
        self.modes: dict[Path, int] = {}

    @staticmethod
    def available(probe_dir: Path) -> str:
        """'' when the fault can be injected under `probe_dir`, else why not."""
        if os.geteuid() != 0:
            return ""
        if shutil.which("chattr") is None:
            return "chattr is not installed (root ignores chmod)"
        probe = probe_dir / ".fault-probe"
        probe.mkdir(exist_ok=True)
        try:
            done = subprocess.run(["chattr", "+i", str(probe)], capture_output=True, text=True)
            if done.returncode != 0:
                return f"this filesystem has no immutable attribute: {done.stderr.strip()}"
            subprocess.run(["chattr", "-i", str(probe)], check=True)
            return ""
        finally:
            probe.rmdir()

    def on(self) -> None:
        why = self.available(self.root)
        if why:
            pytest.skip(why)
        self.folders = [self.root, *(p for p in self.root.rglob("*") if p.is_dir())]
        if os.geteuid() == 0:
            subprocess.run(["chattr", "+i", *map(str, self.folders)], check=True)
        else:
            for folder in self.folders:
                self.modes[folder] = folder.stat().st_mode
                folder.chmod(0o555)

    def off(self) -> None:
        if not self.folders:
            return
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", *map(str, self.folders)], check=True)
        else:
            for folder, mode in self.modes.items():
                folder.chmod(mode)
        self.folders, self.modes = [], {}

    def __enter__(self) -> DiskFault:
        self.on()
        return self

    def __exit__(self, *_: object) -> None:
        self.off()


def leftovers(artifacts: Path) -> list[Path]:
    """Scratch and partial files anywhere in the store."""
    found = list((artifacts / "tmp").iterdir()) if (artifacts / "tmp").is_dir() else []
    return found + [p for p in artifacts.rglob("*.partial")]
