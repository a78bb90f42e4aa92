//! The line that tells remote workers how to join a driver: an address another host can
//! reach, and the token file the run was given.

use std::path::Path;

/// The command each remote worker runs to join the driver at `driver` (an address another
/// host can dial, [`dialable`](asyncopt_runtime::transport::dialable)): `program`'s `worker`
/// (an author's program is not `async-train`); with `--token-file`, the worker needs it too,
/// and with a shared data file, its `--data` (a worker reads only the files it is told it
/// may); with more than one run at this address (`compare`), `--runs`, or the worker leaves
/// after one.
pub(super) fn join_hint(
    program: &str,
    driver: &str,
    token_file: Option<&Path>,
    data: Option<&Path>,
    runs: usize,
) -> String {
    let token = token_file.map_or(String::new(), |path| {
        format!(" --token-file {}", shell_word(&path.display().to_string()))
    });
    let data = data.map_or(String::new(), |path| {
        format!(" --data {}", shell_word(&path.display().to_string()))
    });
    let runs = if runs > 1 {
        format!(" --runs {runs}")
    } else {
        String::new()
    };
    let program = shell_word(program);
    format!("start each with `{program} worker --driver {driver}{token}{data}{runs}`")
}

/// `word` as a shell reads it back: as it is when it holds no character a shell treats
/// specially, else in single quotes, so that the hint pasted into a shell works for a path
/// with a space.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:@%+=,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_owned();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_file_and_the_shared_data_are_named() {
        let hint = join_hint(
            "my-train",
            "tcp://trainer-1:7011",
            Some(Path::new("run.token")),
            Some(Path::new("/data/train.svm")),
            1,
        );
        assert_eq!(
            hint,
            "start each with `my-train worker --driver tcp://trainer-1:7011 --token-file run.token \
             --data /data/train.svm`"
        );
    }

    #[test]
    fn paths_a_shell_would_split_are_quoted() {
        let hint = join_hint(
            "async-train",
            "tcp://10.0.0.5:7011",
            Some(Path::new("my dir/run token")),
            Some(Path::new("/data/it's.svm")),
            1,
        );
        assert_eq!(
            hint,
            "start each with `async-train worker --driver tcp://10.0.0.5:7011 --token-file \
             'my dir/run token' --data '/data/it'\\''s.svm'`"
        );
    }

    #[test]
    fn a_comparison_asks_for_its_runs() {
        let compare = join_hint("async-train", "tcp://10.0.0.5:7011", None, None, 2);
        assert_eq!(
            compare,
            "start each with `async-train worker --driver tcp://10.0.0.5:7011 --runs 2`"
        );
    }
}
