//! The dependency algebra at run time: `a | b` (a before b) and `a & b` (together) on task paths.
//! `config!`'s `deps { }` uses the same rules at compile time.

use std::ops::{BitAnd, BitOr};

use super::tasks::{ConfigClassTaskPath, MultiTaskPath, TaskPath};
use crate::model::{At, Located};

/// A dependency expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Dep {
    /// One task (or multi-task, or nested config model).
    Task(At),
    /// Left before right: every exit of the left precedes every entry of the right.
    Seq(Box<Dep>, Box<Dep>),
    /// Together: entries and exits are the union of both sides'.
    Par(Box<Dep>, Box<Dep>),
}

/// Anything usable in a dependency expression.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a task, so it cannot appear in a dependency expression",
    note = "dependency expressions combine task paths with `|` (before) and `&` (together)"
)]
pub trait IntoDep {
    /// The expression.
    fn into_dep(self) -> Dep;
}

impl IntoDep for Dep {
    fn into_dep(self) -> Dep {
        self
    }
}
impl IntoDep for TaskPath {
    fn into_dep(self) -> Dep {
        Dep::Task(self.at())
    }
}
impl IntoDep for MultiTaskPath {
    fn into_dep(self) -> Dep {
        Dep::Task(self.at())
    }
}
impl<C> IntoDep for ConfigClassTaskPath<C> {
    fn into_dep(self) -> Dep {
        Dep::Task(self.at())
    }
}

macro_rules! ops {
    ($($t:ty $(, $g:ident)?);*) => {$(
        impl<$($g,)? R: IntoDep> BitOr<R> for $t {
            type Output = Dep;
            fn bitor(self, r: R) -> Dep { Dep::Seq(Box::new(self.into_dep()), Box::new(r.into_dep())) }
        }
        impl<$($g,)? R: IntoDep> BitAnd<R> for $t {
            type Output = Dep;
            fn bitand(self, r: R) -> Dep { Dep::Par(Box::new(self.into_dep()), Box::new(r.into_dep())) }
        }
    )*};
}
ops!(Dep; TaskPath; MultiTaskPath; ConfigClassTaskPath<C>, C);

impl Dep {
    /// A group of tasks that run together (the original's `TaskGroup`).
    ///
    /// # Panics
    /// If `items` is empty.
    pub fn group<D: IntoDep>(items: impl IntoIterator<Item = D>) -> Dep {
        items
            .into_iter()
            .map(IntoDep::into_dep)
            .reduce(|a, b| Dep::Par(Box::new(a), Box::new(b)))
            .expect("a task group needs at least one task")
    }

    /// The edges the expression implies, without duplicates, in order.
    pub fn edges(&self) -> Vec<(At, At)> {
        let mut out = Vec::new();
        self.walk(&mut out);
        out
    }

    fn walk(&self, out: &mut Vec<(At, At)>) -> (Vec<At>, Vec<At>) {
        match self {
            Dep::Task(a) => (vec![*a], vec![*a]),
            Dep::Seq(l, r) => {
                let (le, lx) = l.walk(out);
                let (re, rx) = r.walk(out);
                for x in &lx {
                    for e in &re {
                        if !out.contains(&(*x, *e)) {
                            out.push((*x, *e));
                        }
                    }
                }
                (le, rx)
            }
            Dep::Par(l, r) => {
                let (mut le, mut lx) = l.walk(out);
                let (re, rx) = r.walk(out);
                le.extend(re);
                lx.extend(rx);
                (le, lx)
            }
        }
    }
}
