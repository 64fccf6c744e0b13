"""Image generation chain for `image` beats: a local diffusion server (ComfyUI) -> DALL-E 3 -> none.

Best effort by design: an image is decoration, so an unconfigured tier is skipped with its reason, a
failing one hands over to the next, and when none produces an image the beat simply has no picture.
Each tier is a small adapter with the engine shape used elsewhere (`name`, `unavailable_reason()`,
`generate()`), talking the provider's real wire protocol at a configurable base URL.
"""

from __future__ import annotations

import base64
import copy
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import structlog

from sma.settings import VisualSettings

log = structlog.get_logger("sma.media.imagegen")
STYLE = "clean digital illustration, vertical video visual, no text, no watermark"
NEGATIVE = "text, letters, watermark, logo, blurry, low quality, deformed"
POLL_S = 0.5


class ImageGenError(RuntimeError):
    """A generator was reachable but did not produce an image; the message says what the provider said."""


class ImageGenerator(Protocol):
    name: str

    def unavailable_reason(self) -> str | None:
        """None when the tier can be tried; otherwise why it is skipped (no URL, no key)."""
        ...

    def generate(self, prompt: str, seed: int) -> bytes:
        """Encoded image bytes (PNG, JPEG or WebP) for `prompt`."""
        ...


# ---------------------------------------------------------------- ComfyUI


DEFAULT_WORKFLOW: dict[str, Any] = {
    "3": {"class_type": "KSampler", "inputs": {
        "seed": "{{seed}}", "steps": 22, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
        "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "{{checkpoint}}"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": "{{width}}", "height": "{{height}}", "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{negative}}", "clip": ["4", 1]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "sma", "images": ["8", 0]}},
}  # fmt: skip
"""ComfyUI's stock text-to-image graph in API format; `{{name}}` strings are filled per request."""


def fill_workflow(template: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of `template` with `{{name}}` placeholders replaced: a string that is exactly one placeholder
    takes the value with its type (seed and sizes stay numbers), others get text substitution."""

    def fill(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: fill(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fill(v) for v in node]
        if isinstance(node, str):
            for name, value in values.items():
                token = "{{" + name + "}}"
                if node == token:
                    return value
                node = node.replace(token, str(value))
        return node

    filled: dict[str, Any] = fill(copy.deepcopy(template))
    return filled


class ComfyUIGenerator:
    """POST /prompt, poll GET /history/{prompt_id}, fetch the first output image from GET /view."""

    name = "comfyui"

    def __init__(self, settings: VisualSettings) -> None:
        self.settings = settings

    def unavailable_reason(self) -> str | None:
        if not self.settings.comfyui_url:
            return "no comfyui_url configured"
        if self.settings.comfyui_workflow and not Path(self.settings.comfyui_workflow).is_file():
            return f"workflow file {self.settings.comfyui_workflow} not found"
        return None

    def workflow(self, prompt: str, seed: int) -> dict[str, Any]:
        s = self.settings
        template = json.loads(Path(s.comfyui_workflow).read_text()) if s.comfyui_workflow else DEFAULT_WORKFLOW
        width, _, height = s.comfyui_size.partition("x")
        return fill_workflow(template, {
            "prompt": f"{prompt}, {STYLE}", "negative": NEGATIVE, "seed": seed,
            "width": int(width or 768), "height": int(height or width or 768), "checkpoint": s.comfyui_checkpoint,
        })  # fmt: skip

    def generate(self, prompt: str, seed: int) -> bytes:
        assert self.settings.comfyui_url
        deadline = time.monotonic() + self.settings.comfyui_timeout_s
        with self._http() as http:
            queued = http.post("/prompt", json={"prompt": self.workflow(prompt, seed), "client_id": uuid.uuid4().hex})
            body = _json(queued)
            if queued.status_code >= 400 or "prompt_id" not in body:
                raise ImageGenError(f"ComfyUI refused the workflow ({queued.status_code}): {_error_text(body)}")
            prompt_id = str(body["prompt_id"])
            entry = self._wait(http, prompt_id, deadline)
            image = _first_image(entry)
            if image is None:
                raise ImageGenError(f"ComfyUI finished prompt {prompt_id} without an image output")
            view = http.get("/view", params={"filename": image["filename"], "subfolder": image.get("subfolder", ""),
                                             "type": image.get("type", "output")})  # fmt: skip
            view.raise_for_status()
            return view.content

    def _wait(self, http: httpx.Client, prompt_id: str, deadline: float) -> dict[str, Any]:
        """The prompt's history entry, once it has outputs or an error status; bounded by the deadline."""
        while True:
            reply = http.get(f"/history/{prompt_id}")
            reply.raise_for_status()
            entry = _json(reply).get(prompt_id)
            if isinstance(entry, dict):
                status = entry.get("status") or {}
                if status.get("status_str") == "error":
                    raise ImageGenError(f"ComfyUI failed prompt {prompt_id}: {_status_messages(status)}")
                if entry.get("outputs") or status.get("completed"):
                    return entry
            if time.monotonic() > deadline:
                raise ImageGenError(f"ComfyUI did not finish within {self.settings.comfyui_timeout_s:.0f} s")
            time.sleep(POLL_S)

    def _http(self) -> httpx.Client:
        return httpx.Client(base_url=self.settings.comfyui_url or "", timeout=self.settings.http_timeout_s)


def _json(reply: httpx.Response) -> dict[str, Any]:
    try:
        data = reply.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _error_text(body: dict[str, Any]) -> str:
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error.get("type") or error)
    return str(error or body.get("node_errors") or "no prompt_id in the reply")


def _status_messages(status: dict[str, Any]) -> str:
    for kind, data in status.get("messages") or []:
        if kind == "execution_error" and isinstance(data, dict):
            return f"{data.get('node_type', '?')}: {data.get('exception_message', '').strip()}"
    return "execution error"


def _first_image(entry: dict[str, Any]) -> dict[str, Any] | None:
    for output in (entry.get("outputs") or {}).values():
        for image in output.get("images") or []:
            if image.get("filename"):
                found: dict[str, Any] = image
                return found
    return None


# ---------------------------------------------------------------- DALL-E 3


class DalleGenerator:
    """OpenAI's images endpoint through the official SDK (any OpenAI-compatible server via base_url)."""

    name = "dalle"

    def __init__(self, settings: VisualSettings, api_key: str | None) -> None:
        self.settings = settings
        self.api_key = api_key

    def unavailable_reason(self) -> str | None:
        return None if self.api_key else "no openai_api_key in the secrets"

    def generate(self, prompt: str, seed: int) -> bytes:
        import openai

        s = self.settings
        client = openai.OpenAI(api_key=self.api_key, base_url=s.dalle_base_url or None,
                               timeout=max(s.http_timeout_s, 60.0), max_retries=1)  # fmt: skip
        extra: dict[str, Any] = {"response_format": "b64_json"} if s.dalle_model.startswith("dall-e") else {}
        try:
            reply = client.images.generate(model=s.dalle_model, prompt=f"{prompt}. {STYLE}", n=1, size=s.dalle_size,
                                           quality=s.dalle_quality, **extra)  # type: ignore[call-overload]  # str settings; the API checks them  # fmt: skip
        except openai.APIError as exc:
            raise ImageGenError(f"OpenAI images: {exc.__class__.__name__}: {getattr(exc, 'message', exc)}") from exc
        finally:
            client.close()
        data = (getattr(reply, "data", None) or [None])[0]
        if data is None:
            raise ImageGenError("OpenAI images: empty reply")
        if data.b64_json:
            return base64.b64decode(data.b64_json)
        if data.url:
            return httpx.get(data.url, timeout=s.http_timeout_s, follow_redirects=True).raise_for_status().content
        raise ImageGenError("OpenAI images: reply has neither b64_json nor url")


# ---------------------------------------------------------------- the chain


@dataclass
class Generated:
    """What the chain produced for one prompt: the bytes and tier that made them (none: data is None)."""

    data: bytes | None
    tier: str = "none"
    notes: list[str] = field(default_factory=list)


class ImageGenChain:
    def __init__(self, generators: list[ImageGenerator]) -> None:
        self.generators = generators

    def generate(self, prompt: str, seed: int) -> Generated:
        notes: list[str] = []
        for gen in self.generators:
            reason = gen.unavailable_reason()
            if reason:
                notes.append(f"{gen.name}: skipped ({reason})")
                continue
            try:
                data = gen.generate(prompt, seed)
            except (ImageGenError, httpx.HTTPError, OSError, ValueError) as exc:
                log.warning("image generator failed", generator=gen.name, error=str(exc))
                notes.append(f"{gen.name}: failed ({exc})")
                continue
            if data:
                return Generated(data, gen.name, notes)
            notes.append(f"{gen.name}: failed (empty image)")
        return Generated(None, "none", notes)

    @property
    def names(self) -> list[str]:
        return [g.name for g in self.generators]


def build_chain(settings: VisualSettings, openai_api_key: str | None = None) -> ImageGenChain:
    """The configured chain, in order; names not listed are left out."""
    factories: dict[str, Callable[[], ImageGenerator]] = {
        "comfyui": lambda: ComfyUIGenerator(settings),
        "dalle": lambda: DalleGenerator(settings, openai_api_key),
    }
    return ImageGenChain([factories[name]() for name in settings.image_chain if name in factories])
