"""The example's background worker: polls the API and reports what it sees."""
import json
import os
import time
import urllib.request

API = os.environ.get("API_URL", "http://127.0.0.1:8081")

while True:
    try:
        with urllib.request.urlopen(f"{API}/cgi-bin/items", timeout=2) as resp:
            items = json.load(resp)
        total = sum(item["price_cents"] for item in items)
        print(f"worker: {len(items)} items, catalogue worth ${total / 100:.2f}", flush=True)
    except OSError as err:
        print(f"worker: api not reachable yet ({err})", flush=True)
    time.sleep(5)
