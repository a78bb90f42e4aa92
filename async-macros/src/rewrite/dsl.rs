//! Which macro calls are the DSL's: `broadcast!`, `barrier!` and `reduce!`, named bare or
//! through the project's crates, whether parsed or among another macro's tokens.

use proc_macro2::TokenStream;
use syn::{Ident, Macro};

/// The DSL macros, by name.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dsl {
    Broadcast,
    Barrier,
    Reduce,
}

impl Dsl {
    /// The DSL macro `mac` calls: a bare `reduce!`, or one named through the crates that
    /// export it (`asyncopt_runtime::reduce!`). A macro of the same name by another path
    /// (`my_crate::reduce!`) is someone else's, left to rustc.
    pub(crate) fn of(mac: &Macro) -> Option<Dsl> {
        let segments = &mac.path.segments;
        let (last, prefix) = (segments.last()?, segments.iter().rev().skip(1).rev());
        let prefix: Vec<String> = prefix.map(|s| s.ident.to_string()).collect();
        if !dsl_path(&prefix, mac.path.leading_colon.is_some())
            || segments.iter().any(|s| !s.arguments.is_none())
        {
            return None;
        }
        match last.ident.to_string().as_str() {
            "broadcast" => Some(Dsl::Broadcast),
            "barrier" => Some(Dsl::Barrier),
            "reduce" => Some(Dsl::Reduce),
            _ => None,
        }
    }
}

/// The DSL macros a `use` renames (`use asyncopt_runtime::reduce as r;`): the attribute finds
/// them by their own names, so `r!` would reach rustc unrewritten.
pub(crate) fn renamed_dsl(item: &syn::ItemUse) -> Vec<&syn::UseRename> {
    fn walk<'a>(
        tree: &'a syn::UseTree,
        prefix: &mut Vec<String>,
        out: &mut Vec<&'a syn::UseRename>,
    ) {
        match tree {
            syn::UseTree::Path(path) => {
                prefix.push(path.ident.to_string());
                walk(&path.tree, prefix, out);
                prefix.pop();
            }
            syn::UseTree::Rename(rename)
                if ["broadcast", "barrier", "reduce"]
                    .iter()
                    .any(|n| rename.ident == n)
                    && rename.rename != rename.ident
                    // `asyncopt_runtime::reduce`, with or without a leading `::`.
                    && !prefix.is_empty()
                    && dsl_path(prefix, false) =>
            {
                out.push(rename);
            }
            syn::UseTree::Group(group) => {
                group.items.iter().for_each(|tree| walk(tree, prefix, out))
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&item.tree, &mut Vec::new(), &mut out);
    out
}

/// The crates whose paths name the DSL macros: the runtime re-exports them from this one.
const DSL_CRATES: [&str; 2] = ["asyncopt_runtime", "asyncopt_macros"];

/// Whether a macro path whose segments before the name are `prefix` names the DSL: no
/// prefix (and no leading `::`), or one of [`DSL_CRATES`].
fn dsl_path(prefix: &[String], leading_colon: bool) -> bool {
    match prefix {
        [] => !leading_colon,
        [krate] => DSL_CRATES.contains(&krate.as_str()),
        _ => false,
    }
}

/// The DSL macro names invoked among `tokens` (`reduce` in `reduce!(..)`), at any depth.
pub(super) fn nested_dsl(tokens: TokenStream) -> Vec<Ident> {
    let trees: Vec<proc_macro2::TokenTree> = tokens.into_iter().collect();
    let mut found = Vec::new();
    for (i, tree) in trees.iter().enumerate() {
        match tree {
            proc_macro2::TokenTree::Ident(ident)
                if ["broadcast", "barrier", "reduce"]
                    .iter()
                    .any(|n| ident == n) =>
            {
                let bang = matches!(
                    trees.get(i + 1),
                    Some(proc_macro2::TokenTree::Punct(p)) if p.as_char() == '!'
                );
                let called = matches!(trees.get(i + 2), Some(proc_macro2::TokenTree::Group(_)));
                if bang && called && dsl_path_before(&trees, i) {
                    found.push(ident.clone());
                }
            }
            proc_macro2::TokenTree::Group(group) => found.extend(nested_dsl(group.stream())),
            _ => {}
        }
    }
    found
}

/// Whether the path that ends at `trees[end]` (`a::b::end`) names the DSL, as [`Dsl::of`] reads
/// a parsed one.
fn dsl_path_before(trees: &[proc_macro2::TokenTree], end: usize) -> bool {
    let colons = |at: usize| {
        at >= 2
            && [at - 1, at - 2].iter().all(
                |&j| matches!(&trees[j], proc_macro2::TokenTree::Punct(p) if p.as_char() == ':'),
            )
    };
    let mut prefix = Vec::new();
    let mut at = end;
    while colons(at) {
        match at.checked_sub(3).map(|j| &trees[j]) {
            Some(proc_macro2::TokenTree::Ident(segment)) => {
                prefix.push(segment.to_string());
                at -= 3;
            }
            _ => break,
        }
    }
    prefix.reverse();
    dsl_path(&prefix, colons(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dsl(call: &str) -> Option<Dsl> {
        Dsl::of(&syn::parse_str::<Macro>(call).unwrap())
    }

    #[test]
    fn the_dsl_is_named_bare_or_through_the_project_crates() {
        assert!(dsl("reduce!(data, |part| 1.0)") == Some(Dsl::Reduce));
        assert!(dsl("asyncopt_runtime::broadcast!(w)") == Some(Dsl::Broadcast));
        assert!(dsl("::asyncopt_macros::barrier!(asp())") == Some(Dsl::Barrier));
    }

    #[test]
    fn a_foreign_macro_of_a_dsl_name_is_left_alone() {
        for call in [
            "m::reduce!(1, 2)",
            "crate::m::broadcast!(w)",
            "::reduce!(x)",
            "asyncopt_runtime::m::barrier!()",
        ] {
            assert!(dsl(call).is_none(), "{call}");
        }
    }

    #[test]
    fn only_a_dsl_macro_imported_under_another_name_is_renamed() {
        let renamed = |item: &str| -> Vec<String> {
            let item: syn::ItemUse = syn::parse_str(item).unwrap();
            renamed_dsl(&item)
                .iter()
                .map(|rename| rename.rename.to_string())
                .collect()
        };
        assert_eq!(
            renamed("use asyncopt_runtime::{reduce as r, broadcast};"),
            ["r"]
        );
        assert_eq!(renamed("use ::asyncopt_macros::barrier as b;"), ["b"]);
        for item in [
            "use asyncopt_runtime::reduce as reduce;",
            "use other::reduce as r;",
            "use reduce as r;",
        ] {
            assert!(renamed(item).is_empty(), "{item}");
        }
    }

    #[test]
    fn only_the_dsl_is_found_among_another_macros_arguments() {
        let found = |tokens: &str| -> Vec<String> {
            nested_dsl(tokens.parse().unwrap())
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(found("\"{:?}\", m::reduce!(1, 2)"), Vec::<String>::new());
        assert_eq!(
            found("\"{:?}\", crate::m::reduce!(1, 2)"),
            Vec::<String>::new()
        );
        assert_eq!(found("\"{:?}\", reduce!(d, |p| 1.0)"), ["reduce"]);
        assert_eq!(
            found("\"{:?}\", (::asyncopt_runtime::reduce!(d, |p| 1.0))"),
            ["reduce"]
        );
    }
}
