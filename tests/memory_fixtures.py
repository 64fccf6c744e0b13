"""One Mem0 store and one embedding model for the whole test process (loading them takes seconds).

Every test uses its own project id (a Mem0 user id), so tests share the store without seeing each other.
The store lives in a temporary folder removed at exit; `Settings(data_dir=shared_root())` makes the
product's own builders (script_services, build_memory_service) find this same backend.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import uuid
from pathlib import Path

from sma.services.memory.backend import Mem0Backend, backend_for
from sma.services.memory.config import MemorySettings
from sma.settings import PipelineSettings, ProjectSettings, Settings

_ROOT: list[Path] = []


def shared_root() -> Path:
    if not _ROOT:
        _ROOT.append(Path(tempfile.mkdtemp(prefix="sma-memory-test-")))
        atexit.register(shutil.rmtree, _ROOT[0], True)
    return _ROOT[0]


def shared_backend() -> Mem0Backend:
    return backend_for(MemorySettings(), shared_root())


def new_project() -> str:
    return f"p{uuid.uuid4().hex[:10]}"


def settings_for(project_id: str, platforms: list[str]) -> Settings:
    return Settings(data_dir=shared_root(), pipeline=PipelineSettings(target_seconds=20),
                    projects=[ProjectSettings(id=project_id, niche="developer tools", platforms=platforms)])

