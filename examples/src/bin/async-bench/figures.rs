//! `bench/figures.json`, shared by the benchmark's parts: each part owns one top-level key and
//! rewrites only that key, so that running one part keeps the others' figures.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use async_train::cli::UsageError;
use asyncopt_runtime::regular_file;
use serde_json::{Map, Value};

/// Checks, before a part's first run, that its figures can be merged into `out`: a folder, a
/// file that is not a JSON object, a file in the place of its folder or a folder that cannot
/// be written were found only after the runs, which were then lost. A named pipe or a device
/// is refused too: its old figures were read from it, which waits for a writer for good or
/// reads `/dev/zero` until memory runs out. Each is the command line's mistake, a
/// [`UsageError`] that names `--out`; its folder is created.
pub fn check(out: &Path) -> Result<()> {
    if out.is_dir() {
        let said = format!(
            "--out {} is a folder; give a file, such as {}",
            out.display(),
            out.join("figures.json").display()
        );
        return Err(UsageError(said).into());
    }
    if let Some(kind) = regular_file::special_kind(out) {
        let said = format!("--out {} is a {kind}, not a file", out.display());
        return Err(UsageError(said).into());
    }
    async_train::trace::check_flag_writable("--out", out, out)?;
    existing(out)
        .map(drop)
        .map_err(|error| UsageError(format!("{error:#}")).into())
}

/// Sets `key` of the JSON object in `out` to `value`, keeping every other key; creates the
/// file (and its folder) if it is missing.
pub fn merge(out: &Path, key: &str, value: Value) -> Result<()> {
    replace(out, Map::from_iter([(key.to_owned(), value)]), &[])
}

/// Sets each key of `keys` in the JSON object in `out` and removes the keys of `dropped`
/// (figures of the part's own that this run did not remake: kept, they would sit beside
/// settings they were not made with), keeping every other key; creates the file (and its
/// folder) if it is missing.
pub fn replace(out: &Path, keys: Map<String, Value>, dropped: &[&str]) -> Result<()> {
    let mut figures = existing(out)?;
    for key in dropped {
        figures.remove(*key);
    }
    figures.extend(keys);
    async_train::trace::create_parent(out)?;
    let text = serde_json::to_string_pretty(&Value::Object(figures))?;
    std::fs::write(out, text + "\n").with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
}

/// The most of a figures file read: its figures take some KB, so a file over this is no
/// figures file.
const MAX_FIGURES_BYTES: u64 = 16 << 20;

/// The figures already in `out`: none if it is missing.
pub fn existing(out: &Path) -> Result<Map<String, Value>> {
    let file = match regular_file::open(out) {
        Ok(file) => file,
        Err(e) if e.is_missing() => return Ok(Map::new()),
        Err(e) => return Err(e).with_context(|| format!("--out {}", out.display())),
    };
    let mut text = String::new();
    file.take(MAX_FIGURES_BYTES + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read --out {}", out.display()))?;
    if text.len() as u64 > MAX_FIGURES_BYTES {
        anyhow::bail!(
            "--out {} is over {} MiB, too long for a figures file (some KB)",
            out.display(),
            MAX_FIGURES_BYTES >> 20
        );
    }
    match serde_json::from_str::<Value>(&text)
        .with_context(|| format!("--out {} is not JSON", out.display()))?
    {
        Value::Object(map) => Ok(map),
        _ => anyhow::bail!("--out {} is not a JSON object", out.display()),
    }
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

    #[test]
    fn replacing_drops_the_keys_not_remade_and_keeps_the_others() {
        let dir = std::env::temp_dir().join(format!("figures-replace-{}", std::process::id()));
        let out = dir.join("figures.json");
        let _ = std::fs::remove_file(&out);
        merge(&out, "other_part", serde_json::json!(1)).unwrap();
        let first = serde_json::json!({"workers": 2, "vr": 5});
        replace(&out, first.as_object().unwrap().clone(), &[]).unwrap();
        let second = serde_json::json!({"workers": 3});
        replace(&out, second.as_object().unwrap().clone(), &["vr"]).unwrap();
        let read: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(read, serde_json::json!({"other_part": 1, "workers": 3}));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_folder_or_a_file_of_other_text_is_refused_before_any_run() {
        let dir = std::env::temp_dir().join(format!("figures-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let error = check(&dir).unwrap_err().to_string();
        assert!(error.contains("is a folder"), "{error}");
        let text = dir.join("notes.txt");
        std::fs::write(&text, "not figures").unwrap();
        assert!(format!("{:#}", check(&text).unwrap_err()).contains("is not JSON"));
        let missing = dir.join("new/figures.json");
        check(&missing).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }
}
