#!/usr/bin/env python3
"""Prints which top-level modules of src/ each module uses (`crate::x`,
`super::x` from a child at the top, and `recsweep::x` in the binary), then
any cycle among them, then any edge that does not point down the layer
picture of docs/architecture.md (the first code block under "## Layers": one
line per layer, top first, module names only). Exits 1 on a cycle, on such an
edge, or when a module is missing from the picture or drawn twice, so it can
gate CI.

    python3 tools/module_graph.py [src]

Test code (`#[cfg(test)]` blocks to the end of a file) is left out: tests may
reach across layers.
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


def layers(doc: Path) -> tuple[dict[str, int], list[str]]:
    """Each module's line in the picture, and what is wrong with the picture."""
    text = doc.read_text()
    block = text[text.index("## Layers"):]
    block = block[block.index("```") + 3:]
    block = block[block.index("\n") + 1: block.index("```")]
    found, problems = {}, []
    for depth, line in enumerate(l for l in block.splitlines() if l.strip()):
        for name in line.split():
            if name not in edges:
                problems.append(f"{doc}: `{name}` is not a module of {src}")
            elif name in found:
                problems.append(f"{doc}: `{name}` is drawn twice")
            found[name] = depth
    problems += [f"{doc}: `{m}` is missing from the picture" for m in modules if m not in found]
    return found, problems


depth, problems = layers(src.parent / "docs" / "architecture.md")
for a in modules:
    for b, path in sorted(edges[a].items()):
        if a in depth and b in depth and depth[b] <= depth[a]:
            problems.append(f"{a} -> {b} does not point down the picture (e.g. {path})")
for problem in problems:
    print(problem)
print(f"{len(problems)} layer problem(s)")
sys.exit(1 if comps or problems else 0)
