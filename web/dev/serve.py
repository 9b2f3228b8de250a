#!/usr/bin/env python3
"""Dev harness for the lilt dashboard: serves web/ plus a fake View API (WebSocket and /api/view polling) from generated data.

Usage: python3 web/dev/serve.py [--port 8765] [--resources 1000] [--lines 1000000] [--live] [--no-ws]
Python 3 standard library only. Listens on 127.0.0.1 only.
"""

import argparse
import base64
import hashlib
import json
import mimetypes
import os
import queue
import random
import struct
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

WEB_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# Two hours ago, so generated builds lie in the past.
START = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=2)

WORDS = ["api", "web", "auth", "billing", "search", "cache", "db", "queue", "worker", "gateway", "media",
         "users", "orders", "cart", "mailer", "metrics", "ledger", "catalog", "notify", "export"]
LABELS = ["backend", "frontend", "infra", "data", "jobs", "observability"]


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def now_iso():
    return iso(datetime.now(timezone.utc))


class Fake:
    """The fake engine state: resources, buttons and the log store, guarded by one lock."""

    def __init__(self, n_resources, n_lines, seed):
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.clients = []
        self.resources = {}
        self.buttons = {}
        self.spans = {}
        self.segments_json = []  # serialised segments, index = checkpoint
        self.build_seq = 0
        self.make_resources(n_resources)
        t0 = time.time()
        self.make_logs(n_lines)
        print(f"generated {len(self.resources)} resources, {n_lines} log lines in "
              f"{len(self.segments_json)} segments ({time.time() - t0:.1f}s)", file=sys.stderr)

    # ---- generation -------------------------------------------------------------------------
    def make_resources(self, n):
        rng = self.rng
        tf = self.resource("(Tiltfile)", 0, [], "tiltfile")
        tf["status"].update(runtimeStatus="not_applicable", updateStatus="ok", triggerMode=0, hasPendingChanges=False)
        tf["status"]["buildHistory"][0]["error"] = ""
        self.resources["(Tiltfile)"] = tf
        names = set()
        i = 0
        while len(names) < n - 1:
            w = rng.choice(WORDS)
            name = w if w not in names and i < len(WORDS) else f"{w}-{rng.choice(WORDS)}-{i}"
            i += 1
            if name in names:
                continue
            names.add(name)
        for order, name in enumerate(sorted(names), start=1):
            labels = rng.sample(LABELS, rng.choice([0, 1, 1, 1, 2]))
            if rng.random() < 0.05:
                labels.append("team/" + rng.choice(WORDS))
            kind = rng.choice(["k8s", "k8s", "local", "docker-compose"])
            res = self.resource(name, order, labels, kind)
            self.resources[name] = res
            self.buttons[f"{name}-disable"] = self.toggle(name)
        api = next(iter(sorted(names)))
        self.buttons["seed-db"] = {
            "metadata": {"name": "seed-db"},
            "spec": {"location": {"componentType": "Resource", "componentID": api}, "text": "Seed database",
                     "requiresConfirmation": True,
                     "inputs": [{"name": "rows", "label": "Rows", "text": {"defaultValue": "100", "placeholder": "count"}},
                                {"name": "wipe", "label": "Wipe first", "bool": {"defaultValue": False}},
                                {"name": "env", "label": "Environment", "choice": {"choices": ["dev", "staging"]}},
                                {"name": "token", "hidden": {"value": "x"}}]},
            "status": {}}
        self.buttons["open-docs"] = {
            "metadata": {"name": "open-docs", "annotations": {"lilt.dev/uibutton-type": "Browser"}},
            "spec": {"location": {"componentType": "Resource", "componentID": api}, "text": "Open docs"},
            "status": {}}
        self.buttons["migrate"] = {
            "metadata": {"name": "migrate"},
            "spec": {"location": {"componentType": "Resource", "componentID": api}, "text": "Run migrations", "disabled": True},
            "status": {"disabledReason": "waiting for resource db to be ready"}}
        self.buttons["reset-all"] = {
            "metadata": {"name": "reset-all"},
            "spec": {"location": {"componentType": "Global"}, "text": "Reset all", "requiresConfirmation": True},
            "status": {}}

    def resource(self, name, order, labels, kind):
        rng = self.rng
        start = START + timedelta(seconds=rng.randint(0, 3000))
        dur = timedelta(milliseconds=rng.randint(200, 40000))
        roll = rng.random()
        err = ""
        update, runtime = "ok", "ok"
        waiting = None
        if roll < 0.06:
            update, err = "error", f"exit status 1: build failed for {name}"
            runtime = "error" if rng.random() < 0.5 else "ok"
        elif roll < 0.1:
            update = "pending"
            waiting = {"reason": f"waiting on {rng.choice(WORDS)}", "on": [{"kind": "UIResource", "name": rng.choice(WORDS)}]}
            runtime = "pending"
        elif roll < 0.13:
            update = "in_progress"
        elif roll < 0.16:
            runtime = "error"
        warnings = ["image is larger than 1GiB"] if rng.random() < 0.04 else []
        specs = [{"id": f"{kind}:{name}", "type": "docker-compose" if kind == "docker-compose" else kind, "hasLiveUpdate": False}]
        if kind == "tiltfile":
            specs = []
        mode = rng.choice([0, 0, 0, 1, 2])
        status = {
            "lastDeployTime": iso(start + dur),
            "triggerMode": mode,
            "buildHistory": [{"error": err, "warnings": warnings, "startTime": iso(start), "finishTime": iso(start + dur),
                              "spanID": f"build:{order}", "isCrashRebuild": False}],
            "currentBuild": {"startTime": iso(datetime.now(timezone.utc)) if update == "in_progress" else "0001-01-01T00:00:00Z"},
            "hasPendingChanges": mode in (1, 2) and rng.random() < 0.3,
            "endpointLinks": [{"url": f"http://localhost:{8000 + order}/", "name": ""}] if kind in ("k8s", "docker-compose") and rng.random() < 0.6 else [],
            "runtimeStatus": runtime if kind != "tiltfile" else "not_applicable",
            "updateStatus": update,
            "specs": specs,
            "queued": False,
            "order": order,
            "disableStatus": {"enabledCount": 1, "disabledCount": 0, "state": "Enabled"},
        }
        if kind == "local":
            status["localResourceInfo"] = {"pid": rng.randint(1000, 60000), "isTest": False}
        if waiting:
            status["waiting"] = waiting
        if kind != "tiltfile" and rng.random() < 0.05:
            status["disableStatus"] = {"enabledCount": 0, "disabledCount": 1, "state": "Disabled"}
            status["runtimeStatus"] = "none"
            status["updateStatus"] = "none"
        return {"metadata": {"name": name, "labels": {l: l for l in labels}}, "status": status}

    def toggle(self, name):
        return {"metadata": {"name": f"{name}-disable", "annotations": {"tilt.dev/uibutton-type": "DisableToggle"}},
                "spec": {"location": {"componentType": "Resource", "componentID": name}, "text": "Disable Resource",
                         "inputs": [{"name": "action", "hidden": {"value": "off"}}]},
                "status": {}}

    def make_logs(self, n_lines):
        rng = self.rng
        names = list(self.resources)
        self.spans["tiltfile:(Tiltfile):1"] = {"manifestName": "(Tiltfile)"}
        for order, name in enumerate(names):
            if name == "(Tiltfile)":
                continue
            self.spans[f"build:{order}"] = {"manifestName": name}
            self.spans[f"pod:{name}:abc{order}"] = {"manifestName": name}
        span_ids = list(self.spans)
        self.add_segment("tiltfile:(Tiltfile):1", "Loading Tiltfile at: /work/app/Tiltfile\nSuccessfully loaded Tiltfile (42ms)\n")
        done = 2
        t = START
        while done < n_lines:
            span = rng.choice(span_ids)
            roll = rng.random()
            t += timedelta(milliseconds=3)
            if roll < 0.02:
                self.add_segment(span, f"\x1b[31mERROR\x1b[0m request {done} failed: connection refused\n", "ERROR", t)
                done += 1
            elif roll < 0.05:
                self.add_segment(span, f"\x1b[33mWARN\x1b[0m slow response {rng.randint(500, 5000)}ms for /api/{rng.choice(WORDS)}\n", "WARN", t)
                done += 1
            else:
                k = min(rng.randint(1, 60), n_lines - done)
                lines = []
                for j in range(k):
                    n = done + j
                    if span.startswith("build:"):
                        lines.append(f"\x1b[1mStep {n % 9 + 1}/9\x1b[0m : RUN make target-{n % 97}")
                    elif n % 7 == 0:
                        lines.append(f"\x1b[32m200\x1b[0m GET /api/{WORDS[n % len(WORDS)]}/{n} in {n % 300}ms")
                    else:
                        lines.append(f"line {n}: processed batch {n % 1000} of {WORDS[n % len(WORDS)]} records")
                self.add_segment(span, "\n".join(lines) + "\n", "INFO", t)
                done += k

    def add_segment(self, span, text, level="INFO", t=None):
        seg = {"spanId": span, "time": iso(t or datetime.now(timezone.utc)), "text": text, "level": level}
        self.segments_json.append(json.dumps(seg))

    # ---- views ------------------------------------------------------------------------------
    def session(self):
        return {"metadata": {"name": "Tiltfile"}, "status": {"featureFlags": [], "runningTiltBuild": {"version": "0.1.0-dev", "dev": True},
                                                             "tiltStartTime": iso(START), "tiltfileKey": "dev-harness", "fatalError": ""}}

    def complete_view_bytes(self):
        with self.lock:
            head = json.dumps({"isComplete": True, "tiltStartTime": iso(START), "uiSession": self.session(),
                               "uiResources": list(self.resources.values()), "uiButtons": list(self.buttons.values())})
            n = len(self.segments_json)
            segs = ",".join(self.segments_json)
            spans = json.dumps(self.spans)
        log = f'{{"spans":{spans},"segments":[{segs}],"fromCheckpoint":0,"toCheckpoint":{n}}}'
        return (head[:-1] + ',"logList":' + log + "}").encode()

    def delta(self, resources=(), buttons=(), from_cp=None):
        """Must hold the lock. Builds a delta with the named objects and segments since from_cp."""
        view = {"isComplete": False, "tiltStartTime": iso(START),
                "uiResources": [self.resources[r] if r in self.resources else {"metadata": {"name": r, "deletionTimestamp": now_iso()}} for r in resources],
                "uiButtons": [self.buttons[b] for b in buttons if b in self.buttons]}
        n = len(self.segments_json)
        if from_cp is not None and from_cp < n:
            segs = ",".join(self.segments_json[from_cp:])
            body = json.dumps(view)
            return body[:-1] + f',"logList":{{"spans":{json.dumps(self.spans)},"segments":[{segs}],"fromCheckpoint":{from_cp},"toCheckpoint":{n}}}}}'
        view["logList"] = {"fromCheckpoint": -1, "toCheckpoint": -1}
        return json.dumps(view)

    def broadcast(self, resources=(), buttons=(), from_cp=None):
        msg = self.delta(resources, buttons, from_cp)
        for q in list(self.clients):
            q.put(msg)

    # ---- actions ----------------------------------------------------------------------------
    def trigger(self, name):
        with self.lock:
            res = self.resources.get(name)
            if res is None:
                return 404, f'resource "{name}" does not exist'
            if res["status"]["disableStatus"]["state"] == "Disabled":
                return 200, f'resource "{name}" is currently disabled'
            st = res["status"]
            st["updateStatus"] = "in_progress"
            st["currentBuild"] = {"startTime": now_iso(), "spanID": "build:x"}
            st["hasPendingChanges"] = False
            self.broadcast([name])
        threading.Timer(1.5, self.finish_build, args=(name,)).start()
        return 200, ""

    def finish_build(self, name):
        with self.lock:
            res = self.resources.get(name)
            if not res:
                return
            st = res["status"]
            start = st["currentBuild"]["startTime"]
            st["currentBuild"] = {"startTime": "0001-01-01T00:00:00Z"}
            st["updateStatus"] = "ok"
            st["runtimeStatus"] = "ok" if name != "(Tiltfile)" else "not_applicable"
            st["lastDeployTime"] = now_iso()
            st["buildHistory"] = ([{"error": "", "warnings": [], "startTime": start, "finishTime": now_iso(), "spanID": "build:x"}] + st["buildHistory"])[:2]
            span = next((s for s, v in self.spans.items() if v["manifestName"] == name and not s.startswith("pod:")), None) or f"build:{name}"
            self.spans.setdefault(span, {"manifestName": name})
            cp = len(self.segments_json)
            self.add_segment(span, f"\x1b[1mBuilding {name}\x1b[0m\nStep 1/1 : done\n\x1b[32m✓\x1b[0m {name} updated\n")
            self.broadcast([name], from_cp=cp)

    def set_mode(self, names, mode):
        with self.lock:
            for n in names:
                if n in self.resources:
                    self.resources[n]["status"]["triggerMode"] = mode
            self.broadcast(names)

    def click(self, name, body):
        with self.lock:
            b = self.buttons.get(name)
            if b is None:
                return 404
            b["status"] = body.get("status", {})
            touched = [name]
            res_names = []
            if b["metadata"].get("annotations", {}).get("tilt.dev/uibutton-type") == "DisableToggle":
                action = next((i.get("hidden", {}).get("value") for i in b["status"].get("inputs", []) if i.get("name") == "action"), "")
                res = self.resources.get(b["spec"]["location"]["componentID"])
                if res:
                    disabled = action == "off"
                    res["status"]["disableStatus"] = {"enabledCount": 0 if disabled else 1, "disabledCount": 1 if disabled else 0,
                                                      "state": "Disabled" if disabled else "Enabled"}
                    res["status"]["updateStatus"] = "none" if disabled else "ok"
                    res["status"]["runtimeStatus"] = "none" if disabled else "ok"
                    b["spec"]["text"] = "Enable Resource" if disabled else "Disable Resource"
                    res_names.append(res["metadata"]["name"])
            self.broadcast(res_names, touched)
        return 200

    def live_tick(self):
        """Random activity: a status flip and a few log lines."""
        with self.lock:
            names = [n for n in self.resources if n != "(Tiltfile)"]
            name = self.rng.choice(names)
            st = self.resources[name]["status"]
            if st["disableStatus"]["state"] != "Disabled":
                st["runtimeStatus"] = self.rng.choice(["ok", "ok", "ok", "pending", "error"])
            span = f"pod:{name}:live"
            self.spans.setdefault(span, {"manifestName": name})
            cp = len(self.segments_json)
            k = self.rng.randint(1, 5)
            self.add_segment(span, "".join(f"live {time.time():.3f} {name} tick {i}\n" for i in range(k)))
            self.broadcast([name], from_cp=cp)


def make_handler(fake, no_ws):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def send_body(self, code, body, ctype="application/json"):
            if isinstance(body, str):
                body = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def read_json(self):
            n = int(self.headers.get("Content-Length") or 0)
            try:
                return json.loads(self.rfile.read(n) or b"null")
            except json.JSONDecodeError:
                return None

        def do_GET(self):
            path = urlparse(self.path).path
            if path == "/api/view":
                return self.send_body(200, fake.complete_view_bytes())
            if path == "/ws/view":
                if no_ws or self.headers.get("Upgrade", "").lower() != "websocket":
                    return self.send_body(404, "no websocket here", "text/plain")
                return self.websocket()
            return self.static(path)

        def static(self, path):
            rel = unquote(path).lstrip("/")
            full = os.path.abspath(os.path.join(WEB_ROOT, rel))
            if not full.startswith(WEB_ROOT) or not os.path.isfile(full) or "/dev/" in full[len(WEB_ROOT):] + "/":
                full = os.path.join(WEB_ROOT, "index.html")  # SPA routes
            ctype = mimetypes.guess_type(full)[0] or "application/octet-stream"
            if full.endswith(".js") or full.endswith(".mjs"):
                ctype = "text/javascript"
            with open(full, "rb") as f:
                self.send_body(200, f.read(), ctype + ("; charset=utf-8" if ctype.startswith("text/") else ""))

        def do_POST(self):
            path = urlparse(self.path).path
            body = self.read_json()
            if path == "/api/trigger":
                names = (body or {}).get("manifest_names") or []
                if len(names) != 1:
                    return self.send_body(400, "must specify exactly one resource", "text/plain")
                code, msg = fake.trigger(names[0])
                return self.send_body(code, msg, "text/plain")
            if path == "/api/override/trigger_mode":
                fake.set_mode((body or {}).get("manifest_names") or [], (body or {}).get("trigger_mode", 0))
                return self.send_body(200, "", "text/plain")
            return self.send_body(404, "not found", "text/plain")

        def do_PUT(self):
            path = urlparse(self.path).path
            prefix = "/proxy/apis/tilt.dev/v1alpha1/uibuttons/"
            if path.startswith(prefix) and path.endswith("/status"):
                name = unquote(path[len(prefix):-len("/status")])
                code = fake.click(name, self.read_json() or {})
                return self.send_body(code, "{}" if code == 200 else "not found")
            return self.send_body(404, "not found", "text/plain")

        def websocket(self):
            key = self.headers.get("Sec-WebSocket-Key", "")
            accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            self.end_headers()
            q = queue.Queue()
            with fake.lock:
                fake.clients.append(q)
            try:
                self.ws_send(fake.complete_view_bytes())
                while True:
                    try:
                        msg = q.get(timeout=20)
                    except queue.Empty:
                        self.ws_frame(0x9, b"")  # ping keeps the socket honest
                        continue
                    self.ws_send(msg.encode())
            except (BrokenPipeError, ConnectionResetError, OSError):
                pass
            finally:
                with fake.lock:
                    fake.clients.remove(q)
                self.close_connection = True

        def ws_send(self, payload):
            self.ws_frame(0x1, payload)

        def ws_frame(self, opcode, payload):
            n = len(payload)
            if n < 126:
                header = struct.pack("!BB", 0x80 | opcode, n)
            elif n < 65536:
                header = struct.pack("!BBH", 0x80 | opcode, 126, n)
            else:
                header = struct.pack("!BBQ", 0x80 | opcode, 127, n)
            self.wfile.write(header + payload)
            self.wfile.flush()

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--resources", type=int, default=40)
    ap.add_argument("--lines", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--live", action="store_true", help="emit random status changes and log lines")
    ap.add_argument("--no-ws", action="store_true", help="refuse /ws/view so the page falls back to polling")
    ap.add_argument("--tiltfile-error", action="store_true", help="make the (Tiltfile) resource carry a load error")
    args = ap.parse_args()
    fake = Fake(args.resources, args.lines, args.seed)
    if args.tiltfile_error:
        st = fake.resources["(Tiltfile)"]["status"]
        st["updateStatus"] = "error"
        st["buildHistory"][0]["error"] = ("Traceback (most recent call last):\n  Tiltfile:12:3: in <toplevel>\n"
                                          "  lib/helpers.star:4:9: in make_service\n"
                                          "Error: local_resource: for parameter \"serve_cmd\": got int, want string or list")
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(fake, args.no_ws))
    server.daemon_threads = True
    if args.live:
        def loop():
            while True:
                time.sleep(0.5)
                fake.live_tick()
        threading.Thread(target=loop, daemon=True).start()
    print(f"serving http://127.0.0.1:{args.port}/", file=sys.stderr)
    server.serve_forever()


if __name__ == "__main__":
    main()
