"""Stock backgrounds from a local server speaking the Pexels videos API: freshness per project (no clip
reused within the last N videos), retries keep their clip, failures fall back to the procedural loop."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from sma.db.migrate import upgrade
from sma.models.pipeline import BackgroundRequest
from sma.services.artifacts import ArtifactStore
from sma.services.media.background import BackgroundService
from sma.services.media.ffmpeg import FFmpeg
from sma.services.media.pexels import PexelsClient, choose_rendition
from sma.services.media.usage import BackgroundUsage
from sma.settings import MediaSettings, VisualSettings

API_KEY = "pexels-test-key"
CLIP_IDS = [1001, 1002, 1003]


@dataclass
class FakePexels:
    """What the fake API saw and how it should behave."""

    clip: bytes
    base: str = ""
    searches: list[dict[str, list[str]]] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)
    fail_search: int = 0  # HTTP status to answer searches with (0: answer normally)

    def video(self, clip_id: int) -> dict[str, object]:
        """One entry of `videos`, shaped like the real API (ids, sizes, user, renditions, pictures)."""
        return {
            "id": clip_id, "width": 1080, "height": 1920, "duration": 12,
            "url": f"https://www.pexels.com/video/clip-{clip_id}/",
            "image": f"https://images.pexels.com/videos/{clip_id}/preview.jpg", "avg_color": None,
            "user": {"id": 7, "name": f"Author {clip_id}", "url": "https://www.pexels.com/@author"},
            "video_files": [
                {"id": clip_id * 10, "quality": "hd", "file_type": "video/mp4", "width": 1080, "height": 1920,
                 "fps": 29.97, "link": f"{self.base}/video-files/{clip_id}/hd.mp4", "size": 9_000_000},
                {"id": clip_id * 10 + 1, "quality": "sd", "file_type": "video/mp4", "width": 360, "height": 640,
                 "fps": 29.97, "link": f"{self.base}/video-files/{clip_id}/sd.mp4", "size": 900_000},
                {"id": clip_id * 10 + 2, "quality": "sd", "file_type": "video/mp4", "width": 240, "height": 426,
                 "fps": 29.97, "link": f"{self.base}/video-files/{clip_id}/tiny.mp4", "size": 300_000},
            ],
            "video_pictures": [{"id": clip_id * 100, "nr": 0, "picture": "https://static-videos.pexels.com/p.jpg"}],
        }  # fmt: skip


def _handler(state: FakePexels) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path == "/videos/search":
                self._search(parse_qs(url.query))
            elif url.path.startswith("/video-files/"):
                state.downloads.append(url.path)
                self._send(200, state.clip, "video/mp4")
            else:
                self._send(404, b'{"error": "Not Found"}')

        def _search(self, query: dict[str, list[str]]) -> None:
            state.auth.append(self.headers.get("Authorization", ""))
            state.searches.append(query)
            if self.headers.get("Authorization") != API_KEY:
                self._send(401, b'{"error": "Unauthorized"}')
                return
            if state.fail_search:
                self._send(state.fail_search, b'{"error": "Server Error"}')
                return
            page, per_page = int(query.get("page", ["1"])[0]), int(query.get("per_page", ["15"])[0])
            chunk = CLIP_IDS[(page - 1) * per_page : page * per_page]
            body = {
                "page": page, "per_page": per_page, "total_results": len(CLIP_IDS), "url": "https://www.pexels.com/",
                "videos": [state.video(i) for i in chunk],
            }  # fmt: skip
            if page * per_page < len(CLIP_IDS):
                body["next_page"] = f"{state.base}/videos/search/?page={page + 1}&per_page={per_page}"
            self._send(200, json.dumps(body).encode())

    return Handler


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = tmp_path_factory.mktemp("clip") / "clip.mp4"
    FFmpeg().run(["-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=s=360x640:r=25:d=2",
                  "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(out)])  # fmt: skip
    return out.read_bytes()


@pytest.fixture
def pexels(clip_bytes: bytes) -> Iterator[FakePexels]:
    state = FakePexels(clip=clip_bytes)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def usage(tmp_path: Path) -> Iterator[BackgroundUsage]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'sma.db'}"
    upgrade(url)
    store = BackgroundUsage(url)
    yield store
    store.close()


def _service(tmp_path: Path, pexels: FakePexels, usage: BackgroundUsage | None, **visuals: object) -> BackgroundService:
    v = VisualSettings(pexels_base_url=pexels.base, stock_height=640, freshness_videos=2, **visuals)
    settings = MediaSettings(encoder="libx264", visuals=v, background_scale=8)
    return BackgroundService(ArtifactStore(tmp_path / "store"), FFmpeg(), settings,
                             stock=PexelsClient(v, API_KEY), usage=usage)  # fmt: skip


def _req(run: str, project: str = "p", query: str = "ocean") -> BackgroundRequest:
    return BackgroundRequest(project_id=project, run_id=run, duration_s=6.0, seed=run, query=query)


def _clip(result: object) -> str:
    note = next(n for n in result.notes if n.startswith("pexels clip "))  # type: ignore[attr-defined]
    return note.split()[2]


def test_stock_clip_is_fetched_normalised_and_attributed(
    tmp_path: Path, pexels: FakePexels, usage: BackgroundUsage
) -> None:
    service = _service(tmp_path, pexels, usage)
    result = service.make(_req("r1"))
    assert result.tier == "pexels" and result.loop and result.video is not None
    assert _clip(result) == "1001"
    assert any("Author 1001" in n and "https://www.pexels.com/video/clip-1001/" in n for n in result.notes)
    info = FFmpeg().probe(result.video.path)
    assert (info.width, info.height, info.fps, info.has_audio) == (360, 640, 30, False)
    assert pexels.auth == [API_KEY]  # the raw key, no "Bearer"
    search = pexels.searches[0]
    assert search["query"] == ["ocean"] and search["orientation"] == ["portrait"] and search["page"] == ["1"]
    assert pexels.downloads == ["/video-files/1001/sd.mp4"]  # the smallest rendition tall enough
    assert usage.pick_for("p", "r1").clip_id == "1001"  # type: ignore[union-attr]


def test_no_clip_is_reused_within_the_last_n_videos(
    tmp_path: Path, pexels: FakePexels, usage: BackgroundUsage
) -> None:
    service = _service(tmp_path, pexels, usage, pexels_per_page=2)  # the third clip is on page 2
    picks = [_clip(service.make(_req(f"r{i}"))) for i in range(1, 5)]
    assert picks == ["1001", "1002", "1003", "1001"]  # N=2: the fourth video may use the first clip again
    assert [q["page"][0] for q in pexels.searches] == ["1", "1", "1", "2", "1"]
    # A retry of an earlier run gets the same clip back, without searching again.
    searches = len(pexels.searches)
    assert _clip(service.make(_req("r2"))) == "1002"
    assert len(pexels.searches) == searches
    # Another project has its own history.
    assert _clip(service.make(_req("x1", project="other"))) == "1001"


def test_all_recent_clips_fall_back_to_procedural(
    tmp_path: Path, pexels: FakePexels, usage: BackgroundUsage
) -> None:
    service = _service(tmp_path, pexels, usage)
    service.settings.visuals.freshness_videos = 5
    for i in range(3):
        assert service.make(_req(f"r{i}")).tier == "pexels"
    result = service.make(_req("r9"))
    assert result.tier == "procedural" and result.video is not None
    assert any("that the last 5 videos did not use" in n for n in result.notes), result.notes
    assert usage.pick_for("p", "r9").provider == "procedural"  # type: ignore[union-attr]
    assert usage.recent_clips("p", 5) == {"1001", "1002", "1003"}


@pytest.mark.parametrize("status", [401, 500, 429])
def test_api_errors_hand_over_to_procedural(
    tmp_path: Path, pexels: FakePexels, usage: BackgroundUsage, status: int
) -> None:
    pexels.fail_search = status
    service = _service(tmp_path, pexels, usage)
    if status == 401:
        service.stock = PexelsClient(service.settings.visuals, "wrong-key")
        pexels.fail_search = 0
    result = service.make(_req("r1"))
    assert result.tier == "procedural"
    failed = next(n for n in result.notes if n.startswith("pexels: failed"))
    assert str(status) in failed
    assert "wrong-key" not in " ".join(result.notes)


def test_without_key_or_database(tmp_path: Path, pexels: FakePexels) -> None:
    service = _service(tmp_path, pexels, None)
    result = service.make(_req("r1"))
    assert result.tier == "pexels" and "pexels: freshness not tracked (no database)" in result.notes
    service.stock = None
    result = service.make(_req("r2"))
    assert result.tier == "procedural"
    assert "pexels: skipped (no pexels_api_key in the secrets)" in result.notes
    service.settings.visuals.backgrounds = ["procedural"]
    assert not any(n.startswith("pexels") for n in service.make(_req("r3")).notes)


def test_configured_queries_vary_by_seed(tmp_path: Path, pexels: FakePexels) -> None:
    service = _service(tmp_path, pexels, None, pexels_queries=["a", "b", "c", "d"])
    picked = {service.query(BackgroundRequest(project_id="p", run_id=f"r{i}", duration_s=5)) for i in range(20)}
    assert picked <= {"a", "b", "c", "d"} and len(picked) > 1
    assert service.query(_req("r1", query="  rust  ")) == "rust"


def test_rendition_choice() -> None:
    files = [{"height": 1920, "width": 1080}, {"height": 640, "width": 360}, {"height": 1280, "width": 720}]
    assert choose_rendition(files, 1280)["height"] == 1280
    assert choose_rendition(files, 2160)["height"] == 1920
    assert choose_rendition(files, 100)["height"] == 640


def test_activity_builder_wires_the_configured_tiers(tmp_path: Path) -> None:
    from pydantic import SecretStr

    from sma.settings import Secrets, Settings
    from sma.wiring import cpu_pool
    from sma.worker import cpu_activities

    settings = Settings(data_dir=tmp_path / "data", secrets=Secrets(pexels_api_key=SecretStr(API_KEY),
                                                                     openai_api_key=SecretStr("sk-x")))
    activities = cpu_activities(cpu_pool(settings))
    names = [a.__name__ for a in activities]
    assert names == ["music", "background", "images", "render", "check_video", "variant", "rank"]
    owner = activities[0].__self__
    assert owner.backgrounds.stock is not None and owner.backgrounds.usage is not None
    assert owner.image_service.generators.names == ["comfyui", "dalle"]
    without = cpu_pool(Settings(data_dir=tmp_path / "data2")).media
    assert without.backgrounds.stock is None and without.backgrounds.usage is None
