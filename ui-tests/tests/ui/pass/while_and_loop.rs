// `while`, `while let` and `loop` training loops, two of them labelled by the user.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn until_small(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let mut norm = f64::INFINITY;
    while norm > 1e-6 {
        broadcast!(w);
        let g = reduce!(data, |part| p.loss.gradient(part, w.view()));
        norm = g.dot(&g).sqrt();
        w.scaled_add(-p.step, &g);
    }
    w
}

#[async_optimizer]
fn over_a_schedule(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let mut steps: Vec<f64> = vec![p.step; p.updates];
    'steps: while let Some(step) = steps.pop() {
        broadcast!(w);
        let g = reduce!(data, |part| p.loss.gradient(part, w.view()));
        if g.iter().any(|x| x.is_nan()) {
            break 'steps;
        }
        w.scaled_add(-step, &g);
    }
    w
}

#[async_optimizer]
fn labelled(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let mut k: usize = 0;
    'train: loop {
        broadcast!(w);
        let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()));
        w.scaled_add(-p.step, &g);
        k += 1;
        for x in g.iter() {
            if x.is_nan() {
                break 'train;
            }
        }
    }
    w
}

fn main() {}
