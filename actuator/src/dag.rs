//! Dependency graph over dense node indices.
//!
//! Nodes are `NodeId(0)..NodeId(n)`; an edge `before -> after` means `after`
//! may only start once `before` has finished. Everything that knows what a
//! node *is* (a VPC, a package install, ...) lives outside the engine and
//! maps its objects to indices.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::OnceLock;

/// Index of a node in a [`Dag`]; valid ids are `0..dag.len()`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    /// The id as a `usize`, for indexing per-node vectors.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The graph contains a cycle, so no order satisfies every edge.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("dependency cycle: {}", fmt_cycle(.cycle))]
pub struct CycleError {
    /// One actual cycle: each node has an edge to the next, and the last one
    /// an edge back to the first. Rotated so the smallest id comes first.
    pub cycle: Vec<NodeId>,
}

fn fmt_cycle(cycle: &[NodeId]) -> String {
    let mut out: Vec<String> = cycle.iter().map(ToString::to_string).collect();
    out.extend(cycle.first().map(ToString::to_string));
    out.join(" -> ")
}

/// A directed graph of `n` nodes with optional per-node costs.
///
/// Cycles are allowed while building; [`Dag::check_acyclic`] (which the
/// queue and the walker call) rejects them.
///
/// ```
/// use actuator::engine::dag::{Dag, NodeId};
///
/// let mut dag = Dag::new(3);
/// dag.add_edge(NodeId(0), NodeId(1)); // vpc before subnet
/// dag.add_edge(NodeId(1), NodeId(2)); // subnet before instance
/// assert_eq!(dag.check_acyclic().unwrap(), [NodeId(0), NodeId(1), NodeId(2)]);
/// // Teardown walks the reversed graph: instance, subnet, vpc.
/// assert_eq!(dag.reversed().check_acyclic().unwrap(), [NodeId(2), NodeId(1), NodeId(0)]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Dag {
    costs: Vec<u64>,
    /// Every edge, `(before, after)`, in the order added.
    list: Vec<(NodeId, NodeId)>,
    // Lets `add_edge` dedup in O(1) even for nodes with huge fan-in/out. Hashed with foldhash,
    // not SipHash: a walk's graph is built from the model, not from input an attacker picks, and
    // every edge of a large plan's walk is hashed once.
    edges: HashSet<(NodeId, NodeId), foldhash::fast::RandomState>,
    /// Each node's predecessors and successors, laid out node after node: made from `list` when
    /// first asked for (and again after a change), rather than a list per node grown edge by
    /// edge — two allocations for every node of a chain of thousands.
    adjacency: OnceLock<Adjacency>,
}

/// Every node's neighbours in one list per direction: node `i`'s are `at[i]..at[i + 1]`.
#[derive(Clone, Debug)]
struct Adjacency {
    pred_at: Vec<u32>,
    preds: Vec<NodeId>,
    succ_at: Vec<u32>,
    succs: Vec<NodeId>,
}

impl Adjacency {
    /// Counting sort of `list` by node, both ways: each node's neighbours keep the edges' order.
    fn of(n: usize, list: &[(NodeId, NodeId)]) -> Self {
        let lay_out = |key: fn(&(NodeId, NodeId)) -> (NodeId, NodeId)| {
            let mut at = vec![0u32; n + 1];
            for e in list {
                at[key(e).0.index() + 1] += 1;
            }
            for i in 0..n {
                at[i + 1] += at[i];
            }
            let mut next = at.clone();
            let mut out = vec![NodeId(0); list.len()];
            for e in list {
                let (node, other) = key(e);
                out[next[node.index()] as usize] = other;
                next[node.index()] += 1;
            }
            (at, out)
        };
        let (pred_at, preds) = lay_out(|&(before, after)| (after, before));
        let (succ_at, succs) = lay_out(|&(before, after)| (before, after));
        Adjacency {
            pred_at,
            preds,
            succ_at,
            succs,
        }
    }
}

impl Dag {
    /// A graph of `n` nodes, no edges, every cost 1.
    pub fn new(n: usize) -> Self {
        assert!(u32::try_from(n).is_ok(), "too many nodes: {n}");
        Dag {
            costs: vec![1; n],
            ..Dag::default()
        }
    }

    /// Appends a node with cost 1 and returns its id.
    pub fn add_node(&mut self) -> NodeId {
        let id = NodeId(u32::try_from(self.len()).expect("too many nodes"));
        self.costs.push(1);
        self.adjacency.take();
        id
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.costs.len()
    }

    /// Whether the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.costs.is_empty()
    }

    /// Number of distinct edges.
    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// All node ids in increasing order.
    pub fn nodes(&self) -> impl ExactSizeIterator<Item = NodeId> + use<> {
        (0..self.len() as u32).map(NodeId)
    }

    /// Adds the edge `before -> after`; returns `false` if it already existed.
    ///
    /// # Panics
    /// If either id is out of range.
    pub fn add_edge(&mut self, before: NodeId, after: NodeId) -> bool {
        let n = self.len();
        assert!(
            before.index() < n && after.index() < n,
            "edge {before} -> {after} out of range (len {n})"
        );
        if !self.edges.insert((before, after)) {
            return false;
        }
        self.list.push((before, after));
        self.adjacency.take();
        true
    }

    fn adjacency(&self) -> &Adjacency {
        self.adjacency
            .get_or_init(|| Adjacency::of(self.len(), &self.list))
    }

    /// Nodes that must finish before `node` starts, in insertion order.
    pub fn preds(&self, node: NodeId) -> &[NodeId] {
        let a = self.adjacency();
        let i = node.index();
        &a.preds[a.pred_at[i] as usize..a.pred_at[i + 1] as usize]
    }

    /// Nodes that wait for `node`, in insertion order.
    pub fn succs(&self, node: NodeId) -> &[NodeId] {
        let a = self.adjacency();
        let i = node.index();
        &a.succs[a.succ_at[i] as usize..a.succ_at[i + 1] as usize]
    }

    /// Scheduling weight of `node` (default 1), e.g. its expected seconds.
    pub fn cost(&self, node: NodeId) -> u64 {
        self.costs[node.index()]
    }

    /// Sets the scheduling weight of `node`.
    pub fn set_cost(&mut self, node: NodeId, cost: u64) {
        self.costs[node.index()] = cost;
    }

    /// The same nodes and costs with every edge flipped: the teardown graph,
    /// where dependents are destroyed before what they depend on.
    pub fn reversed(&self) -> Dag {
        Dag {
            costs: self.costs.clone(),
            list: self.list.iter().map(|&(a, b)| (b, a)).collect(),
            edges: self.edges.iter().map(|&(a, b)| (b, a)).collect(),
            adjacency: OnceLock::new(),
        }
    }

    /// A topological order (Kahn's algorithm, ties by id via FIFO of the
    /// initial id-ordered sources), or one cycle if there is none.
    pub fn check_acyclic(&self) -> Result<Vec<NodeId>, CycleError> {
        let mut indeg: Vec<u32> = self.nodes().map(|n| self.preds(n).len() as u32).collect();
        let mut ready: VecDeque<NodeId> = self.nodes().filter(|n| indeg[n.index()] == 0).collect();
        let mut order = Vec::with_capacity(self.len());
        while let Some(n) = ready.pop_front() {
            order.push(n);
            for &s in self.succs(n) {
                indeg[s.index()] -= 1;
                if indeg[s.index()] == 0 {
                    ready.push_back(s);
                }
            }
        }
        if order.len() == self.len() {
            return Ok(order);
        }
        // Every node left over still has a predecessor that is left over, so
        // walking predecessors from any of them must revisit a node.
        let start = self
            .nodes()
            .find(|n| indeg[n.index()] > 0)
            .expect("a node is left");
        let mut seen_at = vec![usize::MAX; self.len()];
        let mut path = Vec::new();
        let mut cur = start;
        while seen_at[cur.index()] == usize::MAX {
            seen_at[cur.index()] = path.len();
            path.push(cur);
            cur = *self
                .preds(cur)
                .iter()
                .find(|p| indeg[p.index()] > 0)
                .expect("a left-over node has a left-over predecessor");
        }
        let mut cycle = path.split_off(seen_at[cur.index()]);
        cycle.reverse(); // we walked predecessors; report in edge direction
        let min = cycle
            .iter()
            .enumerate()
            .min_by_key(|(_, n)| **n)
            .map_or(0, |(i, _)| i);
        cycle.rotate_left(min);
        Err(CycleError { cycle })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(order: &[NodeId]) -> Vec<usize> {
        let mut p = vec![0; order.len()];
        for (i, n) in order.iter().enumerate() {
            p[n.index()] = i;
        }
        p
    }

    #[test]
    fn add_edge_dedups_and_tracks_both_directions() {
        let mut dag = Dag::new(3);
        assert!(dag.add_edge(NodeId(0), NodeId(2)));
        assert!(!dag.add_edge(NodeId(0), NodeId(2)));
        assert!(dag.add_edge(NodeId(1), NodeId(2)));
        assert_eq!(dag.edge_count(), 2);
        assert_eq!(dag.preds(NodeId(2)), [NodeId(0), NodeId(1)]);
        assert_eq!(dag.succs(NodeId(0)), [NodeId(2)]);
        assert!(dag.succs(NodeId(2)).is_empty());
        assert_eq!(dag.add_node(), NodeId(3));
        assert_eq!((dag.len(), dag.cost(NodeId(3))), (4, 1));
    }

    #[test]
    fn topological_order_respects_every_edge() {
        let mut dag = Dag::new(6);
        for (a, b) in [(5, 0), (0, 1), (4, 1), (1, 2), (3, 2), (5, 3)] {
            dag.add_edge(NodeId(a), NodeId(b));
        }
        let order = dag.check_acyclic().unwrap();
        assert_eq!(order.len(), 6);
        let p = pos(&order);
        for n in dag.nodes() {
            for s in dag.succs(n) {
                assert!(p[n.index()] < p[s.index()], "{n} must precede {s}");
            }
        }
    }

    #[test]
    fn reversed_flips_every_edge_and_keeps_costs() {
        let mut dag = Dag::new(4);
        dag.add_edge(NodeId(0), NodeId(1));
        dag.add_edge(NodeId(1), NodeId(2));
        dag.add_edge(NodeId(0), NodeId(3));
        dag.set_cost(NodeId(2), 7);
        let rev = dag.reversed();
        assert_eq!(rev.edge_count(), 3);
        for n in dag.nodes() {
            assert_eq!(rev.preds(n), dag.succs(n));
            assert_eq!(rev.succs(n), dag.preds(n));
        }
        assert_eq!(rev.cost(NodeId(2)), 7);
        let p = pos(&rev.check_acyclic().unwrap());
        assert!(p[2] < p[1] && p[1] < p[0] && p[3] < p[0]);
        // Flipping twice gives the original edges back.
        assert!(!rev.reversed().clone().add_edge(NodeId(0), NodeId(1)));
    }

    #[test]
    fn cycle_detection_names_an_actual_cycle() {
        // 0 -> 1 -> 2 -> 3 -> 1, plus 3 -> 4 hanging off the cycle.
        let mut dag = Dag::new(5);
        for (a, b) in [(0, 1), (1, 2), (2, 3), (3, 1), (3, 4)] {
            dag.add_edge(NodeId(a), NodeId(b));
        }
        let err = dag.check_acyclic().unwrap_err();
        assert_eq!(err.cycle, [NodeId(1), NodeId(2), NodeId(3)]);
        assert_eq!(err.to_string(), "dependency cycle: #1 -> #2 -> #3 -> #1");

        let mut selfloop = Dag::new(2);
        selfloop.add_edge(NodeId(1), NodeId(1));
        assert_eq!(selfloop.check_acyclic().unwrap_err().cycle, [NodeId(1)]);
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn out_of_range_edge_panics() {
        Dag::new(1).add_edge(NodeId(0), NodeId(1));
    }
}
