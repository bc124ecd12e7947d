//! What the cloud benches compute from a run: the dependencies the state recorded, and the
//! longest chain through them, against which a run's own time is judged.

use std::collections::{BTreeMap, HashMap};

use actuator::state::State;

/// Each resource's recorded dependencies (model path → the paths it depends on).
pub fn recorded_deps(state: &State) -> HashMap<String, Vec<String>> {
    state
        .iter()
        .map(|e| {
            let deps = e.data.value()["deps"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d.as_str().map(str::to_owned))
                .collect();
            (e.key.to_string(), deps)
        })
        .collect()
}

/// The longest chain of dependent resources, weighted by each one's round trips (`trips`).
///
/// ```
/// use std::collections::{BTreeMap, HashMap};
/// let deps = HashMap::from([("b".to_owned(), vec!["a".to_owned()]), ("a".to_owned(), vec![])]);
/// let trips = BTreeMap::from([("a".to_owned(), 2), ("b".to_owned(), 3)]);
/// assert_eq!(actuator_tests::bench::critical_round_trips(&deps, &trips), 5);
/// ```
pub fn critical_round_trips(
    deps: &HashMap<String, Vec<String>>,
    trips: &BTreeMap<String, u64>,
) -> u64 {
    fn longest<'a>(
        k: &'a str,
        deps: &'a HashMap<String, Vec<String>>,
        trips: &BTreeMap<String, u64>,
        memo: &mut HashMap<&'a str, u64>,
    ) -> u64 {
        if let Some(&v) = memo.get(k) {
            return v;
        }
        let before = deps
            .get(k)
            .into_iter()
            .flatten()
            .map(|d| longest(d, deps, trips, memo))
            .max()
            .unwrap_or(0);
        let v = before + trips.get(k).copied().unwrap_or(0);
        memo.insert(k, v);
        v
    }
    let mut memo = HashMap::new();
    deps.keys()
        .chain(trips.keys())
        .map(|k| longest(k, deps, trips, &mut memo))
        .max()
        .unwrap_or(0)
}
