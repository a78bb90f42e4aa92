// A macro of the user's own named `reduce`, `broadcast` or `barrier`, called by a path, is
// not the DSL: #[async_optimizer] leaves it to rustc, and it expands as its author wrote it.
// The DSL may be named through the runtime's path too.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

mod m {
    // `(a, b)`: a pair the DSL's reduce! would read as data and closure.
    macro_rules! reduce {
        ($a:expr, $b:expr) => {
            [$a, $b]
        };
    }
    macro_rules! broadcast {
        ($x:expr) => {
            $x + 1
        };
    }
    macro_rules! barrier {
        () => {
            7_u8
        };
    }
    pub(crate) use {barrier, broadcast, reduce};
}

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let mut pairs: usize = 0;
    for k in 0..p.updates {
        asyncopt_runtime::broadcast!(w);
        let pair: [usize; 2] = m::reduce!(k, k + 1);
        let next: usize = crate::m::broadcast!(pair[1]);
        let seven: u8 = self::m::barrier!();
        pairs += next + usize::from(seven);
        m::barrier!();
        println!("{:?}", m::reduce!(pairs, k));
        let g = ::asyncopt_runtime::reduce!(data, |part| p.loss.gradient(part, w.view()));
        w.scaled_add(-p.step, &g);
    }
    w
}

fn main() {
    assert_eq!(m::reduce!(1, 2), [1, 2]);
}
