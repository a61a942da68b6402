//! What one run does: its bench accounts and the settings every server run shares.

use crate::scenarios::{wasm, Sizes};
use crate::servers::Launch;

/// The bench users of a run.
pub struct Names {
    pub pairs: Vec<(String, String)>,
    pub probe: (String, String),
    pub offline: Vec<(String, String)>,
    pub history: (String, String),
    pub idle: Vec<String>,
}

impl Names {
    pub fn new(sizes: &Sizes) -> Self {
        Self {
            pairs: (0..sizes.pairs)
                .map(|i| (format!("p{i:03}s"), format!("p{i:03}r")))
                .collect(),
            probe: ("probe_s".into(), "probe_r".into()),
            offline: (0..sizes.offline_rounds)
                .map(|i| (format!("off{i}s"), format!("off{i}r")))
                .collect(),
            history: ("hist_a".into(), "hist_b".into()),
            idle: (0..sizes.idle_sockets)
                .map(|i| format!("idle{i:05}"))
                .collect(),
        }
    }

    /// Accounts registered through the API (the idle ones are written into the store).
    pub fn registered(&self) -> Vec<String> {
        let mut v = Vec::new();
        for (a, b) in self
            .pairs
            .iter()
            .chain(&self.offline)
            .chain([&self.probe, &self.history])
        {
            v.push(a.clone());
            v.push(b.clone());
        }
        v
    }
}

pub struct Plan<'a> {
    pub sizes: &'a Sizes,
    pub names: &'a Names,
    pub scenarios: &'a [String],
    pub launch: Launch<'a>,
    pub run_tag: String,
    pub wasm: Option<&'a mut wasm::WasmResult>,
}

impl Plan<'_> {
    pub fn has(&self, s: &str) -> bool {
        self.scenarios.iter().any(|x| x == s)
    }
}
