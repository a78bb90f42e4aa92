use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn echo(cx: &mut Driver, data: &Dataset, updates: usize) -> f64 {
    let mut a: f64 = 1.0;
    for _ in 0..updates {
        broadcast!(a);
        let g: f64 = reduce!(data, |_part| a);
        a += g;
    }
    a
}

fn main() {}
