//! Rewrites a component expression for deferred evaluation: `a[k]` becomes a keyed-instance lookup
//! (`std::ops::Index` cannot create instances or return a fresh path value).

use proc_macro2::Span;
use quote::quote_spanned;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::visit_mut::VisitMut;
use syn::{Expr, ExprIndex, parse_quote_spanned};

struct Keyed;

impl VisitMut for Keyed {
    fn visit_expr_mut(&mut self, e: &mut Expr) {
        syn::visit_mut::visit_expr_mut(self, e);
        if let Expr::Index(ix) = e {
            // The call is spanned at `[k]` and its `&` at the container's first token, so rustc
            // points at the whole container (`ctx.model.net`) when it cannot be indexed, and at
            // `[k]` as the call. `&#c`, not `&(#c)`: an index's base is a postfix expression.
            let span: Span = ix.bracket_token.span.join();
            let amp = quote_spanned!(ix.expr.span()=> &);
            let (c, k) = (&ix.expr, &ix.index);
            let call =
                quote_spanned! {span=> ::actuator::__private::__index(ctx.env, #amp #c, &(#k)) };
            *e = parse_quote_spanned! {span=> #call };
        }
    }
}

pub fn expr(mut e: Expr) -> Expr {
    Keyed.visit_expr_mut(&mut e);
    e
}

/// Whether the expression has an `a[k]` to rewrite (most have none, and are emitted as they are).
pub fn has_index(e: &Expr) -> bool {
    struct Find(bool);
    impl<'ast> Visit<'ast> for Find {
        fn visit_expr_index(&mut self, _: &'ast ExprIndex) {
            self.0 = true;
        }
    }
    let mut f = Find(false);
    f.visit_expr(e);
    f.0
}
