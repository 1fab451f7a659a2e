"""report.html in a real headless browser (Debian's chromium, driven over the DevTools protocol).

For each report: no console error, no uncaught exception, no request other than
the file itself and its data: URIs; every chart panel drawn with its series and
marks, every plot image decoded; the causes and their evidence (text and
source) visible in the page text; drag-to-zoom, double-click to reset, and the
hover tooltip work; a full-page screenshot is saved (under the test's tmp dir,
and copied to $TRAINDX_TEST_ARTIFACTS when that is set). Injected markup in
file names and log lines must stay text.

The DevTools client below is a minimal WebSocket (RFC 6455) client over the
standard library, so the test needs nothing but the browser. Skipped, with the
reason, when no chromium can be found.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

import traindx
from traindx.report import write_reports

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome", "headless_shell")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-port=0",
)


def find_chromium() -> str | None:
    env = os.environ.get("TRAINDX_CHROMIUM")
    if env and Path(env).is_file():
        return env
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium found (apt-get install -y chromium, or set TRAINDX_CHROMIUM)")


# -- a minimal WebSocket client and DevTools session -------------------------------------------
class WebSocket:
    def __init__(self, url: str, timeout: float = 30.0) -> None:
        u = urlparse(url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = (
            f"GET {u.path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(req.encode())
        self.buf = bytearray()
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("websocket handshake: connection closed")
            self.buf += chunk
        head, _, rest = bytes(self.buf).partition(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"websocket handshake refused: {head[:200]!r}")
        self.buf = bytearray(rest)

    def _frame(self, opcode: int, payload: bytes) -> None:
        head = bytearray([0x80 | opcode])
        n = len(payload)
        if n < 126:
            head.append(0x80 | n)
        elif n < 1 << 16:
            head.append(0x80 | 126)
            head += struct.pack(">H", n)
        else:
            head.append(0x80 | 127)
            head += struct.pack(">Q", n)
        mask = os.urandom(4)
        head += mask
        body = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        self.sock.sendall(bytes(head) + body)

    def send(self, text: str) -> None:
        self._frame(0x1, text.encode("utf-8"))

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("websocket closed")
            self.buf += chunk
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def recv(self) -> str:
        parts: list[bytes] = []
        while True:
            b1, b2 = self._read(2)
            opcode, n = b1 & 0x0F, b2 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b2 & 0x80 else None
            data = self._read(n)
            if mask:
                data = bytes(b ^ mask[i & 3] for i, b in enumerate(data))
            if opcode == 0x8:
                raise ConnectionError("websocket closed by the browser")
            if opcode == 0x9:
                self._frame(0xA, data)
                continue
            if opcode == 0xA:
                continue
            parts.append(data)
            if b1 & 0x80:
                return b"".join(parts).decode("utf-8")

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Browser:
    """One headless chromium, one page, with the console, exceptions, log and network recorded."""

    def __init__(self, binary: str, profile: Path) -> None:
        self.log = open(profile.parent / "chromium.log", "w")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"], stdout=self.log, stderr=subprocess.STDOUT)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or len(port_file.read_text().splitlines()) < 2:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"chromium did not start (see {profile.parent / 'chromium.log'})")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        self.ws = WebSocket(f"ws://127.0.0.1:{port}{path}")
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=True)

    def call(self, method: str, params: dict[str, Any] | None = None, *, session: bool = False) -> dict[str, Any]:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        while True:
            m = json.loads(self.ws.recv())
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            if "method" in m:
                self.events.append(m)

    def wait_for(self, method: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(e["method"] == method for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(method)
            m = json.loads(self.ws.recv())
            if "method" in m:
                self.events.append(m)

    def open(self, path: Path) -> None:
        self.events.clear()
        self.call("Page.navigate", {"url": path.resolve().as_uri()}, session=True)
        self.wait_for("Page.loadEventFired")

    def js(self, expression: str) -> Any:
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}, session=True)
        if "exceptionDetails" in r:
            raise AssertionError(f"script failed: {r['exceptionDetails']}")
        return r["result"].get("value")

    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions, error log entries (CSP violations included)."""
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning", "assert"):
                out.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif e["method"] == "Runtime.exceptionThrown":
                out.append("exception: " + json.dumps(p.get("exceptionDetails", {}))[:500])
            elif e["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") in ("error", "warning"):
                out.append("log: " + p["entry"].get("text", ""))
        return out

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e["method"] == "Network.requestWillBeSent"]

    def screenshot(self, path: Path) -> None:
        height = int(self.js("window.scrollTo(0, 0), Math.ceil(document.documentElement.scrollHeight)"))
        shot = self.call(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True, "clip": {"x": 0, "y": 0, "width": 1280, "height": min(height, 12000), "scale": 1}},
            session=True,
        )
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            try:
                self.call("Browser.close")
            except (OSError, ConnectionError, RuntimeError):
                pass
            ws.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture(scope="module")
def browser() -> Any:
    assert CHROMIUM is not None
    tmp = Path(tempfile.mkdtemp(prefix="traindx-chromium-"))
    profile = tmp / "profile"
    profile.mkdir()
    b = Browser(CHROMIUM, profile)
    yield b
    b.close()
    shutil.rmtree(tmp, ignore_errors=True)


def _keep(shot: Path, name: str) -> None:
    dest = os.environ.get("TRAINDX_TEST_ARTIFACTS")
    if dest:
        Path(dest).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(dest) / f"{name}.png")


def _report(paths: list[Path], out: Path, symptoms: list[str] | None = None) -> traindx.Diagnosis:
    d = traindx.diagnose(paths, symptoms=symptoms)
    write_reports(d, out)
    return d


def check_page(b: Browser, d: traindx.Diagnosis, html: Path, shot: Path) -> dict[str, Any]:
    """Open ``html`` and assert what every report must show; returns the page facts for more checks."""
    b.open(html)
    facts = b.js(
        """(() => {
          const panels = [...document.querySelectorAll('#chart svg.panel')];
          return {
            panels: panels.map(p => p.getAttribute('data-panel')),
            series: [...document.querySelectorAll('#chart path.series')].map(p => [p.getAttribute('data-series'), +p.getAttribute('data-drawn')]),
            marks: document.querySelectorAll('#chart line.mark').length,
            images: [...document.images].map(i => [i.complete, i.naturalWidth, i.src.slice(0, 22)]),
            scripts: document.scripts.length,
            text: document.body.innerText,
            data: JSON.parse(document.getElementById('traindx-data').textContent),
          };
        })()"""
    )
    assert b.problems() == []
    assert all(u.startswith(("file://", "data:")) for u in b.requests()), b.requests()
    assert facts["scripts"] == 2  # the data block and the page's own script, nothing injected
    expected_panels = [p["id"] for p in facts["data"]["panels"]]
    assert facts["panels"] == expected_panels
    drawn = dict(facts["series"])
    for p in facts["data"]["panels"]:
        for s in p["series"]:
            finite = any(isinstance(v, (int, float)) for v in s["y"])
            assert (drawn[s["name"]] > 0) == finite, (s["name"], drawn[s["name"]])
    if facts["data"]["marks"]:
        assert facts["marks"] > 0
    plots = [k for k in d.analysis_artifacts if k not in ("report", "report_markdown", "diagnosis")]
    assert len(facts["images"]) == len(plots)
    assert all(c and w > 0 and src.startswith("data:image/png;base64") for c, w, src in facts["images"])
    text = " ".join(facts["text"].split())
    for h in d.root_causes:
        assert " ".join(h.issue.split()) in text
        for e in h.evidence:
            assert " ".join(e.text.split()) in text and e.source in text
        assert " ".join(h.fix.split()) in text
    for s in d.symptoms:
        assert s.id in text
    for r in d.requests:
        assert " ".join(r.need.split()) in text
    for src in d.run.sources:
        assert src.path in text
    b.screenshot(shot)
    assert shot.stat().st_size > 10_000
    return facts


REPORT_CASES = {
    "example_lr_schedule": [ROOT / "examples" / "lr_schedule_divergence"],
    "zoo_hf_fp16": [HERE / "zoo_gpu" / "hf_trainer_fp16_lr_too_high" / "run"],
    "zoo_oom": [HERE / "zoo_gpu" / "oom_batch_too_large" / "run"],
    "zoo_embedding_heavy": [HERE / "zoo" / "embedding_heavy_colons" / "run"],  # a report with a model section
}
CORPUS_CASES = ("09-nanogpt-termux-nan", "11-wandb-nanogpt-shakespeare-overfit", "21-megatron-tr1-13B-logbook-spike-recovered", "36-issue-cuda-oom-mistral-finetune")


@pytest.mark.parametrize("name", sorted(REPORT_CASES))
def test_report_in_browser(name: str, browser: Browser, tmp_path: Path) -> None:
    d = _report(REPORT_CASES[name], tmp_path / "out")
    shot = tmp_path / f"{name}.png"
    check_page(browser, d, tmp_path / "out" / "report.html", shot)
    _keep(shot, name)


@pytest.mark.parametrize("case", CORPUS_CASES)
def test_corpus_report_in_browser(case: str, corpus: Path, browser: Browser, tmp_path: Path) -> None:
    d = _report([corpus / case], tmp_path / "out")
    shot = tmp_path / f"{case}.png"
    check_page(browser, d, tmp_path / "out" / "report.html", shot)
    _keep(shot, case[:2])


def test_chart_zooms_resets_and_hovers(browser: Browser, tmp_path: Path) -> None:
    d = _report(REPORT_CASES["example_lr_schedule"], tmp_path / "out")
    check_page(browser, d, tmp_path / "out" / "report.html", tmp_path / "before.png")
    full = browser.js("document.getElementById('chart').getAttribute('data-view')")
    assert full == "0,311"
    # drag from 40% to 60% of the first panel's plotting area
    view = browser.js(
        """(() => {
          const o = document.querySelector('#chart svg.panel rect.overlay');
          o.scrollIntoView({block: 'center'});
          const r = o.getBoundingClientRect(), y = r.top + r.height / 2;
          const at = f => ({clientX: r.left + r.width * f, clientY: y, bubbles: true});
          o.dispatchEvent(new MouseEvent('mousedown', at(0.4)));
          o.dispatchEvent(new MouseEvent('mousemove', at(0.6)));
          window.dispatchEvent(new MouseEvent('mouseup', at(0.6)));
          return document.getElementById('chart').getAttribute('data-view');
        })()"""
    )
    a, b = (float(x) for x in view.split(","))
    assert 110 <= a <= 135 and 175 <= b <= 200, view  # 40%..60% of steps 0-311
    ticks = browser.js("[...document.querySelectorAll('#chart svg.panel')[0].querySelectorAll('text.tick')].map(t => t.textContent)")
    assert "150" in ticks and "300" not in ticks
    tip = browser.js(
        """(() => {
          const o = document.querySelector('#chart svg.panel rect.overlay');
          const r = o.getBoundingClientRect();
          o.dispatchEvent(new MouseEvent('mousemove', {clientX: r.left + r.width / 2, clientY: r.top + 20, bubbles: true}));
          const t = document.getElementById('tip');
          return [t.hidden, t.textContent];
        })()"""
    )
    assert tip[0] is False and "step" in tip[1] and "training loss @ " in tip[1] and "learning rate @ " in tip[1]
    browser.js("document.querySelector('#chart svg.panel rect.overlay').dispatchEvent(new MouseEvent('dblclick', {bubbles: true}))")
    assert browser.js("document.getElementById('chart').getAttribute('data-view')") == "0,311"
    # a symptom's zoom button shows its step
    view = browser.js("(() => { document.querySelector('.chips button.zoom').click(); return document.getElementById('chart').getAttribute('data-view'); })()")
    a, b = (float(x) for x in view.split(","))
    assert a < 222 < b and b - a < 100
    assert browser.problems() == []
    browser.screenshot(tmp_path / "zoomed.png")
    _keep(tmp_path / "zoomed.png", "example_zoomed")


EVIL = '<img src=x onerror="window.__pwned=1">'


def test_injected_markup_stays_text(browser: Browser, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    name = f"train{EVIL}.log".replace("/", "")
    lines = [f"step {i} loss {2.0 - i * 0.01:.4f}" for i in range(60)]
    lines.append("RuntimeError: CUDA error: <script>window.__pwned=2</script> device-side assert triggered")
    (run / name).write_text("\n".join(lines) + "\n")
    (run / "notes.txt").write_text("nothing to see\n")
    d = _report([run], tmp_path / "out", symptoms=[f"loss exploded {EVIL}"])
    raw = (tmp_path / "out" / "report.html").read_text()
    assert "<script>window" not in raw and "<img src=x" not in raw
    facts = check_page(browser, d, tmp_path / "out" / "report.html", tmp_path / "evil.png")
    assert browser.js("typeof window.__pwned") == "undefined"
    assert browser.js("document.querySelectorAll('img:not([src^=\"data:image/png\"])').length") == 0
    assert name in facts["text"]
    assert EVIL in facts["text"]
    _keep(tmp_path / "evil.png", "injected_markup")


def _bad_runs() -> dict[str, Any]:
    import numpy as np

    from traindx.run import Event, Predictions, Run, Series

    def ser(name: str, values: Any) -> Series:
        n = len(values)
        return Series(name, np.arange(n, dtype=np.float64), np.asarray(values, dtype=np.float64), "train.log", name, np.arange(1, n + 1))

    single, nan, crash, many = Run(), Run(), Run(), Run()
    single.series["loss/train"] = ser("loss/train", [2.5])
    nan.series["loss/train"] = ser("loss/train", [float("nan")] * 50)
    nan.series["lr"] = ser("lr", [1e-3] * 50)
    crash.events.append(Event("oom", "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", "err.txt", 3))
    rng = np.random.default_rng(0)
    many.series["loss/train"] = ser("loss/train", 3 * np.exp(-np.arange(2000) / 400) + 0.5)
    for i in range(499):
        many.series[f"m{i:03d}"] = ser(f"m{i:03d}", rng.standard_normal(2000).cumsum())
    preds = Run()
    preds.predictions.append(Predictions("predictions.csv", ("fraud", "ok"), ((5, 15), (0, 580)), 1))
    return {"single_point": single, "only_nan": nan, "traceback_only": crash, "500_series": many, "predictions_only": preds}


@pytest.mark.parametrize("name", ["single_point", "only_nan", "traceback_only", "500_series", "predictions_only"])
def test_bad_input_reports_in_browser(name: str, browser: Browser, tmp_path: Path) -> None:
    from traindx.engine import diagnose_run

    d = diagnose_run(_bad_runs()[name])
    write_reports(d, tmp_path / "out")
    facts = check_page(browser, d, tmp_path / "out" / "report.html", tmp_path / f"{name}.png")
    from traindx.render.common import missing_notes

    text = " ".join(facts["text"].split())
    for note in missing_notes(d):
        assert note in text
    _keep(tmp_path / f"{name}.png", f"bad_{name}")


def test_policy_blocks_a_script_that_escaping_would_have_missed(browser: Browser, tmp_path: Path) -> None:
    _report(REPORT_CASES["zoo_oom"], tmp_path / "out")
    page = (tmp_path / "out" / "report.html").read_text()
    # simulate an escaping bug: foreign markup lands in the page verbatim
    bad = page.replace("</main>", '<script>window.__pwned=3</script><img src="x.png" onerror="window.__pwned=4"></main>', 1)
    (tmp_path / "bad.html").write_text(bad)
    browser.open(tmp_path / "bad.html")
    assert browser.js("typeof window.__pwned") == "undefined"
    assert any("Content Security Policy" in p for p in browser.problems())
    ids = {e["params"]["requestId"] for e in browser.events if e["method"] == "Network.requestWillBeSent" and e["params"]["request"]["url"].endswith("x.png")}
    blocked = {e["params"]["requestId"] for e in browser.events if e["method"] == "Network.loadingFailed" and e["params"].get("blockedReason") == "csp"}
    assert ids and ids <= blocked  # the image never loads: the policy allows data: images only
    assert browser.js("document.querySelectorAll('#chart path.series').length") > 0  # the page's own script still ran
