//! Synchronous ready-queue: which node may run next.
//!
//! Like cargo's `DependencyQueue`, this knows nothing about async, limits or
//! retries: the walker pops a node, runs it, and reports back with
//! [`ReadyQueue::finish`] or [`ReadyQueue::fail`]. Every operation is
//! `O(log n)` amortised plus the node's edges, so a whole walk costs
//! `O((n + e) log n)`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

use crate::engine::dag::{CycleError, Dag, NodeId};

/// Where a node is in its life cycle, as far as the queue knows.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// Some predecessor has not finished yet.
    Waiting,
    /// All predecessors finished; can be popped.
    Ready,
    /// Popped and not yet reported back.
    Running,
    /// Finished, or given as already done.
    Done,
    /// Reported as failed.
    Failed,
    /// Can never run because a predecessor (transitively) failed.
    Skipped,
}

/// Number of nodes in each [`NodeState`].
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueCounts {
    /// Nodes in [`NodeState::Waiting`].
    pub waiting: usize,
    /// Nodes in [`NodeState::Ready`].
    pub ready: usize,
    /// Nodes in [`NodeState::Running`].
    pub running: usize,
    /// Nodes in [`NodeState::Done`] (including those given as already done).
    pub done: usize,
    /// Nodes in [`NodeState::Failed`].
    pub failed: usize,
    /// Nodes in [`NodeState::Skipped`].
    pub skipped: usize,
}

/// Ready-queue over a [`Dag`], ordered by longest remaining critical path.
///
/// ```
/// use std::collections::HashSet;
/// use actuator::engine::dag::{Dag, NodeId};
/// use actuator::engine::queue::ReadyQueue;
///
/// // 0 -> 1 -> 2 is a chain; 3 stands alone.
/// let mut dag = Dag::new(4);
/// dag.add_edge(NodeId(0), NodeId(1));
/// dag.add_edge(NodeId(1), NodeId(2));
/// let mut q = ReadyQueue::new(&dag, &HashSet::new()).unwrap();
/// assert_eq!(q.pop(), Some(NodeId(0))); // head of the longest chain first
/// assert_eq!(q.pop(), Some(NodeId(3)));
/// assert_eq!(q.pop(), None); // 1 waits for 0
/// q.finish(NodeId(0));
/// assert_eq!(q.pop(), Some(NodeId(1)));
/// let skipped = q.fail(NodeId(1));
/// assert_eq!(skipped, [(NodeId(2), NodeId(1))]);
/// q.finish(NodeId(3));
/// assert!(q.is_done());
/// ```
#[derive(Debug)]
pub struct ReadyQueue<'a> {
    dag: &'a Dag,
    priority: Vec<u64>,
    /// Predecessors not yet done, per node.
    blockers: Vec<u32>,
    state: Vec<NodeState>,
    /// Max-heap by priority, then lowest id, of the nodes made ready after the start. May hold
    /// stale entries for nodes failed while ready; `pop` discards those.
    heap: BinaryHeap<(u64, Reverse<NodeId>)>,
    /// The nodes ready from the start, in the same order, sorted once with the first last: a
    /// walk of thousands of independent nodes pops each from here in O(1), not from a heap of
    /// thousands. Stale entries as in `heap`.
    initial: Vec<(u64, Reverse<NodeId>)>,
    counts: QueueCounts,
}

impl<'a> ReadyQueue<'a> {
    /// Builds the queue; nodes in `already_done` count as finished and are
    /// never popped (resume after a partial run, or teardown of nodes that
    /// were never created).
    ///
    /// Fails if the graph has a cycle.
    pub fn new(dag: &'a Dag, already_done: &HashSet<NodeId>) -> Result<Self, CycleError> {
        let order = dag.check_acyclic()?;
        let n = dag.len();
        let is_done = |v: NodeId| already_done.contains(&v);

        // Remaining critical path: a node's own cost (0 if done) plus the
        // longest such path among its successors; sinks first.
        let mut priority = vec![0u64; n];
        for &v in order.iter().rev() {
            let own = if is_done(v) { 0 } else { dag.cost(v) };
            let tail = dag
                .succs(v)
                .iter()
                .map(|s| priority[s.index()])
                .max()
                .unwrap_or(0);
            priority[v.index()] = own.saturating_add(tail);
        }

        let mut q = ReadyQueue {
            dag,
            priority,
            blockers: vec![0; n],
            state: vec![NodeState::Waiting; n],
            heap: BinaryHeap::new(),
            initial: Vec::new(),
            counts: QueueCounts::default(),
        };
        for v in dag.nodes() {
            if is_done(v) {
                q.state[v.index()] = NodeState::Done;
                q.counts.done += 1;
            } else {
                q.blockers[v.index()] =
                    dag.preds(v).iter().filter(|&&p| !is_done(p)).count() as u32;
                q.counts.waiting += 1;
                if q.blockers[v.index()] == 0 {
                    q.set(v, NodeState::Ready);
                    q.initial.push((q.priority[v.index()], Reverse(v)));
                }
            }
        }
        // Ascending, the first to pop last; nodes of equal priority come in id order, which is
        // descending here, and a sort of a descending run takes one pass.
        q.initial.sort_unstable();
        Ok(q)
    }

    fn set(&mut self, node: NodeId, to: NodeState) {
        fn slot(c: &mut QueueCounts, s: NodeState) -> &mut usize {
            match s {
                NodeState::Waiting => &mut c.waiting,
                NodeState::Ready => &mut c.ready,
                NodeState::Running => &mut c.running,
                NodeState::Done => &mut c.done,
                NodeState::Failed => &mut c.failed,
                NodeState::Skipped => &mut c.skipped,
            }
        }
        let from = std::mem::replace(&mut self.state[node.index()], to);
        *slot(&mut self.counts, from) -= 1;
        *slot(&mut self.counts, to) += 1;
    }

    fn make_ready(&mut self, node: NodeId) {
        self.set(node, NodeState::Ready);
        self.heap.push((self.priority[node.index()], Reverse(node)));
    }

    fn expect_state(&self, node: NodeId, allowed: &[NodeState], op: &str) {
        let s = self.state[node.index()];
        assert!(allowed.contains(&s), "cannot {op} node {node}: it is {s:?}");
    }

    /// Takes the ready node with the longest remaining critical path (lowest
    /// id on ties) and marks it running.
    pub fn pop(&mut self) -> Option<NodeId> {
        loop {
            let from_initial = match (self.initial.last(), self.heap.peek()) {
                (Some(i), Some(h)) => i > h,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return None,
            };
            let (_, Reverse(node)) = if from_initial {
                self.initial.pop()
            } else {
                self.heap.pop()
            }
            .expect("a non-empty source");
            if self.state[node.index()] == NodeState::Ready {
                self.set(node, NodeState::Running);
                return Some(node);
            }
        }
    }

    /// Puts a popped node back among the ready ones, e.g. because a resource
    /// limit did not let it start yet or it waits for a retry.
    ///
    /// # Panics
    /// If `node` is not running.
    pub fn requeue(&mut self, node: NodeId) {
        self.expect_state(node, &[NodeState::Running], "requeue");
        self.make_ready(node);
    }

    /// Marks a popped node finished, releasing successors whose other
    /// predecessors are done too.
    ///
    /// # Panics
    /// If `node` is not running.
    pub fn finish(&mut self, node: NodeId) {
        self.expect_state(node, &[NodeState::Running], "finish");
        self.set(node, NodeState::Done);
        for &s in self.dag.succs(node) {
            // A successor already done (resume) never waited on this node.
            if self.state[s.index()] == NodeState::Done {
                continue;
            }
            let b = &mut self.blockers[s.index()];
            *b -= 1;
            // A successor may already be skipped through another failed
            // predecessor; it stays skipped.
            if *b == 0 && self.state[s.index()] == NodeState::Waiting {
                self.make_ready(s);
            }
        }
    }

    /// Marks `node` failed and every node still waiting on it, directly or
    /// transitively, skipped. Returns the newly skipped nodes, each paired
    /// with `node` as the cause, in depth-first order.
    ///
    /// # Panics
    /// If `node` is not ready or running.
    pub fn fail(&mut self, node: NodeId) -> Vec<(NodeId, NodeId)> {
        self.expect_state(node, &[NodeState::Ready, NodeState::Running], "fail");
        self.set(node, NodeState::Failed);
        let mut skipped = Vec::new();
        let mut stack = vec![node];
        while let Some(v) = stack.pop() {
            for &s in self.dag.succs(v) {
                // Only waiting nodes depend on the failure; a done successor
                // (given as already done) does not, nor do its dependents.
                if self.state[s.index()] == NodeState::Waiting {
                    self.set(s, NodeState::Skipped);
                    skipped.push((s, node));
                    stack.push(s);
                }
            }
        }
        skipped
    }

    /// True when nothing is ready or running, i.e. every node is done,
    /// failed or skipped (waiting nodes cannot remain in an acyclic graph).
    pub fn is_done(&self) -> bool {
        self.counts.ready == 0 && self.counts.running == 0
    }

    /// Current number of nodes in each state.
    pub fn counts(&self) -> QueueCounts {
        self.counts
    }

    /// State of one node.
    pub fn state(&self, node: NodeId) -> NodeState {
        self.state[node.index()]
    }

    /// Remaining critical path of `node`: its cost plus the costliest path to
    /// a sink, counting already-done nodes as free.
    pub fn priority(&self, node: NodeId) -> u64 {
        self.priority[node.index()]
    }

    /// Nodes that are waiting, ready or running, in id order: after an
    /// interrupted walk with nothing in flight, those that never ran.
    pub fn unresolved(&self) -> Vec<NodeId> {
        let open = [NodeState::Waiting, NodeState::Ready, NodeState::Running];
        self.dag
            .nodes()
            .filter(|n| open.contains(&self.state(*n)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[u32]) -> Vec<NodeId> {
        v.iter().copied().map(NodeId).collect()
    }

    fn chain(dag: &mut Dag, nodes: &[u32]) {
        for w in nodes.windows(2) {
            dag.add_edge(NodeId(w[0]), NodeId(w[1]));
        }
    }

    /// Pops everything one at a time, finishing each: the serial order.
    fn drain(q: &mut ReadyQueue) -> Vec<NodeId> {
        let mut order = Vec::new();
        while let Some(n) = q.pop() {
            q.finish(n);
            order.push(n);
        }
        assert!(q.is_done());
        order
    }

    #[test]
    fn pops_longest_remaining_chain_first_with_id_ties() {
        // Singles 0,1,2 (cost 1 each) and chain 3 -> 4 -> 5 -> 6.
        let mut dag = Dag::new(7);
        chain(&mut dag, &[3, 4, 5, 6]);
        let mut q = ReadyQueue::new(&dag, &HashSet::new()).unwrap();
        assert_eq!(q.priority(NodeId(3)), 4);
        assert_eq!(q.priority(NodeId(0)), 1);
        // Chain head first; then chain successors (priority 3, 2) outrank the
        // singles, which break ties by id.
        assert_eq!(drain(&mut q), ids(&[3, 4, 5, 0, 1, 2, 6]));
    }

    #[test]
    fn costs_weigh_the_critical_path() {
        // 0 -> 1 has cost 1 + 1; node 2 alone costs 5, so it goes first.
        let mut dag = Dag::new(3);
        chain(&mut dag, &[0, 1]);
        dag.set_cost(NodeId(2), 5);
        let mut q = ReadyQueue::new(&dag, &HashSet::new()).unwrap();
        assert_eq!(q.pop(), Some(NodeId(2)));
        assert_eq!(q.pop(), Some(NodeId(0)));
    }

    #[test]
    fn already_done_nodes_release_dependents_and_count_as_free() {
        // 0 -> 1 -> 2 -> 3 with 0 and 1 done; 4 -> 5 untouched.
        let mut dag = Dag::new(6);
        chain(&mut dag, &[0, 1, 2, 3]);
        chain(&mut dag, &[4, 5]);
        let done: HashSet<_> = ids(&[0, 1]).into_iter().collect();
        let mut q = ReadyQueue::new(&dag, &done).unwrap();
        assert_eq!(q.priority(NodeId(0)), 2, "done nodes add no cost");
        assert_eq!(
            q.counts(),
            QueueCounts {
                waiting: 2,
                ready: 2,
                done: 2,
                ..Default::default()
            }
        );
        // 2 and 4 both have 2 to go (tie: lower id), then 3 and 5 have 1.
        assert_eq!(drain(&mut q), ids(&[2, 4, 3, 5]));
    }

    #[test]
    fn fail_skips_exactly_the_transitive_dependents() {
        //   0 -> 1 -> 2      1 fails: 2, 3 and 4 (via 3) are skipped,
        //   1 -> 3 -> 4      5 -> 4 does not save 4, 0 and 5 still run,
        //   5 -> 4, 6        6 is independent.
        let mut dag = Dag::new(7);
        for (a, b) in [(0, 1), (1, 2), (1, 3), (3, 4), (5, 4)] {
            dag.add_edge(NodeId(a), NodeId(b));
        }
        let mut q = ReadyQueue::new(&dag, &HashSet::new()).unwrap();
        let mut popped = Vec::new();
        while let Some(n) = q.pop() {
            popped.push(n);
            if n == NodeId(1) {
                let mut skipped = q.fail(n);
                skipped.sort();
                assert_eq!(
                    skipped,
                    [
                        (NodeId(2), NodeId(1)),
                        (NodeId(3), NodeId(1)),
                        (NodeId(4), NodeId(1))
                    ]
                );
            } else {
                q.finish(n);
            }
        }
        popped.sort();
        assert_eq!(popped, ids(&[0, 1, 5, 6]));
        assert!(q.is_done());
        assert_eq!(q.state(NodeId(4)), NodeState::Skipped);
        let c = q.counts();
        assert_eq!((c.done, c.failed, c.skipped, c.waiting), (3, 1, 3, 0));
        assert!(q.unresolved().is_empty());
    }

    #[test]
    fn failing_a_requeued_ready_node_drops_it_from_the_heap() {
        let mut dag = Dag::new(2);
        chain(&mut dag, &[0, 1]);
        let mut q = ReadyQueue::new(&dag, &HashSet::new()).unwrap();
        let n = q.pop().unwrap();
        q.requeue(n);
        assert_eq!(q.state(n), NodeState::Ready);
        assert_eq!(q.unresolved(), ids(&[0, 1]));
        assert_eq!(q.fail(n), [(NodeId(1), NodeId(0))]);
        assert_eq!(q.pop(), None);
        assert!(q.is_done());
    }

    #[test]
    fn cyclic_graph_is_rejected() {
        let mut dag = Dag::new(2);
        chain(&mut dag, &[0, 1, 0]);
        let err = ReadyQueue::new(&dag, &HashSet::new()).unwrap_err();
        assert_eq!(err.cycle, ids(&[0, 1]));
    }

    #[test]
    #[should_panic(expected = "cannot finish node #0: it is Ready")]
    fn finishing_an_unpopped_node_panics() {
        let dag = Dag::new(1);
        ReadyQueue::new(&dag, &HashSet::new())
            .unwrap()
            .finish(NodeId(0));
    }

    #[test]
    fn hundred_thousand_nodes_schedule_in_order() {
        // 100 chains of 1,000 plus cross edges; every edge must be respected.
        let n = 100_000u32;
        let mut dag = Dag::new(n as usize);
        for i in 0..n {
            if i % 1000 != 0 {
                dag.add_edge(NodeId(i - 1), NodeId(i));
            }
            if i >= 1000 && i % 7 == 0 {
                dag.add_edge(NodeId(i - 1000 + 1), NodeId(i));
            }
        }
        let mut q = ReadyQueue::new(&dag, &HashSet::new()).unwrap();
        let order = drain(&mut q);
        assert_eq!(order.len(), n as usize);
        let mut pos = vec![0; n as usize];
        for (i, v) in order.iter().enumerate() {
            pos[v.index()] = i;
        }
        for v in dag.nodes() {
            assert!(dag.succs(v).iter().all(|s| pos[v.index()] < pos[s.index()]));
        }
    }
}
