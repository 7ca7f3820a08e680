//! The image (config, manifest) and the OCI image layout directory that holds it.
//!
//! A layout (OCI image-spec `image-layout.md`) is what `skopeo copy oci:DIR:TAG …` reads:
//! `oci-layout`, `index.json` naming the manifest by digest with the tag as its
//! `org.opencontainers.image.ref.name`, and every blob under `blobs/sha256/<hex>`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::layer::{self, Layer};
use crate::{
    CONFIG_MEDIA_TYPE, INDEX_MEDIA_TYPE, LAYER_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, PLUGIN_FILE,
    VARIANT_ANNOTATION, digest,
};

/// The title annotation of the image and its layer.
const TITLE: &str = "org.opencontainers.image.title";
/// The tag annotation of a manifest in a layout's index.
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Why an image or a layout could not be written.
#[derive(Debug)]
#[non_exhaustive]
pub enum OciError {
    /// The input does not start with the wasm magic `\0asm`.
    NotWasm,
    /// The tag breaks the OCI tag grammar `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
    BadTag(String),
    /// The output directory exists, is not empty and is not an image layout (refused rather
    /// than overwritten).
    NotALayout(PathBuf),
    /// A file could not be written.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
}

impl fmt::Display for OciError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OciError::NotWasm => write!(f, "not a wasm module (no `\\0asm` magic)"),
            OciError::BadTag(t) => write!(
                f,
                "tag {t:?} is not a valid OCI tag ([A-Za-z0-9_][A-Za-z0-9._-], at most 128)"
            ),
            OciError::NotALayout(p) => write!(
                f,
                "{}: exists, is not empty and has no `oci-layout` file: not overwriting it",
                p.display()
            ),
            OciError::Io { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for OciError {}

/// A built image: every blob and its digest.
#[derive(Debug, Clone)]
pub struct Image {
    /// The layer (tar and gzip).
    pub layer: Layer,
    /// The image config (JSON).
    pub config: Vec<u8>,
    /// The manifest (JSON).
    pub manifest: Vec<u8>,
}

impl Image {
    /// The manifest's digest: the image's identity (`…@sha256:…`).
    pub fn manifest_digest(&self) -> String {
        digest(&self.manifest)
    }

    /// The digest of the layer blob (the gzip).
    pub fn layer_digest(&self) -> String {
        digest(&self.layer.gzip)
    }
}

/// Builds the image of the wasm module `wasm`, titled `title` (the repository name, e.g.
/// `breakwater-filter`), with this crate's version and license as annotations.
pub fn image(wasm: &[u8], title: &str) -> Result<Image, OciError> {
    if !wasm.starts_with(b"\0asm") {
        return Err(OciError::NotWasm);
    }
    let layer = layer::build(wasm).map_err(|error| OciError::Io {
        path: PathBuf::from(PLUGIN_FILE),
        error,
    })?;
    // Go's names for the platform the module is built for (GOOS=wasip1 GOARCH=wasm); no date,
    // so the digest depends on the module only.
    let config = json!({
        "architecture": "wasm",
        "os": "wasip1",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [digest(&layer.tar)]},
    });
    let config = to_bytes(&config);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": descriptor(CONFIG_MEDIA_TYPE, &config),
        "layers": [{
            "mediaType": LAYER_MEDIA_TYPE,
            "digest": digest(&layer.gzip),
            "size": layer.gzip.len(),
            "annotations": {TITLE: PLUGIN_FILE},
        }],
        "annotations": {
            VARIANT_ANNOTATION: "compat",
            TITLE: title,
            "org.opencontainers.image.version": env!("CARGO_PKG_VERSION"),
            "org.opencontainers.image.licenses": env!("CARGO_PKG_LICENSE"),
        },
    });
    Ok(Image {
        manifest: to_bytes(&manifest),
        config,
        layer,
    })
}

/// Writes `image` as an OCI image layout in `dir`, tagged `tag`. A layout already there is
/// replaced; any other non-empty directory is refused.
pub fn write_layout(image: &Image, dir: &Path, tag: &str) -> Result<(), OciError> {
    if !valid_tag(tag) {
        return Err(OciError::BadTag(tag.to_owned()));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |error| OciError::Io { path, error }
    };
    if dir.exists() {
        let empty = std::fs::read_dir(dir).map_err(io(dir))?.next().is_none();
        if !empty && !dir.join("oci-layout").is_file() {
            return Err(OciError::NotALayout(dir.to_path_buf()));
        }
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(io(&blobs))?;
    for blob in [&image.layer.gzip, &image.config, &image.manifest] {
        let d = digest(blob);
        let path = blobs.join(d.trim_start_matches("sha256:"));
        std::fs::write(&path, blob).map_err(io(&path))?;
    }
    let mut manifest = descriptor(MANIFEST_MEDIA_TYPE, &image.manifest);
    manifest["annotations"] = json!({ REF_NAME: tag });
    let index = json!({
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": [manifest],
    });
    let files = [
        ("oci-layout", json!({"imageLayoutVersion": "1.0.0"})),
        ("index.json", index),
    ];
    for (name, value) in files {
        let path = dir.join(name);
        std::fs::write(&path, to_bytes(&value)).map_err(io(&path))?;
    }
    Ok(())
}

/// The OCI tag grammar: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
fn valid_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    let first = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    first
        && tag.len() <= 128
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn descriptor(media_type: &str, blob: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": digest(blob), "size": blob.len()})
}

fn to_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wasm() -> Vec<u8> {
        b"\0asm\x01\0\0\0 the filter".to_vec()
    }

    fn read_json(path: &Path) -> Value {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn the_layout_names_every_blob_by_its_digest() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("image");
        let image = image(&wasm(), "breakwater-filter").unwrap();
        write_layout(&image, &out, "0.1.0").unwrap();

        assert_eq!(
            read_json(&out.join("oci-layout")),
            json!({"imageLayoutVersion": "1.0.0"})
        );
        let index = read_json(&out.join("index.json"));
        let entry = &index["manifests"][0];
        assert_eq!(entry["annotations"][REF_NAME], "0.1.0");
        assert_eq!(entry["digest"], image.manifest_digest());
        for entry in std::fs::read_dir(out.join("blobs/sha256")).unwrap() {
            let entry = entry.unwrap();
            let bytes = std::fs::read(entry.path()).unwrap();
            assert_eq!(
                digest(&bytes),
                format!("sha256:{}", entry.file_name().to_str().unwrap())
            );
        }
        let manifest: Value = serde_json::from_slice(&image.manifest).unwrap();
        assert_eq!(manifest["layers"][0]["mediaType"], LAYER_MEDIA_TYPE);
        assert_eq!(manifest["layers"][0]["size"], image.layer.gzip.len());
        assert_eq!(manifest["config"]["mediaType"], CONFIG_MEDIA_TYPE);
        assert_eq!(manifest["annotations"][VARIANT_ANNOTATION], "compat");
        let config: Value = serde_json::from_slice(&image.config).unwrap();
        assert_eq!(config["rootfs"]["diff_ids"][0], digest(&image.layer.tar));

        // Written again over itself: replaced, same digest (nothing depends on the time).
        let again = super::image(&wasm(), "breakwater-filter").unwrap();
        assert_eq!(again.manifest_digest(), image.manifest_digest());
        write_layout(&again, &out, "0.1.0").unwrap();
    }

    #[test]
    fn bad_input_is_named() {
        let e = image(b"MZ not wasm", "x").unwrap_err();
        assert_eq!(e.to_string(), "not a wasm module (no `\\0asm` magic)");
        let dir = tempfile::tempdir().unwrap();
        let img = image(&wasm(), "x").unwrap();
        for tag in ["", "-lead", "a/b", &"x".repeat(129)] {
            let e = write_layout(&img, &dir.path().join("l"), tag).unwrap_err();
            assert!(matches!(e, OciError::BadTag(_)), "{tag:?}: {e}");
        }
        std::fs::write(dir.path().join("precious"), "keep").unwrap();
        let e = write_layout(&img, dir.path(), "latest").unwrap_err();
        assert!(matches!(e, OciError::NotALayout(_)), "{e}");
        assert!(dir.path().join("precious").is_file());
    }
}
