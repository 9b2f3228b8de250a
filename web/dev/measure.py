#!/usr/bin/env python3
"""Measures the dashboard in headless Chromium over the DevTools protocol (stdlib only): load time, log scrolling, deltas.

Usage: python3 web/dev/measure.py http://127.0.0.1:8766  (start web/dev/serve.py first; chromium must be installed)
"""

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from urllib.parse import urlparse


class Cdp:
    """A minimal WebSocket client for one DevTools page target."""

    def __init__(self, ws_url):
        u = urlparse(ws_url)
        self.sock = socket.create_connection((u.hostname, u.port))
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET {u.path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(req.encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += self.sock.recv(4096)
        self.rest = buf.split(b"\r\n\r\n", 1)[1]
        self.next_id = 0

    def _recv_exact(self, n):
        while len(self.rest) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError
            self.rest += chunk
        out, self.rest = self.rest[:n], self.rest[n:]
        return out

    def _recv_msg(self):
        data = b""
        while True:
            b0, b1 = self._recv_exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._recv_exact(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._recv_exact(8))[0]
            data += self._recv_exact(n)
            if b0 & 0x80:
                return json.loads(data)

    def call(self, method, **params):
        self.next_id += 1
        payload = json.dumps({"id": self.next_id, "method": method, "params": params}).encode()
        mask = os.urandom(4)
        n = len(payload)
        header = struct.pack("!B", 0x81) + (struct.pack("!B", 0x80 | n) if n < 126 else
                                            struct.pack("!BH", 0x80 | 126, n) if n < 65536 else struct.pack("!BQ", 0x80 | 127, n))
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        while True:
            msg = self._recv_msg()
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(msg["error"])
                return msg["result"]

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError(r["exceptionDetails"])
        return r["result"].get("value")


def wait_for(cdp, expr, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            v = cdp.eval(expr)
        except RuntimeError:
            v = None  # the page may be between documents
        if v:
            return v
        time.sleep(0.2)
    raise TimeoutError(expr)


SCROLL_JS = """
(async () => {
  const log = document.getElementById('log');
  const frames = [];
  let last = performance.now();
  for (let i = 0; i < 120; i++) {
    log.scrollTop = Math.random() * log.scrollHeight;
    await new Promise(r => requestAnimationFrame(r));
    const t = performance.now(); frames.push(t - last); last = t;
  }
  frames.sort((a, b) => a - b);
  return {median: frames[60].toFixed(1), p95: frames[114].toFixed(1), max: frames[119].toFixed(1),
          rows: document.querySelectorAll('#log .ll').length};
})()
"""


def main():
    base = sys.argv[1].rstrip("/") if len(sys.argv) > 1 else "http://127.0.0.1:8766"
    port = 9333
    profile = tempfile.mkdtemp()
    proc = subprocess.Popen(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                             "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}",
                             f"--remote-debugging-port={port}", "--window-size=1400,900", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json"))
                page = next(t for t in targets if t["type"] == "page")
                break
            except (OSError, StopIteration):
                time.sleep(0.1)
        cdp = Cdp(page["webSocketDebuggerUrl"])
        cdp.call("Page.enable")
        for path in ["/", "/r/(all)/overview"]:
            t0 = time.time()
            cdp.call("Page.navigate", url=base + path)
            wait_for(cdp, "document.documentElement.dataset.completeRenderedMs")
            wall = time.time() - t0
            d = cdp.eval("JSON.stringify(document.documentElement.dataset)")
            print(f"{path}: complete view on screen after {wall:.2f}s wall; {d}")
            if path == "/":
                rows = cdp.eval("document.querySelectorAll('tr.res-row').length")
                print(f"  table rows in DOM: {rows}")
            else:
                print("  log scroll (random jumps, frame ms):", cdp.eval(SCROLL_JS))
                t = cdp.eval("""(async () => { const i = document.getElementById('log-filter'); const t0 = performance.now();
                    i.value = '/batch 9+ /'; i.dispatchEvent(new Event('input'));
                    await new Promise(r => setTimeout(r, 160)); await new Promise(r => requestAnimationFrame(r));
                    return {ms: (performance.now() - t0 - 150).toFixed(0), count: document.getElementById('log-count').textContent}; })()""")
                print("  regex filter over all lines:", t)
        heap = cdp.eval("performance.memory ? (performance.memory.usedJSHeapSize / 1048576).toFixed(0) + ' MiB' : 'n/a'")
        print("JS heap used:", heap)
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
