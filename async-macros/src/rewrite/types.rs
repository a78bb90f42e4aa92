//! What the macro can tell of types from the declarations it sees: which a variable's is (a
//! dataset, a history table), what a `for` loop yields, what an initializer plainly is.

use quote::ToTokens;
use syn::{Expr, Type};

use crate::expand;
use crate::scope::Scopes;

/// Whether `ty` is a dataset (`Dataset` or a reference to one).
pub(super) fn is_dataset(ty: &Type) -> bool {
    is_named(ty, "Dataset")
}

/// Whether `ty` is a history table (`History` or a reference to one), whose entries travel
/// sliced to the task's rows instead of whole.
pub(super) fn is_history(ty: &Type) -> bool {
    is_named(ty, "History")
}

/// Whether `ty` is the driver (`Driver` or a reference to one): a variable of this type other
/// than the optimizer's first parameter (`let d: &Driver = cx;`) is the driver all the same.
pub(super) fn is_driver(ty: &Type) -> bool {
    is_named(ty, "Driver")
}

/// Whether `ty` is the type `name` (by its path's last segment) or a reference to one.
fn is_named(ty: &Type, name: &str) -> bool {
    match ty {
        Type::Reference(reference) => is_named(&reference.elem, name),
        Type::Path(path) => path.path.segments.last().is_some_and(|s| s.ident == name),
        _ => false,
    }
}

/// Whether a method call is `.enumerate()`.
pub(super) fn is_enumerate(call: &syn::ExprMethodCall) -> bool {
    call.method == "enumerate" && call.args.is_empty()
}

/// The type of what `iter` yields in a `for` loop, as far as the declarations in scope show
/// it: `usize` for a range, `&T` for `v.iter()` or `&v` with `v: Vec<T>` (or a slice, an array,
/// an `Array1<T>`), `T` for `v` itself, `(usize, _)` for `.enumerate()` of any of these (`_`:
/// unknown).
pub(super) fn element_type(iter: &Expr, scopes: &Scopes) -> Option<Type> {
    match iter {
        Expr::Range(_) => Some(syn::parse_quote!(usize)),
        Expr::Paren(paren) => element_type(&paren.expr, scopes),
        Expr::MethodCall(call) if is_enumerate(call) => {
            let item = element_type(&call.receiver, scopes)
                .unwrap_or_else(|| Type::Infer(syn::parse_quote!(_)));
            Some(syn::parse_quote!((usize, #item)))
        }
        Expr::MethodCall(call) if call.args.is_empty() && call.method == "iter" => {
            let (item, _) = container_item(&declared_type(&call.receiver, scopes)?)?;
            Some(expand::reference_to(item))
        }
        Expr::MethodCall(call) if call.args.is_empty() && call.method == "into_iter" => {
            element_type(&call.receiver, scopes)
        }
        Expr::Reference(reference) if reference.mutability.is_none() => {
            let (item, _) = container_item(&declared_type(&reference.expr, scopes)?)?;
            Some(expand::reference_to(item))
        }
        Expr::Path(_) => {
            let (item, by_reference) = container_item(&declared_type(iter, scopes)?)?;
            Some(if by_reference {
                expand::reference_to(item)
            } else {
                item
            })
        }
        _ => None,
    }
}

/// Whether `ty` has an `impl Trait` in it, which makes a parameter generic.
pub(super) fn has_impl_trait(ty: &Type) -> bool {
    struct Finder(bool);
    impl<'ast> syn::visit::Visit<'ast> for Finder {
        fn visit_type_impl_trait(&mut self, _: &'ast syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let mut finder = Finder(false);
    syn::visit::Visit::visit_type(&mut finder, ty);
    finder.0
}

/// The declared type of a variable expression.
fn declared_type(expr: &Expr, scopes: &Scopes) -> Option<Type> {
    match expr {
        Expr::Path(path) => scopes.lookup(path.path.get_ident()?)?.ty.clone(),
        Expr::Paren(paren) => declared_type(&paren.expr, scopes),
        _ => None,
    }
}

/// The item type of a container type, and whether the type was a reference to it.
fn container_item(ty: &Type) -> Option<(Type, bool)> {
    match ty {
        Type::Reference(reference) if reference.mutability.is_none() => {
            container_item(&reference.elem).map(|(item, _)| (item, true))
        }
        Type::Slice(slice) => Some(((*slice.elem).clone(), false)),
        Type::Array(array) => Some(((*array.elem).clone(), false)),
        Type::Path(path) if path.qself.is_none() => {
            let last = path.path.segments.last()?;
            let known = ["Vec", "VecDeque", "Array1", "BTreeSet", "HashSet"];
            if !known.iter().any(|k| last.ident == k) {
                return None;
            }
            let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
                return None;
            };
            match args.args.first()? {
                syn::GenericArgument::Type(item) if args.args.len() == 1 => {
                    Some((item.clone(), false))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// The owned type of an unsized one a reference may point to: `Vec<T>` for `[T]`, `String`
/// for `str`.
pub(super) fn unsized_owner(ty: &Type) -> Option<String> {
    match ty {
        Type::Slice(slice) => Some(format!("Vec<{}>", slice.elem.to_token_stream())),
        Type::Path(path) if path.path.is_ident("str") => Some("String".into()),
        _ => None,
    }
}

/// The hint of a `let` whose initializer is a closure, which has no type to write.
pub(super) const CLOSURE: &str = "a closure";

/// The type an initializer shows plainly, to name in a fix-it: a float literal is an `f64`
/// (unless suffixed), `x as T` is a `T`, `.len()` is a `usize`, and arithmetic keeps the
/// type of its operands; a closure shows [`CLOSURE`], whose type cannot be written.
pub(super) fn guess_type(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Closure(_) => Some(CLOSURE.into()),
        Expr::Lit(lit) => match &lit.lit {
            syn::Lit::Float(float) if float.suffix().is_empty() => Some("f64".into()),
            syn::Lit::Float(float) => Some(float.suffix().into()),
            syn::Lit::Int(int) if !int.suffix().is_empty() => Some(int.suffix().into()),
            syn::Lit::Bool(_) => Some("bool".into()),
            _ => None,
        },
        Expr::Cast(cast) => Some(cast.ty.to_token_stream().to_string()),
        Expr::MethodCall(call) if call.method == "len" || call.method == "count" => {
            Some("usize".into())
        }
        Expr::Paren(paren) => guess_type(&paren.expr),
        Expr::Unary(unary) if matches!(unary.op, syn::UnOp::Neg(_)) => guess_type(&unary.expr),
        Expr::Binary(binary) => guess_type(&binary.left).or_else(|| guess_type(&binary.right)),
        _ => None,
    }
}

/// A type as an author writes it (`Option<&Model>`), not as tokens print (`Option < & Model >`).
pub(crate) fn type_text(ty: &Type) -> String {
    let mut text = ty.to_token_stream().to_string();
    for (spaced, tight) in [
        (" < ", "<"),
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ,", ","),
        (" :: ", "::"),
        (":: ", "::"),
        ("& ", "&"),
        (" ;", ";"),
        ("[ ", "["),
        (" ]", "]"),
        ("( ", "("),
        (" )", ")"),
    ] {
        text = text.replace(spaced, tight);
    }
    text
}
