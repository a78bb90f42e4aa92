//! Hostile input: property tests that feed the wire decoder and the LIBSVM reader random and
//! mutated inputs. Neither may panic or hang; each answers with a value or a clear error.
//! Case counts are fixed below (1,080,000 inputs in all, about 40 s in release);
//! `PROPTEST_CASES` overrides them.

use std::path::Path;

use asyncopt_runtime::data::libsvm::read_libsvm_from;
use asyncopt_runtime::data::LoadOptions;
use asyncopt_runtime::protocol::{
    ResultBody, ShippedVersion, TaskOrder, ToDriver, ToWorker, VersionBody,
};
use asyncopt_runtime::transport::frame::{self, FrameError, ENVELOPE_LEN};
use proptest::prelude::*;
use serde_bytes::ByteBuf;

const MAX: usize = 1 << 20;

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(cases)
}

/// Valid frames of several message kinds, to mutate.
fn valid_frames() -> Vec<Vec<u8>> {
    vec![
        frame::encode(7, &ToWorker::Heartbeat),
        frame::encode(
            7,
            &ToWorker::Task(TaskOrder {
                seq: 12,
                versions: vec![ShippedVersion {
                    slot: 0,
                    version: 44,
                    body: VersionBody::Patch {
                        base: 43,
                        words: vec![1, 5],
                        values: ByteBuf::from(vec![7; 16]),
                    },
                }],
                task: "asyncopt_algorithms::sgd::sgd#1".into(),
                partition: 3,
                reads: vec![(0, 44)],
                captures: ByteBuf::from(vec![1, 2, 3, 4]),
                sample: None,
                history: vec![ByteBuf::from(vec![2, 0, 0, 0, 0, 0, 0, 0, 0])],
                sleep_s: 0.0,
            }),
        ),
        frame::encode(
            7,
            &ToDriver::Result {
                seq: 9,
                compute_s: 0.5,
                cpu_s: 0.5,
                delay_s: 0.0,
                held_s: 0.0,
                body: ResultBody::from(vec![0; 64]),
            },
        ),
        frame::encode(
            7,
            &ToDriver::Result {
                seq: 10,
                compute_s: 0.5,
                cpu_s: 0.5,
                delay_s: 0.0,
                held_s: 0.0,
                body: ResultBody::from([vec![0; 80], vec![3; 8], vec![0; 40]].concat()),
            },
        ),
    ]
}

proptest! {
    #![proptest_config(cases(300_000))]

    #[test]
    fn random_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = frame::decode::<ToWorker>(&bytes, 7, true, MAX);
        let _ = frame::decode::<ToDriver>(&bytes, 7, true, MAX);
    }

    #[test]
    fn mutated_frames_are_decoded_or_rejected(
        which in 0usize..3,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let mut bytes = valid_frames()[which].clone();
        for (at, value) in flips {
            let at = at % bytes.len();
            bytes[at] = value;
        }
        bytes.truncate(cut % (bytes.len() + 1));
        match frame::decode::<ToWorker>(&bytes, 7, false, MAX) {
            Ok(_) => prop_assert!(bytes.len() >= ENVELOPE_LEN),
            Err(FrameError::TooShort(n)) => prop_assert!(n < ENVELOPE_LEN),
            Err(_) => {}
        }
        let _ = frame::decode::<ToDriver>(&bytes, 7, false, MAX);
    }

    #[test]
    fn huge_declared_lengths_do_not_allocate_or_panic(len in any::<u64>(), tag in 0u8..8) {
        // A body that declares a huge byte string: postcard must refuse, not allocate it.
        let mut bytes = frame::encode(7, &ToWorker::Heartbeat);
        bytes.truncate(ENVELOPE_LEN);
        bytes.push(tag);
        let mut varint = len;
        loop {
            let byte = (varint & 0x7f) as u8;
            varint >>= 7;
            bytes.push(if varint == 0 { byte } else { byte | 0x80 });
            if varint == 0 { break; }
        }
        let _ = frame::decode::<ToWorker>(&bytes, 7, false, MAX);
    }
}

/// A line-oriented text of plausible and implausible LIBSVM tokens.
fn libsvm_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("+1".to_string()),
        Just("-1".to_string()),
        Just("1:0.5".to_string()),
        Just("2:-3e4".to_string()),
        Just("3:".to_string()),
        Just(":4".to_string()),
        Just("0:1".to_string()),
        Just("x:1".to_string()),
        Just("5:nan".to_string()),
        Just("#".to_string()),
        "[0-9]{1,3}:[-0-9.e]{1,6}",
        "[ -~]{0,6}",
    ];
    let line = proptest::collection::vec(token, 0..6).prop_map(|t| t.join(" "));
    proptest::collection::vec(line, 0..12).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(cases(90_000))]

    #[test]
    fn the_reader_answers_every_text_with_rows_or_a_located_error(text in libsvm_text()) {
        let path = Path::new("fuzz.libsvm");
        match read_libsvm_from(text.as_bytes(), path, &LoadOptions::default()) {
            Ok(data) => prop_assert!(data.n_rows() <= text.lines().count()),
            Err(error) => {
                let message = error.to_string();
                prop_assert!(message.contains("fuzz.libsvm"), "{}", message);
            }
        }
    }

    #[test]
    fn the_reader_survives_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = read_libsvm_from(bytes.as_slice(), Path::new("bytes.libsvm"), &LoadOptions::default());
    }
}
