"""The type checker's rules that mypy itself does not enforce: CI runs it, and each suppression says why."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IGNORE = re.compile(r"#\s*type:\s*ignore(?P<codes>\[[^\]]*\])?(?P<rest>.*)$")


def test_every_type_ignore_names_its_code_and_reason() -> None:
    bare = []
    for path in sorted((ROOT / "sma").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            found = IGNORE.search(line)
            if found is None:
                continue
            reason = found["rest"].replace("# fmt: skip", "").strip()
            if not found["codes"] or not reason.startswith("#") or len(reason.strip("# ")) < 3:
                bare.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not bare, "each '# type: ignore[code]' needs '  # reason' on the same line:\n" + "\n".join(bare)


def test_test_script_type_checks_before_pytest() -> None:
    script = (ROOT / "scripts" / "test.sh").read_text(encoding="utf-8")
    assert ".venv/bin/mypy" in script
    assert script.index(".venv/bin/mypy") < script.index(".venv/bin/pytest")


def test_mypy_config_checks_sma_strictly_and_ignores_missing_imports_per_module_only() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    config = pyproject["tool"]["mypy"]
    assert config["files"] == ["sma"]
    assert config["strict"] is True
    assert config["warn_unused_ignores"] is True
    assert "pydantic.mypy" in config["plugins"]
    assert "ignore_missing_imports" not in config
    for override in config.get("overrides", []):
        modules = override["module"] if isinstance(override["module"], list) else [override["module"]]
        assert not any(m == "sma" or m.startswith("sma.") for m in modules), "our own code is never skipped"
    assert any(dep.startswith("mypy>=") for dep in pyproject["project"]["optional-dependencies"]["dev"])
