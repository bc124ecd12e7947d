//! The intermediate representation every macro is parsed into. It records what the user wrote,
//! including what is not allowed (a `group` keyword on a config model, an unknown option, a field
//! without `#[component]`), so that every rule lives in `check` and reports at the user's tokens.

use proc_macro2::{Span, TokenStream};
use syn::{Attribute, Expr, Generics, Ident, LitStr, MetaNameValue, Type, Visibility};

/// Which function-like macro is being parsed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Namespace,
    Config,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Infra,
    InfraGroup,
    Namespace,
    RoleGroup,
    Config,
}

impl Kind {
    pub fn is_model(self) -> bool {
        matches!(self, Kind::Infra | Kind::Namespace | Kind::Config)
    }
    pub fn has_vars(self) -> bool {
        matches!(self, Kind::Namespace | Kind::RoleGroup)
    }
    /// What a component of this kind of model is called in messages.
    pub fn member(self) -> &'static str {
        match self {
            Kind::Infra | Kind::InfraGroup => "component",
            Kind::Namespace | Kind::RoleGroup => "role",
            Kind::Config => "task",
        }
    }
}

/// The shape of a derive's input (the macros always declare a struct with named members).
pub enum Shape {
    Named,
    /// A tuple or unit struct: its fields' tokens.
    Unnamed(TokenStream),
    /// An enum or a union.
    NotStruct,
}

/// An option in an attribute (`#[infra(..)]`, `#[resource(..)]`) that the macro does not know.
pub struct Unknown {
    pub path: syn::Path,
    /// The message, listing what is accepted there.
    pub expected: &'static str,
}

pub struct Model {
    pub kind: Kind,
    /// Attributes of the declaration (the macros emit them on the struct they declare).
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub ident: Ident,
    pub generics: Generics,
    pub shape: Shape,
    /// The `group` keyword, where the model was declared with it.
    pub group_kw: Option<Span>,
    /// `for X`: the infra model of a namespace or role group, the namespace of a config model.
    pub bound: Option<Type>,
    /// `#[infra(namespace = N)]`: the namespace an infra model reads variables from.
    pub namespace: Option<Type>,
    pub long_names: bool,
    pub unknown: Vec<Unknown>,
    /// The `vars` keyword of the first `vars { }` block.
    pub vars_kw: Option<Span>,
    pub vars: Vec<VarDecl>,
    pub externs: Vec<Ident>,
    pub comps: Vec<Comp>,
    /// The `deps` keyword of the first `deps { }` block.
    pub deps_kw: Option<Span>,
    pub deps: Vec<Dep>,
    /// The `defaults` keyword of the first `defaults { }` block.
    pub defaults_kw: Option<Span>,
    /// `defaults { role = ns.web, remote_user = "ubuntu" }` of a config model: each becomes a call
    /// of the same-named builder method of `ConfigDefaults`.
    pub defaults: Vec<(Ident, Expr)>,
    /// Names of components that failed to parse (already reported): later checks treat them as
    /// declared, so one mistake gives one error.
    pub broken: Vec<Ident>,
    /// The function-like macros emit the struct itself; the derives don't.
    pub emit_struct: bool,
}

impl Model {
    pub fn new(kind: Kind, vis: Visibility, ident: Ident, emit_struct: bool) -> Model {
        Model {
            kind,
            attrs: Vec::new(),
            vis,
            ident,
            generics: Generics::default(),
            shape: Shape::Named,
            group_kw: None,
            bound: None,
            namespace: None,
            long_names: false,
            unknown: Vec::new(),
            vars_kw: None,
            vars: Vec::new(),
            externs: Vec::new(),
            comps: Vec::new(),
            deps_kw: None,
            deps: Vec::new(),
            defaults_kw: None,
            defaults: Vec::new(),
            broken: Vec::new(),
            emit_struct,
        }
    }
}

pub struct VarDecl {
    pub name: Ident,
    pub value: Expr,
    pub in_env: bool,
    /// `secret NAME = …`: the value is a `Secret` (exported, shown as `***`, taken literally).
    pub secret: bool,
}

pub struct Comp {
    pub name: Ident,
    pub ty: Type,
    pub value: Value,
    /// Doc comments and other attributes written on the component.
    pub attrs: Vec<Attribute>,
}

/// A component's value as written.
pub enum Value {
    /// `#[component]`, or `name: Type` without `= expr`: `Default::default()`.
    Default,
    Expr(Expr),
    /// Malformed (already reported): the generated code stands in a diverging placeholder, so
    /// nothing else about the component is reported.
    Invalid,
    /// `#[component = ...]`.
    Assigned(MetaNameValue),
    /// A derive's field without `#[component]`: not a component.
    Missing,
}

/// A dependency expression of a config model: `a | b & c`, flattened so that a long chain is a
/// list, not a deep tree (only parentheses nest).
pub enum Dep {
    Task(Ident),
    /// `a | b | c`: each before the next.
    Seq(Vec<Dep>),
    /// `a & b & c`: together.
    Par(Vec<Dep>),
}

impl Dep {
    /// Every task the expression names, in order.
    pub fn tasks<'a>(&'a self, out: &mut Vec<&'a Ident>) {
        match self {
            Dep::Task(i) => out.push(i),
            Dep::Seq(ds) | Dep::Par(ds) => ds.iter().for_each(|d| d.tasks(out)),
        }
    }
}

/// `#[derive(Resource)]`.
pub struct Resource {
    pub vis: Visibility,
    pub ident: Ident,
    pub shape: Shape,
    /// `kind = "cloud.Kind"`.
    pub kind: Option<LitStr>,
    /// `outputs(name: Type, …)`.
    pub outputs: Vec<(Ident, Type)>,
    pub addressable: bool,
    /// `update(arg, …)`: arguments a proxy changes in place (others replace the resource).
    pub update: Vec<Ident>,
    /// `create_before_destroy`: a replacement is created before the old one goes.
    pub create_before_destroy: bool,
    pub fields: Vec<ResourceField>,
    pub unknown: Vec<Unknown>,
}

pub struct ResourceField {
    pub ident: Ident,
    pub ty: Type,
    /// `#[resource(skip)]`: neither walked for references nor recorded as an argument.
    pub skip: bool,
}
