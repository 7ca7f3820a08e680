//! The figures the READMEs give, compared with what they describe: the sizes of the shipped
//! filter and of the component (the files build.rs built, with the profiles the READMEs name),
//! the number of invalid configurations the tests refuse, the number of demo steps.
//!
//! A figure no test compares drifts: wit/README.md said the component was ~540 KB long after it
//! measured 373 KB. So a README figure is either checked here or phrased without a number
//! (BENCHMARKS.md and RELIABILITY.md hold dated reports with their commands, not checked here).
//!
//! Sizes are written `~N KB` (1 KB = 1000 bytes, as in BENCHMARKS.md) and must be within
//! [`SIZE_TOLERANCE`] of the file: near enough to tell a reader what to expect, loose enough that
//! not every change to the filter rewrites the docs. Counts must be exact.

use std::path::Path;

use artifacts::{Artifact, BREAKWATER_COMPONENT, BREAKWATER_FILTER};
use demo::scenario::STEPS;

/// How far a README's size may be from the artifact's, as a share of the artifact's size.
const SIZE_TOLERANCE: f64 = 0.05;

/// Where a README gives an artifact's size: the file, the words just before `~N KB`, the file
/// it describes.
const SIZES: [(&str, &str, Artifact); 3] = [
    ("README.md", "The filter is", BREAKWATER_FILTER),
    ("envoy/README.md", "The file is", BREAKWATER_FILTER),
    ("wit/README.md", "(a component,", BREAKWATER_COMPONENT),
];

/// A README of the workspace, its whitespace (line breaks included) collapsed to single spaces.
fn readme(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text =
        std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"));
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The two words right after `before` in `text`, which must be there.
fn words_after<'a>(text: &'a str, before: &str, file: &str) -> (&'a str, &'a str) {
    let at = text
        .find(before)
        .unwrap_or_else(|| panic!("{file} no longer says {before:?}: update this test"));
    let mut words = text[at + before.len()..].split_whitespace();
    (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    )
}

/// The word right before `after` in `text`, which must be there.
fn word_before<'a>(text: &'a str, after: &str, file: &str) -> &'a str {
    let at = text
        .find(after)
        .unwrap_or_else(|| panic!("{file} no longer says {after:?}: update this test"));
    text[..at].split_whitespace().last().unwrap_or_default()
}

#[test]
fn artifact_sizes_in_the_readmes_are_within_tolerance_of_the_built_files() {
    for (file, before, artifact) in SIZES {
        let text = readme(file);
        let (figure, unit) = words_after(&text, before, file);
        let kb: f64 = figure
            .strip_prefix('~')
            .and_then(|n| n.parse().ok())
            .filter(|_| unit.starts_with("KB"))
            .unwrap_or_else(|| {
                panic!("{file}: expected `{before} ~N KB`, found `{figure} {unit}`")
            });
        let bytes = std::fs::metadata(artifact.path())
            .unwrap_or_else(|e| panic!("{}: {e}", artifact.path().display()))
            .len();
        let actual = bytes as f64 / 1000.0;
        assert!(
            (kb - actual).abs() <= SIZE_TOLERANCE * actual,
            "{file} says ~{kb} KB for {}, which is {bytes} bytes (~{actual:.0} KB): update the figure",
            artifact.path().display()
        );
    }
}

#[test]
fn the_count_of_invalid_configurations_is_the_corpus_size() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/invalid_configs.json");
    let text = std::fs::read_to_string(&corpus).expect("corpus readable");
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).expect("corpus is a list");
    let text = readme("README.md");
    let said = word_before(&text, "invalid configurations refused", "README.md");
    assert_eq!(said, cases.len().to_string(), "README.md: update the count");
}

#[test]
fn the_number_of_demo_steps_is_the_scenarios() {
    const WORDS: [&str; 13] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve",
    ];
    let steps = WORDS.get(STEPS.len()).expect("a number spelled out");
    for (file, after) in [
        ("README.md", "steps, narrates each live"),
        ("host-tests/README.md", "scripted steps, each narrated"),
    ] {
        assert_eq!(
            word_before(&readme(file), after, file),
            *steps,
            "{file}: the demo has {} steps",
            STEPS.len()
        );
    }
}
