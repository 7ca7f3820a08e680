//! Filesystem xDS: resource files that Envoy watches, replaced whole, and the status of an
//! extension configuration delivered by ECDS.
//!
//! A `path_config_source` with a `watched_directory` makes Envoy reload the file when another
//! file is *moved* into that directory. Envoy's documentation asks for exactly this update: write
//! the new content to a temporary file in the same directory, then rename it over the old one
//! (a rename is atomic, so Envoy never reads half a file, and writing the temporary file alone
//! triggers nothing). [`XdsFile`] does only that, for LDS listeners and ECDS resources alike.
//!
//! What a process made of an ECDS update is in its stats, not in `/config_dump`: Envoy 1.40's
//! ECDS dump shows the last resource *received*, a rejected one included, while
//! `extension_config_discovery.<prefix>.<name>.version_text` keeps the version that serves.
//! [`Envoy::ecds_status`] reads those stats.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::binary::config_dir;
use super::template::render;
use super::{Envoy, EnvoyError};

/// A resource file Envoy watches (`path_config_source.path`, its directory as
/// `watched_directory`), published by write-then-rename.
#[derive(Debug, Clone)]
pub struct XdsFile {
    path: PathBuf,
}

impl XdsFile {
    /// The resource file at `path` (its directory must exist; the file need not yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file, for the bootstrap's `path_config_source.path`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its directory, for the bootstrap's `watched_directory.path`.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or_else(|| Path::new("."))
    }

    /// Replaces the file's content with `text`: a temporary file in the same directory, then
    /// renamed over the file (what Envoy's watcher reacts to).
    pub fn publish(&self, text: &str) -> Result<(), EnvoyError> {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                EnvoyError::Template(format!("{} names no file", self.path.display()))
            })?;
        let tmp = self.dir().join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text)
            .map_err(|e| EnvoyError::io(format!("write {}", tmp.display()), e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| {
            EnvoyError::io(
                format!("rename {} to {}", tmp.display(), self.path.display()),
                e,
            )
        })
    }

    /// Renders the template `template` (relative: under `<workspace>/envoy/`) with `vars` and
    /// publishes the result.
    pub fn publish_template(
        &self,
        template: impl AsRef<Path>,
        vars: &BTreeMap<String, String>,
    ) -> Result<(), EnvoyError> {
        let template = template.as_ref();
        let template = if template.is_absolute() {
            template.to_path_buf()
        } else {
            config_dir().join(template)
        };
        let text = std::fs::read_to_string(&template)
            .map_err(|e| EnvoyError::Template(format!("read {}: {e}", template.display())))?;
        self.publish(&render(&text, vars)?)
    }
}

/// What one Envoy process made of the ECDS resource of one extension, from its
/// `extension_config_discovery.<prefix>.<name>.*` stats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EcdsStatus {
    /// `version_text`: the `version_info` of the resource that serves ("" before any was
    /// accepted). A rejected update leaves it unchanged.
    pub version: String,
    /// `update_success`: resources accepted.
    pub update_success: u64,
    /// `update_rejected`: resources refused (an invalid configuration).
    pub update_rejected: u64,
    /// `config_fail`: resources whose extension could not be built from them.
    pub config_fail: u64,
}

impl Envoy {
    /// The ECDS status of the extension `name` under the stats prefix `prefix` (`http_filter`
    /// for an HTTP filter's `config_discovery`). Stats that do not exist yet read as zero.
    pub fn ecds_status(&self, prefix: &str, name: &str) -> Result<EcdsStatus, EnvoyError> {
        let base = format!("extension_config_discovery.{prefix}.{name}.");
        // A regex; `.` matches itself among others, and the exact prefix is checked below.
        // `%5E` is `^` (anchored), encoded for the URI.
        let text = self.admin_get(&format!("/stats?format=json&filter=%5E{base}"))?;
        let json: Value = serde_json::from_str(&text)
            .map_err(|e| EnvoyError::Admin(format!("/stats?format=json is not JSON: {e}")))?;
        let mut status = EcdsStatus::default();
        let stats = json.get("stats").and_then(Value::as_array);
        for stat in stats.into_iter().flatten() {
            let Some(field) = stat
                .get("name")
                .and_then(Value::as_str)
                .and_then(|n| n.strip_prefix(&base))
            else {
                continue;
            };
            let value = stat.get("value");
            let count = value.and_then(Value::as_u64).unwrap_or(0);
            match field {
                "version_text" => {
                    status.version = value.and_then(Value::as_str).unwrap_or("").to_owned();
                }
                "update_success" => status.update_success = count,
                "update_rejected" => status.update_rejected = count,
                "config_fail" => status.config_fail = count,
                _ => {}
            }
        }
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_replaces_the_file_whole_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = XdsFile::new(dir.path().join("ecds.yaml"));
        assert_eq!(file.dir(), dir.path());
        file.publish("version_info: a\n").expect("first publish");
        file.publish("version_info: b\n").expect("second publish");
        let text = std::fs::read_to_string(file.path()).expect("read");
        assert_eq!(text, "version_info: b\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["ecds.yaml"], "only the resource file is left");
    }

    #[test]
    fn a_template_with_a_missing_value_publishes_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let template = dir.path().join("t.yaml");
        std::fs::write(&template, "v: {{VERSION}}\n").expect("template");
        let file = XdsFile::new(dir.path().join("out.yaml"));
        let err = file
            .publish_template(&template, &BTreeMap::new())
            .expect_err("VERSION has no value");
        assert!(err.to_string().contains("VERSION"), "{err}");
        assert!(!file.path().exists());
        let vars = BTreeMap::from([("VERSION".to_owned(), "v1".to_owned())]);
        file.publish_template(&template, &vars).expect("rendered");
        assert_eq!(
            std::fs::read_to_string(file.path()).expect("read"),
            "v: v1\n"
        );
    }
}
