"""Turn a pytest-benchmark JSON file into the ratio tables of docs/benchmarks.md.

Usage: python bench/report.py bench.json [docs/benchmarks.md]
Rewrites the block between the "<!-- bench:GROUP -->" and "<!-- /bench:GROUP -->" markers for
every benchmark group in the JSON (leaving the rest of the page alone) or prints the tables.
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path


def tables(data: dict) -> dict[str, str]:
    groups: dict[str, list[tuple[str, float, int]]] = defaultdict(list)
    for b in data["benchmarks"]:
        groups[b["group"] or "default"].append((b["name"], b["stats"]["median"], b["stats"]["rounds"]))
    machine = data.get("machine_info", {})
    cpu = machine.get("cpu", {}).get("brand_raw", machine.get("processor", "?"))
    out = {}
    for group, rows in groups.items():
        rows.sort(key=lambda r: r[1])
        base_name = next((n for n, _, _ in rows if "floor" in n or "baseline" in n), rows[0][0])
        base = dict((n, t) for n, t, _ in rows)[base_name]
        lines = [
            f"Run {data.get('datetime', '?')[:19]} on {cpu}, {machine.get('cpu', {}).get('count', '?')} logical cores; "
            f"medians; ratios relative to `{base_name}`.",
            "",
            "| benchmark | median | rounds | × " + base_name + " |",
            "|---|---:|---:|---:|",
        ]
        for name, median, rounds in rows:
            shown = f"{median * 1e6:.1f} µs" if median < 1e-3 else f"{median * 1e3:.2f} ms"
            lines.append(f"| `{name}` | {shown} | {rounds} | {median / base:.2f} |")
        out[group] = "\n".join(lines)
    return out


def main(argv: list[str]) -> int:
    data = json.loads(Path(argv[1]).read_text())
    blocks = tables(data)
    if len(argv) < 3:
        for group, text in blocks.items():
            print(f"## {group}\n\n{text}\n")
        return 0
    page = Path(argv[2])
    text = page.read_text()
    for group, table in blocks.items():
        pattern = re.compile(rf"(<!-- bench:{re.escape(group)} -->\n).*?(<!-- /bench:{re.escape(group)} -->)", re.S)
        if not pattern.search(text):
            print(f"no marker for group {group!r} in {page}; skipped", file=sys.stderr)
            continue
        text = pattern.sub(lambda m: m.group(1) + table + "\n" + m.group(2), text)
    page.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
