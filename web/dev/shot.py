#!/usr/bin/env python3
"""Screenshots a dashboard page in headless Chromium once it has data (stdlib only), optionally after running some JavaScript.

Usage: python3 web/dev/shot.py URL OUT.png [JS-to-run-after-load ...]
"""

import base64
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, __import__("os").path.dirname(__file__))
from measure import Cdp, wait_for  # noqa: E402


def main():
    url, out, scripts = sys.argv[1], sys.argv[2], sys.argv[3:]
    port = 9334
    profile = tempfile.mkdtemp()
    proc = subprocess.Popen(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                             "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}",
                             f"--remote-debugging-port={port}", "--window-size=1400,900", "--hide-scrollbars", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                page = next(t for t in json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json")) if t["type"] == "page")
                break
            except (OSError, StopIteration):
                time.sleep(0.1)
        cdp = Cdp(page["webSocketDebuggerUrl"])
        cdp.call("Page.enable")
        cdp.call("Page.navigate", url=url)
        wait_for(cdp, "document.documentElement.dataset.completeRenderedMs")
        for js in scripts:
            print(cdp.eval(js))
            time.sleep(0.4)
        time.sleep(0.5)
        shot = cdp.call("Page.captureScreenshot", format="png")
        with open(out, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
