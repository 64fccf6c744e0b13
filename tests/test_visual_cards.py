"""Visuals worth watching: the storyboard, cards, caption styles, brand kit, covers and the monotony gate.

The frame test renders a real 40-60 s video with the real ffmpeg (at 540x960 to keep it cheap; the layout
and cards scale with the frame) and checks the decoded frames, not the filter graph.
"""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sma.models.common import Word
from sma.models.pipeline import Beat, ImagesRequest, Overlay, RenderRequest, ScriptRequest, Topic, Visual
from sma.services.artifacts import ArtifactStore
from sma.services.captions.ass import build_ass, paginate
from sma.services.media.cards import parse_stat, rgb, stat_sheet, text_card, title_card
from sma.services.media.cover import cover_spec, make_cover
from sma.services.media.ffmpeg import FFmpeg
from sma.services.media.images import ImageService, beat_spans
from sma.services.media.layout import Rect, layout_for
from sma.services.media.look import caption_look, layout_for_look, resolve
from sma.services.media.render import RenderService, logo_placement
from sma.services.media.storyboard import key_words, storyboard
from sma.services.qa.video import check_video, longest_static
from sma.services.script.template import TemplateScriptWriter, fill_visuals
from sma.settings import BrandKit, CaptionStyle, LookSettings, MediaSettings, PipelineSettings, ProjectSettings

W, H = 540, 960
TOPIC = Topic(
    title="Durable workflows for creators",
    summary=(
        "A durable workflow engine remembers every finished step of a long job. "
        "When a machine restarts in the middle of a video render, the job picks up where it stopped. "
        "Nothing is done twice and nothing is lost. "
        "The engine writes each decision into an event history that it can replay at any time. "
        "Retries, timers and waiting for a human all become ordinary lines of code."
    ),
    facts=[
        "Teams that adopt durable execution report 73% fewer stuck jobs.",
        '"The workflow is the source of truth", says the Temporal team.',
        "A crashed worker is replaced in seconds.",
        "One team cut its failed renders from 40 to 2 a week.",
        "Long waits cost nothing while the workflow sleeps.",
    ],
)


@pytest.fixture(scope="module")
def ffmpeg() -> FFmpeg:
    return FFmpeg(None, 0)


def spoken(text: str, wpm: float = 160.0) -> list[Word]:
    """Word timings like a voice at `wpm`: longer words take longer, sentences end with a pause."""
    words, t = [], 0.3
    for token in text.split():
        d = 60.0 / wpm * (0.8 + 0.08 * len(token))
        words.append(Word(text=token, start=round(t, 3), end=round(t + d - 0.03, 3)))
        t += d + (0.3 if token[-1] in ".?!" else 0.0)
    return words


def media(**look: object) -> MediaSettings:
    return MediaSettings(width=W, height=H, encoder="libx264", caption_font_size=round(68 * W / 1080),
                         look=LookSettings(**look))  # fmt: skip


# ---------------------------------------------------------------- the storyboard and the writer


def test_template_writer_fills_a_visual_per_beat() -> None:
    beats = fill_visuals([Beat(narration=s) for s in (
        "Teams report 73% fewer stuck jobs.", '"Nothing is lost", says the team.', "Python 3.11 is fast.",
        "Retries become ordinary code.")])  # fmt: skip
    kinds = [b.visual.kind for b in beats]
    assert kinds == ["stat", "quote", "text", "text"]
    assert beats[0].visual.stat_value == "73%" and beats[0].visual.stat_label == "fewer stuck jobs"
    assert beats[1].visual.quote == "Nothing is lost" and beats[1].visual.attribution == "the team"
    assert beats[3].visual.headline == "Retries become ordinary code"
    assert key_words("A durable workflow engine remembers every finished step of a long job.") == (
        "durable workflow engine remembers")  # the densest phrase, no function words at its edges
    kept = fill_visuals([Beat(narration="x", visual=Visual(kind="code", code="print(1)"))])[0]
    assert kept.visual.kind == "code"


def test_storyboard_opens_with_the_hook_and_changes_every_few_seconds() -> None:
    script = TemplateScriptWriter(PipelineSettings(target_seconds=50)).write(
        ScriptRequest(project_id="p", run_id="r", topic=TOPIC), ProjectSettings(id="p"))
    words = spoken(script.narration())
    spans = beat_spans(script.beats, words, words[-1].end + 0.6)
    shots = storyboard(script.beats, spans, words, words[-1].end + 0.6, change_every_s=2.6)
    assert shots[0].kind == "title" and shots[0].start == 0.0
    hook_words = {w.strip(".,?!") for w in script.hook.split()}
    assert set(shots[0].text.split()) <= hook_words and len(shots[0].text.split()) >= 3
    assert all(b.start == pytest.approx(a.end) for a, b in itertools.pairwise(shots))  # gapless
    assert max(s.end - s.start for s in shots) <= 2.6 * 1.6
    assert {"stat", "quote"} <= {s.kind for s in shots}
    assert shots[-1].end == pytest.approx(words[-1].end)


def test_stat_card_counts_up_in_a_sprite_sheet() -> None:
    assert parse_stat("73%").value == 73 and parse_stat("$1,200").format(600) == "$600"
    sheet, frames = stat_sheet("73%", "fewer stuck jobs", 800, 600, BrandKit())
    assert frames > 1 and sheet.height % frames == 0 and (sheet.height // frames) % 2 == 0
    first = np.asarray(sheet.crop((0, 0, 800, sheet.height // frames)))
    last = np.asarray(sheet.crop((0, sheet.height - sheet.height // frames, 800, sheet.height)))
    assert np.abs(first.astype(int) - last.astype(int)).mean() > 1  # the number and the bar moved
    assert stat_sheet("many", "", 800, 600, BrandKit())[1] == 1


def test_cards_take_the_brand_and_never_cut_text() -> None:
    brand = BrandKit(accent="#00FF00")
    card = title_card("a very long hook " * 12, 600, 400, brand)
    assert card.height <= 400 and card.width == 600
    pixels = np.asarray(card.convert("RGB")).reshape(-1, 3)
    assert (np.abs(pixels - np.array([0, 255, 0])).sum(axis=1) < 30).mean() > 0.3
    for variant in range(3):
        assert text_card("durable workflows remember", 600, 400, brand, variant).height <= 400
    with pytest.raises(ValueError, match="#RRGGBB"):
        rgb("green")


# ---------------------------------------------------------------- the frames of a real render


def _frames(ffmpeg: FFmpeg, video: str, rows: float, fps: int = 4) -> np.ndarray:
    """Grey 54x96 frames at `fps`, cropped to the rows above the caption band (a share of the height)."""
    raw = subprocess.run([ffmpeg.binary, "-loglevel", "error", "-i", video, "-vf",
                          f"fps={fps},scale=54:96:flags=area,format=gray", "-f", "rawvideo", "-"],
                         capture_output=True, check=True).stdout  # fmt: skip
    frames = np.frombuffer(raw, np.uint8).reshape(-1, 96, 54).astype(np.float32)
    return frames[:, : int(96 * rows)]


def _distinct_per_window(frames: np.ndarray, fps: int, window_s: float = 10.0) -> list[int]:
    """Per 10 s window, how many distinct stable pictures (held >= 0.5 s) were on screen.

    A stable picture is a run of frames that differ from their neighbour by less than 1.5 grey levels
    (the background drifts by ~0.5); it is distinct when it differs from the previous one by more than 3.
    """
    diffs = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2))
    runs: list[tuple[int, int]] = []
    start = 0
    for i, d in enumerate(diffs, start=1):
        if d >= 1.5:
            if i - start >= fps // 2:
                runs.append((start, i))
            start = i
    if len(frames) - start >= fps // 2:
        runs.append((start, len(frames)))
    pictures: list[tuple[float, float]] = []
    previous: np.ndarray | None = None
    for a, b in runs:
        mean = frames[a:b].mean(axis=0)
        if previous is None or np.abs(mean - previous).mean() > 3:
            pictures.append((a / fps, b / fps))
        previous = mean
    windows = int(len(frames) / fps // window_s)
    return [sum(1 for a, b in pictures if a < (k + 1) * window_s and b > k * window_s) for k in range(windows)]


def test_offline_video_shows_three_visuals_per_10s_and_the_hook_first(ffmpeg: FFmpeg, tmp_path: Path) -> None:
    settings = media()
    script = TemplateScriptWriter(PipelineSettings(target_seconds=50)).write(
        ScriptRequest(project_id="p", run_id="r", topic=TOPIC), ProjectSettings(id="p"))
    words = spoken(script.narration())
    duration = words[-1].end + 0.3
    assert 40 <= duration <= 60, duration
    store = ArtifactStore(tmp_path / "store")
    look = caption_look(settings, "p")
    captions = store.put_bytes(build_ass(words, W, H, look.font, look.font_size, look=look).encode(), ".ass",
                               kind="captions")  # fmt: skip
    words_ref = store.put_json([w.model_dump() for w in words], kind="words")
    voice = tmp_path / "voice.wav"
    ffmpeg.run(["-loglevel", "error", "-f", "lavfi", "-i", f"sine=f=200:d={duration}", "-ar", "22050", str(voice)])
    images = ImageService(store, settings).make(ImagesRequest(
        project_id="p", run_id="r", beats=script.beats, words=words_ref, duration_s=duration))  # fmt: skip
    assert images.overlays[0].start_s == 0.0 and images.overlays[0].end_s >= 1.0
    result = RenderService(store, ffmpeg, settings).render(RenderRequest(
        project_id="p", run_id="r", voice=store.put(voice, kind="voice"), duration_s=duration, captions=captions,
        overlays=images.overlays))  # fmt: skip
    layout = layout_for_look([], settings, "p")
    frames = _frames(ffmpeg, result.video.path, layout.captions.y / H)
    counts = _distinct_per_window(frames, 4)
    assert len(counts) >= 4 and min(counts) >= 3, counts
    # The hook: at 0.9 s the title card (accent panel, big dark words) covers much of the picture area.
    with Image.open(_grab(ffmpeg, result.video.path, 0.9, tmp_path)) as first:
        top = np.asarray(first.convert("RGB"))[: layout.captions.y].reshape(-1, 3).astype(int)
    accent = np.array(rgb(BrandKit().accent))
    assert (np.abs(top - accent).sum(axis=1) < 60).mean() > 0.25
    visual = {r.gate: r for r in check_video(ffmpeg, Path(result.video.path), duration + 0.6, W, H,
                                             strict_monotony=True)}["QA_VISUAL"]  # fmt: skip
    assert visual.passed and visual.metrics["longest_static_s"] <= 6.0, visual


def _grab(ffmpeg: FFmpeg, video: str, t: float, tmp: Path) -> Path:
    out = tmp / f"frame_{t}.png"
    ffmpeg.run(["-loglevel", "error", "-ss", str(t), "-i", video, "-frames:v", "1", str(out)])
    return out


# ---------------------------------------------------------------- caption styles


def test_caption_presets_and_overrides() -> None:
    bold = resolve(CaptionStyle())
    assert (bold.font_size, bold.highlight, bold.words_per_line) == (80, "pop", 3)
    custom = resolve(CaptionStyle(preset="boxed", highlight_colour="#00ff00", words_per_line=2, font_size=90))
    assert (custom.font_size, custom.highlight, custom.highlight_colour, custom.words_per_line) == (
        90, "box", "#00ff00", 2)  # fmt: skip
    with pytest.raises(ValueError, match="#RRGGBB"):
        resolve(CaptionStyle(colour="red"))
    words = spoken("one two three four five six seven eight nine ten.")
    assert all(len(line) <= 2 for page in paginate(words, 40, 2, max_words=2) for line in page)
    ass = build_ass(words, 1080, 1920, custom.font, custom.font_size, look=custom)
    style = next(line for line in ass.splitlines() if line.startswith("Style: Default"))
    assert ",90," in style and style.split(",")[15] == "3"  # BorderStyle 3: a box behind the words
    assert r"{\3c&H0000FF00}" in ass  # the spoken word's box in the highlight colour (&HAABBGGRR)
    pop = build_ass(words, 1080, 1920, bold.font, bold.font_size, look=bold)
    assert r"\fscx118" in pop and "&H0000D4FF" in pop  # yellow #FFD400 pops


def test_caption_position_stays_inside_the_safe_zone() -> None:
    low = layout_for_look(["tiktok"], MediaSettings(), "p")
    raised = layout_for_look(["tiktok"], MediaSettings(look=LookSettings(
        captions=CaptionStyle(position="lower_third"))), "p")  # fmt: skip
    assert raised.captions.bottom < low.captions.bottom
    for layout in (low, raised):
        assert layout.safe.contains(layout.captions) and layout.overlays.bottom < layout.captions.y
    # a project's look replaces the default for that project only
    settings = MediaSettings(project_looks={"big": LookSettings(captions=CaptionStyle(font_size=100))})
    assert caption_look(settings, "big").font_size == 100 and caption_look(settings, "other").font_size == 80


# ---------------------------------------------------------------- brand kit


@pytest.mark.parametrize("corner", ["top_left", "top_right", "bottom_left", "bottom_right"])
@pytest.mark.parametrize("platforms", [[], ["tiktok"], ["instagram"], ["youtube"]])
def test_logo_stays_in_the_safe_zone(tmp_path: Path, corner: str, platforms: list[str]) -> None:
    logo = tmp_path / "logo.png"
    Image.new("RGBA", (400, 300), (255, 0, 0, 255)).save(logo)
    layout = layout_for(platforms, 1080, 1920, 80)
    place = logo_placement(str(logo), 200, corner, layout)
    assert layout.allows(Rect(place.x, place.y, place.w, place.h)), (corner, platforms, place)
    assert place.w == 200 and place.h == 150


def test_logo_watermark_is_drawn_in_its_corner(ffmpeg: FFmpeg, tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    Image.new("RGBA", (200, 200), (255, 0, 0, 255)).save(logo)
    settings = media(brand=BrandKit(logo=str(logo), logo_corner="top_right", logo_width=160, logo_opacity=0.85))
    store = ArtifactStore(tmp_path / "store")
    words = spoken("a short video with a logo.")
    captions = store.put_bytes(build_ass(words, W, H, "DejaVu Sans", 40).encode(), ".ass", kind="captions")
    voice = tmp_path / "voice.wav"
    ffmpeg.run(["-loglevel", "error", "-f", "lavfi", "-i", "sine=f=200:d=2", "-ar", "22050", str(voice)])
    result = RenderService(store, ffmpeg, settings).render(RenderRequest(
        project_id="p", run_id="r", voice=store.put(voice, kind="voice"), duration_s=2.0, captions=captions))
    layout = layout_for_look([], settings, "p")
    place = logo_placement(str(logo), 160, "top_right", layout)
    with Image.open(_grab(ffmpeg, result.video.path, 1.0, tmp_path)) as frame:
        rgb_frame = np.asarray(frame.convert("RGB")).astype(int)
    inside = rgb_frame[place.y + 4 : place.y + place.h - 4, place.x + 4 : place.x + place.w - 4].reshape(-1, 3)
    assert (inside[:, 0] > 170).mean() > 0.9 and (inside[:, 1] < 70).mean() > 0.9  # red at 85 % over the dark
    assert layout.allows(Rect(place.x, place.y, place.w, place.h))


def test_brand_logo_missing_is_a_note_not_a_failure(tmp_path: Path) -> None:
    settings = media(brand=BrandKit(logo=str(tmp_path / "nope.png")))
    notes: list[str] = []
    service = RenderService(ArtifactStore(tmp_path / "s"), FFmpeg(None, 0), settings)
    req = RenderRequest(project_id="p", run_id="r", voice=_ref(tmp_path), duration_s=1.0, captions=_ref(tmp_path))
    assert service.logo_overlay(req, layout_for_look([], settings, "p"), notes) is None
    assert "not found" in notes[0]


def _share(frame: np.ndarray, box: tuple[int, int, int, int], colour: str, tol: int = 60) -> float:
    """The share of pixels in box (x, y, w, h) within `tol` (sum of channel differences) of `colour`."""
    x, y, w, h = box
    pixels = frame[y : y + h, x : x + w].reshape(-1, 3)
    return float((np.abs(pixels - np.array(rgb(colour))).sum(axis=1) < tol).mean())


def test_intro_and_outro_cards_are_drawn_from_the_brand_kit(ffmpeg: FFmpeg, tmp_path: Path) -> None:
    brand = BrandKit(background="#1030C0", accent="#FF8000", intro="Durable workflows, weekly",
                     outro="Follow for part two")  # fmt: skip
    settings = media(brand=brand)
    store = ArtifactStore(tmp_path / "store")
    layout = layout_for_look([], settings, "p")
    box = layout.overlays
    title = tmp_path / "title.png"
    title_card("the hook", box.w, box.h, brand).save(title)
    tw, th = Image.open(title).size
    place = layout.place(tw, th, anchor="center")
    marker = tmp_path / "marker.png"
    Image.new("RGBA", (box.w, box.h), (255, 0, 255, 255)).save(marker)
    overlays = [
        Overlay(image=store.put(title, kind="image"), start_s=0.0, end_s=1.5, x=place.x, y=place.y,
                width=place.w, height=place.h, motion="slide"),
        Overlay(image=store.put(marker, kind="image"), start_s=1.5, end_s=6.0, x=box.x, y=box.y),
    ]  # fmt: skip
    words = spoken("a short video with an intro band and an outro card at its end.")
    captions = store.put_bytes(build_ass(words, W, H, "DejaVu Sans", 30).encode(), ".ass", kind="captions")
    voice = tmp_path / "voice.wav"
    ffmpeg.run(["-loglevel", "error", "-f", "lavfi", "-i", "sine=f=200:d=6", "-ar", "22050", str(voice)])
    req = RenderRequest(project_id="p", run_id="r", voice=store.put(voice, kind="voice"), duration_s=6.0,
                        captions=captions, overlays=overlays)  # fmt: skip
    service = RenderService(store, ffmpeg, settings)
    result = service.render(req)

    def frame(t: float) -> np.ndarray:
        with Image.open(_grab(ffmpeg, result.video.path, t, tmp_path)) as image:
            return np.asarray(image.convert("RGB")).astype(int)

    notes: list[str] = []
    placed = service.brand_cards(req, overlays, layout, tmp_path, notes)
    intro = next(o for o in placed if o.image.path.endswith("intro.png"))
    outro = next(o for o in placed if o.image.path.endswith("outro.png"))
    hook = placed[0]  # scaled into the room above the band
    assert not notes and hook.y + hook.height + 48 <= intro.y and hook.height < place.h
    assert layout.allows(Rect(intro.x, intro.y, intro.width, intro.height)) and intro.end_s == 1.5
    band = (intro.x + 30, intro.y + 12, intro.width - 60, intro.height - 30)
    opening = frame(1.0)  # the hook's title card with the intro band under it
    assert _share(opening, (hook.x + 20, hook.y + 20, hook.width - 40, hook.height - 50), "#FF8000") > 0.4
    assert _share(opening, band, "#1030C0") > 0.4
    middle = frame(3.0)  # the storyboard alone: no band, no outro
    assert _share(middle, band, "#1030C0") < 0.05 and _share(middle, (box.x, box.y, box.w, 40), "#FF00FF") > 0.9
    closing = frame(5.6)  # the outro owns the end: the card that ran to 6.0 s stopped where it starts
    assert _share(closing, (box.x, box.y, box.w, box.h), "#FF00FF") < 0.01
    inner = (outro.x + 40, outro.y + 40, outro.width - 80, outro.height - 80)
    assert _share(closing, inner, "#1030C0") > 0.4 and _share(closing, inner, "#FFFFFF", 120) > 0.02
    # off by default: no brand text, nothing added
    plain = RenderService(store, ffmpeg, media())
    assert plain.brand_cards(req, overlays, layout, tmp_path, notes) == overlays


def _ref(tmp: Path) -> object:
    from sma.models.common import ArtifactRef

    return ArtifactRef(path=str(tmp / "x"), sha256="", size=0)


# ---------------------------------------------------------------- covers


@pytest.mark.parametrize("platform", ["youtube", "tiktok", "instagram"])
def test_cover_has_the_hook_inside_the_safe_zone(platform: str) -> None:
    brand = BrandKit(accent="#00FF00")
    cover = make_cover("Why your renders crash at 3 am", platform, brand)
    spec = cover_spec(platform)
    assert cover.size == ((1280, 720) if platform == "youtube" else (1080, 1920))
    pixels = np.asarray(cover).astype(int)
    green = np.abs(pixels - np.array([0, 255, 0])).sum(axis=2) < 30
    ys, xs = np.nonzero(green)
    box = spec.text_box
    assert green.mean() > 0.05
    assert box.x <= xs.min() and xs.max() < box.right and box.y <= ys.min() and ys.max() < box.bottom
    if platform != "youtube":  # inside the 3:4 profile-grid crop and clear of the app's interface
        assert layout_for([platform]).safe.contains(box) and box.y >= 240 and box.bottom <= 1680


# ---------------------------------------------------------------- monotony


def _clip(ffmpeg: FFmpeg, out: Path, seconds: float, card_every_s: float | None) -> Path:
    """A drifting gradient (like the fallback background); with cards, a white box toggles every N s."""
    graph = f"gradients=s=270x480:c0=0x1c2233:c1=0x3a2f5b:speed=0.01:seed=7:d={seconds}:r=30"
    args = ["-loglevel", "error", "-f", "lavfi", "-i", graph, "-f", "lavfi", "-i", f"sine=d={seconds}"]
    if card_every_s:
        args += ["-vf", f"drawbox=x=40:y=60:w=190:h=140:color=white:t=fill:enable='lt(mod(t,{2 * card_every_s}),"
                        f"{card_every_s})'"]  # fmt: skip
    ffmpeg.run([*args, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
                "-t", str(seconds), str(out)])  # fmt: skip
    return out


def test_monotony_is_a_warning_for_manual_runs_and_a_failure_for_autonomous(ffmpeg: FFmpeg, tmp_path: Path) -> None:
    still = _clip(ffmpeg, tmp_path / "still.mp4", 9.0, None)
    manual = {r.gate: r for r in check_video(ffmpeg, still, 9.0, 270, 480)}["QA_VISUAL"]
    assert manual.passed and manual.reasons[0].startswith("warning: no new visual from 0.0s to 9.0s")
    assert manual.metrics["longest_static_s"] == pytest.approx(9.0, abs=0.2)
    strict = {r.gate: r for r in check_video(ffmpeg, still, 9.0, 270, 480, strict_monotony=True)}["QA_VISUAL"]
    assert not strict.passed and "no new visual" in strict.reasons[0]
    lively = _clip(ffmpeg, tmp_path / "lively.mp4", 9.0, 2.0)
    ok = {r.gate: r for r in check_video(ffmpeg, lively, 9.0, 270, 480, strict_monotony=True)}["QA_VISUAL"]
    assert ok.passed, ok.reasons
    assert ok.metrics["scene_changes"] >= 3 and ok.metrics["longest_static_s"] <= 2.6
    longer = {r.gate: r for r in check_video(ffmpeg, still, 9.0, 270, 480, monotony_s=10,
                                             strict_monotony=True)}["QA_VISUAL"]  # fmt: skip
    assert longer.passed and not longer.reasons


def test_longest_static_stretch() -> None:
    assert longest_static([2.0, 4.0, 11.0], 12.0) == (4.0, 11.0)
    assert longest_static([], 5.0) == (0.0, 5.0)


def test_overlay_sprite_and_slide_reach_the_filter_graph(tmp_path: Path) -> None:
    from sma.services.media.render import _overlay_source, _overlay_y

    ref = _ref(tmp_path)
    card = Overlay(image=ref, start_s=2.0, end_s=4.0, width=400, height=300, frames=12, frame_s=0.07,
                   motion="slide")  # type: ignore[arg-type]  # fmt: skip
    source = _overlay_source(card, 30, 10.0)
    assert "scale=400:3600" in source and "crop=w=iw:h=ih/12" in source and "min(11," in source
    assert _overlay_y(card).startswith("'0+48*pow(")
