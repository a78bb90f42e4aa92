// Loop state declared by patterns: every `mut` binding of a tuple or struct pattern is saved,
// and a variable shadowed by an immutable `let` is no longer the loop's (saving it would
// borrow the immutable one mutably).
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

struct Moments {
    first: Model,
    second: Model,
}

#[async_optimizer]
fn adam_like(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let (mut w, mut k): (Model, usize) = (Model::zeros(data.dim()), 0);
    let Moments {
        first: mut m,
        second: mut v,
    } = Moments {
        first: Model::zeros(data.dim()),
        second: Model::zeros(data.dim()),
    };
    let mut scale = 1.0_f64;
    scale += 1.0;
    let scale = scale * 2.0;
    for _ in 0..p.updates {
        // Nested, it has no effect, and is no error.
        #[transient]
        let started = std::time::Instant::now();
        broadcast!(w);
        let g = reduce!(data.sample(p.batch, k), |batch| p.loss.gradient(batch, w.view()));
        m = 0.9 * m + 0.1 * &g;
        v = 0.999 * v + 0.001 * &g * &g;
        w.scaled_add(-p.step * scale, &(&m / (v.mapv(f64::sqrt) + 1e-8)));
        k += 1;
        let _ = started;
    }
    w
}

fn main() {}
