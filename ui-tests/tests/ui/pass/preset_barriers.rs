// Preset barriers, and two broadcast variables read by one reduce.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, asp, quorum, Dataset, Driver};

#[async_optimizer]
fn any_idle(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let mut anchor: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        broadcast!(anchor);
        barrier!(asp());
        let g = reduce!(data, |part| {
            let batch = part.sample(p.batch, k);
            p.loss.gradient(&batch, w.view()) - p.loss.gradient(&batch, anchor.view())
        });
        w.scaled_add(-p.step, &g);
        if k % 10 == 0 {
            anchor.assign(&w);
        }
    }
    w
}

#[async_optimizer]
fn two_idle(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        barrier!(asyncopt_runtime::quorum(2));
        let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()));
        w.scaled_add(-p.step, &g);
        broadcast!(w);
        barrier!(quorum(p.quorum));
        let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()));
        w.scaled_add(-p.step, &g);
    }
    w
}

fn main() {}
