//! The variables in scope at a point of the optimizer function, with the types the macro can
//! know: declared on parameters and `let`s, and `usize` for the counter of a range `for` loop.

use syn::ext::IdentExt;
use syn::{Ident, Pat, PatIdent, Type};

/// Whether two identifiers name the same thing: `r#w` and `w` do, as in Rust.
pub fn same(a: &Ident, b: &Ident) -> bool {
    a.unraw() == b.unraw()
}

/// An identifier as a name to compare, without its `r#`.
pub fn key(ident: &Ident) -> String {
    ident.unraw().to_string()
}

/// How a variable came to be.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The driver parameter.
    Driver,
    /// A plain `let name = ...;`, whose type can be annotated in place.
    Let,
    /// The counter of a range `for` loop, taken to be a `usize`.
    Counter,
    /// Any other parameter or local.
    Plain,
    /// A `const`, `static` or `fn` item declared inside a loop: the workers' copy of a closure,
    /// which is compiled outside the loop, cannot name it.
    LoopItem,
    /// The same in a block around the loop, or any block other than the function's body:
    /// the workers' copy of a closure is compiled at the top of the body.
    BlockItem,
}

impl Origin {
    /// An item of a block whose scope the workers' copy of a closure is not compiled in.
    pub fn is_block_item(self) -> bool {
        matches!(self, Origin::LoopItem | Origin::BlockItem)
    }
}

/// One variable in scope.
#[derive(Clone)]
pub struct Binding {
    pub name: Ident,
    pub ty: Option<Type>,
    pub origin: Origin,
    /// For an untyped `let`, the type its initializer shows (`0.5` is an `f64`), to name in a
    /// fix-it.
    pub hint: Option<String>,
    /// The outermost loop (numbered from 1) whose `broadcast!` published this binding, if one
    /// did: a `reduce!` in that loop reads it from the workers' caches, and one elsewhere sends
    /// its value; either way the closure sees a `&T`. A later `let` of the same name shadows it
    /// with a binding of its own, which travels as any other capture.
    pub broadcast: Option<usize>,
}

impl Binding {
    /// A binding whose type the macro cannot see.
    fn untyped(name: Ident) -> Binding {
        Binding {
            name,
            ty: None,
            origin: Origin::Plain,
            hint: None,
            broadcast: None,
        }
    }
}

/// A stack of scopes; the innermost binding of a name wins.
#[derive(Default)]
pub struct Scopes {
    frames: Vec<Vec<Binding>>,
}

impl Scopes {
    pub fn push(&mut self) {
        self.frames.push(Vec::new());
    }

    pub fn pop(&mut self) {
        self.frames.pop();
    }

    pub fn bind(&mut self, binding: Binding) {
        if self.frames.is_empty() {
            self.push();
        }
        self.frames.last_mut().expect("a frame").push(binding);
    }

    /// Binds every name of `pat`; a plain `name: Type` pattern keeps its type.
    pub fn bind_pattern(&mut self, pat: &Pat, ty: Option<&Type>) {
        // `_` is a type the macro does not know.
        let ty = ty.filter(|ty| !matches!(ty, Type::Infer(_)));
        match (pat, ty) {
            (Pat::Tuple(tuple), Some(Type::Tuple(types)))
                if tuple.elems.len() == types.elems.len() =>
            {
                for (pat, ty) in tuple.elems.iter().zip(&types.elems) {
                    self.bind_pattern(pat, Some(ty));
                }
                return;
            }
            (Pat::Reference(reference), Some(Type::Reference(ty))) => {
                return self.bind_pattern(&reference.pat, Some(&ty.elem));
            }
            _ => {}
        }
        match pat {
            Pat::Type(typed) => self.bind_pattern(&typed.pat, Some(&typed.ty)),
            Pat::Ident(ident) if ident.subpat.is_none() => self.bind(Binding {
                name: ident.ident.clone(),
                ty: ty.cloned(),
                origin: Origin::Plain,
                hint: None,
                broadcast: None,
            }),
            _ => {
                for name in pattern_names(pat) {
                    self.bind(Binding::untyped(name));
                }
            }
        }
    }

    /// Binds `names`, items of a block (`origin` says which) or imports of them, the names a
    /// closure may use as values: an item is in scope in its whole block, before its
    /// declaration too.
    pub fn bind_block_items(&mut self, names: Vec<Ident>, origin: Origin) {
        for name in names {
            self.bind(Binding {
                origin,
                ..Binding::untyped(name)
            });
        }
    }

    /// Binds the names of a refutable pattern (a match arm's, an `if let`'s), whose types the
    /// macro does not know; a capitalised name there is a unit variant or a constant (`None`),
    /// not a binding.
    pub fn bind_refutable(&mut self, pat: &Pat) {
        for name in refutable_names(pat) {
            self.bind(Binding::untyped(name));
        }
    }

    /// How many scopes are open: where the names bound from now on begin.
    pub fn depth(&self) -> usize {
        self.frames.len()
    }

    /// The names bound in the scopes opened at `depth` and after, as keys.
    pub fn names_from(&self, depth: usize) -> Vec<String> {
        self.frames
            .iter()
            .skip(depth)
            .flatten()
            .map(|binding| key(&binding.name))
            .collect()
    }

    pub fn lookup(&self, name: &Ident) -> Option<&Binding> {
        self.frames
            .iter()
            .rev()
            .flat_map(|frame| frame.iter().rev())
            .find(|binding| same(&binding.name, name))
    }
}

/// The items (not the imports) a block declares, by name.
pub fn item_names(stmts: &[syn::Stmt]) -> Vec<Ident> {
    stmts
        .iter()
        .filter_map(|stmt| match stmt {
            syn::Stmt::Item(item) => match item {
                syn::Item::Const(item) => Some(item.ident.clone()),
                syn::Item::Static(item) => Some(item.ident.clone()),
                syn::Item::Fn(item) => Some(item.sig.ident.clone()),
                syn::Item::Struct(item) => Some(item.ident.clone()),
                syn::Item::Enum(item) => Some(item.ident.clone()),
                syn::Item::Union(item) => Some(item.ident.clone()),
                syn::Item::Trait(item) => Some(item.ident.clone()),
                syn::Item::Type(item) => Some(item.ident.clone()),
                syn::Item::Mod(item) => Some(item.ident.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// The first segment of each path of a `use` (`a` in `use a::{b, c::d}`), which a block's
/// `use` may name among the block's own items; `None` for a path from `::`.
pub fn use_roots(item: &syn::ItemUse) -> Vec<Ident> {
    fn roots(tree: &syn::UseTree, out: &mut Vec<Ident>) {
        match tree {
            syn::UseTree::Path(path) => out.push(path.ident.clone()),
            syn::UseTree::Name(name) => out.push(name.ident.clone()),
            syn::UseTree::Rename(rename) => out.push(rename.ident.clone()),
            syn::UseTree::Glob(_) => {}
            syn::UseTree::Group(group) => group.items.iter().for_each(|t| roots(t, out)),
        }
    }
    let mut out = Vec::new();
    if item.leading_colon.is_none() {
        roots(&item.tree, &mut out);
    }
    out
}

/// The names a `use` brings into scope (not a glob's, which it does not list).
pub fn imported_names(tree: &syn::UseTree) -> Vec<Ident> {
    match tree {
        syn::UseTree::Path(path) => imported_names(&path.tree),
        syn::UseTree::Name(name) if name.ident != "self" => vec![name.ident.clone()],
        syn::UseTree::Name(_) | syn::UseTree::Glob(_) => Vec::new(),
        syn::UseTree::Rename(rename) if rename.rename == "_" => Vec::new(),
        syn::UseTree::Rename(rename) => vec![rename.rename.clone()],
        syn::UseTree::Group(group) => group.items.iter().flat_map(imported_names).collect(),
    }
}

/// Every name a pattern binds.
pub fn pattern_names(pat: &Pat) -> Vec<Ident> {
    pattern_bindings(pat)
        .into_iter()
        .map(|binding| binding.ident.clone())
        .collect()
}

/// The names a refutable pattern binds: not its capitalised ones, which name unit variants and
/// constants by convention (`None`, `MAX`).
pub fn refutable_names(pat: &Pat) -> Vec<Ident> {
    pattern_names(pat)
        .into_iter()
        .filter(|name| !name.to_string().starts_with(char::is_uppercase))
        .collect()
}

/// Every binding of a pattern, with its `mut` and `ref`: `let (mut a, ref b) = ...` has two.
pub fn pattern_bindings(pat: &Pat) -> Vec<&PatIdent> {
    let mut bindings = Vec::new();
    collect(pat, &mut bindings);
    bindings
}

fn collect<'a>(pat: &'a Pat, bindings: &mut Vec<&'a PatIdent>) {
    match pat {
        Pat::Ident(ident) => {
            bindings.push(ident);
            if let Some((_, sub)) = &ident.subpat {
                collect(sub, bindings);
            }
        }
        Pat::Type(typed) => collect(&typed.pat, bindings),
        Pat::Reference(reference) => collect(&reference.pat, bindings),
        Pat::Tuple(tuple) => tuple.elems.iter().for_each(|p| collect(p, bindings)),
        Pat::TupleStruct(tuple) => tuple.elems.iter().for_each(|p| collect(p, bindings)),
        Pat::Slice(slice) => slice.elems.iter().for_each(|p| collect(p, bindings)),
        Pat::Struct(st) => st.fields.iter().for_each(|f| collect(&f.pat, bindings)),
        Pat::Or(or) => or.cases.iter().for_each(|p| collect(p, bindings)),
        Pat::Paren(paren) => collect(&paren.pat, bindings),
        _ => {}
    }
}

impl Scopes {
    /// The innermost binding of `name`, to amend.
    pub fn lookup_mut(&mut self, name: &Ident) -> Option<&mut Binding> {
        self.frames
            .iter_mut()
            .rev()
            .flat_map(|frame| frame.iter_mut().rev())
            .find(|binding| same(&binding.name, name))
    }
}
