use asyncopt_runtime::{barrier, Driver};

fn wait(cx: &mut Driver) {
    for _ in 0..10 {
        barrier!(|workers| workers.idle() >= 2);
    }
}

fn main() {}
