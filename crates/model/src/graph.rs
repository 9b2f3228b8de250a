//! Dependency graphs of named nodes (resources and their `resource_deps`, images and their
//! `FROM`/`image_deps`), on petgraph: the order things start or build in, and cycles named
//! node by node for the error message.

use std::collections::HashMap;

use petgraph::algo::{astar, tarjan_scc};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{DfsPostOrder, Walker};

/// A graph whose edges point from a node to what it depends on.
#[derive(Debug, Default, Clone)]
pub struct DepGraph {
    graph: DiGraph<String, ()>,
    index: HashMap<String, NodeIndex>,
}

impl DepGraph {
    /// A graph of these nodes and no edges yet; the order given is the order ties break in.
    pub fn new<'a>(nodes: impl IntoIterator<Item = &'a str>) -> DepGraph {
        let mut g = DepGraph::default();
        for name in nodes {
            g.node(name);
        }
        g
    }

    fn node(&mut self, name: &str) -> NodeIndex {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.graph.add_node(name.to_owned());
        self.index.insert(name.to_owned(), i);
        i
    }

    /// Records that `node` depends on `dep` (both are added if new).
    pub fn depends_on(&mut self, node: &str, dep: &str) {
        let (a, b) = (self.node(node), self.node(dep));
        if !self.graph.contains_edge(a, b) {
            self.graph.add_edge(a, b, ());
        }
    }

    /// A cycle, closed and in dependency direction (`a -> b -> c -> a`), starting at the
    /// earliest node (in insertion order) that is on one; `None` for a DAG.
    pub fn cycle(&self) -> Option<Vec<String>> {
        let start = tarjan_scc(&self.graph)
            .into_iter()
            .filter(|scc| scc.len() > 1 || scc.iter().any(|&n| self.graph.contains_edge(n, n)))
            .filter_map(|scc| scc.into_iter().min())
            .min()?;
        if self.graph.contains_edge(start, start) {
            let name = self.graph[start].clone();
            return Some(vec![name.clone(), name]);
        }
        // Close the cycle by the shortest way back from `start`'s earliest successor that
        // leads back to it.
        let mut successors: Vec<NodeIndex> = self.graph.neighbors(start).collect();
        successors.sort();
        successors.into_iter().find_map(|next| {
            let (_, back) = astar(&self.graph, next, |n| n == start, |_| 1, |_| 0)?;
            let names = std::iter::once(start).chain(back);
            Some(names.map(|n| self.graph[n].clone()).collect())
        })
    }

    /// `roots` and everything they depend on, each after its dependencies (depth first, in
    /// the order the roots and edges were given). Unknown roots are skipped.
    pub fn deps_first(&self, roots: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for root in roots {
            let Some(&start) = self.index.get(*root) else {
                continue;
            };
            // petgraph lists a node's newest edge first and the walk's stack pops the last
            // one pushed: dependencies are visited in the order they were declared.
            for n in DfsPostOrder::new(&self.graph, start).iter(&self.graph) {
                let name = &self.graph[n];
                if !out.contains(name) {
                    out.push(name.clone());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dag_has_no_cycle_and_puts_dependencies_first() {
        let mut g = DepGraph::new(["app", "base", "tools", "lib"]);
        g.depends_on("app", "base");
        g.depends_on("app", "tools");
        g.depends_on("base", "lib");
        g.depends_on("tools", "lib");
        assert_eq!(g.cycle(), None);
        assert_eq!(g.deps_first(&["app"]), ["lib", "base", "tools", "app"]);
        assert_eq!(g.deps_first(&["tools", "base"]), ["lib", "tools", "base"]);
        assert!(g.deps_first(&["unknown"]).is_empty());
    }

    #[test]
    fn cycles_are_named_from_their_earliest_node() {
        let mut g = DepGraph::new(["a", "b", "c", "d"]);
        g.depends_on("d", "d");
        g.depends_on("a", "b");
        g.depends_on("b", "c");
        g.depends_on("c", "a");
        assert_eq!(
            g.cycle(),
            Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
        let mut self_loop = DepGraph::new(["x", "y"]);
        self_loop.depends_on("y", "y");
        assert_eq!(self_loop.cycle(), Some(vec!["y".into(), "y".into()]));
    }
}
