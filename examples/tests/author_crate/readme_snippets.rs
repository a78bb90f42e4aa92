//! The README's ```rust blocks as a throwaway crate: each block, found by a line it contains
//! (not by its line number), becomes one module, wrapped in the least code it needs (a `main`,
//! the names the README defines elsewhere), so that a block that no longer matches the API
//! fails to compile.

/// One generated module: its file name and its text.
pub struct Module {
    pub name: &'static str,
    pub text: String,
}

/// A ```rust block of the README: the line its text starts on, and the text.
struct Block {
    line: usize,
    text: String,
}

/// The README's ```rust blocks, in order.
fn rust_blocks(readme: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    for (index, line) in readme.lines().enumerate() {
        match &mut current {
            None if line.trim_start() == "```rust" => {
                current = Some(Block {
                    line: index + 2,
                    text: String::new(),
                })
            }
            Some(_) if line.trim_start() == "```" => blocks.extend(current.take()),
            Some(block) => {
                block.text += line;
                block.text += "\n";
            }
            None => {}
        }
    }
    blocks
}

/// The one block that contains `marker`, with a message that names it when it is gone.
fn block<'a>(blocks: &'a [Block], marker: &str) -> &'a Block {
    let found: Vec<&Block> = blocks.iter().filter(|b| b.text.contains(marker)).collect();
    match found.as_slice() {
        [one] => one,
        [] => panic!(
            "README.md has no ```rust block containing `{marker}` any more: \
             update the marker in {} to the block's new text",
            file!()
        ),
        _ => panic!("README.md has several ```rust blocks containing `{marker}`"),
    }
}

/// A fragment's `use` and `const` lines (items) apart from its statements.
fn items_and_statements(fragment: &str) -> (String, String) {
    let (items, statements): (Vec<&str>, Vec<&str>) = fragment
        .lines()
        .partition(|l| l.starts_with("use ") || l.starts_with("const "));
    (items.join("\n"), statements.join("\n"))
}

fn header(block: &Block, marker: &str) -> String {
    format!(
        "// README.md from line {}, the ```rust block containing `{marker}`.\n\
         #![allow(unused)]\n\n",
        block.line
    )
}

/// The asynchronous twin's loop body in the synchronous `sgd`'s frame: the `my_asgd` the
/// toolkit program names.
fn my_asgd(twin_body: &str) -> String {
    format!(
        "#[async_optimizer]\n\
         pub fn my_asgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {{\n\
         let mut w: Model = Model::zeros(data.dim());\n\
         for k in 0..p.updates {{\n{twin_body}\n}}\nw\n}}\n"
    )
}

/// Every module of the crate but `main.rs`.
pub fn modules(readme: &str) -> Vec<Module> {
    let blocks = rust_blocks(readme);
    let mut modules = Vec::new();
    let twin = block(&blocks, "barrier!(|workers| workers.idle() >= p.quorum);");
    let mut compiled = vec![twin.line];
    let twin = &twin.text;
    let mut add = |name, marker: &str, wrap: &dyn Fn(&str) -> String| {
        let found = block(&blocks, marker);
        compiled.push(found.line);
        let text = header(found, marker) + &wrap(&found.text);
        modules.push(Module { name, text });
    };

    add("sgd", "pub fn sgd(cx: &mut Driver", &|b: &str| {
        b.to_string()
    });

    add(
        "toolkit",
        "Optimizer::new(\"my-asgd\", my_asgd)",
        &|b: &str| {
            let main = b.replace("fn main()", "pub fn main()");
            // Stand-in for the author's Adam: the library's SGD has the same signature.
            format!(
                "{main}\n\nuse asyncopt_algorithms::sgd as adam;\n\n{}",
                my_asgd(twin)
            )
        },
    );

    add(
        "saga_loop",
        "let mut seen: History = History::zeros(data.full_rows());",
        &|b: &str| {
            format!(
                "use asyncopt_algorithms::{{saga_terms, Model, Params}};\n\
                 use asyncopt_runtime::{{async_optimizer, Dataset, Driver, History}};\n\n\
                 #[async_optimizer]\n\
                 pub fn saga(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {{\n\
                 let mut w: Model = Model::zeros(data.dim());\n{b}\nw\n}}\n"
            )
        },
    );

    add(
        "versions_loop",
        "barrier!(asp(), select = |worker|",
        &|b: &str| {
            format!(
                "use asyncopt_algorithms::{{Model, Params}};\n\
                 use asyncopt_runtime::data::Rows;\n\
                 use asyncopt_runtime::{{asp, async_optimizer, Dataset, Driver}};\n\n\
                 // Stand-in for the author's gradient against a snapshot.\n\
                 fn grad<R: Rows, V>(rows: &R, w: V, snapshot: V) -> Model {{\n\
                 Model::zeros(rows.dim())\n}}\n\n\
                 #[async_optimizer]\n\
                 pub fn versions(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {{\n\
                 let w: Model = Model::zeros(data.dim());\n\
                 let snapshot: Model = Model::zeros(data.dim());\n\
                 for k in 0..p.updates {{\n{b}\n}}\nw\n}}\n"
            )
        },
    );

    add(
        "launch",
        "let w = sgd(&mut driver, &data, &params);",
        &|b: &str| fallible_main(b, "use super::sgd::sgd;\n", ""),
    );

    add("remote", "worker::run(options)?;", &|b: &str| {
        fallible_main(
            b,
            "use super::sgd::sgd;\n\
             use asyncopt_algorithms::{Loss, Params};\n\
             use asyncopt_runtime::{data::LoadOptions, Dataset};\n",
            "let data = Dataset::load(\"train.libsvm.xz\", &LoadOptions::default())?;\n\
             let params = Params::new(Loss::LeastSquares);\n",
        )
    });

    add("hyper", "const ADAM: &[Hyper]", &|b: &str| {
        let (items, body) = items_and_statements(b);
        format!(
            "{items}\nuse asyncopt_algorithms::sgd as adam;\n\n\
             pub fn main() -> std::process::ExitCode {{\n{body}\n}}\n"
        )
    });

    add(
        "own_data",
        "Dataset::new(\"ratings\", Features::Dense(x), labels)?",
        &|b: &str| {
            fallible_main(
                b,
                "",
                "let x = ndarray::Array2::<f64>::zeros((2, 3));\n\
                 let labels = ndarray::Array1::<f64>::zeros(2);\n",
            )
        },
    );

    add("saved_model", "SavedModel::read(", &|b: &str| {
        fallible_main(b, "", "")
    });

    add("checkpoint", "driver.checkpoint_to(", &|b: &str| {
        fallible_main(
            b,
            "use asyncopt_algorithms::{asaga, Loss, Params};\n\
             use asyncopt_runtime::{data::LoadOptions, ClusterConfig, Dataset, Driver};\n",
            "let data = Dataset::load(\"train.libsvm.xz\", &LoadOptions::default())?;\n\
             let params = Params::new(Loss::LeastSquares);\n\
             let mut driver = Driver::launch(ClusterConfig::local(4))?;\n",
        )
    });
    // A new block is compiled too, or says it is not (```rust,ignore).
    for b in &blocks {
        assert!(
            compiled.contains(&b.line),
            "README.md line {}: a ```rust block this test does not compile; add it to {}",
            b.line,
            file!()
        );
    }
    modules
}

/// A block of items and statements as a module: its items and `uses` at the top, `prelude`
/// (the names the block takes as given) and its statements in a `main` that may fail with `?`.
fn fallible_main(block: &str, uses: &str, prelude: &str) -> String {
    let (items, body) = items_and_statements(block);
    format!(
        "{items}\n{uses}\n\
         pub fn main() -> Result<(), Box<dyn std::error::Error>> {{\n{prelude}{body}\nOk(())\n}}\n"
    )
}

/// `main.rs`: calls every program among the blocks (the one its first argument names), so that
/// each is compiled into the binary and linked, not only checked.
pub fn main_rs(modules: &[Module]) -> String {
    let mut text = String::from("#![allow(unused)]\n");
    for m in modules {
        text += &format!("mod {};\n", m.name);
    }
    text += "\nfn main() {\n    match std::env::args().nth(1).as_deref() {\n";
    for m in modules.iter().filter(|m| m.text.contains("pub fn main()")) {
        text += &format!("        Some(\"{0}\") => drop({0}::main()),\n", m.name);
    }
    // The optimizers no program calls, reached all the same.
    text += "        _ => {\n            let _ = (saga_loop::saga, versions_loop::versions);\n        }\n";
    text += "    }\n}\n";
    text
}

/// The crate's manifest: the workspace's crates by absolute path, `ndarray` and
/// `tracing-subscriber` as the README's own manifest has them, and its own `[workspace]`;
/// built in the author crate's profile, so the dependencies built for it are reused.
pub fn manifest(root: &std::path::Path) -> String {
    let path = |dir: &str| root.join(dir).display().to_string();
    format!(
        "[package]\nname = \"readme-snippets\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
         publish = false\n\n[dependencies]\n\
         asyncopt-runtime = {{ path = {:?} }}\n\
         asyncopt-algorithms = {{ path = {:?} }}\n\
         async-train = {{ path = {:?} }}\n\
         ndarray = \"0.17\"\n\
         tracing-subscriber = {{ version = \"0.3\", features = [\"env-filter\"] }}\n\n\
         [workspace]\n",
        path("async-runtime"),
        path("algorithms"),
        path("examples"),
    )
}
