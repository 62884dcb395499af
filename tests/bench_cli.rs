//! `recsweep bench ann` on small vector files: the exact scan and settings
//! that search everything recall every item; broken files are bad input.

mod common;

use std::path::Path;

use common::{bad_input, recsweep, text};

/// `count` vectors of `dim` pseudo-random values in .fvecs layout.
fn fvecs(count: usize, dim: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::new();
    for _ in 0..count {
        out.extend_from_slice(&(dim as i32).to_le_bytes());
        for _ in 0..dim {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let v = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

fn rows(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| l.starts_with("| "))
        .skip(1)
        .collect()
}

fn ann(dir: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "bench",
        "ann",
        "--items",
        "items.fvecs",
        "--queries",
        "queries.fvecs",
        "--n",
        "10",
        "--m",
        "4",
        "--ef-construction",
        "20",
        "--repeat",
        "1",
    ];
    args.extend_from_slice(extra);
    let out = recsweep(dir, &args);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn searching_every_item_recalls_the_exact_top_n_and_fewer_recalls_less() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("items.fvecs"), fvecs(300, 8, 1)).unwrap();
    std::fs::write(dir.path().join("queries.fvecs"), fvecs(40, 8, 2)).unwrap();
    let out = ann(
        dir.path(),
        &["--ef", "1,300", "--lists", "6", "--probes", "1,6"],
    );
    let rows = rows(&out);
    assert_eq!(rows.len(), 5, "{out}");
    let recall = |row: &str| -> f64 { row.split('|').nth(3).unwrap().trim().parse().unwrap() };
    // The exact scan, an HNSW list as long as the catalogue, and IVF
    // probing every list find the exact top 10.
    for i in [0, 2, 4] {
        assert_eq!(recall(rows[i]), 1.0, "{}", rows[i]);
    }
    // One probed list of six cannot hold every query's top 10.
    assert!(recall(rows[3]) < 1.0, "{}", rows[3]);
    assert!(
        rows[1].contains("ef 1") && rows[3].contains("probes 1"),
        "{out}"
    );

    // A peer's rows join recsweep's in the figure.
    std::fs::write(
        dir.path().join("peer.txt"),
        "40 queries\n| peerlib m 4 | ef 10 | 0.950 | 20000 | 19000–21000 | 0.1 |\n",
    )
    .unwrap();
    ann(
        dir.path(),
        &[
            "--ef", "300", "--lists", "0", "--peer", "peer.txt", "--svg", "ann.svg",
        ],
    );
    let svg = std::fs::read_to_string(dir.path().join("ann.svg")).unwrap();
    for name in ["exact scan", "HNSW m 4, ef_construction 20", "peerlib m 4"] {
        assert!(svg.contains(name), "{name} missing from the figure");
    }

    // --write saves the vectors it searched: read back, the same rows.
    let saved = dir.path().join("saved");
    ann(
        dir.path(),
        &["--ef", "300", "--lists", "0", "--write", "saved"],
    );
    for name in ["items.fvecs", "queries.fvecs"] {
        assert_eq!(
            std::fs::read(saved.join(name)).unwrap(),
            std::fs::read(dir.path().join(name)).unwrap()
        );
    }
}

#[test]
fn broken_vector_files_are_bad_input_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let items = fvecs(50, 4, 3);
    std::fs::write(dir.path().join("queries.fvecs"), fvecs(5, 4, 4)).unwrap();
    let run = |name: &str, bytes: &[u8], expected: &str| {
        std::fs::write(dir.path().join(name), bytes).unwrap();
        let out = recsweep(
            dir.path(),
            &[
                "bench",
                "ann",
                "--items",
                name,
                "--queries",
                "queries.fvecs",
            ],
        );
        bad_input(&out, expected);
    };
    run(
        "cut.fvecs",
        &items[..items.len() - 3],
        "cut.fvecs: vector 49 is cut short",
    );
    let mut mixed = items.clone();
    mixed.extend_from_slice(&fvecs(1, 3, 5));
    run(
        "mixed.fvecs",
        &mixed,
        "vector 50 (byte 1000) has no valid dimension (expected 4)",
    );
    run("empty.fvecs", &[], "empty.fvecs: no vectors");
    run(
        "wide.fvecs",
        &fvecs(10, 6, 6),
        "item vectors have 6 dimensions, queries 4",
    );
    let out = recsweep(
        dir.path(),
        &[
            "bench",
            "ann",
            "--items",
            "missing.fvecs",
            "--queries",
            "queries.fvecs",
        ],
    );
    bad_input(&out, "missing.fvecs");
    let ann = |extra: &[&str]| {
        let mut args = vec![
            "bench",
            "ann",
            "--items",
            "queries.fvecs",
            "--queries",
            "queries.fvecs",
        ];
        args.extend_from_slice(extra);
        recsweep(dir.path(), &args)
    };
    std::fs::write(dir.path().join("peer.txt"), "no table here\n").unwrap();
    let out = ann(&["--lists", "0", "--peer", "peer.txt", "--svg", "ann.svg"]);
    bad_input(&out, "peer.txt: no rows");
    // No queries left to search: refused, not divided by.
    let out = ann(&["--max-queries", "0"]);
    bad_input(&out, "5 item and 0 query vectors; both need at least one");
    // Links per node are bounded: the flat link array is sized by them.
    let out = ann(&["--m", "1000000000000"]);
    bad_input(&out, "--m 1000000000000: links per node must be 1 to 256");
}
