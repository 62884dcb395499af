#!/usr/bin/env python3
"""Prints which top-level modules of src/ each module uses (`crate::x`,
`super::x` from a child at the top, and `recsweep::x` in the binary), then
any cycle among them. Exits 1 when there is a cycle, so it can gate CI.

    python3 tools/module_graph.py [src]

Test code (`#[cfg(test)]` blocks to the end of a file) is left out: tests may
reach across layers. The layers it should show are in docs/architecture.md.
"""
import re
import sys
from pathlib import Path

src = Path(sys.argv[1] if len(sys.argv) > 1 else "src")
modules = sorted(
    {p.stem for p in src.glob("*.rs") if p.stem not in ("lib", "main")}
    | {p.name for p in src.iterdir() if p.is_dir()}
)
USE = re.compile(r"\b(?:crate|recsweep)::(\w+)")


def owner(path: Path) -> str:
    rel = path.relative_to(src)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


edges: dict[str, dict[str, str]] = {m: {} for m in modules}
for path in sorted(src.rglob("*.rs")):
    me = owner(path)
    if me not in edges:
        continue
    text = path.read_text()
    cut = text.find("#[cfg(test)]")
    if cut >= 0:
        text = text[:cut]
    for line in text.splitlines():
        if line.lstrip().startswith("//"):
            continue
        for target in USE.findall(line):
            if target in edges and target != me:
                edges[me].setdefault(target, str(path))

for m in modules:
    targets = ", ".join(sorted(edges[m])) or "(leaf)"
    print(f"{m:16} -> {targets}")

# Cycles: strongly connected components with more than one module.
index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]


def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in edges[v]:
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            comps.append(sorted(comp))


sys.setrecursionlimit(10_000)
for m in modules:
    if m not in index:
        visit(m)
for comp in comps:
    print("cycle among: " + ", ".join(comp))
    for a in comp:
        for b in comp:
            if b in edges[a]:
                print(f"  {a} -> {b}  (e.g. {edges[a][b]})")
print(f"{len(comps)} module cycle(s)")
sys.exit(1 if comps else 0)
