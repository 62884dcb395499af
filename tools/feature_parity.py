#!/usr/bin/env python3
"""Fails when `cargo test` would build a dependency with other features than
`cargo build` does.

Cargo unifies the features of a package over everything a build needs; the
test build also needs the dev-dependencies, which can turn on features of
shared crates (regex-automata, bitflags, ...). Then every crate above them
(parquet, faer, ...) is compiled twice, and the README's second command costs as much
as the first. Cargo.toml names such crates with the dev features on; this
script checks that nothing new has crept in.

    python3 tools/feature_parity.py      # exit 0: both builds resolve alike
"""
import subprocess
import sys


def features(edges: str) -> dict[str, set[str]]:
    out = subprocess.run(
        ["cargo", "tree", "--offline", "-e", edges, "--prefix", "none", "-f", "{p} {f}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    resolved: dict[str, set[str]] = {}
    for line in out.splitlines():
        parts = line.split(" ")
        if len(parts) < 2:
            continue
        package = f"{parts[0]} {parts[1]}"
        named = parts[2] if len(parts) > 2 and not parts[2].startswith("(") else ""
        resolved.setdefault(package, set()).update(f for f in named.split(",") if f)
    return resolved


build = features("normal,build")
test = features("normal,build,dev")
differ = {p: sorted(test[p] - build[p]) for p in build if p in test and test[p] != build[p]}
for package, extra in sorted(differ.items()):
    print(f"{package}: the test build adds features {', '.join(extra)}")
if differ:
    print("name these crates in Cargo.toml [dependencies] with those features (see the comment there)")
    sys.exit(1)
print(f"{len(build)} packages resolve with the same features for `cargo build` and `cargo test`")
