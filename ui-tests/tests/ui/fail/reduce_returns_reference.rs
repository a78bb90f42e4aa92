use asyncopt_runtime::{async_optimizer, Dataset, Driver};

// A result written as a reference to a capture is said to be one, not as a missing serde
// impl for `&String` with "derive Serialize for `&String`".
#[async_optimizer]
fn names(cx: &mut Driver, data: &Dataset, updates: usize) -> usize {
    let labels: Vec<String> = vec!["a".into()];
    let mut total: usize = 0;
    for _ in 0..updates {
        let first: String = reduce!(data, |part| {
            let _ = part;
            &labels[0]
        });
        total += first.len();
    }
    total
}

fn main() {}
