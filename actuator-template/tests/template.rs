use actuator_template::{
    ExpandError, Lookup, Piece, Scope, escape, expand, expand_partial, find_cycle, names, parse,
    undefined,
};
use std::collections::{BTreeMap, HashMap};

fn scope(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn defs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}

fn empty() -> HashMap<String, String> {
    HashMap::new()
}

#[test]
fn simple_substitution() {
    let s = scope(&[("REGION", "NY"), ("HOST", "wibble")]);
    assert_eq!(expand("!{REGION}-!{HOST}", &s).unwrap(), "NY-wibble");
}

#[test]
fn embedded_text_preserved() {
    let s = scope(&[("A", "1"), ("B", "2")]);
    assert_eq!(
        expand("pre !{A} mid!{B}post {braces} ! !", &s).unwrap(),
        "pre 1 mid2post {braces} ! !"
    );
    assert_eq!(expand("no vars at all", &s).unwrap(), "no vars at all");
    assert_eq!(expand("", &s).unwrap(), "");
}

#[test]
fn recursive_expansion() {
    let s = scope(&[
        ("URL", "http://!{HOST}:!{PORT}/"),
        ("HOST", "!{NAME}.!{REGION}.example"),
        ("NAME", "web"),
        ("REGION", "ny"),
        ("PORT", "80!{PORT_SUFFIX}"),
        ("PORT_SUFFIX", "80"),
    ]);
    assert_eq!(
        expand("curl !{URL}", &s).unwrap(),
        "curl http://web.ny.example:8080/"
    );
}

#[test]
fn dynamic_scoping_uses_readers_scope() {
    // The same raw value means different things to different readers.
    let a = scope(&[("URL", "http://!{HOST}"), ("HOST", "a.example")]);
    let b = |n: &str| match n {
        "HOST" => Lookup::Value("b.example".into()),
        _ => a.lookup(n),
    };
    assert_eq!(expand("!{URL}", &a).unwrap(), "http://a.example");
    assert_eq!(expand("!{URL}", &b).unwrap(), "http://b.example");
}

#[test]
fn cycle_reported_with_chain() {
    let s = scope(&[
        ("ONE", "1 !{TWO}"),
        ("TWO", "2 !{THREE}"),
        ("THREE", "3 !{ONE}"),
        ("ZERO", "!{ONE}"),
    ]);
    let cycle = ExpandError::Cycle {
        chain: strings(&["ONE", "TWO", "THREE", "ONE"]),
    };
    assert_eq!(expand("!{ONE}", &s), Err(cycle.clone()));
    // Entered from outside the cycle, only the cycle itself is reported.
    assert_eq!(expand("x !{ZERO}", &s), Err(cycle.clone()));
    assert_eq!(
        cycle.to_string(),
        "variable `ONE` refers to itself: ONE -> TWO -> THREE -> ONE"
    );
}

#[test]
fn self_cycle() {
    let s = scope(&[("A", "a!{A}")]);
    assert_eq!(
        expand("!{A}", &s),
        Err(ExpandError::Cycle {
            chain: strings(&["A", "A"])
        })
    );
}

#[test]
fn repeated_variable_is_not_a_cycle() {
    // Diamond: D reached twice through B and C, and A used twice at top level.
    let s = scope(&[
        ("A", "[!{B}|!{C}]"),
        ("B", "b!{D}"),
        ("C", "c!{D}!{D}"),
        ("D", "d"),
    ]);
    assert_eq!(expand("!{A}!{A}", &s).unwrap(), "[bd|cdd][bd|cdd]");
}

#[test]
fn unresolved_names_variable_and_chain() {
    let s = scope(&[("URL", "http://!{HOST}"), ("HOST", "!{NAME}.example")]);
    let err = expand("!{URL}", &s).unwrap_err();
    assert_eq!(
        err,
        ExpandError::Unresolved {
            name: "NAME".into(),
            chain: strings(&["URL", "HOST"])
        }
    );
    assert_eq!(
        err.to_string(),
        "undefined variable `NAME` (while expanding URL -> HOST)"
    );
    let top = expand("x !{NOPE}", &s).unwrap_err();
    assert_eq!(
        top,
        ExpandError::Unresolved {
            name: "NOPE".into(),
            chain: vec![]
        }
    );
    assert_eq!(top.to_string(), "undefined variable `NOPE`");
    // Usable as a boxed std error.
    let boxed: Box<dyn std::error::Error> = Box::new(top);
    assert!(boxed.to_string().contains("NOPE"));
}

#[test]
fn partial_keeps_unresolved_references() {
    let s = scope(&[
        ("URL", "http://!{HOST}:!{PORT}"),
        ("PORT", "80"),
        ("LOOP", "<!{LOOP2}>"),
        ("LOOP2", "!{LOOP}"),
    ]);
    let p = expand_partial("!{URL} !{X} !{HOST} !{LOOP}", &s);
    assert_eq!(p.text, "http://!{HOST}:80 !{X} !{HOST} <!{LOOP}>");
    assert_eq!(p.missing, strings(&["HOST", "X"]));
    assert_eq!(p.cycle, Some(strings(&["LOOP", "LOOP2", "LOOP"])));
    assert!(!p.is_complete());

    let full = expand_partial("!{PORT}", &s);
    assert_eq!(full.text, "80");
    assert!(full.is_complete());
}

#[test]
fn literal_values_are_not_reexpanded() {
    let s = |n: &str| match n {
        "IP" => Lookup::Literal("!{NOT_EXPANDED}".into()),
        "RAW" => Lookup::Value("ip=!{IP}".into()),
        _ => Lookup::Missing,
    };
    assert_eq!(expand("!{RAW}", &s).unwrap(), "ip=!{NOT_EXPANDED}");
}

#[test]
fn escapes() {
    let s = scope(&[("X", "x"), ("V", "v=!!{X}")]);
    assert_eq!(expand("!!{X}", &s).unwrap(), "!{X}");
    assert_eq!(expand("!!!{X}", &s).unwrap(), "!!{X}");
    assert_eq!(expand("!!!!{X}", &s).unwrap(), "!!!{X}");
    assert_eq!(expand("!!{", &s).unwrap(), "!{");
    assert_eq!(expand("!!X !!{X}!{X}", &s).unwrap(), "!!X !{X}x");
    // An escape inside a value yields literal text; output is never re-scanned.
    assert_eq!(expand("!{V}", &s).unwrap(), "v=!{X}");
    assert_eq!(escape("a!{b}!!{c}"), "a!!{b}!!!{c}");
    assert_eq!(escape("no refs {here}!"), "no refs {here}!");
}

/// Tiny xorshift generator: deterministic, dependency-free.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn assert_round_trip(x: &str) {
    let escaped = escape(x);
    assert!(!parse(&escaped).has_vars(), "{x:?} -> {escaped:?}");
    assert_eq!(expand(&escaped, &empty()).as_deref(), Ok(x), "{escaped:?}");
}

#[test]
fn escape_round_trip_exhaustive_small() {
    // Every string of length <= 6 over the characters that matter to the scanner.
    let alphabet = ['!', '{', '}', 'A', '1'];
    let mut layer = vec![String::new()];
    for _ in 0..=6 {
        let mut grown = Vec::new();
        for x in &layer {
            assert_round_trip(x);
            grown.extend(alphabet.iter().map(|c| format!("{x}{c}")));
        }
        layer = grown;
    }
}

#[test]
fn escape_round_trip_random() {
    let alphabet: Vec<char> = "!!!{{}}A_z9 -é€🦀\n".chars().collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..20_000 {
        let len = (rng.next() % 40) as usize;
        let x: String = (0..len)
            .map(|_| alphabet[(rng.next() % alphabet.len() as u64) as usize])
            .collect();
        assert_round_trip(&x);
    }
}

#[test]
fn non_name_patterns_are_literal() {
    let s = scope(&[("A", "a"), ("X", "x"), ("A_1", "ok")]);
    for t in [
        "!{A-B}", "!{ A }", "!{1X}", "!{X", "!{}", "!{", "!", "! {X}", "!{X }", "!{é}", "{X}",
        "!{X-}",
    ] {
        assert!(!parse(t).has_vars(), "{t}");
        assert_eq!(expand(t, &s).unwrap(), t);
    }
    // A malformed opener doesn't hide a well-formed reference right after it.
    assert_eq!(expand("!{!{X}}", &s).unwrap(), "!{x}");
    assert_eq!(
        expand("!{A_1}!{_}", &scope(&[("A_1", "ok"), ("_", "u")])).unwrap(),
        "oku"
    );
}

#[test]
fn parse_pieces() {
    assert_eq!(
        parse("a!{B}c!!{d}!{E_9}").pieces,
        [
            Piece::Lit("a"),
            Piece::Var {
                name: "B",
                span: 1..5
            },
            Piece::Lit("c"),
            Piece::Lit("!{d}"),
            Piece::Var {
                name: "E_9",
                span: 11..17
            },
        ]
    );
    let t = parse("!{A}x!{B}!{A}");
    assert!(t.has_vars());
    assert_eq!(
        t.names().collect::<Vec<_>>(),
        [("A", 0..4), ("B", 5..9), ("A", 9..13)]
    );
}

#[test]
fn spans_point_at_the_right_bytes() {
    let s = "héllo !{NAME} → !{Other_1}!!{NOT}!{x}🦀";
    let found: Vec<_> = names(s).collect();
    let got: Vec<_> = found.iter().map(|(n, r)| (*n, &s[r.clone()])).collect();
    assert_eq!(
        got,
        [
            ("NAME", "!{NAME}"),
            ("Other_1", "!{Other_1}"),
            ("x", "!{x}")
        ]
    );
    assert_eq!(found[0].1, 7..14);
}

#[test]
fn unicode_text_around_variables() {
    let s = scope(&[("Ω", "unused"), ("CITY", "Zürich"), ("EMOJI", "🦀")]);
    assert_eq!(
        expand("«!{CITY}» — !{EMOJI}✓ !{Ω}", &s).unwrap(),
        "«Zürich» — 🦀✓ !{Ω}"
    );
}

#[test]
fn undefined_reports_every_occurrence_with_spans() {
    let s = "!{A}!{B} !{B} !!{C} !{D}";
    let bad = undefined(s, &|n| n == "A");
    assert_eq!(bad, [("B", 4..8), ("B", 9..13), ("D", 20..24)]);
    assert!(undefined(s, &|_| true).is_empty());
}

#[test]
fn find_cycle_cases() {
    assert_eq!(
        find_cycle(&defs(&[("A", "x"), ("B", "!{C}"), ("C", "y!{B}")])),
        Some(strings(&["B", "C", "B"]))
    );
    assert_eq!(
        find_cycle(&defs(&[("A", "ok"), ("SELF", "!{SELF}")])),
        Some(strings(&["SELF", "SELF"]))
    );
    // DAG with shared dependencies, undefined references and escapes: no cycle.
    let dag = defs(&[
        ("A", "!{B}!{C}!{B}"),
        ("B", "!{D}"),
        ("C", "!{D}!{OUTSIDE}"),
        ("D", "!!{A} is escaped"),
    ]);
    assert_eq!(find_cycle(&dag), None);
    assert_eq!(find_cycle(&BTreeMap::new()), None);
    // Longer cycle reached from a non-cycle node: the path is the cycle only.
    assert_eq!(
        find_cycle(&defs(&[
            ("A", "!{B}"),
            ("B", "!{C}"),
            ("C", "!{D}"),
            ("D", "!{B}")
        ])),
        Some(strings(&["B", "C", "D", "B"]))
    );
}

fn chain_defs(n: usize, last: &str) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            let value = if i + 1 < n {
                format!("{i}.!{{A{}}}", i + 1)
            } else {
                last.to_string()
            };
            (format!("A{i}"), value)
        })
        .collect()
}

#[test]
fn ten_thousand_deep_chain() {
    const N: usize = 10_000;
    let map: HashMap<String, String> = chain_defs(N, "end").into_iter().collect();
    let out = expand("!{A0}", &map).unwrap();
    assert!(out.starts_with("0.1.2."));
    assert!(out.ends_with(&format!("{}.end", N - 2)));
    let tree: BTreeMap<String, String> = map.into_iter().collect();
    assert_eq!(find_cycle(&tree), None);

    // Close the loop: both checks find the 10,001-element path.
    let cyclic: BTreeMap<String, String> = chain_defs(N, "!{A0}").into_iter().collect();
    let Err(ExpandError::Cycle { chain }) = expand("!{A0}", &cyclic) else {
        panic!("expected a cycle");
    };
    assert_eq!(chain.len(), N + 1);
    assert_eq!((chain[0].as_str(), chain[N].as_str()), ("A0", "A0"));
    let found = find_cycle(&cyclic).unwrap();
    assert_eq!(found.len(), N + 1);
    assert_eq!(found.first(), found.last());
}

#[test]
fn wide_template_is_fast_enough() {
    // 100k references to a shared value: linear work, no quadratic re-scanning.
    let s = scope(&[("V", "!{W}!{W}"), ("W", "w")]);
    let t = "!{V}".repeat(100_000);
    assert_eq!(expand(&t, &s).unwrap().len(), 200_000);
    let junk = "!{".repeat(100_000) + &"!".repeat(100_000);
    assert_eq!(expand(&junk, &s).unwrap(), junk);
}

#[test]
fn btreemap_and_borrowed_scopes() {
    let b = BTreeMap::from([("K", "!{V}"), ("V", "v")]);
    assert_eq!(expand("!{K}", &b).unwrap(), "v");
    let h: HashMap<&str, String> = HashMap::from([("K", "k".to_string())]);
    assert_eq!(expand("!{K}", &h).unwrap(), "k");
}
