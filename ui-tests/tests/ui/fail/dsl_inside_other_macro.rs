// A reduce! among another macro's arguments is not rewritten: it is said where it stands,
// rather than as a macro `reduce` rustc cannot find.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for _ in 0..p.updates {
        broadcast!(w);
        println!("objective {}", reduce!(data, |part| p.loss.objective(part, w.view())));
        let g = reduce!(data, |part| p.loss.gradient(part, w.view()));
        w.scaled_add(-p.step, &g);
    }
    w
}

fn main() {}
