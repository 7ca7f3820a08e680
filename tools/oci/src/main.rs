//! `breakwater-oci`: writes a wasm module as an OCI image layout in the Wasm image format
//! Istio's `WasmPlugin` pulls (see the library's docs for which format and why).
//!
//! ```text
//! breakwater-oci --wasm target/dist/breakwater_filter.wasm --out target/oci/breakwater-filter --tag 0.1.0
//! skopeo copy oci:target/oci/breakwater-filter:0.1.0 docker://REGISTRY/breakwater-filter:0.1.0
//! ```
//!
//! Exit status: 0 written, 2 bad arguments or input, or a file that could not be written.

use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
breakwater-oci: a wasm module as an OCI image layout that Istio's WasmPlugin pulls

USAGE:
    breakwater-oci --wasm FILE --out DIR [--tag TAG] [--title NAME]

Writes DIR (replacing an image layout already there) with one image tagged TAG (default: this
version): a single application/vnd.oci.image.layer.v1.tar+gzip layer holding plugin.wasm, the
Wasm image spec's compat variant. Push it with skopeo:

    skopeo copy oci:DIR:TAG docker://REGISTRY/breakwater-filter:TAG

and name it in a WasmPlugin as url: oci://REGISTRY/breakwater-filter:TAG.
";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("breakwater-oci: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut wasm = None;
    let mut out = None;
    let mut tag = env!("CARGO_PKG_VERSION").to_owned();
    let mut title = "breakwater-filter".to_owned();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(());
            }
            "--wasm" => wasm = Some(PathBuf::from(value("--wasm")?)),
            "--out" => out = Some(PathBuf::from(value("--out")?)),
            "--tag" => tag = value("--tag")?,
            "--title" => title = value("--title")?,
            other => return Err(format!("unknown argument `{other}` (see --help)")),
        }
    }
    let wasm = wasm.ok_or("--wasm FILE is required")?;
    let out = out.ok_or("--out DIR is required")?;
    let bytes = std::fs::read(&wasm).map_err(|e| format!("{}: {e}", wasm.display()))?;
    let image = oci_image::image(&bytes, &title).map_err(|e| format!("{}: {e}", wasm.display()))?;
    oci_image::write_layout(&image, &out, &tag).map_err(|e| e.to_string())?;
    println!(
        "{}: {title}:{tag} {} (layer {}, {} bytes)",
        out.display(),
        image.manifest_digest(),
        image.layer_digest(),
        image.layer.gzip.len()
    );
    Ok(())
}
