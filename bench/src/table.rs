//! The results table printed at the end of a run.

use crate::cluster::{ClusterResult, Figures};
use crate::report::{Row, Val};
use crate::scenarios::Sizes;

fn cell(v: &Val, unit: &str) -> String {
    match v {
        Val::Num(x) if unit == "msg/s" || unit == "sockets" => group(*x),
        Val::Num(x) if *x >= 100.0 => format!("{x:.0}"),
        Val::Num(x) => format!("{x:.2}"),
        Val::Text(t) => t.clone(),
        Val::Missing => "n/a".into(),
    }
}

/// 123456.7 → "123 457".
fn group(x: f64) -> String {
    let digits = format!("{:.0}", x.round());
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(ch);
    }
    out
}

pub fn print(rows: &[Row], cluster: Option<&ClusterResult>, sizes: &Sizes, smoke: bool) {
    let ratio = |r: Option<f64>| r.map_or("—".into(), |r| format!("{r:.2}"));
    let header = [
        "metric", "unit", "Confab", "seed", "relay", "C/seed", "C/relay", "goal", "met?",
    ];
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for r in rows {
        table.push(vec![
            r.metric.clone(),
            r.unit.to_string(),
            cell(&r.confab, r.unit),
            cell(&r.seed, r.unit),
            cell(&r.relay, r.unit),
            ratio(r.confab_per_seed),
            ratio(r.confab_per_relay),
            r.goal.to_string(),
            r.met
                .map_or(String::new(), |m| if m { "yes" } else { "NO" }.into()),
        ]);
    }
    render(&table, 2..7);
    if let Some(c) = cluster {
        print_cluster(c, sizes);
    }
    if smoke {
        println!("\nsmoke sizes: the goals are the standard run's; `met?` is indicative only.");
    }
}

/// Prints rows of cells; the first is the header; columns in `right` are right-aligned.
fn render(table: &[Vec<String>], right: std::ops::Range<usize>) {
    let columns = table.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            (table.iter())
                .map(|row| row.get(c).map_or(0, |t| t.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    println!();
    for (i, row) in table.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (text, w))| {
                let pad = " ".repeat(w - text.chars().count());
                match right.contains(&c) {
                    true => format!("{pad}{text}"),
                    false => format!("{text}{pad}"),
                }
            })
            .collect();
        println!("| {} |", line.join(" | "));
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            println!("|-{}-|", rule.join("-|-"));
        }
    }
}

/// The multi-node row next to single-node Confab, and their ratio.
fn print_cluster(c: &ClusterResult, sizes: &Sizes) {
    let (p, w) = (sizes.pairs, sizes.throughput_window);
    let header = [
        format!("{p} pairs, sender and receiver on different nodes"),
        format!("W={w} msg/s"),
        format!("W={w} p50 ms"),
        format!("W={w} p99 ms"),
        "W=1 msg/s".into(),
        "W=1 p50 ms".into(),
        "W=1 p99 ms".into(),
    ];
    let figures = |name: &str, f: &Figures, unit: fn(usize, f64) -> String| {
        let mut row = vec![name.to_owned()];
        for (i, v) in f.cells().into_iter().enumerate() {
            row.push(v.map_or("n/a".into(), |v| unit(i, v)));
        }
        row
    };
    let value = |i: usize, v: f64| match i {
        0 | 3 => cell(&Val::Num(v), "msg/s"),
        _ => cell(&Val::Num(v), "ms"),
    };
    let mut table = vec![
        header.to_vec(),
        figures("Confab (SQLite, 1 node)", &c.single_node, value),
    ];
    if c.status == "skipped" {
        let mut row = vec![c.setup.to_owned()];
        row.resize(7, "skipped".into());
        table.push(row);
    } else {
        table.push(figures(c.setup, &c.figures, value));
        let ratio = |_: usize, r: f64| format!("{r:.2}×");
        table.push(figures("×2 / 1 node", &c.ratio_to_single, ratio));
    }
    render(&table, 1..7);
    if let Some(reason) = &c.reason {
        println!("{}: skipped: {reason}", c.setup);
    } else if !c.errors.is_empty() {
        println!("{}: {} error(s), listed below", c.setup, c.errors.len());
    }
}
