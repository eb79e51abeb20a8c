"""A headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe):
open a local page, report what a reader would see (images decoded, links and anchors that
resolve, console errors) and save a screenshot. Used by tests/test_browser.py."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")

# What the page shows, gathered in the page itself once it has loaded.
INSPECT = """JSON.stringify({
  images: Array.from(document.images).map(i => ({src: i.getAttribute('src').slice(0, 80),
            alt: i.alt, complete: i.complete, width: i.naturalWidth})),
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href')),
  ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id),
  title: document.title, height: document.documentElement.scrollHeight})"""


def chromium() -> str | None:
    """The Chromium executable, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _onto_3_and_4(read_end: int, write_end: int) -> None:
    """In the child: the command pipe on fd 3, the answer pipe on fd 4 (copies first, so
    neither end is overwritten when it already sits on 3 or 4)."""
    read_copy, write_copy = os.dup(read_end), os.dup(write_end)
    os.dup2(read_copy, 3)
    os.dup2(write_copy, 4)


class Browser:
    """One headless Chromium process; ``call`` sends a DevTools command and waits for its
    answer, keeping every event that arrives meanwhile in ``events``."""

    def __init__(self, executable: str, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="chromium-profile-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # Chromium reads commands on fd 3 and writes answers on fd 4.
        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-pipe",
             "about:blank"],
            pass_fds=(3, 4), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=lambda: _onto_3_and_4(to_browser_r, from_browser_w))
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one command; return its result (raise RuntimeError on a protocol error)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str) -> dict[str, Any]:
        """Wait for an event (or return one already received)."""
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._read()
            self.events.append(event)
            if event.get("method") == method:
                return event

    def _read(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise TimeoutError("Chromium did not answer (exited or too slow)")
            import select

            ready, _, _ = select.select([self._from_browser], [], [], 1.0)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise TimeoutError("Chromium closed its DevTools pipe")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self) -> None:
        """Stop this browser process and remove its profile folder."""
        try:
            os.write(self._to_browser, json.dumps({"id": 0, "method": "Browser.close"})
                     .encode() + b"\0")
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)


def inspect_page(page: Path, screenshot: Path, executable: str) -> dict[str, Any]:
    """Open ``page`` headless; return its images, links, ids and console errors, and save a
    full-page PNG screenshot at ``screenshot``."""
    browser = Browser(executable)
    try:
        target = browser.call("Target.createTarget", url="about:blank")["targetId"]
        session = browser.call("Target.attachToTarget", targetId=target,
                               flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            browser.call(f"{domain}.enable", session)
        browser.call("Emulation.setDeviceMetricsOverride", session, width=1280, height=900,
                     deviceScaleFactor=1, mobile=False)
        browser.call("Page.navigate", session, url=page.resolve().as_uri())
        browser.wait_for("Page.loadEventFired")
        found = json.loads(browser.call("Runtime.evaluate", session, expression=INSPECT,
                                        returnByValue=True)["result"]["value"])
        shot = browser.call("Page.captureScreenshot", session, format="png",
                            captureBeyondViewport=True)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        found["console_errors"] = console_errors(browser.events)
        return found
    finally:
        browser.close()


def console_errors(events: list[dict[str, Any]]) -> list[str]:
    """Errors the page raised or logged: exceptions, console.error, failed loads."""
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            errors.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                   for a in params.get("args", [])))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            errors.append(f"{params['entry'].get('text')} {params['entry'].get('url', '')}")
    return errors


def unresolved_links(page: Path, links: list[str], ids: list[str]) -> list[str]:
    """Local links of ``page`` whose file or anchor does not exist (http(s) links ignored)."""
    missing = []
    for href in links:
        parsed = urlparse(href)
        if parsed.scheme in ("http", "https", "mailto", "data"):
            continue
        if parsed.path:
            target = (page.parent / unquote(parsed.path)).resolve()
            if not target.exists():
                missing.append(f"{href}: no file {target}")
                continue
        if parsed.fragment and not parsed.path and parsed.fragment not in ids:
            missing.append(f"{href}: no element with id {parsed.fragment!r}")
    return missing
