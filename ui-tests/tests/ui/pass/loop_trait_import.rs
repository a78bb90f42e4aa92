// A trait imported inside the training loop, or in a block around it, whose method a reduce!
// closure calls, and a constant imported there: the imports go along with the closure, an
// inner one shadowing an outer one of the same name as around the reduce!.
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

    pub trait Double {
        fn double(&self) -> Model;
    }

    impl Double for Model {
        fn double(&self) -> Model {
            self * 2.0
        }
    }
}

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    {
        use ext::Double;
        use std::f64::consts::E as K;
        let e: f64 = K;
        for _ in 0..p.updates {
            use ext::Halve;
            // Shadows the `K` of the block around, here and in the workers' copy.
            use std::f64::consts::PI as K;
            broadcast!(w);
            let g = reduce!(data, |part| {
                let pi: f64 = K;
                p.loss.gradient(part, w.view()).halve().double() * (pi / K)
            });
            w.scaled_add(-p.step * e / e, &g);
        }
    }
    w
}

fn main() {}
