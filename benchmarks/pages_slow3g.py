"""Benchmark: the main pages on slow 3G (400 kbit/s, 400 ms RTT) in Chromium.

Targets (issue 16): the enumerator's form page, with everything it needs offline, under 150 KB on
first load and under 10 KB for each later interview; the analysis report under 400 KB and
interactive in under 10 s.

    .venv/bin/python benchmarks/pages_slow3g.py                    # the demo data in a temporary directory
    .venv/bin/python benchmarks/pages_slow3g.py --data-dir var     # an existing demo (konbit demo)

What runs: ``konbit serve`` on the demo data (``konbit demo``: its enumerator jean has 2,400
interviews, the analysis report has two waves to compare), reached through a small TCP relay
that counts every byte the server sends, and Debian's Chromium driven by Playwright with the
page's network throttled by CDP (``Network.emulateNetworkConditions``: 400 kbit/s each way,
400 ms latency, as DevTools' "slow 3G" of the issue). The relay counts what the service worker
fetches too, which the page's own network log does not show.

Each page is opened in a fresh browser context (nothing cached) already logged in, with the
HTTP cache cleared after the login, except "form, repeat" (the same form opened again, as for
the next interview: the service worker answers from its cache). The figures:

- bytes: what the server sent (headers and bodies, compressed as sent) from the start of the
  navigation until the page is ready and the network quiet, service worker included;
- ready: navigation start to DOMContentLoaded (the page's scripts have run: htmx, the form
  engine; on the report, the filters work and every number is in the tables);
- extra: the form's first screen drawn and the service worker's offline copy done (form);
  the charts drawn (report, once plotly.js has arrived, fetched after ready).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
# DevTools' slow 3G of the issue: 400 kbit/s both ways, 400 ms round trip.
SLOW_3G = {"offline": False, "latency": 400, "downloadThroughput": 400_000 / 8, "uploadThroughput": 400_000 / 8}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CountingRelay:
    """A TCP relay from ``port`` to the server that counts the bytes each way."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = _free_port()
        self.down = 0
        self.up = 0
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._server.close()

    def reset(self) -> None:
        with self._lock:
            self.down = self.up = 0
            self.requests = []

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:  # closed
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe, args=(client, upstream, "up"), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, "down"), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, way: str) -> None:
        try:
            while data := source.recv(65536):
                with self._lock:
                    setattr(self, way, getattr(self, way) + len(data))
                    if way == "up":
                        self.requests += re.findall(rb"(?:GET|POST|HEAD) \S+", data[:2048])
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def _env(data_dir: Path) -> dict[str, str]:
    return {**os.environ, "KONBIT_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}


def _logins(data_dir: Path) -> dict[str, str]:
    logins = data_dir / "demo-logins.txt"
    if not logins.exists():
        print(f"Preparing the demo in {data_dir} (about two minutes)…", flush=True)
        for command in (["db", "upgrade"], ["demo"]):
            subprocess.run([sys.executable, "-m", "web.cli", *command], env=_env(data_dir), check=True,
                           stdout=subprocess.DEVNULL)
    found: dict[str, str] = {}
    for line in logins.read_text().splitlines():
        if match := re.match(r"(\S+)\s+(\S+)\s+\(", line):
            found[match.group(1)] = match.group(2)
    return found


def _serve(data_dir: Path, port: int) -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, "-m", "web.cli", "serve", "--port", str(port), "--log-level", "warning"],
                              env=_env(data_dir))
    deadline = time.monotonic() + 120  # the first start imports much (plotly, numpy) on a busy machine
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("konbit serve did not start")


def _quiet(relay: CountingRelay, seconds: float = 2.0, limit: float = 120.0) -> None:
    """Until the relay has seen no byte for ``seconds`` (the service worker's work included)."""
    deadline = time.monotonic() + limit
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        total = relay.down + relay.up
        if total != last:
            last, since = total, time.monotonic()
        elif time.monotonic() - since >= seconds:
            return
        time.sleep(0.1)


def run(data_dir: Path, *, verbose: bool = False) -> list[dict]:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: PLC0415
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    logins = _logins(data_dir)
    port = _free_port()
    server = _serve(data_dir, port)
    relay = CountingRelay(port)
    base = f"http://127.0.0.1:{relay.port}"
    results: list[dict] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)

            def context(username: str | None):
                ctx = browser.new_context(viewport={"width": 360, "height": 740}, locale="fr-HT")
                page = ctx.new_page()
                cdp = ctx.new_cdp_session(page)
                cdp.send("Network.enable")
                if username:
                    page.goto(f"{base}/login")
                    page.fill("input[name=username]", username)
                    page.fill("input[name=password]", logins[username])
                    page.click("button[type=submit]")
                    page.wait_for_url(f"{base}/")
                    cdp.send("Network.clearBrowserCache")
                return ctx, page, cdp

            def measure(label: str, page, cdp, url: str, ready: str | None = None, extra: str | None = None) -> dict:
                _quiet(relay, 0.5)
                relay.reset()
                encoded: list[float] = []
                cdp.on("Network.loadingFinished", lambda e: encoded.append(e["encodedDataLength"]))
                cdp.send("Network.emulateNetworkConditions", SLOW_3G)
                started = time.monotonic()
                page.goto(base + url, wait_until="domcontentloaded", timeout=120_000)
                dcl = page.evaluate("() => { const n = performance.getEntriesByType('navigation')[0];"
                                    " return n.domContentLoadedEventEnd; }")
                if ready:
                    page.wait_for_selector(ready, state="attached", timeout=120_000)
                ready_s = time.monotonic() - started
                extra_s = None
                if extra:
                    try:
                        page.wait_for_selector(extra, state="attached", timeout=120_000)
                        extra_s = time.monotonic() - started
                    except PlaywrightTimeout:  # an older Konbit that does not say so
                        pass
                page.wait_for_load_state("load", timeout=180_000)
                _quiet(relay)
                cdp.send("Network.emulateNetworkConditions", {**SLOW_3G, "latency": 0, "downloadThroughput": -1,
                                                             "uploadThroughput": -1})
                row = {"page": label, "url": url, "bytes": relay.down, "sent": relay.up, "page_bytes": int(sum(encoded)),
                       "dcl_s": dcl / 1000, "ready_s": ready_s, "extra_s": extra_s}
                print(f"{label:<22} {row['bytes'] / 1000:8.1f} KB  (page's own log {row['page_bytes'] / 1000:7.1f} KB)"
                      f"  ready {row['dcl_s']:5.1f} s" + (f"  then {extra_s:5.1f} s" if extra_s else ""), flush=True)
                results.append(row)
                if verbose:
                    print("   ", b" ".join(relay.requests).decode(errors="replace"))
                return row

            ctx, page, cdp = context(None)
            measure("login", page, cdp, "/login", "form input[name=username]")
            ctx.close()

            ctx, page, cdp = context("jean")
            form = page.evaluate("() => fetch('/collect').then(r => r.text())")
            form_url = re.search(r'href="(/collect/\d+/\d+)" data-offline-form', form).group(1)
            measure("form, first load", page, cdp, form_url, "#collect-app[data-screen-name]", "html[data-offline-ready]")
            page.goto(base + "/collect/token")  # away, as between interviews
            measure("form, repeat", page, cdp, form_url, "#collect-app[data-screen-name]", "html[data-offline-ready]")
            ctx.close()

            ctx, page, cdp = context("jean")
            measure("collect list", page, cdp, "/collect", "#my-submissions", "html[data-offline-ready]")
            ctx.close()

            ctx, page, cdp = context("rose")
            measure("review list", page, cdp, "/review", "h1")
            ctx.close()

            ctx, page, cdp = context("frantz")
            report = page.evaluate("() => fetch('/analysis').then(r => r.text())")
            # the demo's two waves with data, by segment (the last wave, the default endline, is still open)
            report_url = re.search(r'href="(/analysis/\d+)"', report).group(1) + "?baseline=baseline&endline=endline&by=segment"
            measure("analysis report", page, cdp, report_url, "#report", "html[data-charts-drawn]")
            ctx.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="a KONBIT_DATA_DIR holding the demo (made if absent)")
    parser.add_argument("--verbose", action="store_true", help="list the requests of each page")
    args = parser.parse_args()
    if args.data_dir:
        run(args.data_dir, verbose=args.verbose)
    else:
        with tempfile.TemporaryDirectory(prefix="konbit-slow3g-") as tmp:
            run(Path(tmp), verbose=args.verbose)


if __name__ == "__main__":
    main()
