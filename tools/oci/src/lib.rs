//! oci-image: breakwater's filter as an OCI image that Istio's `WasmPlugin` pulls (`oci://…`),
//! written as an OCI image layout directory that `skopeo copy oci:DIR:TAG docker://…` pushes.
//!
//! # Which Wasm image format, and why
//!
//! Istio reads two formats of the "Wasm Image Specification" (solo-io/wasm `spec/`):
//!
//! - the *compat* variant: one layer of a standard type (`application/vnd.oci.image.layer.v1.tar+gzip`,
//!   or Docker's `…rootfs.diff.tar.gzip`), a gzipped tar holding `plugin.wasm`;
//! - the *oci* variant: custom artifact media types, the module as a raw
//!   `application/vnd.module.wasm.content.layer.v1+wasm` layer **and** a second layer,
//!   `application/vnd.module.wasm.config.v1+json`, with the runtime's metadata.
//!
//! We write the compat variant with standard OCI media types. It is the format Istio's own guide
//! ("How to build Istio Wasm Plugin compatible OCI images", istio-ecosystem/wasm-extensions,
//! linked from Istio's WasmPlugin documentation) builds as the "standard OCI specification
//! compliant format", and the one Istio's fetcher (`pkg/wasm/imagefetcher.go`) tries first.
//! The oci variant is read only with exactly two layers (`number of layers must be 2 but got
//! 1` is what Istio answers to a single raw wasm layer, the shape `oras push` produces), and its
//! custom media types are refused by registries and tools that only know images. Standard types
//! go through every registry, `skopeo`, `crane` and `docker` alike. The manifest carries the
//! spec's `module.wasm.image/variant: compat` annotation (Istio no longer needs it; the spec
//! asks for it).
//!
//! # What is reproducible
//!
//! Nothing in the image depends on the time or the machine: the layer is built with fixed
//! metadata ([`layer`]), the config and manifest hold no dates, so one filter gives one image
//! digest. A WasmPlugin can pin it (`oci://registry/breakwater-filter@sha256:…` or `sha256:`)
//! and a rebuild from the same source gives the same digest.

pub mod layer;
pub mod layout;

pub use layer::{Layer, PLUGIN_FILE};
pub use layout::{Image, OciError, image, write_layout};

use sha2::{Digest as _, Sha256};

/// The media type of an OCI image manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// The media type of an OCI image index (`index.json` of a layout).
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// The media type of the image config.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// The media type of the one layer: what Istio's fetcher takes as the compat variant.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The manifest annotation that names the Wasm image variant.
pub const VARIANT_ANNOTATION: &str = "module.wasm.image/variant";

/// `sha256:<hex>`, the OCI digest of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    #[test]
    fn digest_is_sha256_in_oci_form() {
        assert_eq!(
            super::digest(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
