"""Versioned prompt files (prompts/<stage>/system.<version>.txt and user.<version>.txt).

The stored version is `<stage>-<version>+<sha8 of both files>`, so a script always says exactly which
prompt text produced it. Data from outside (trends, memories, media) is encoded by `data_block`: JSON with
`<` and `>` escaped, so nothing inside can close its tag and pose as an instruction.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

REPO_PROMPTS = Path(__file__).resolve().parents[3] / "prompts"


class PromptError(Exception):
    """A prompt file is missing or has a placeholder nobody fills; the message names the file."""


@dataclass(frozen=True)
class Prompt:
    stage: str
    version: str
    system_template: str
    user_template: str

    @property
    def full_version(self) -> str:
        digest = hashlib.sha256((self.system_template + "\0" + self.user_template).encode()).hexdigest()[:8]
        return f"{self.stage}-{self.version}+{digest}"

    def system(self, **values: Any) -> str:
        return _fill(self.system_template, values, f"{self.stage}/system.{self.version}.txt")

    def user(self, **values: Any) -> str:
        return _fill(self.user_template, values, f"{self.stage}/user.{self.version}.txt")


def _fill(template: str, values: dict[str, Any], name: str) -> str:
    try:
        return Template(template).substitute({k: str(v) for k, v in values.items()})
    except (KeyError, ValueError) as exc:
        raise PromptError(f"prompts/{name}: placeholder {exc} has no value") from None


def data_block(value: Any) -> str:
    """JSON that cannot close a tag: `<`, `>` and `&` are escaped (still valid JSON)."""
    text = json.dumps(value, ensure_ascii=False, indent=1)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class PromptLibrary:
    def __init__(self, directory: str | Path | None = None, versions: dict[str, str] | None = None) -> None:
        self.directory = self._resolve(directory)
        self.versions = versions or {}

    @staticmethod
    def _resolve(directory: str | Path | None) -> Path:
        if directory:
            return Path(directory)
        local = Path.cwd() / "prompts"
        return local if (local / "script").is_dir() else REPO_PROMPTS

    def get(self, stage: str) -> Prompt:
        version = self.versions.get(stage, "v1")
        files = [self.directory / stage / f"{part}.{version}.txt" for part in ("system", "user")]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise PromptError(f"prompt file(s) not found: {', '.join(missing)} (llm.prompts_dir, "
                              f"llm.prompt_versions.{stage})")
        system, user = (f.read_text(encoding="utf-8") for f in files)
        return Prompt(stage=stage, version=version, system_template=system, user_template=user)
