// Every pattern that binds the driver's name is refused, not only a `let`'s.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn by_if_let(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        if let Some(cx) = Some(2usize) {
            broadcast!(w);
            let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()));
            w.scaled_add(-p.step / cx as f64, &g);
        }
    }
    w
}

#[async_optimizer]
fn by_while_let(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let mut left = vec![1usize; p.updates];
    while let Some(cx) = left.pop() {
        broadcast!(w);
        let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, 0), w.view()));
        w.scaled_add(-p.step / cx as f64, &g);
    }
    w
}

#[async_optimizer]
fn by_match_arm(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        match k % 2 {
            0 => {}
            cx => {
                broadcast!(w);
                let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()));
                w.scaled_add(-p.step / cx as f64, &g);
            }
        }
    }
    w
}

fn main() {}
