// Items and imports at the top of the optimizer's body are in scope where the workers' copy
// of a reduce! closure is compiled, wherever they stand in the body.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

mod ext {
    use asyncopt_algorithms::Model;

    pub trait Halve {
        fn halve(&self) -> Model;
    }

    impl Halve for Model {
        fn halve(&self) -> Model {
            self * 0.5
        }
    }
}

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    use ext::Halve;
    fn scale(x: f64) -> f64 {
        x * 0.5
    }
    let mut w: Model = Model::zeros(data.dim());
    for _ in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| {
            let unit = Unit;
            p.loss.gradient(part, w.view()).halve() * scale(SHIFT) * unit.one()
        });
        w.scaled_add(-p.step, &g);
    }
    const SHIFT: f64 = 1.0;
    struct Unit;
    impl Unit {
        fn one(&self) -> f64 {
            1.0
        }
    }
    w
}

fn main() {}
