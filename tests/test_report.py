"""The HTML report: self-contained, and what headless Chromium shows of it (turns, labels, changes,
colours, click-to-play, zoom)."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from synth import make_conversation

from turnpoint.changes.annotations import Turn, read_rttm
from turnpoint.cli.main import main
from turnpoint.changes.detection import Detection
from turnpoint.core.windows import Scores
from turnpoint.changes.outputs import output_paths, write_outputs
from turnpoint.changes.report import write_report

STEP = 0.01


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no chromium binary found (Debian: apt-get install chromium); scripts/test.sh installs it when run as root")


def browse(page: Path, tmp_path: Path, *options: str) -> str:
    """Run headless Chromium on ``page``; returns stdout (the DOM with --dump-dom)."""
    command = [chromium(), "--headless", "--disable-gpu", "--no-sandbox", "--mute-audio", f"--user-data-dir={tmp_path / 'profile'}",
               "--virtual-time-budget=8000", "--window-size=1200,1000", *options, page.as_uri()]
    # the timeout only guards against a hung browser; nothing here measures speed
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def conversation(tmp_path_factory) -> tuple[Detection, list[Turn], Path]:
    """20 s of three synthetic speakers, and a detection that found their turns (labels and changes
    from the reference, one turn's label missing as non-speech), with score peaks at the changes."""
    folder = tmp_path_factory.mktemp("audio")
    wav = folder / "chat.wav"
    turns = make_conversation(wav, seed=3, duration=20.0, n_speakers=3)
    reference = read_rttm(wav.with_suffix(".rttm"))["chat"]
    duration = sf.info(str(wav)).duration
    changes = np.array([s for s, _, _ in turns[1:]])
    edges = [0.0, *changes.tolist(), duration]
    segments = list(zip(edges[:-1], edges[1:]))
    labels = [f"SPEAKER_0{int(spk[-1])}" for _, _, spk in turns]
    labels[2] = None
    times = np.arange(int(duration / STEP)) * STEP
    values = 0.05 + sum(0.85 * np.exp(-0.5 * ((times - c) / 0.1) ** 2) for c in changes)
    detection = Detection(uri="chat", path=str(wav), scores=Scores(np.clip(values, 0, 1).astype(np.float32), STEP, duration),
                          changes=changes, segments=segments, settings={"alpha": 0.5, "alpha_scale": "absolute", "min_duration": 1.0},
                          labels=labels)
    return detection, reference, wav


def page_data(page: Path) -> dict:
    text = page.read_text()
    match = re.search(r'<script type="application/json" id="turnpoint-data">(.*?)</script>', text, re.S)
    return json.loads(match.group(1))


class Elements(HTMLParser):
    """The start tags of a document, with their attributes, and the text of elements with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: dict[str, str] = {}
        self._open: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag not in ("br", "img", "input", "meta", "link"):
            self._open.append(attrs.get("id"))

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()

    def handle_data(self, data):
        for ident in self._open:
            if ident:
                self.text[ident] = self.text.get(ident, "") + data

    def find(self, tag: str, **wanted) -> list[dict]:
        return [a for t, a in self.tags if t == tag and all(a.get(k.replace("_", "-")) == v for k, v in wanted.items())]


def dom(markup: str) -> Elements:
    parser = Elements()
    parser.feed(markup)
    return parser


# ---------------------------------------------------------------- the file itself


def test_report_is_one_self_contained_file_with_the_audio_inside(conversation, tmp_path: Path):
    detection, reference, wav = conversation
    page = write_report(detection, tmp_path / "chat.html", reference=reference)
    text = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text) and "<link" not in text and "@import" not in text
    data = page_data(page)
    assert data["changes"] == [round(float(c), 3) for c in detection.changes]
    assert [s[2] for s in data["segments"]] == detection.labels
    assert len(data["reference"]) == len(reference)
    # the audio is embedded, and decodes to the file's duration
    assert data["audio"]["embedded"] and data["audio"]["src"].startswith("data:audio/ogg;base64,")
    encoded = base64.b64decode(data["audio"]["src"].split(",", 1)[1])
    decoded, rate = sf.read(io.BytesIO(encoded))
    assert rate == 16000 and len(decoded) / rate == pytest.approx(detection.duration, abs=0.05)
    assert len(encoded) < 0.25 * wav.stat().st_size  # compact: a fraction of the 16-bit WAV
    # the waveform envelope: one point per 10 ms, normalised to the loudest
    envelope = np.frombuffer(base64.b64decode(data["envelope"]["values"]), dtype=np.uint8)
    assert len(envelope) == pytest.approx(detection.duration / 0.01, abs=2) and envelope.max() == 255


def test_long_audio_is_linked_relative_to_the_report(conversation, tmp_path: Path):
    detection, _, wav = conversation
    page = write_report(detection, tmp_path / "reports" / "chat.html", embed_seconds=5.0)
    data = page_data(page)
    assert data["audio"]["embedded"] is False
    linked = (page.parent / data["audio"]["src"]).resolve()
    assert linked == wav.resolve() and not Path(data["audio"]["src"]).is_absolute()
    assert data["envelope"] is not None  # the waveform is still drawn


def test_report_without_audio_and_bad_audio(conversation, tmp_path: Path):
    detection, _, _ = conversation
    data = page_data(write_report(detection, tmp_path / "a.html", audio=False))
    assert data["audio"] is None and data["envelope"] is None
    from turnpoint.core.errors import TurnpointError

    with pytest.raises(TurnpointError, match="missing.wav"):
        write_report(detection, tmp_path / "b.html", audio=tmp_path / "missing.wav")
    with pytest.raises(TurnpointError, match="overwrite"):
        write_report(detection, detection.path)


def test_write_outputs_and_cli_write_the_report(tmp_path: Path):
    wav = tmp_path / "dialogue.wav"
    make_conversation(wav, seed=5, duration=12.0, n_speakers=2)
    assert output_paths("dialogue", out_dir=tmp_path, formats=[], report=True) == {"report": tmp_path / "dialogue.html"}
    out = tmp_path / "out"
    assert main(["--quiet", "detect", str(wav), "--report", "--reference", str(wav.with_suffix(".rttm")), "--out", str(out)]) == 0
    data = page_data(out / "dialogue.html")
    written = json.loads((out / "dialogue.json").read_text())
    assert data["changes"] == written["changes"] and data["audio"]["embedded"]
    assert [r[2] for r in data["reference"]] == [t.speaker for t in read_rttm(wav.with_suffix(".rttm"))["dialogue"]]
    from turnpoint.changes.detect import detect_changes

    paths = write_outputs(detect_changes(wav), out_dir=tmp_path / "api", formats=["json"], report=True)
    assert paths["report"].is_file()


# ---------------------------------------------------------------- what the browser shows


def test_chromium_builds_the_turns_labels_and_counts(conversation, tmp_path: Path):
    detection, reference, _ = conversation
    page = write_report(detection, tmp_path / "chat.html", reference=reference)
    shown = dom(browse(page, tmp_path, "--dump-dom"))
    (body,) = shown.find("body")
    assert body.get("data-ready") == "1" and body.get("data-changes") == str(len(detection.changes))
    summary = html.unescape(shown.text["summary"])
    assert f"{len(detection.changes)} changes" in summary and f"{len(detection.segments)} segments" in summary
    assert "3 speakers" in summary and f"reference: 3 speakers, {len(reference)} turns" in summary
    # one table row per segment, carrying its speaker label (empty for non-speech)
    rows = [a for t, a in shown.tags if t == "tr" and "data-start" in a]
    assert [r["data-label"] or None for r in rows] == detection.labels
    assert [float(r["data-start"]) for r in rows] == pytest.approx([s for s, _ in detection.segments], abs=1e-3)
    # the legend names each detected and reference speaker
    detected = {a["data-label"] for a in shown.find("li", data_kind="detected")}
    assert detected == {label for label in detection.labels if label is not None}
    assert {a["data-label"] for a in shown.find("li", data_kind="reference")} == {t.speaker for t in reference}
    assert len([a for t, a in shown.tags if t == "button" and "data-time" in a]) == len(detection.changes)
    (audio,) = shown.find("audio")
    assert audio["src"].startswith("data:audio/ogg;base64,")


SELF_TEST = """<script>
window.addEventListener("load", () => {
  const r = window.turnpointReport, out = {}, c = r.canvas, box = c.getBoundingClientRect();
  const at = (x) => ({ clientX: box.left + x, clientY: box.top + 100, bubbles: true, cancelable: true });
  // a click (press and release in place) at the pixel of t = 7.3 s
  const x = Math.round(r.xAt(7.3));
  out.expected = r.timeAt(x); out.pixelSeconds = r.timeAt(x + 1) - r.timeAt(x);
  c.dispatchEvent(new MouseEvent("mousedown", at(x)));
  window.dispatchEvent(new MouseEvent("mouseup", at(x)));
  out.seek = r.lastSeek; out.audioTime = r.audio.currentTime;
  // the wheel zooms in around the cursor: the time under it stays put
  out.before = r.view();
  c.dispatchEvent(new WheelEvent("wheel", Object.assign(at(x), { deltaY: -600 })));
  out.after = r.view(); out.underCursor = r.timeAt(x);
  // a drag pans without seeking
  c.dispatchEvent(new MouseEvent("mousedown", at(x)));
  window.dispatchEvent(new MouseEvent("mousemove", at(x - 200)));
  window.dispatchEvent(new MouseEvent("mouseup", at(x - 200)));
  out.panned = r.view(); out.seekAfterDrag = r.lastSeek;
  document.getElementById("zoom-out").click(); document.getElementById("zoom-out").click(); document.getElementById("zoom-out").click();
  out.zoomedOut = r.view();
  const done = () => { out.audioDuration = r.audio.duration; document.body.dataset.selftest = JSON.stringify(out); };
  if (r.audio.readyState >= 1) done(); else { r.audio.addEventListener("loadedmetadata", done); r.audio.addEventListener("error", done); }
});
</script>"""


def test_chromium_click_plays_from_that_point_and_zooms(conversation, tmp_path: Path):
    detection, reference, _ = conversation
    page = write_report(detection, tmp_path / "chat.html", reference=reference)
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", SELF_TEST + "</body>"))
    (body,) = dom(browse(probe, tmp_path, "--dump-dom")).find("body")
    assert "data-selftest" in body, "the page's script did not run"
    result = json.loads(body["data-selftest"])
    assert result["expected"] == pytest.approx(7.3, abs=result["pixelSeconds"])
    assert result["seek"] == pytest.approx(result["expected"], abs=1e-6)
    assert result["audioTime"] == pytest.approx(result["expected"], abs=0.05)  # the player was moved there
    assert result["before"] == pytest.approx([0.0, detection.duration], abs=1e-3)
    start, end = result["after"]
    assert end - start < 0.6 * detection.duration and start <= result["expected"] <= end
    assert result["underCursor"] == pytest.approx(result["expected"], abs=1e-6)
    assert result["panned"][0] > start and result["panned"][1] - result["panned"][0] == pytest.approx(end - start)
    assert result["seekAfterDrag"] == result["seek"]  # dragging did not seek
    assert result["zoomedOut"] == pytest.approx([0.0, detection.duration], abs=1e-3)
    assert result["audioDuration"] == pytest.approx(detection.duration, abs=0.1)  # the browser decodes the embedded audio


def test_chromium_screenshot_shows_the_turn_colours(conversation, tmp_path: Path):
    detection, reference, _ = conversation
    page = write_report(detection, tmp_path / "chat.html", reference=reference)
    shot = tmp_path / "shot.png"
    browse(page, tmp_path, f"--screenshot={shot}", "--hide-scrollbars")
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    data = page_data(page)

    def count(colour: str) -> int:
        rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
        return int(np.sum(np.all(pixels == rgb, axis=1)))

    for kind in ("detected", "reference"):
        for label, colour in data["colours"][kind].items():
            assert count(colour) > 400, f"{kind} {label}: {colour} barely on screen"  # bars, not just legend swatches
    assert count("#d62728") > 200  # the change lines
    assert count("#d9d9d9") > 100  # the non-speech segment
