"""The Dockerfile and docker-compose.yaml, parsed (images cannot be built here): the GPU pool gets a target
with the `gpu` extra, every image has the Mermaid CLI on Debian's chromium, and nothing downloads a browser."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Stage:
    name: str
    parent: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [a for k, a in self.instructions if k == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages in order, each with its instructions (keyword upper-cased, continuation lines joined)."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            match = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", args, re.IGNORECASE)
            assert match, f"cannot read FROM {args!r}"
            stages.append(Stage(name=match.group(2) or str(len(stages)), parent=match.group(1)))
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append((keyword, args))
    return stages


@pytest.fixture(scope="module")
def stages() -> dict[str, Stage]:
    parsed = parse_dockerfile((REPO / "Dockerfile").read_text())
    assert parsed[-1].name == "cpu", "the last stage is the default target: the CPU image every service uses"
    return {s.name: s for s in parsed}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yaml").read_text())


def _chain(stages: dict[str, Stage], name: str) -> list[Stage]:
    """The stage and its ancestors inside this Dockerfile, base first."""
    chain = [stages[name]]
    while chain[-1].parent in stages:
        chain.append(stages[chain[-1].parent])
    return chain[::-1]


def test_every_from_is_an_earlier_stage_or_a_tagged_image(stages: dict[str, Stage]) -> None:
    seen: set[str] = set()
    for stage in stages.values():
        assert stage.parent in seen or re.fullmatch(r"[\w./-]+:[\w.-]+", stage.parent), stage.parent
        seen.add(stage.name)


def test_gpu_target_installs_the_gpu_extra_and_finds_the_cuda_wheels(stages: dict[str, Stage]) -> None:
    runs = " ".join(stages["gpu"].args("RUN"))
    assert re.search(r"pip install[^&]*\.\[gpu\]", runs), runs
    assert not any("[gpu]" in r for r in stages["cpu"].args("RUN")), "the CPU image needs no CUDA wheels"
    env = " ".join(stages["gpu"].args("ENV"))
    python = re.search(r"python:(\d+\.\d+)", _chain(stages, "gpu")[0].parent)
    assert python, "the base image names its Python version"
    for lib in ("cublas", "cudnn"):
        assert f"/usr/local/lib/python{python.group(1)}/site-packages/nvidia/{lib}/lib" in env, lib
    extras = _pyproject_extra("gpu")
    assert any(e.startswith("nvidia-cublas") for e in extras) and any(e.startswith("nvidia-cudnn") for e in extras)


def _pyproject_extra(name: str) -> list[str]:
    import tomllib

    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"][name]


@pytest.mark.parametrize("target", ["cpu", "gpu"])
def test_each_target_has_mmdc_on_debian_chromium_and_runs_as_sma(stages: dict[str, Stage], target: str) -> None:
    chain = _chain(stages, target)
    runs = " ".join(r for s in chain for r in s.args("RUN"))
    env = " ".join(e for s in chain for e in s.args("ENV"))
    assert re.search(r"apt-get install[^&]*\bchromium\b", runs) and re.search(r"\bnodejs\b.*\bnpm\b", runs)
    assert "install_mermaid.sh" in runs and "/usr/local/bin/mmdc" in runs
    assert "PUPPETEER_SKIP_DOWNLOAD=1" in env and "PUPPETEER_EXECUTABLE_PATH=/usr/bin/chromium" in env
    assert not re.search(r"puppeteer browsers install|chrome-for-testing|google-chrome", runs), runs
    final = chain[-1]
    assert final.args("USER") == ["sma"], "pip installs as root, the process runs as sma"
    assert [json.loads(e) for e in final.args("ENTRYPOINT")] == [["sma"]]


def test_copied_sources_exist(stages: dict[str, Stage]) -> None:
    for stage in stages.values():
        for args in stage.args("COPY"):
            parts = shlex.split(args)
            assert not any(p.startswith("--from") for p in parts)
            for source in parts[:-1]:
                assert (REPO / source).exists(), f"COPY {source}: not in the repository"


def test_install_mermaid_never_downloads_a_browser() -> None:
    script = (REPO / "scripts" / "install_mermaid.sh").read_text()
    assert re.search(r"PUPPETEER_SKIP_DOWNLOAD=1 npm install", script)
    assert "@mermaid-js/mermaid-cli@$VERSION" in script
    assert re.search(r'VERSION="\$\{MERMAID_CLI_VERSION:-\d+\.\d+\.\d+\}"', script), "a pinned version"
    assert "install_mermaid.sh" in (REPO / "scripts" / "test.sh").read_text()


def test_compose_builds_the_gpu_target_for_sma_gpu_only(compose: dict, stages: dict[str, Stage]) -> None:
    services = compose["services"]
    gpu = services["sma-gpu"]
    assert gpu["build"]["target"] == "gpu" in stages and gpu["build"]["context"] == "."
    assert gpu["image"] != services["sma-cpu"]["image"], "two targets need two image names"
    assert gpu["command"] == ["worker", "--queue", "sma-gpu"]
    [device] = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    for name, service in services.items():
        build = service.get("build")
        if build is not None and name != "sma-gpu":
            assert build == "." or build.get("target") in (None, "cpu"), name
