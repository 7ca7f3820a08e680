//! The filter's image as Istio gets it: written by this crate, pushed with real `skopeo` to a
//! real registry on loopback, pulled back, and checked the way Istio's fetcher reads it (one
//! `tar+gzip` layer holding `plugin.wasm`) against the filter the workspace builds.
//!
//! Needs `docker-registry` and `skopeo` (Debian packages; `make oci-tools`, run by
//! `make test`): a missing one fails the test with that hint, it never skips.

mod registry;

use std::io::Read as _;
use std::path::Path;
use std::process::Command;

use oci_image::{
    CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, PLUGIN_FILE, VARIANT_ANNOTATION,
    digest,
};
use registry::{Registry, which};
use serde_json::Value;

const TAG: &str = "0.1.0-test";

/// Runs `skopeo ARGS` (no signature policy: a loopback registry of our own); its stdout.
fn skopeo(args: &[&str]) -> Vec<u8> {
    let binary = which("skopeo")
        .expect("skopeo is not installed: `make oci-tools` installs it (Debian package skopeo)");
    let out = Command::new(binary)
        .arg("--insecure-policy")
        .args(args)
        .output()
        .expect("skopeo runs");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A blob of a layout, checked against its name.
fn blob(layout: &Path, digest_str: &str) -> Vec<u8> {
    let hex = digest_str.strip_prefix("sha256:").expect("a sha256 digest");
    let bytes = std::fs::read(layout.join("blobs/sha256").join(hex)).expect("the blob");
    assert_eq!(
        digest(&bytes),
        digest_str,
        "a blob's content matches its name"
    );
    bytes
}

/// What Istio's fetcher does with the compat variant: gunzip the layer, find `plugin.wasm`.
fn plugin_wasm(layer: &[u8]) -> Vec<u8> {
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(layer)
        .read_to_end(&mut tar)
        .expect("the layer is gzip");
    let mut archive = tar::Archive::new(&tar[..]);
    for entry in archive.entries().expect("the layer is a tar") {
        let mut entry = entry.expect("an entry");
        let path = entry.path().expect("a path").into_owned();
        if path.file_name().and_then(|n| n.to_str()) == Some(PLUGIN_FILE) {
            let mut wasm = Vec::new();
            entry.read_to_end(&mut wasm).expect("the entry");
            return wasm;
        }
    }
    panic!("no {PLUGIN_FILE} in the layer");
}

#[test]
fn the_filter_image_goes_through_a_real_registry_byte_for_byte() {
    let wasm = artifacts::BREAKWATER_FILTER
        .read()
        .expect("the built filter");
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = dir.path().join("layout");
    let image = oci_image::image(&wasm, "breakwater-filter").expect("an image");
    oci_image::write_layout(&image, &layout, TAG).expect("a layout");

    let registry = Registry::start(&dir.path().join("registry")).expect("the registry starts");
    let remote = format!("docker://{}/breakwater-filter:{TAG}", registry.address());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:{TAG}", layout.display()),
        &remote,
    ]);

    // The registry serves our manifest unchanged, under the OCI manifest media type.
    let served = skopeo(&["inspect", "--raw", "--tls-verify=false", &remote]);
    assert_eq!(
        String::from_utf8_lossy(&served),
        String::from_utf8_lossy(&image.manifest),
        "the manifest comes back as pushed; registry log:\n{}",
        registry.log()
    );
    let head = registry
        .get(
            &format!("/v2/breakwater-filter/manifests/{TAG}"),
            MANIFEST_MEDIA_TYPE,
        )
        .expect("GET the manifest");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-type: {MANIFEST_MEDIA_TYPE}")),
        "{head}"
    );
    assert!(
        head.contains(&format!(
            "Docker-Content-Digest: {}",
            image.manifest_digest()
        )),
        "{head}"
    );

    // Pulled back into a fresh layout, as a client would.
    let pulled = dir.path().join("pulled");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &remote,
        &format!("oci:{}:{TAG}", pulled.display()),
    ]);
    let index = read_json(&pulled.join("index.json"));
    let entry = &index["manifests"][0];
    assert_eq!(entry["digest"], image.manifest_digest(), "{index}");
    let manifest: Value =
        serde_json::from_slice(&blob(&pulled, entry["digest"].as_str().expect("digest")))
            .expect("manifest JSON");

    // The shape Istio's fetcher takes as the compat variant: one tar+gzip layer.
    assert_eq!(manifest["mediaType"], MANIFEST_MEDIA_TYPE);
    assert_eq!(manifest["config"]["mediaType"], CONFIG_MEDIA_TYPE);
    assert_eq!(manifest["annotations"][VARIANT_ANNOTATION], "compat");
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "{manifest}");
    assert_eq!(layers[0]["mediaType"], LAYER_MEDIA_TYPE);
    assert_eq!(layers[0]["digest"], image.layer_digest());
    let layer = blob(&pulled, layers[0]["digest"].as_str().expect("digest"));
    assert_eq!(layer, image.layer.gzip, "the layer blob is byte-identical");
    let back = plugin_wasm(&layer);
    assert!(
        back == wasm,
        "plugin.wasm differs from {} ({} bytes back, {} built)",
        artifacts::BREAKWATER_FILTER.path().display(),
        back.len(),
        wasm.len()
    );
    let config: Value = serde_json::from_slice(&blob(
        &pulled,
        manifest["config"]["digest"].as_str().expect("digest"),
    ))
    .expect("config JSON");
    assert_eq!(config["rootfs"]["diff_ids"][0], digest(&image.layer.tar));
}
