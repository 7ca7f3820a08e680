//! `cargo run -p embed-example`: the story of [`embed_example::scenario`], narrated.

use embed_example::component::Runtime;
use embed_example::{component_path, scenario};

#[tokio::main]
async fn main() -> wasmtime::Result<()> {
    let runtime = Runtime::load(&component_path())?;
    scenario::run(&runtime, true).await?;
    Ok(())
}
