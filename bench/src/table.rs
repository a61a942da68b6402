//! The results table printed at the end of a run.

use crate::report::{Row, Val};

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

pub fn print(rows: &[Row], smoke: bool) {
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
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            table
                .iter()
                .map(|row| row[c].chars().count())
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
                let pad = w - text.chars().count();
                if (2..7).contains(&c) {
                    format!("{}{text}", " ".repeat(pad))
                } else {
                    format!("{text}{}", " ".repeat(pad))
                }
            })
            .collect();
        println!("| {} |", line.join(" | "));
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            println!("|-{}-|", rule.join("-|-"));
        }
    }
    if smoke {
        println!("\nsmoke sizes: the goals are the standard run's; `met?` is indicative only.");
    }
}
