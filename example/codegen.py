"""Generates api/items.json from schema/items.txt (the example's build step)."""
import json
import pathlib

HERE = pathlib.Path(__file__).parent


def parse(text):
    items = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, price = (part.strip() for part in line.rsplit(",", 1))
        items.append({"name": name, "price_cents": int(price)})
    return items


if __name__ == "__main__":
    items = parse((HERE / "schema" / "items.txt").read_text())
    out = HERE / "api" / "items.json"
    out.write_text(json.dumps(items, indent=2) + "\n")
    print(f"generated {out.relative_to(HERE)} with {len(items)} items")
