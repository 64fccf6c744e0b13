"""Image beats and diagram beats: a local server speaking ComfyUI's HTTP API, a local server speaking
OpenAI's images API (driven by the official SDK), the chain's fallbacks, and Mermaid through a CLI."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import stat
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import av
import numpy as np
import pytest
from PIL import Image

from sma.models.common import Word
from sma.models.pipeline import Beat, ImagesRequest, RenderRequest, Visual
from sma.services.artifacts import ArtifactStore
from sma.services.media import diagrams
from sma.services.media.diagrams import BROWSERS, DiagramRenderer
from sma.services.media.ffmpeg import FFmpeg
from sma.services.media.imagegen import (
    DEFAULT_WORKFLOW,
    ComfyUIGenerator,
    DalleGenerator,
    ImageGenChain,
    build_chain,
    fill_workflow,
)
from sma.services.media.images import ImageService
from sma.services.media.layout import Rect, layout_for
from sma.services.media.render import RenderService
from sma.settings import MediaSettings, VisualSettings

OPENAI_KEY = "sk-test-images"


def png_bytes(colour: tuple[int, int, int], size: tuple[int, int] = (512, 512)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class Backend:
    """State of the fake ComfyUI and OpenAI servers (one process, two APIs, like a proxy would be)."""

    base: str = ""
    prompts: list[dict[str, object]] = field(default_factory=list)
    history_polls: int = 0
    pending_polls: int = 1  # /history answers {} this many times before the result is there
    comfy_error: str = ""  # "refuse": 400 on /prompt; "execute": an execution_error status
    openai_status: int = 200
    openai_bodies: list[dict[str, object]] = field(default_factory=list)
    openai_auth: list[str] = field(default_factory=list)
    views: list[dict[str, list[str]]] = field(default_factory=list)
    jobs: dict[str, dict[str, object]] = field(default_factory=dict)


def _handler(state: Backend) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, data: object) -> None:
            self._send(status, json.dumps(data).encode())

        def _body(self) -> dict[str, object]:
            return json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")

        def do_POST(self) -> None:
            if self.path == "/prompt":
                self._queue(self._body())
            elif self.path == "/v1/images/generations":
                self._openai(self._body())
            else:
                self._json(404, {"error": "not found"})

        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path.startswith("/history/"):
                self._history(url.path.rsplit("/", 1)[1])
            elif url.path == "/view":
                query = parse_qs(url.query, keep_blank_values=True)
                state.views.append(query)
                self._send(200, png_bytes((200, 120, 40), (768, 768)), "image/png")
            else:
                self._json(404, {"error": "not found"})

        # ComfyUI: POST /prompt -> {"prompt_id", "number", "node_errors"}; GET /history/{id} -> {id: entry}
        def _queue(self, body: dict[str, object]) -> None:
            prompt = body.get("prompt")
            if not isinstance(prompt, dict) or not all("class_type" in n for n in prompt.values()):
                self._json(400, {"error": {"type": "invalid_prompt", "message": "Cannot execute because a node is "
                                           "missing the class_type property.", "details": "", "extra_info": {}},
                                 "node_errors": {}})  # fmt: skip
                return
            state.prompts.append(body)
            if state.comfy_error == "refuse":
                self._json(400, {"error": {"type": "prompt_outputs_failed_validation",
                                           "message": "Prompt outputs failed validation", "details": "",
                                           "extra_info": {}},
                                 "node_errors": {"4": {"errors": [{"type": "value_not_in_list"}]}}})  # fmt: skip
                return
            prompt_id = str(uuid.uuid4())
            save = next(k for k, n in prompt.items() if n["class_type"] == "SaveImage")
            state.jobs[prompt_id] = {"save": save, "polls": 0, "prompt": prompt}
            self._json(200, {"prompt_id": prompt_id, "number": len(state.prompts), "node_errors": {}})

        def _history(self, prompt_id: str) -> None:
            state.history_polls += 1
            job = state.jobs.get(prompt_id)
            if job is None:
                self._json(200, {})
                return
            job["polls"] = int(job["polls"]) + 1  # type: ignore[call-overload]
            if int(job["polls"]) <= state.pending_polls:  # type: ignore[call-overload]
                self._json(200, {})  # queued or running: not in the history yet
                return
            if state.comfy_error == "execute":
                status = {"status_str": "error", "completed": False, "messages": [
                    ["execution_start", {"prompt_id": prompt_id}],
                    ["execution_error", {"prompt_id": prompt_id, "node_id": "4",
                                         "node_type": "CheckpointLoaderSimple", "exception_message": "model not found",
                                         "exception_type": "FileNotFoundError"}]]}  # fmt: skip
                self._json(200, {prompt_id: {"prompt": [1, prompt_id, job["prompt"], {}, [job["save"]]],
                                             "outputs": {}, "status": status}})  # fmt: skip
                return
            image = {"filename": "sma_00001_.png", "subfolder": "", "type": "output"}
            self._json(200, {prompt_id: {
                "prompt": [1, prompt_id, job["prompt"], {}, [job["save"]]],
                "outputs": {job["save"]: {"images": [image]}},
                "status": {"status_str": "success", "completed": True, "messages": []},
                "meta": {job["save"]: {"node_id": job["save"], "display_node": job["save"]}},
            }})  # fmt: skip

        # OpenAI: POST /v1/images/generations -> {"created", "data": [{"b64_json", "revised_prompt"}]}
        def _openai(self, body: dict[str, object]) -> None:
            state.openai_auth.append(self.headers.get("Authorization", ""))
            state.openai_bodies.append(body)
            if state.openai_status != 200:
                self._json(state.openai_status, {"error": {"message": "The server had an error", "type": "server_error",
                                                           "param": None, "code": None}})  # fmt: skip
                return
            data = base64.b64encode(png_bytes((30, 90, 200), (1024, 1024))).decode()
            self._json(200, {"created": 1700000000,
                             "data": [{"b64_json": data, "revised_prompt": f"{body.get('prompt')} (revised)"}]})

    return Handler


@pytest.fixture
def backend() -> Iterator[Backend]:
    state = Backend()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def _visuals(backend: Backend, **extra: object) -> VisualSettings:
    return VisualSettings(comfyui_url=backend.base, dalle_base_url=f"{backend.base}/v1", comfyui_timeout_s=10, **extra)


# ---------------------------------------------------------------- the adapters


def test_comfyui_queue_poll_and_view(backend: Backend) -> None:
    backend.pending_polls = 2
    data = ComfyUIGenerator(_visuals(backend)).generate("a lighthouse at dusk", seed=42)
    assert Image.open(io.BytesIO(data)).size == (768, 768)
    sent = backend.prompts[0]
    assert isinstance(sent["client_id"], str)
    graph = sent["prompt"]
    assert graph["3"]["inputs"]["seed"] == 42 and graph["5"]["inputs"]["width"] == 768  # numbers stay numbers
    assert graph["6"]["inputs"]["text"].startswith("a lighthouse at dusk")
    assert graph["4"]["inputs"]["ckpt_name"] == "v1-5-pruned-emaonly.safetensors"
    assert backend.history_polls == 3
    assert backend.views == [{"filename": ["sma_00001_.png"], "subfolder": [""], "type": ["output"]}]


@pytest.mark.parametrize(("mode", "message"), [("refuse", "Prompt outputs failed validation"),
                                               ("execute", "CheckpointLoaderSimple: model not found")])
def test_comfyui_errors_are_explained(backend: Backend, mode: str, message: str) -> None:
    backend.comfy_error = mode
    result = ImageGenChain([ComfyUIGenerator(_visuals(backend))]).generate("x", 1)
    assert result.data is None and result.tier == "none"
    assert message in result.notes[0], result.notes


def test_custom_workflow_file(backend: Backend, tmp_path: Path) -> None:
    workflow = fill_workflow(DEFAULT_WORKFLOW, {"checkpoint": "sdxl.safetensors"})
    workflow["3"]["inputs"]["steps"] = 4
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(workflow))
    ComfyUIGenerator(_visuals(backend, comfyui_workflow=str(path))).generate("p", seed=7)
    graph = backend.prompts[0]["prompt"]
    assert graph["3"]["inputs"]["steps"] == 4 and graph["4"]["inputs"]["ckpt_name"] == "sdxl.safetensors"
    assert graph["3"]["inputs"]["seed"] == 7
    missing = ComfyUIGenerator(_visuals(backend, comfyui_workflow=str(tmp_path / "nope.json")))
    assert "not found" in (missing.unavailable_reason() or "")


def test_dalle_through_the_official_sdk(backend: Backend) -> None:
    data = DalleGenerator(_visuals(backend), OPENAI_KEY).generate("a cat reading code", seed=1)
    assert Image.open(io.BytesIO(data)).size == (1024, 1024)
    body = backend.openai_bodies[0]
    assert body["model"] == "dall-e-3" and body["response_format"] == "b64_json" and body["n"] == 1
    assert body["size"] == "1024x1024" and str(body["prompt"]).startswith("a cat reading code")
    assert backend.openai_auth == [f"Bearer {OPENAI_KEY}"]


def test_chain_falls_through_and_says_why(backend: Backend) -> None:
    backend.comfy_error = "refuse"
    result = build_chain(_visuals(backend), OPENAI_KEY).generate("a robot", 3)
    assert result.tier == "dalle" and result.data
    assert result.notes[0].startswith("comfyui: failed")
    nothing = build_chain(VisualSettings(), None).generate("a robot", 3)
    assert nothing.data is None
    assert nothing.notes == ["comfyui: skipped (no comfyui_url configured)",
                             "dalle: skipped (no openai_api_key in the secrets)"]
    backend.comfy_error, backend.openai_status = "execute", 500
    broken = build_chain(_visuals(backend), OPENAI_KEY).generate("a robot", 3)
    assert broken.data is None and [n.split(":")[0] for n in broken.notes] == ["comfyui", "dalle"]


# ---------------------------------------------------------------- the images step


def _words(text: str, seconds: float) -> list[Word]:
    tokens = text.split()
    step = seconds / len(tokens)
    return [Word(text=t, start=i * step, end=(i + 1) * step - 0.02) for i, t in enumerate(tokens)]


def _request(store: ArtifactStore, beats: list[Beat], platforms: list[str], background: object = None) -> ImagesRequest:
    narration = " ".join(b.narration for b in beats)
    words = store.put_json([w.model_dump() for w in _words(narration, 6.0)], kind="words")
    return ImagesRequest(project_id="p", run_id="r", beats=beats, words=words, duration_s=6.0,
                         platforms=platforms, background=background)  # fmt: skip


@pytest.mark.parametrize("platform", ["tiktok", "instagram", "youtube"])
def test_generated_image_overlay_respects_the_platform(backend: Backend, tmp_path: Path, platform: str) -> None:
    store = ArtifactStore(tmp_path / "store")
    settings = MediaSettings(visuals=_visuals(backend))
    service = ImageService(store, settings, generators=build_chain(settings.visuals, OPENAI_KEY))
    beats = [Beat(narration="Picture a lighthouse.", visual=Visual(kind="image", image_prompt="a lighthouse")),
             Beat(narration="That is the idea.")]
    result = service.make(_request(store, beats, [platform]))
    assert result.tier == "comfyui+pillow" and result.overlays, result.notes  # the picture, then phrase cards
    layout = layout_for([platform])
    for overlay in result.overlays:
        assert layout.allows(Rect(overlay.x, overlay.y, overlay.width, overlay.height))
    overlay = result.overlays[0]
    with Image.open(overlay.image.path) as card:
        assert card.size[0] == overlay.width and card.mode == "RGBA"
        assert card.getpixel((0, 0))[3] == 0  # rounded corners
    again = service.make(_request(store, beats, [platform]))
    assert again.overlays[0].image == overlay.image and len(backend.prompts) == 1  # cached by prompt


def test_image_beat_without_any_generator_is_a_note(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    beats = [Beat(narration="Picture this.", visual=Visual(kind="image", image_prompt="a cat"))]
    result = ImageService(store, MediaSettings()).make(_request(store, beats, []))
    assert result.tier == "pillow" and result.overlays[0].start_s == 0.0  # a phrase card stands in
    assert "beat 1: no image generated; the beat has no picture" in result.notes


# ---------------------------------------------------------------- diagrams


STAND_IN_MMDC = '''#!{python}
"""Stand-in for mermaid-cli's `mmdc`: same options, draws a box, logs its arguments."""
import json, sys
from PIL import Image
args = sys.argv[1:]
opt = {{args[i]: args[i + 1] for i in range(len(args) - 1) if args[i].startswith("-")}}
with open({log!r}, "a") as fh:
    fh.write(json.dumps(args) + "\\n")
source = open(opt["-i"]).read()
if "syntax error" in source:
    print("Error: Parse error on line 1", file=sys.stderr)
    sys.exit(1)
colour = (240, 240, 240, 255) if opt["-t"] == "dark" else (20, 20, 20, 255)
Image.new("RGBA", (int(opt["-w"]) * int(opt["-s"]), 300), colour).save(opt["-o"])
'''


@pytest.fixture
def mmdc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in `mmdc` on PATH (the real one needs node and a browser; see the test below)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "mmdc.log"
    script = bin_dir / "mmdc"
    script.write_text(STAND_IN_MMDC.format(python=sys.executable, log=str(log)))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def _background(store: ArtifactStore, tmp_path: Path, colour: str) -> object:
    out = tmp_path / f"{colour}.mp4"
    FFmpeg().run(["-loglevel", "error", "-f", "lavfi", "-i", f"color=c={colour}:s=90x160:r=30:d=1",
                  "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(out)])  # fmt: skip
    return store.put(out, kind="background")


@pytest.mark.parametrize(("colour", "theme"), [("0x101020", "dark"), ("0xf0f0e8", "default")])
def test_diagram_theme_follows_the_background(mmdc: Path, tmp_path: Path, colour: str, theme: str) -> None:
    store = ArtifactStore(tmp_path / "store")
    beats = [Beat(narration="Data flows like this.", visual=Visual(kind="diagram", diagram="graph TD; A-->B"))]
    result = ImageService(store, MediaSettings()).make(
        _request(store, beats, ["youtube"], background=_background(store, tmp_path, colour)))
    assert result.tier == "mermaid+pillow" and result.overlays, result.notes
    args = json.loads(mmdc.read_text().splitlines()[0])
    assert args[args.index("-t") + 1] == theme and args[args.index("-b") + 1] == "transparent"
    for overlay in result.overlays:
        assert layout_for(["youtube"]).allows(Rect(overlay.x, overlay.y, overlay.width, overlay.height))
    assert f"beat 1: diagram ({theme} theme)" in result.notes


def test_broken_diagram_is_a_note_and_the_rest_goes_on(mmdc: Path, tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    beats = [Beat(narration="Broken.", visual=Visual(kind="diagram", diagram="graph TD; syntax error")),
             Beat(narration="Code.", visual=Visual(kind="code", code="print('hi')"))]
    result = ImageService(store, MediaSettings()).make(_request(store, beats, []))
    assert result.tier == "pillow" and len(result.overlays) >= 2  # a phrase card for beat 1, the code card
    assert any(n.startswith("beat 1: diagram failed: mmdc exited with status 1") and "Parse error" in n
               for n in result.notes), result.notes


def test_mermaid_absent_is_a_note(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    beats = [Beat(narration="Flow.", visual=Visual(kind="diagram", diagram="graph TD; A-->B"))]
    settings = MediaSettings(visuals=VisualSettings(mermaid_cli="mmdc-not-on-this-machine"))
    result = ImageService(store, settings).make(_request(store, beats, []))
    assert result.overlays and result.tier == "pillow"  # phrase cards stand in for the diagram
    assert result.notes == ["beat 1: diagram skipped: Mermaid CLI 'mmdc-not-on-this-machine' is not installed "
                            "(npm install -g @mermaid-js/mermaid-cli); diagram left out"]


def test_checkout_mmdc_is_found_when_not_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """scripts/install_mermaid.sh installs into the checkout's .tools/, which is not on PATH."""
    local = tmp_path / "mmdc"
    local.write_text("#!/bin/sh\n")
    monkeypatch.setattr(diagrams, "LOCAL_MMDC", local)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert DiagramRenderer(VisualSettings()).command() == str(local)
    assert DiagramRenderer(VisualSettings(mermaid_cli="my-mmdc")).command() is None  # a chosen name is kept


REAL_MMDC = DiagramRenderer(VisualSettings()).command()
CHROMIUM = next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)
BRIGHT = 120  # luma: the dark theme's strokes, arrows and labels; the panel and the background are far below


def _frame_at(video: Path, t: float) -> np.ndarray:
    """The decoded RGB frame shown at `t` seconds."""
    with av.open(str(video)) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and frame.time >= t:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError(f"no frame at {t} s in {video}")


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


@pytest.mark.skipif(REAL_MMDC is None or CHROMIUM is None,
                    reason="needs the real Mermaid CLI and chromium: run scripts/install_mermaid.sh "
                           "(scripts/test.sh does, as root: apt chromium, nodejs, npm)")  # fmt: skip
def test_real_diagram_is_drawn_into_the_video_frame(tmp_path: Path) -> None:
    """Real mmdc and chromium lay the diagram out, the real render composites it: the frame shows the
    diagram's strokes and labels inside the overlay's rectangle while its beat is spoken, and nothing there
    before it."""
    store = ArtifactStore(tmp_path / "store")
    ffmpeg = FFmpeg()
    media = MediaSettings(encoder="libx264", preset="ultrafast")
    diagram = "graph TD\n  A[Cache] -->|miss| B[Render]\n  A -->|hit| C[Done]"
    beats = [Beat(narration="Every build starts cold and slow today."),
             Beat(narration="Then the cache answers first and the render runs only on a miss.",
                  visual=Visual(kind="diagram", diagram=diagram))]
    background = _background(store, tmp_path, "0x101020")
    result = ImageService(store, media).make(_request(store, beats, ["youtube"], background=background))
    assert result.tier == "mermaid+pillow", result.notes
    overlay = next(o for o in result.overlays if o.start_s > 1.0)  # the diagram's beat comes second
    assert overlay.start_s > 1.0, overlay

    FFmpeg().run(["-loglevel", "error", "-f", "lavfi", "-i", "sine=f=220:d=6", "-ar", "22050",
                  str(tmp_path / "voice.wav")])  # fmt: skip
    (tmp_path / "captions.ass").write_text("[Script Info]\nScriptType: v4.00+\nPlayResX: 1080\nPlayResY: 1920\n\n"
                                           "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, "
                                           "MarginV, Effect, Text\n")  # fmt: skip
    video = RenderService(store, ffmpeg, media).render(RenderRequest(
        project_id="p", run_id="r", voice=store.put(tmp_path / "voice.wav", kind="voice"), duration_s=6.0,
        captions=store.put(tmp_path / "captions.ass", kind="captions"), background=background,
        overlays=result.overlays, platforms=["youtube"])).video

    box = (slice(overlay.y, overlay.y + overlay.height), slice(overlay.x, overlay.x + overlay.width))
    with Image.open(overlay.image.path) as card:
        drawn = np.asarray(card.convert("RGBA"))
    strokes = (_luma(drawn) > BRIGHT) & (drawn[..., 3] > 200)  # the diagram's own bright pixels on the card
    assert strokes.mean() > 0.01, "mmdc drew no visible diagram on the card"

    shown = _luma(_frame_at(Path(video.path), (overlay.start_s + overlay.end_s) / 2))[box]
    assert shown[strokes].mean() > BRIGHT, "the diagram's strokes are not where the overlay was placed"
    assert np.corrcoef(shown.ravel(), _luma(drawn).ravel())[0, 1] > 0.8  # the same picture, not just a blob

    before = _luma(_frame_at(Path(video.path), 0.3))[box]  # the first beat's phrase card, not the diagram
    assert np.corrcoef(before.ravel(), _luma(drawn).ravel())[0, 1] < 0.5, "the diagram shows before its beat"
