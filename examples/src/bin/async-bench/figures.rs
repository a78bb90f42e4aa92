//! `bench/figures.json`, shared by the benchmark's parts: each part owns one top-level key and
//! rewrites only that key, so that running one part keeps the others' figures.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{Map, Value};

/// Sets `key` of the JSON object in `out` to `value`, keeping every other key; creates the
/// file (and its folder) if it is missing.
pub fn merge(out: &Path, key: &str, value: Value) -> Result<()> {
    let mut figures = match std::fs::read_to_string(out) {
        Ok(text) => match serde_json::from_str::<Value>(&text)
            .with_context(|| format!("{} is not JSON", out.display()))?
        {
            Value::Object(map) => map,
            _ => anyhow::bail!("{} is not a JSON object", out.display()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", out.display())),
    };
    figures.insert(key.to_owned(), value);
    async_train::trace::create_parent(out)?;
    let text = serde_json::to_string_pretty(&Value::Object(figures))?;
    std::fs::write(out, text + "\n").with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
}

/// The machine's load average over the last minute (Linux), recorded beside timings: these
/// figures mean little on a machine busy with other work.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_one_key_keeps_the_others() {
        let dir = std::env::temp_dir().join(format!("figures-merge-{}", std::process::id()));
        let out = dir.join("figures.json");
        let _ = std::fs::remove_file(&out);
        merge(&out, "a", serde_json::json!(1)).unwrap();
        merge(&out, "b", serde_json::json!({"x": 2})).unwrap();
        merge(&out, "a", serde_json::json!(3)).unwrap();
        let read: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(read, serde_json::json!({"a": 3, "b": {"x": 2}}));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
