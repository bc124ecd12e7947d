//! The variable names a namespace declares, as a type: what lets `config!` check each `!{NAME}` of
//! its tasks at compile time, at the user's string, with rustc's own "no field" error and its
//! "a field with a similar name exists" help.
//!
//! `namespace!` gives every namespace model and role group a struct with one field per name it
//! declares (`vars { }`, `extern { }`, `.var("NAME", …)` / `.hidden_var("NAME", …)` with a
//! literal name), and implements [`DeclaresVars`] with it. A group's names are reached through
//! `Deref` from the names of the model that holds it (`RoleGroup<G>`, `MultiRoleGroup<G>`), so
//! field access finds them too. `config!` then reads one field per `!{NAME}` of its string
//! literals from `<N as DeclaresVars>::VarNames<()>`, in a function that is never called.
//!
//! Which role declares a name is not a type: a name declared for some roles only is found by the
//! pre-flight (`plan`), which resolves every task for its role.

/// Implemented by `namespace!` for namespace models and role groups.
#[doc(hidden)]
pub trait DeclaresVars {
    /// One field per declared name; dereferences to the names of the groups it holds, then to
    /// `Next`.
    type VarNames<Next>;
}
