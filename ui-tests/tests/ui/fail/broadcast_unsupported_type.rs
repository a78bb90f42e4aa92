use algorithms::{Model, Params};
use async_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Vec<f32> = vec![0.0; data.dim()];
    for k in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), Model::from(w.iter().map(|&x| x as f64).collect::<Vec<f64>>()).view()));
        w[0] -= g[0] as f32;
    }
    Model::zeros(data.dim())
}

fn main() {}
