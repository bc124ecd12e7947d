//! The intermediate representation shared by the derives and the function-like macros. Every item
//! keeps its tokens, so later checks can point at the user's spans.

use syn::{Attribute, Expr, Ident, Type, Visibility};

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
}

pub struct Model {
    pub kind: Kind,
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub ident: Ident,
    /// `for X`: the infra model of a namespace or role group, the namespace of a config model.
    pub bound: Option<Type>,
    /// `#[infra(namespace = N)]`: the namespace an infra model reads variables from.
    pub namespace: Option<Type>,
    pub long_names: bool,
    pub vars: Vec<VarDecl>,
    pub externs: Vec<Ident>,
    pub comps: Vec<Comp>,
    pub deps: Vec<Dep>,
    /// `defaults { role = ns.web, remote_user = "ubuntu" }` of a config model: each becomes a call
    /// of the same-named builder method of `ConfigDefaults`.
    pub defaults: Vec<(Ident, Expr)>,
    /// Names of components that failed to parse (already reported): later checks treat them as
    /// declared, so one mistake gives one error.
    pub broken: Vec<Ident>,
    /// The function-like macros emit the struct itself; the derives don't.
    pub emit_struct: bool,
}

pub struct VarDecl {
    pub name: Ident,
    pub value: Expr,
    pub in_env: bool,
}

pub struct Comp {
    pub name: Ident,
    pub ty: Type,
    /// None: `Default::default()`.
    pub expr: Option<Expr>,
    /// Doc comments and other attributes written on the component.
    pub attrs: Vec<Attribute>,
    /// Its expression was malformed (already reported): the generated code stands in a diverging
    /// placeholder so nothing else about the component is reported.
    pub invalid: bool,
}

/// A dependency expression of a config model: `a | b & c`.
pub enum Dep {
    Task(Ident),
    Seq(Box<Dep>, Box<Dep>),
    Par(Box<Dep>, Box<Dep>),
}

impl Dep {
    pub fn tasks(&self, out: &mut Vec<Ident>) {
        match self {
            Dep::Task(i) => out.push(i.clone()),
            Dep::Seq(a, b) | Dep::Par(a, b) => {
                a.tasks(out);
                b.tasks(out);
            }
        }
    }
}
