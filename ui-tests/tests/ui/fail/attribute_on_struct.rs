use asyncopt_runtime::async_optimizer;

#[async_optimizer]
struct Sgd {
    step: f64,
}

fn main() {}
