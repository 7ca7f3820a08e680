//! The image's one layer: a gzipped tar holding `plugin.wasm`, byte for byte reproducible.
//!
//! Istio's image fetcher reads the compat variant's layer as a gzip stream, walks the tar and
//! takes the entry whose base name is `plugin.wasm`. Nothing else in the archive matters to
//! it, so the archive holds that one file with fixed metadata (mode 0644, owner 0:0, time 0)
//! and gzip writes no time or name either: the same filter always gives the same layer digest,
//! and so the same image digest, whoever builds it and whenever.

use std::io::Write as _;

use flate2::Compression;
use flate2::GzBuilder;

/// The file name Istio looks for in the layer (the compat variant's rule).
pub const PLUGIN_FILE: &str = "plugin.wasm";

/// A layer, uncompressed and compressed: the uncompressed digest is the image config's
/// `diff_id`, the compressed one names the blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The tar archive.
    pub tar: Vec<u8>,
    /// The same archive, gzipped: the blob pushed to the registry.
    pub gzip: Vec<u8>,
}

/// Builds the layer holding `wasm` as [`PLUGIN_FILE`].
pub fn build(wasm: &[u8]) -> std::io::Result<Layer> {
    let mut header = tar::Header::new_ustar();
    header.set_size(wasm.len() as u64);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    let mut archive = tar::Builder::new(Vec::new());
    archive.mode(tar::HeaderMode::Deterministic);
    archive.append_data(&mut header, PLUGIN_FILE, wasm)?;
    let tar = archive.into_inner()?;

    let mut gz = GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::best());
    gz.write_all(&tar)?;
    let gzip = gz.finish()?;
    Ok(Layer { tar, gzip })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn the_layer_holds_the_bytes_under_plugin_wasm_and_is_reproducible() {
        let wasm = b"\0asm\x01\0\0\0 a filter".to_vec();
        let layer = build(&wasm).unwrap();
        assert_eq!(layer, build(&wasm).unwrap(), "same input, same bytes");

        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&layer.gzip[..])
            .read_to_end(&mut tar)
            .unwrap();
        assert_eq!(tar, layer.tar);
        let mut archive = tar::Archive::new(&tar[..]);
        let mut entries = archive.entries().unwrap();
        let mut entry = entries.next().unwrap().unwrap();
        assert_eq!(entry.path().unwrap().to_str(), Some(PLUGIN_FILE));
        assert_eq!(entry.header().mtime().unwrap(), 0);
        let mut body = Vec::new();
        entry.read_to_end(&mut body).unwrap();
        assert_eq!(body, wasm);
        drop(entry);
        assert!(entries.next().is_none(), "one file only");
    }
}
