//! Actuator value templates: `!{NAME}` references embedded in plain text.
//!
//! Variables in an Actuator namespace hold *templates* such as
//! `http://!{FOREMAN_IP}:!{PORT}`. This crate parses them ([`parse`], [`names`]),
//! expands them against a [`Scope`] ([`expand`], [`expand_partial`]), embeds arbitrary
//! text safely ([`escape`]) and provides the static checks the proc-macro crate runs at
//! compile time ([`undefined`], [`find_cycle`]). It has no dependencies so that both the
//! runtime library and the proc macro can use it.
//!
//! # Syntax
//!
//! | Source     | Meaning                                                               |
//! |------------|-----------------------------------------------------------------------|
//! | `!{NAME}`  | reference to variable `NAME`; `NAME` matches `[A-Za-z_][A-Za-z0-9_]*` |
//! | `!!{`      | escape: a literal `!{` (so `!!{X}` renders as `!{X}`)                 |
//! | other text | literal, including `!{` not followed by a name and a closing `}`      |
//!
//! ```
//! use actuator_template::{parse, Piece};
//!
//! let t = parse("http://!{FOREMAN_IP}:!{PORT}/");
//! assert_eq!(t.pieces, [
//!     Piece::Lit("http://"),
//!     Piece::Var { name: "FOREMAN_IP", span: 7..20 },
//!     Piece::Lit(":"),
//!     Piece::Var { name: "PORT", span: 21..28 },
//!     Piece::Lit("/"),
//! ]);
//! ```
//!
//! Escapes and things that merely look like references:
//!
//! ```
//! use actuator_template::{expand, parse};
//! use std::collections::HashMap;
//!
//! let scope = HashMap::from([("X", "x")]);
//! assert_eq!(expand("!!{X} is !{X}", &scope).unwrap(), "!{X} is x");
//!
//! // Not a name, or not terminated: passed through unchanged.
//! for s in ["!{A-B}", "!{ A }", "!{1X}", "!{X", "!{}", "! {X}"] {
//!     assert!(!parse(s).has_vars());
//!     assert_eq!(expand(s, &scope).unwrap(), s);
//! }
//! ```
//!
//! # Expansion and scoping
//!
//! A [`Scope`] answers a name with a [`Lookup`]. A [`Lookup::Value`] is itself a template
//! and is expanded recursively with the *same* scope: references inside a value are
//! resolved from the reader's perspective (dynamic scoping), not where the value was
//! defined. A [`Lookup::Literal`] is final text, inserted verbatim (e.g. a discovered IP).
//!
//! ```
//! use actuator_template::{expand, Lookup, Scope};
//! use std::collections::HashMap;
//!
//! let role = HashMap::from([("URL", "http://!{HOST}:!{PORT}"), ("PORT", "8080")]);
//! // The reader layers a runtime fact over the role's definitions.
//! let reader = |name: &str| match name {
//!     "HOST" => Lookup::Literal("10.0.0.7".into()),
//!     _ => role.lookup(name),
//! };
//! assert_eq!(expand("!{URL}/api", &reader).unwrap(), "http://10.0.0.7:8080/api");
//! ```
//!
//! Expansion keeps its own stack instead of recursing, so arbitrarily deep chains cannot
//! overflow the call stack, and its work is linear in the input, the looked-up values and
//! the output. A variable re-entered while it is being expanded is a cycle
//! ([`ExpandError::Cycle`]); using the same variable several times is fine.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::borrow::{Borrow, Cow};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::error::Error;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::ops::Range;

/// One piece of a parsed [`Template`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Piece<'a> {
    /// Literal text with escapes already resolved (`!!{` in the source appears here as
    /// `!{`). Never empty.
    Lit(&'a str),
    /// A `!{NAME}` reference.
    Var {
        /// The variable name, without the surrounding `!{` and `}`.
        name: &'a str,
        /// Byte offsets of the whole `!{NAME}` in the parsed string (for error spans).
        span: Range<usize>,
    },
}

/// A parsed template: literal text interleaved with variable references.
///
/// ```
/// use actuator_template::{parse, Piece};
///
/// let t = parse("a!!{b}!{C}");
/// assert_eq!(t.pieces, [Piece::Lit("a"), Piece::Lit("!{b}"), Piece::Var { name: "C", span: 6..10 }]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Template<'a> {
    /// Pieces in source order. Literals may be split at escapes but are never empty.
    pub pieces: Vec<Piece<'a>>,
}

impl<'a> Template<'a> {
    /// The referenced names with their spans, in source order, repeats included.
    ///
    /// ```
    /// let t = actuator_template::parse("!{A}-!{B}-!{A}");
    /// let names: Vec<_> = t.names().map(|(n, _)| n).collect();
    /// assert_eq!(names, ["A", "B", "A"]);
    /// ```
    pub fn names(&self) -> impl Iterator<Item = (&'a str, Range<usize>)> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Var { name, span } => Some((*name, span.clone())),
            Piece::Lit(_) => None,
        })
    }

    /// Whether the template references any variable (if not, it expands to its literals).
    ///
    /// ```
    /// use actuator_template::parse;
    /// assert!(parse("x!{Y}").has_vars());
    /// assert!(!parse("x!!{Y}").has_vars());
    /// ```
    #[must_use]
    pub fn has_vars(&self) -> bool {
        self.pieces.iter().any(|p| matches!(p, Piece::Var { .. }))
    }
}

/// Parses `s` into pieces. Infallible: anything that is not a reference is literal text.
///
/// ```
/// use actuator_template::{parse, Piece};
///
/// assert_eq!(parse("!{X}").pieces, [Piece::Var { name: "X", span: 0..4 }]);
/// assert_eq!(parse("!{X").pieces, [Piece::Lit("!{X")]);
/// assert!(parse("").pieces.is_empty());
/// ```
#[must_use]
pub fn parse(s: &str) -> Template<'_> {
    Template {
        pieces: pieces(s).collect(),
    }
}

/// The variable references in `s` with the byte span of each whole `!{NAME}`, in source
/// order, repeats included. Lazy; allocates nothing.
///
/// ```
/// let s = "http://!{HOST}:!{PORT}";
/// let found: Vec<_> = actuator_template::names(s).collect();
/// assert_eq!(found, [("HOST", 7..14), ("PORT", 15..22)]);
/// assert_eq!(&s[7..14], "!{HOST}");
/// ```
pub fn names(s: &str) -> impl Iterator<Item = (&str, Range<usize>)> {
    pieces(s).filter_map(|p| match p {
        Piece::Var { name, span } => Some((name, span)),
        Piece::Lit(_) => None,
    })
}

/// Makes `s` a template that expands to exactly `s`, by turning every `!{` into `!!{`.
///
/// Use it to embed arbitrary text (file contents, user input) in a value.
///
/// ```
/// use actuator_template::{escape, expand};
/// use std::collections::HashMap;
///
/// let text = "echo '!{NOT_A_VAR}' !!{";
/// assert_eq!(escape(text), "echo '!!{NOT_A_VAR}' !!!{");
/// assert_eq!(expand(&escape(text), &HashMap::<String, String>::new()).unwrap(), text);
/// ```
#[must_use]
pub fn escape(s: &str) -> String {
    // Exact because the scanner only treats the *last* two `!` of a run followed by `{` as
    // an escape: a run of k `!` before `{` renders as k-1 `!` plus `{`, which is the
    // inverse of adding one `!` here. Occurrences of `!{` cannot overlap, so `replace` is safe.
    s.replace("!{", "!!{")
}

/// The result of looking a name up in a [`Scope`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Lookup {
    /// A raw value: itself a template, expanded recursively with the same scope.
    Value(String),
    /// A final value inserted verbatim, never re-expanded (e.g. an IP address).
    Literal(String),
    /// The name is not defined in this scope.
    Missing,
}

/// Where [`expand`] resolves names: the reader's view of its namespace.
///
/// Implemented for `HashMap`/`BTreeMap` with string-like keys and values (every entry is a
/// [`Lookup::Value`]) and for closures `Fn(&str) -> Lookup`, which is the easy way to
/// layer scopes or return [`Lookup::Literal`]s.
///
/// ```
/// use actuator_template::{expand, Lookup, Scope};
/// use std::collections::BTreeMap;
///
/// struct Env;
/// impl Scope for Env {
///     fn lookup(&self, name: &str) -> Lookup {
///         match name {
///             "USER" => Lookup::Literal("ada".into()),
///             _ => Lookup::Missing,
///         }
///     }
/// }
/// assert_eq!(expand("~!{USER}", &Env).unwrap(), "~ada");
///
/// let map = BTreeMap::from([("HOME".to_string(), "/home/!{USER}".to_string())]);
/// let both = |n: &str| match map.lookup(n) {
///     Lookup::Missing => Env.lookup(n),
///     found => found,
/// };
/// assert_eq!(expand("!{HOME}", &both).unwrap(), "/home/ada");
/// ```
pub trait Scope {
    /// Looks up `name`.
    fn lookup(&self, name: &str) -> Lookup;
}

impl<K, V, S> Scope for HashMap<K, V, S>
where
    K: Borrow<str> + Hash + Eq,
    V: AsRef<str>,
    S: BuildHasher,
{
    fn lookup(&self, name: &str) -> Lookup {
        self.get(name)
            .map_or(Lookup::Missing, |v| Lookup::Value(v.as_ref().to_owned()))
    }
}

impl<K, V> Scope for BTreeMap<K, V>
where
    K: Borrow<str> + Ord,
    V: AsRef<str>,
{
    fn lookup(&self, name: &str) -> Lookup {
        self.get(name)
            .map_or(Lookup::Missing, |v| Lookup::Value(v.as_ref().to_owned()))
    }
}

impl<F: Fn(&str) -> Lookup> Scope for F {
    fn lookup(&self, name: &str) -> Lookup {
        self(name)
    }
}

/// Why [`expand`] failed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ExpandError {
    /// A variable was re-entered while it was being expanded. `chain` is the cycle, starting
    /// and ending with that variable, e.g. `["ONE", "TWO", "THREE", "ONE"]`.
    Cycle {
        /// The cycle path, first and last element equal.
        chain: Vec<String>,
    },
    /// The scope does not define `name`.
    Unresolved {
        /// The undefined variable.
        name: String,
        /// The variables being expanded when `name` was met, outermost first; empty when
        /// the reference was in the expanded string itself.
        chain: Vec<String>,
    },
}

impl fmt::Display for ExpandError {
    /// ```
    /// use actuator_template::ExpandError;
    ///
    /// let e = ExpandError::Unresolved { name: "PORT".into(), chain: vec!["URL".into()] };
    /// assert_eq!(e.to_string(), "undefined variable `PORT` (while expanding URL)");
    /// let e = ExpandError::Cycle { chain: vec!["A".into(), "B".into(), "A".into()] };
    /// assert_eq!(e.to_string(), "variable `A` refers to itself: A -> B -> A");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cycle { chain } => write!(
                f,
                "variable `{}` refers to itself: {}",
                chain.first().map_or("", String::as_str),
                chain.join(" -> ")
            ),
            Self::Unresolved { name, chain } if chain.is_empty() => {
                write!(f, "undefined variable `{name}`")
            }
            Self::Unresolved { name, chain } => write!(
                f,
                "undefined variable `{name}` (while expanding {})",
                chain.join(" -> ")
            ),
        }
    }
}

impl Error for ExpandError {}

/// Fully expands `s` against `scope`.
///
/// # Errors
///
/// Stops at the first problem: [`ExpandError::Unresolved`] for a name the scope does not
/// define, [`ExpandError::Cycle`] for a variable re-entered while being expanded.
///
/// ```
/// use actuator_template::{expand, ExpandError};
/// use std::collections::HashMap;
///
/// let scope = HashMap::from([("REGION", "NY"), ("HOST", "wibble"), ("A", "!{B}"), ("B", "!{A}")]);
/// assert_eq!(expand("!{REGION}-!{HOST}", &scope).unwrap(), "NY-wibble");
/// assert_eq!(
///     expand("!{A}", &scope),
///     Err(ExpandError::Cycle { chain: vec!["A".into(), "B".into(), "A".into()] })
/// );
/// assert_eq!(
///     expand("!{NOPE}", &scope),
///     Err(ExpandError::Unresolved { name: "NOPE".into(), chain: vec![] })
/// );
/// ```
pub fn expand(s: &str, scope: &dyn Scope) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(s.len());
    expand_into(s, scope, &mut out, Err)?;
    Ok(out)
}

/// The outcome of [`expand_partial`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Partial {
    /// The expansion, with references that could not be expanded kept as `!{NAME}`.
    /// Meant for reports: a kept reference looks like an escaped literal `!{`.
    pub text: String,
    /// Undefined names, deduplicated, in order of first occurrence.
    pub missing: Vec<String>,
    /// The first cycle met, as in [`ExpandError::Cycle`].
    pub cycle: Option<Vec<String>>,
}

impl Partial {
    /// Whether everything expanded (no missing names, no cycle).
    ///
    /// ```
    /// use std::collections::HashMap;
    /// let scope: HashMap<&str, &str> = HashMap::from([("A", "a")]);
    /// assert!(actuator_template::expand_partial("!{A}", &scope).is_complete());
    /// assert!(!actuator_template::expand_partial("!{B}", &scope).is_complete());
    /// ```
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.cycle.is_none()
    }
}

/// Expands as much of `s` as possible, for reports: never fails, keeps what it cannot
/// expand as `!{NAME}` and lists why.
///
/// ```
/// use actuator_template::expand_partial;
/// use std::collections::HashMap;
///
/// let scope = HashMap::from([("URL", "http://!{HOST}:!{PORT}"), ("PORT", "80"), ("L", "!{L}")]);
/// let p = expand_partial("!{URL} !{HOST} !{L}", &scope);
/// assert_eq!(p.text, "http://!{HOST}:80 !{HOST} !{L}");
/// assert_eq!(p.missing, ["HOST"]);
/// assert_eq!(p.cycle, Some(vec!["L".to_string(), "L".to_string()]));
/// ```
#[must_use]
pub fn expand_partial(s: &str, scope: &dyn Scope) -> Partial {
    let mut p = Partial::default();
    let mut seen = HashSet::new();
    let Ok(()) = expand_into::<Infallible>(s, scope, &mut p.text, |e| {
        match e {
            ExpandError::Unresolved { name, .. } => {
                if seen.insert(name.clone()) {
                    p.missing.push(name);
                }
            }
            ExpandError::Cycle { chain } => {
                p.cycle.get_or_insert(chain);
            }
        }
        Ok(())
    });
    p
}

/// Finds a reference cycle among `defs` (name -> template), considering only references
/// to names defined in `defs`. Returns a concrete path starting and ending with the same
/// name, e.g. `["A", "B", "A"]` or `["A", "A"]`; deterministic (first cycle in name order).
///
/// This is the compile-time check; scopes assembled at run time are still guarded by
/// [`expand`].
///
/// ```
/// use actuator_template::find_cycle;
/// use std::collections::BTreeMap;
///
/// let defs = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
///     pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
/// };
/// assert_eq!(find_cycle(&defs(&[("A", "!{B}"), ("B", "x!{A}")])), Some(vec!["A".into(), "B".into(), "A".into()]));
/// assert_eq!(find_cycle(&defs(&[("A", "!{B}!{B}"), ("B", "!{EXTERNAL}")])), None);
/// ```
pub fn find_cycle(defs: &BTreeMap<String, String>) -> Option<Vec<String>> {
    #[derive(Clone, Copy)]
    enum Mark {
        New,
        /// On the current DFS path, at this depth.
        OnPath(usize),
        Done,
    }
    // Keys come sorted out of the BTreeMap, so binary search maps names to indices.
    let keys: Vec<&str> = defs.keys().map(String::as_str).collect();
    let edges: Vec<Vec<usize>> = defs
        .values()
        .map(|t| {
            names(t)
                .filter_map(|(n, _)| keys.binary_search(&n).ok())
                .collect()
        })
        .collect();
    let mut marks = vec![Mark::New; keys.len()];
    // Iterative DFS (node, next edge index) so 10k-long chains don't overflow the stack.
    let mut path: Vec<(usize, usize)> = Vec::new();
    for root in 0..keys.len() {
        if !matches!(marks[root], Mark::New) {
            continue;
        }
        marks[root] = Mark::OnPath(0);
        path.push((root, 0));
        while let Some((node, next)) = path.last_mut() {
            let Some(&succ) = edges[*node].get(*next) else {
                marks[*node] = Mark::Done;
                path.pop();
                continue;
            };
            *next += 1;
            match marks[succ] {
                Mark::New => {
                    marks[succ] = Mark::OnPath(path.len());
                    path.push((succ, 0));
                }
                Mark::OnPath(depth) => {
                    let cycle = path[depth..].iter().map(|&(n, _)| n).chain([succ]);
                    return Some(cycle.map(|n| keys[n].to_owned()).collect());
                }
                Mark::Done => {}
            }
        }
    }
    None
}

/// The references in `s` whose names `defined` rejects, with their spans, in source order
/// (every occurrence, so each can get its own compile error).
///
/// ```
/// let s = "!{HOST}:!{PORT}/!{PATH}";
/// let bad = actuator_template::undefined(s, &|n| n == "HOST");
/// assert_eq!(bad, [("PORT", 8..15), ("PATH", 16..23)]);
/// ```
pub fn undefined<'a>(s: &'a str, defined: &dyn Fn(&str) -> bool) -> Vec<(&'a str, Range<usize>)> {
    names(s).filter(|(n, _)| !defined(n)).collect()
}

/// Lazily splits `s` into pieces; the one scanner behind every entry point.
fn pieces(s: &str) -> impl Iterator<Item = Piece<'_>> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let (piece, next) = next_piece(s, pos)?;
        pos = next;
        Some(piece)
    })
}

/// Scans one piece of `s` starting at byte `pos`; returns it and where the next one starts.
fn next_piece(s: &str, pos: usize) -> Option<(Piece<'_>, usize)> {
    let b = s.as_bytes();
    if pos >= b.len() {
        return None;
    }
    // The literal runs from `start` while `i` scans ahead; they part ways after an escape,
    // whose first `!` is dropped. Every special byte is ASCII, so all cuts are char boundaries.
    let mut start = pos;
    let mut i = pos;
    while let Some(off) = b[i..].iter().position(|&c| c == b'!') {
        i += off;
        if b[i + 1..].starts_with(b"!{") {
            if i > start {
                return Some((Piece::Lit(&s[start..i]), i));
            }
            start = i + 1;
            i += 3;
        } else if let Some(end) = reference_end(b, i) {
            if i > start {
                return Some((Piece::Lit(&s[start..i]), i));
            }
            let var = Piece::Var {
                name: &s[i + 2..end - 1],
                span: i..end,
            };
            return Some((var, end));
        } else {
            i += 1;
        }
    }
    Some((Piece::Lit(&s[start..]), b.len()))
}

/// If a well-formed `!{NAME}` starts at `i`, the index just past its `}`.
fn reference_end(b: &[u8], i: usize) -> Option<usize> {
    let rest = b[i..].strip_prefix(b"!{")?;
    let first = *rest.first()?;
    if !(first.is_ascii_alphabetic() || first == b'_') {
        return None;
    }
    // `None` when the name runs to the end of input: unterminated, hence literal.
    let len = rest
        .iter()
        .position(|&c| !(c.is_ascii_alphanumeric() || c == b'_'))?;
    (rest[len] == b'}').then_some(i + 2 + len + 1)
}

/// A template being expanded.
struct Frame<'s> {
    /// The variable whose value this is; `None` for the string passed to `expand`.
    var: Option<String>,
    src: Cow<'s, str>,
    pos: usize,
}

/// The expansion engine shared by [`expand`] and [`expand_partial`]. On a reference it
/// cannot expand it asks `snag`, which either aborts (`Err`) or lets it write the
/// reference through verbatim and carry on.
fn expand_into<E>(
    s: &str,
    scope: &dyn Scope,
    out: &mut String,
    mut snag: impl FnMut(ExpandError) -> Result<(), E>,
) -> Result<(), E> {
    // An explicit stack rather than recursion: chains can be as deep as the namespace.
    let mut stack = vec![Frame {
        var: None,
        src: Cow::Borrowed(s),
        pos: 0,
    }];
    // Variables currently being expanded -> their index in `stack`, so re-entry (a cycle)
    // is detected in O(1) while repeated but sequential uses are not mistaken for one.
    let mut active: HashMap<String, usize> = HashMap::new();
    while let Some(top) = stack.last_mut() {
        let Some((piece, next)) = next_piece(&top.src, top.pos) else {
            if let Some(var) = stack.pop().and_then(|f| f.var) {
                active.remove(&var);
            }
            continue;
        };
        top.pos = next;
        let name = match piece {
            Piece::Lit(text) => {
                out.push_str(text);
                continue;
            }
            Piece::Var { name, .. } => name.to_owned(),
        };
        if let Some(&depth) = active.get(&name) {
            let chain = stack[depth..].iter().filter_map(|f| f.var.clone());
            let chain = chain.chain([name.clone()]).collect();
            snag(ExpandError::Cycle { chain })?;
        } else {
            match scope.lookup(&name) {
                Lookup::Value(value) => {
                    active.insert(name.clone(), stack.len());
                    stack.push(Frame {
                        var: Some(name),
                        src: Cow::Owned(value),
                        pos: 0,
                    });
                    continue;
                }
                Lookup::Literal(value) => {
                    out.push_str(&value);
                    continue;
                }
                Lookup::Missing => {
                    let chain = stack.iter().filter_map(|f| f.var.clone()).collect();
                    snag(ExpandError::Unresolved {
                        name: name.clone(),
                        chain,
                    })?;
                }
            }
        }
        // `snag` tolerated it: keep the reference as written.
        out.push_str("!{");
        out.push_str(&name);
        out.push('}');
    }
    Ok(())
}
