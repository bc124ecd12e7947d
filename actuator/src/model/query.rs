//! Selection queries over keyed containers: `q.grid.all()`, `.key(k)`, `.keyin([..])`,
//! `.matches(re)`, `.no_match(re)`, `.pred(f)`, chained (ANDed) and combined with [`Query::union`].
//!
//! Keys are compared as strings, so `key(1)` and `keyin([1])` agree (the original's `key(1)` never
//! matched). `matches` is a regex *search* anywhere in the key, as in the original: anchor it with
//! `^…$` for a whole-key match.

use std::marker::PhantomData;
use std::sync::Arc;

use regex::Regex;

use super::build::{Located, MultiPath, Shared};
use super::ids::{At, InstanceKey, IntoInstanceKey};

#[derive(Clone)]
enum Test {
    Key(InstanceKey),
    KeyIn(Vec<InstanceKey>),
    Match(Regex, bool),
    Pred(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl Test {
    fn accepts(&self, k: &str) -> bool {
        match self {
            Test::Key(x) => x.as_str() == k,
            Test::KeyIn(xs) => xs.iter().any(|x| x.as_str() == k),
            Test::Match(re, want) => re.is_match(k) == *want,
            Test::Pred(f) => f(k),
        }
    }
}

/// A selection of instances of `T` from one or more keyed containers.
pub struct Query<T> {
    parts: Vec<(At, Vec<Test>)>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Query<T> {
    fn clone(&self) -> Self {
        Query {
            parts: self.parts.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Query<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Query({} part(s))", self.parts.len())
    }
}

impl<T> MultiPath<T> {
    /// Every instance.
    pub fn all(&self) -> Query<T> {
        Query {
            parts: vec![(self.at(), Vec::new())],
            _t: PhantomData,
        }
    }
    /// The instance with key `k`.
    pub fn key(&self, k: impl IntoInstanceKey) -> Query<T> {
        self.all().key(k)
    }
    /// The instances whose key is in `ks`.
    pub fn keyin<K: IntoInstanceKey>(&self, ks: impl IntoIterator<Item = K>) -> Query<T> {
        self.all().keyin(ks)
    }
    /// The instances whose key contains a match of `re`.
    pub fn matches(&self, re: &str) -> Query<T> {
        self.all().matches(re)
    }
    /// The instances whose key contains no match of `re`.
    pub fn no_match(&self, re: &str) -> Query<T> {
        self.all().no_match(re)
    }
    /// The instances whose key satisfies `f`.
    pub fn pred(&self, f: impl Fn(&str) -> bool + Send + Sync + 'static) -> Query<T> {
        self.all().pred(f)
    }
}

impl<T> Query<T> {
    fn push(mut self, t: Test) -> Self {
        for p in &mut self.parts {
            p.1.push(t.clone());
        }
        self
    }
    /// Also requires key `k`.
    pub fn key(self, k: impl IntoInstanceKey) -> Self {
        self.push(Test::Key(k.into_key()))
    }
    /// Also requires the key to be in `ks`.
    pub fn keyin<K: IntoInstanceKey>(self, ks: impl IntoIterator<Item = K>) -> Self {
        self.push(Test::KeyIn(
            ks.into_iter().map(IntoInstanceKey::into_key).collect(),
        ))
    }
    /// Also requires a match of `re` in the key.
    ///
    /// # Panics
    /// If `re` is not a valid regular expression (a model error, found when the model is built).
    pub fn matches(self, re: &str) -> Self {
        let r = Regex::new(re).unwrap_or_else(|e| panic!("invalid regex {re:?} in a query: {e}"));
        self.push(Test::Match(r, true))
    }
    /// Also requires no match of `re` in the key.
    ///
    /// # Panics
    /// If `re` is not a valid regular expression.
    pub fn no_match(self, re: &str) -> Self {
        let r = Regex::new(re).unwrap_or_else(|e| panic!("invalid regex {re:?} in a query: {e}"));
        self.push(Test::Match(r, false))
    }
    /// Also requires `f(key)`.
    pub fn pred(self, f: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        self.push(Test::Pred(Arc::new(f)))
    }
    /// The union of several selections.
    pub fn union(qs: impl IntoIterator<Item = Query<T>>) -> Self {
        Query {
            parts: qs.into_iter().flat_map(|q| q.parts).collect(),
            _t: PhantomData,
        }
    }
    /// The selected instances, in creation order, without duplicates.
    pub fn select(&self, w: &Shared) -> Vec<At> {
        let g = w.lock();
        let mut out = Vec::new();
        for (at, tests) in &self.parts {
            if let Some(m) = g.tree(at.model).multi(at.node) {
                for (k, &n) in &m.keys {
                    let hit = At {
                        model: at.model,
                        node: n,
                    };
                    if tests.iter().all(|t| t.accepts(k)) && !out.contains(&hit) {
                        out.push(hit);
                    }
                }
            }
        }
        // Instances are appended to their tree as they are created, so node order is creation
        // order, also across the parts of a union.
        out.sort();
        out
    }
}
