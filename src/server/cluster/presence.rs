//! What the other nodes hold: for each node, the hub keys with a socket there and its online
//! agents, and when the node was last heard from. A node silent for longer than the time to live
//! (it died, or the bus between us is down) stops counting.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct NodeView {
    keys: HashSet<String>,
    /// Online agents there, and whether each takes automatic assignments.
    agents: HashMap<String, bool>,
    seen: Instant,
}

impl NodeView {
    fn new(now: Instant) -> Self {
        Self {
            keys: HashSet::new(),
            agents: HashMap::new(),
            seen: now,
        }
    }
}

pub struct RemotePresence {
    nodes: Mutex<HashMap<String, NodeView>>,
    ttl: Duration,
}

impl RemotePresence {
    pub fn new(ttl: Duration) -> Self {
        Self {
            nodes: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn nodes(&self) -> std::sync::MutexGuard<'_, HashMap<String, NodeView>> {
        // Every update is a single insert/remove: a poisoned lock holds consistent data.
        self.nodes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether any other node holds a socket of `key`.
    pub fn has(&self, key: &str) -> bool {
        self.nodes().values().any(|n| n.keys.contains(key))
    }

    /// Agents online on other nodes and whether they take assignments (available on any node
    /// counts as available: the flag is the agent's, nodes only echo it).
    pub fn agents(&self) -> HashMap<String, bool> {
        let mut merged: HashMap<String, bool> = HashMap::new();
        for node in self.nodes().values() {
            for (agent, available) in &node.agents {
                *merged.entry(agent.clone()).or_default() |= *available;
            }
        }
        merged
    }

    /// Whether any other node holds an online agent.
    pub fn has_agents(&self) -> bool {
        self.nodes().values().any(|n| !n.agents.is_empty())
    }

    pub fn node_count(&self) -> usize {
        self.nodes().len()
    }

    /// Any event from `node` shows it is alive.
    pub fn touch(&self, node: &str) {
        self.heard(node, |_| {});
    }

    /// Runs `change` on `node`'s view (created if new), which was just heard from.
    fn heard(&self, node: &str, change: impl FnOnce(&mut NodeView)) {
        let now = Instant::now();
        let mut nodes = self.nodes();
        let view = nodes
            .entry(node.to_owned())
            .or_insert_with(|| NodeView::new(now));
        view.seen = now;
        change(view);
    }

    pub fn online(&self, node: &str, key: &str) {
        self.heard(node, |view| {
            view.keys.insert(key.to_owned());
        });
    }

    pub fn offline(&self, node: &str, key: &str) {
        if let Some(view) = self.nodes().get_mut(node) {
            view.keys.remove(key);
            view.agents.remove(key);
        }
    }

    pub fn availability(&self, node: &str, agent: &str, available: bool) {
        self.heard(node, |view| {
            view.agents.insert(agent.to_owned(), available);
        });
    }

    /// Keys whose presence on `node` a snapshot with `keys` would change.
    pub fn snapshot_diff(&self, node: &str, keys: &[String]) -> Vec<String> {
        let nodes = self.nodes();
        let empty = HashSet::new();
        let old = nodes.get(node).map_or(&empty, |n| &n.keys);
        let new: HashSet<&String> = keys.iter().collect();
        let mut diff: Vec<String> = old.iter().filter(|k| !new.contains(k)).cloned().collect();
        diff.extend(keys.iter().filter(|k| !old.contains(*k)).cloned());
        diff
    }

    /// Replaces what `node` holds with its snapshot.
    pub fn replace(&self, node: &str, keys: Vec<String>, agents: Vec<(String, bool)>) {
        let now = Instant::now();
        self.nodes().insert(
            node.to_owned(),
            NodeView {
                keys: keys.into_iter().collect(),
                agents: agents.into_iter().collect(),
                seen: now,
            },
        );
    }

    /// Keys `node` held (forgetting it must not change anything else).
    pub fn keys_of(&self, node: &str) -> Vec<String> {
        self.nodes()
            .get(node)
            .map(|n| n.keys.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn forget(&self, node: &str) {
        self.nodes().remove(node);
    }

    /// Nodes not heard from within the time to live.
    pub fn lapsed(&self) -> Vec<String> {
        let now = Instant::now();
        self.nodes()
            .iter()
            .filter(|(_, n)| now.duration_since(n.seen) > self.ttl)
            .map(|(name, _)| name.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_counts_while_any_node_holds_it() {
        let p = RemotePresence::new(Duration::from_secs(5));
        p.online("n1", "ann");
        p.online("n2", "ann");
        p.offline("n1", "ann");
        assert!(p.has("ann"));
        p.forget("n2");
        assert!(!p.has("ann"));
    }

    #[test]
    fn a_silent_node_lapses_after_the_time_to_live() {
        let p = RemotePresence::new(Duration::from_millis(0));
        p.online("n1", "ann");
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(p.lapsed(), vec!["n1".to_owned()]);
    }

    #[test]
    fn snapshot_diff_lists_keys_that_come_and_go() {
        let p = RemotePresence::new(Duration::from_secs(5));
        p.online("n1", "ann");
        p.online("n1", "bob");
        let mut diff = p.snapshot_diff("n1", &["bob".into(), "cy".into()]);
        diff.sort();
        assert_eq!(diff, vec!["ann".to_owned(), "cy".to_owned()]);
    }

    #[test]
    fn agents_merge_availability_across_nodes() {
        let p = RemotePresence::new(Duration::from_secs(5));
        p.availability("n1", "ag", false);
        p.availability("n2", "ag", true);
        assert_eq!(p.agents().get("ag"), Some(&true));
        p.offline("n2", "ag");
        assert_eq!(p.agents().get("ag"), Some(&false));
    }
}
