//! The command line's `--json` output as the documented protocol: every line one object, valid
//! against `docs/events.schema.json` (whose `plan` event holds a `docs/plan.schema.json`
//! document).

use std::path::Path;

use serde_json::Value;

fn read_schema(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `docs/plan.schema.json`: a plan, as `plan --out` saves it.
pub fn plan_schema() -> jsonschema::Validator {
    jsonschema::validator_for(&read_schema("plan.schema.json")).unwrap()
}

/// `docs/events.schema.json`, which every `--json` line must follow; its reference to the plan
/// schema resolves to the file beside it (never fetched).
pub fn events_schema() -> jsonschema::Validator {
    let plan = read_schema("plan.schema.json");
    let id = plan["$id"].as_str().unwrap().to_owned();
    let registry = jsonschema::Registry::new()
        .add(id, plan)
        .unwrap()
        .prepare()
        .unwrap();
    jsonschema::options()
        .with_registry(&registry)
        .build(&read_schema("events.schema.json"))
        .unwrap()
}

/// Asserts `v` follows `schema`, naming each violation.
pub fn check(schema: &jsonschema::Validator, v: &Value) {
    let errors: Vec<String> = schema.iter_errors(v).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}\n{v:#}");
}

/// The `--json` lines of a command, each one object on one line, checked against the schema.
pub fn json_lines(stdout: &str) -> Vec<Value> {
    let schema = events_schema();
    stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            check(&schema, &v);
            v
        })
        .collect()
}

/// The one event a command that is not a run writes with `--json`: exactly one line, of kind
/// `kind`, in the schema, enveloped (schema 1, a run id of its own).
pub fn the_event(stdout: &str, kind: &str) -> Value {
    let events = json_lines(stdout);
    assert_eq!(events.len(), 1, "one event: {stdout}");
    let e = events.into_iter().next().unwrap();
    assert_eq!(e["event"], kind, "{e}");
    assert_eq!(e["schema"], 1, "{e}");
    assert!(!e["run"].as_str().unwrap().is_empty(), "{e}");
    e
}
