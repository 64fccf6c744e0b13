"""What each worker pool registers, and where the wiring lives (sma/wiring.py, sma/worker.py).

The workflows name their activities by method; a method that no pool registers fails only when a run
reaches it, so these checks keep the explicit lists in sma.worker complete.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest
from pydantic import BaseModel
from temporalio import activity, workflow

import sma.activities
import sma.models
import sma.workflows
from sma import wiring, worker
from sma.db.engine import Database
from sma.db.migrate import upgrade
from sma.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _modules(package: object) -> list[object]:
    prefix = f"{package.__name__}."  # type: ignore[attr-defined]
    return [importlib.import_module(m.name)
            for m in pkgutil.walk_packages(package.__path__, prefix) if not m.ispkg]  # type: ignore[attr-defined]


def _defined_activities() -> set[str]:
    """Every activity name an activity class of sma.activities defines."""
    names = set()
    for module in _modules(sma.activities):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:  # type: ignore[attr-defined]
                continue
            for _, fn in inspect.getmembers(cls, inspect.isfunction):
                defn = activity._Definition.from_callable(fn)
                if defn is not None and defn.name:
                    names.add(defn.name)
    return names


def _names(acts: list) -> list[str]:
    return [activity._Definition.must_from_callable(a).name for a in acts]


@pytest.fixture
async def pools(settings: Settings) -> dict[str, list[str]]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    database = Database(settings.database_url)
    try:
        return {
            "workflows": _names(worker.workflow_activities(wiring.workflow_pool(settings, database))),
            "cpu": _names(worker.cpu_activities(wiring.cpu_pool(settings))),
            "gpu": _names(worker.gpu_activities(wiring.gpu_pool(settings))),
        }
    finally:
        await database.close()


async def test_every_activity_class_method_is_served_by_a_pool_once(pools: dict[str, list[str]]) -> None:
    for pool, names in pools.items():
        assert len(names) == len(set(names)), f"{pool} registers an activity twice: {names}"
    served = {name for names in pools.values() for name in names}
    assert served == _defined_activities()
    # Music and images run on the GPU pool too, where a CUDA tier needs them; nothing else is in two pools.
    assert set(pools["cpu"]) & set(pools["gpu"]) == {"music", "images"}
    assert not set(pools["workflows"]) & (set(pools["cpu"]) | set(pools["gpu"]))


def test_every_workflow_class_is_registered_on_sma_workflows() -> None:
    defined = {cls for module in _modules(sma.workflows)
               for _, cls in inspect.getmembers(module, inspect.isclass)
               if cls.__module__ == module.__name__ and workflow._Definition.from_class(cls) is not None}  # type: ignore[attr-defined]
    assert defined == set(worker.WORKFLOWS)


def test_activity_modules_hold_classes_only() -> None:
    """Builders live in sma.wiring: no module-level function of sma.activities takes the settings."""
    builders = []
    for path in sorted((ROOT / "sma" / "activities").glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                params = {a.arg for a in node.args.args + node.args.kwonlyargs}
                if params & {"settings", "database"}:
                    builders.append(f"{path.name}:{node.name}")
    assert builders == []


def test_no_business_input_carries_a_queue_suffix() -> None:
    """Per-test queues are set on the test's worker and client; a workflow finds its pool with queues.in_pool."""
    carriers = [f"{module.__name__}.{name}" for module in _modules(sma.models)  # type: ignore[attr-defined]
                for name, cls in inspect.getmembers(module, inspect.isclass)
                if issubclass(cls, BaseModel) and "queue_suffix" in cls.model_fields]
    assert carriers == []
