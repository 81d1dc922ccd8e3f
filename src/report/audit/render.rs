//! The report as Markdown, self-contained HTML (inline CSS, SVG and a small sorting script; no
//! network fetches) and summary.json. Every string that may come off the wire is escaped.

use std::fmt::Write;

pub use crate::report::escape::{escape_html, escape_markdown};

use super::findings::Finding;
use super::{overview, svg, AuditReport, Table};

fn md_table(out: &mut String, table: &Table) {
    let _ = writeln!(out, "### {}\n", escape_markdown(&table.title));
    if table.rows.is_empty() {
        out.push_str("(none)\n\n");
        return;
    }
    let _ = writeln!(
        out,
        "| {} |",
        table
            .columns
            .iter()
            .map(|c| escape_markdown(c))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(
        out,
        "|{}|",
        table
            .numeric
            .iter()
            .map(|n| if *n { "---:" } else { "---" })
            .collect::<Vec<_>>()
            .join("|")
    );
    for row in &table.rows {
        let _ = writeln!(
            out,
            "| {} |",
            row.iter()
                .map(|c| escape_markdown(c))
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    out.push('\n');
}

fn header_lines(report: &AuditReport) -> Vec<(String, String)> {
    let m = &report.meta;
    let mut lines = vec![
        ("o365flow".to_owned(), m.o365flow_version.clone()),
        (
            "flow schema version".to_owned(),
            m.schema_version.to_string(),
        ),
        ("catalog".to_owned(), m.catalog.clone()),
        (
            "internal networks".to_owned(),
            m.internal_networks.join(", "),
        ),
        (
            "pseudonymized".to_owned(),
            if m.pseudonymized { "yes" } else { "no" }.to_owned(),
        ),
        (
            "totals".to_owned(),
            format!(
                "{} packets, {} bytes, {} flows; Office 365: {} flows, {} bytes",
                m.packets(),
                m.bytes(),
                report.totals.flows,
                report.totals.o365_flows,
                report.totals.o365_bytes
            ),
        ),
    ];
    lines.push((
        "malformed packets / evicted flows".to_owned(),
        format!("{} / {}", m.malformed_packets, m.evicted_flows),
    ));
    lines
}

fn md_finding(out: &mut String, f: &Finding) {
    let _ = writeln!(
        out,
        "<a id=\"finding-{}\"></a>\n\n#### [{}] {} ({} flows)\n\n{}\n\nAction: {}\n",
        escape_html(f.kind),
        f.severity.as_str(),
        escape_markdown(&f.title),
        f.flows,
        escape_markdown(&f.explanation),
        escape_markdown(&f.action)
    );
    for line in &f.evidence {
        let _ = writeln!(out, "- {}", escape_markdown(line));
    }
    if f.more > 0 {
        let _ = writeln!(out, "- ... and {} more (summary.json has them)", f.more);
    }
    out.push('\n');
}

/// The summary's table: how Office 365 traffic crosses the firewall, per port verdict.
fn shares_table(report: &AuditReport) -> Table {
    let o = &report.overview;
    Table {
        id: "summary-shares",
        title: "How Office 365 traffic crosses the firewall".to_owned(),
        columns: [
            "port verdict",
            "flows",
            "share of flows",
            "bytes",
            "share of bytes",
        ]
        .map(str::to_owned)
        .to_vec(),
        numeric: vec![false, true, true, true, true],
        rows: o
            .port_verdicts
            .iter()
            .map(|s| {
                vec![
                    format!("{} ({})", s.label, s.key),
                    s.flows.to_string(),
                    s.share_of_flows.clone(),
                    s.bytes.to_string(),
                    s.share_of_bytes.clone(),
                ]
            })
            .collect(),
    }
}

fn warnings_line(report: &AuditReport) -> Option<String> {
    let n = report.meta.warnings.len();
    (n > 0).then(|| format!("{n} warnings while reading (see the appendix)"))
}

fn md_summary(out: &mut String, report: &AuditReport) {
    out.push_str("## Summary\n\n");
    for (k, v) in report.overview.lines(&report.totals) {
        let _ = writeln!(out, "- **{k}**: {}", escape_markdown(&v));
    }
    for f in &report.overview.findings {
        let _ = writeln!(
            out,
            "  - [{}] [{}](#finding-{}) ({} flows)",
            f.severity,
            escape_markdown(&f.title),
            escape_html(&f.kind),
            f.flows
        );
    }
    for c in &report.caveats {
        let _ = writeln!(out, "- Caveat: {}", escape_markdown(c));
    }
    if let Some(w) = warnings_line(report) {
        let _ = writeln!(out, "- {w}");
    }
    out.push('\n');
    md_table(out, &shares_table(report));
}

fn md_appendix(out: &mut String, report: &AuditReport) {
    out.push_str("## Appendix: run and provenance\n\n");
    for (k, v) in header_lines(report) {
        let _ = writeln!(out, "- {}: {}", escape_markdown(&k), escape_markdown(&v));
    }
    for w in &report.meta.warnings {
        let _ = writeln!(out, "- Warning: {}", escape_markdown(w));
    }
    out.push('\n');
    md_table(out, &overview::provenance(&report.meta));
}

pub fn markdown(report: &AuditReport) -> String {
    let mut out = String::from("# Office 365 traffic audit\n\n");
    md_summary(&mut out, report);
    out.push_str("## Verdict\n\n");
    md_table(&mut out, &report.verdict);
    out.push_str("## Ports\n\n");
    md_table(&mut out, &report.ports);
    out.push_str("## Paths\n\n");
    md_table(&mut out, &report.paths);
    out.push_str("## Names\n\n");
    md_table(&mut out, &report.names);
    out.push_str("## Tenants\n\n");
    md_table(&mut out, &report.tenants);
    out.push_str("## Connections\n\n");
    md_table(&mut out, &report.connections);
    out.push_str("## Findings\n\n");
    if report.findings.is_empty() {
        out.push_str("(none)\n\n");
    }
    for f in &report.findings {
        md_finding(&mut out, f);
    }
    out.push_str("## Firewall rules\n\n");
    md_table(&mut out, &report.firewall);
    out.push_str("Lists for import: `firewall/` (one file per category and address family) and `firewall/proxy.pac`.\n\n## Clients\n\n");
    md_table(&mut out, &report.clients);
    out.push_str("## Top talkers\n\n");
    md_table(&mut out, &report.talkers);
    out.push_str("## Required endpoints never seen\n\n");
    md_table(&mut out, &report.never_seen);
    md_appendix(&mut out, report);
    out
}

const STYLE: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em;color:#1a202c;max-width:1200px}
h1{font-size:1.6em}h2{border-bottom:1px solid #cbd5e0;margin-top:2em}
table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:0.9em}
th,td{border:1px solid #cbd5e0;padding:3px 8px;vertical-align:top}
th{background:#edf2f7;cursor:pointer;user-select:none}
td.n{text-align:right;font-variant-numeric:tabular-nums}
td{word-break:break-word;max-width:420px}
.sev-high{border-left:6px solid #c53030}.sev-warning{border-left:6px solid #d69e2e}.sev-info{border-left:6px solid #2b6cb0}
.finding{padding:0.3em 0.8em;margin:1em 0;background:#f7fafc}
.caveat{color:#9c4221}
dl.meta dt{font-weight:600}dl.meta dd{margin:0 0 0.3em 1em;word-break:break-all}
dl.summary{display:grid;grid-template-columns:max-content 1fr;gap:0.2em 1em;margin:0}
dl.summary dt{font-weight:600}dl.summary dd{margin:0}dl.summary ul{margin:0.2em 0;padding-left:1.2em}
li.f-high{color:#c53030}li.f-warning{color:#975a16}
@media print{th{cursor:auto}body{margin:0.5cm}}
"#;

/// Sorts a table when its header is clicked (numbers as numbers). Plain ES5, no dependencies.
const SCRIPT: &str = r#"
(function(){
  function key(cell, numeric){
    var t = cell.textContent;
    if (numeric) { var v = parseFloat(t.replace(/[^0-9.\-]/g, '')); return isNaN(v) ? -Infinity : v; }
    return t.toLowerCase();
  }
  var tables = document.querySelectorAll('table.sortable');
  for (var i = 0; i < tables.length; i++) {
    (function(table){
      var heads = table.querySelectorAll('th');
      for (var h = 0; h < heads.length; h++) {
        (function(th, index){
          th.addEventListener('click', function(){
            var body = table.tBodies[0];
            var rows = Array.prototype.slice.call(body.rows);
            var numeric = th.getAttribute('data-numeric') === '1';
            var ascending = th.getAttribute('data-order') !== 'asc';
            rows.sort(function(a, b){
              var x = key(a.cells[index], numeric), y = key(b.cells[index], numeric);
              return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
            });
            for (var r = 0; r < rows.length; r++) body.appendChild(rows[r]);
            th.setAttribute('data-order', ascending ? 'asc' : 'desc');
          });
        })(heads[h], h);
      }
    })(tables[i]);
  }
  document.body.setAttribute('data-ready', '1');
})();
"#;

fn html_table(out: &mut String, table: &Table) {
    let _ = write!(out, "<h3>{}</h3>", escape_html(&table.title));
    if table.rows.is_empty() {
        out.push_str("<p>(none)</p>");
        return;
    }
    let _ = write!(
        out,
        r#"<table class="sortable" id="table-{}"><thead><tr>"#,
        escape_html(table.id)
    );
    for (c, numeric) in table.columns.iter().zip(&table.numeric) {
        let _ = write!(
            out,
            r#"<th data-numeric="{}">{}</th>"#,
            u8::from(*numeric),
            escape_html(c)
        );
    }
    out.push_str("</tr></thead><tbody>");
    for row in &table.rows {
        out.push_str("<tr>");
        for (cell, numeric) in row.iter().zip(&table.numeric) {
            let class = if *numeric { r#" class="n""# } else { "" };
            let _ = write!(out, "<td{class}>{}</td>", escape_html(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

fn html_summary(out: &mut String, report: &AuditReport) {
    out.push_str("<section id=\"summary\"><h2>Summary</h2><dl class=\"summary\">");
    for (k, v) in report.overview.lines(&report.totals) {
        let _ = write!(out, "<dt>{k}</dt><dd>{}", escape_html(&v));
        if k == "Findings" && !report.overview.findings.is_empty() {
            out.push_str("<ul>");
            for f in &report.overview.findings {
                let _ = write!(
                    out,
                    "<li class=\"f-{}\">[{}] <a href=\"#finding-{}\">{}</a> ({} flows)</li>",
                    escape_html(&f.severity),
                    escape_html(&f.severity),
                    escape_html(&f.kind),
                    escape_html(&f.title),
                    f.flows
                );
            }
            out.push_str("</ul>");
        }
        out.push_str("</dd>");
    }
    out.push_str("</dl>");
    for c in &report.caveats {
        let _ = write!(out, "<p class=\"caveat\">Caveat: {}</p>", escape_html(c));
    }
    if let Some(w) = warnings_line(report) {
        let _ = write!(out, "<p class=\"caveat\">{}</p>", escape_html(&w));
    }
    html_table(out, &shares_table(report));
    out.push_str("</section>");
}

fn html_appendix(out: &mut String, report: &AuditReport) {
    out.push_str("<h2 id=\"appendix\">Appendix: run and provenance</h2><dl class=\"meta\">");
    for (k, v) in header_lines(report) {
        let _ = write!(
            out,
            "<dt>{}</dt><dd>{}</dd>",
            escape_html(&k),
            escape_html(&v)
        );
    }
    out.push_str("</dl>");
    for w in &report.meta.warnings {
        let _ = write!(out, "<p class=\"caveat\">Warning: {}</p>", escape_html(w));
    }
    html_table(out, &overview::provenance(&report.meta));
}

pub fn html(report: &AuditReport) -> String {
    let mut out = String::from("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">",
    );
    let _ = write!(
        out,
        "<title>Office 365 traffic audit</title><style>{STYLE}</style></head><body>"
    );
    out.push_str("<h1>Office 365 traffic audit</h1>");
    html_summary(&mut out, report);
    out.push_str("<h2>Verdict</h2>");
    out.push_str(&svg::verdict_chart(&report.verdict_bars));
    html_table(&mut out, &report.verdict);
    out.push_str("<h2>Ports</h2>");
    html_table(&mut out, &report.ports);
    out.push_str("<h2>Paths</h2>");
    html_table(&mut out, &report.paths);
    out.push_str("<h2>Names</h2>");
    html_table(&mut out, &report.names);
    out.push_str("<h2>Tenants</h2>");
    html_table(&mut out, &report.tenants);
    out.push_str("<h2>Connections</h2>");
    html_table(&mut out, &report.connections);
    out.push_str("<h2>Findings</h2>");
    if report.findings.is_empty() {
        out.push_str("<p>(none)</p>");
    }
    for f in &report.findings {
        let _ = write!(
            out,
            "<div class=\"finding sev-{}\" id=\"finding-{}\"><h3>[{}] {} ({} flows)</h3><p>{}</p><p><b>Action:</b> {}</p><ul>",
            f.severity.as_str(),
            escape_html(f.kind),
            f.severity.as_str(),
            escape_html(&f.title),
            f.flows,
            escape_html(&f.explanation),
            escape_html(&f.action)
        );
        for line in &f.evidence {
            let _ = write!(out, "<li>{}</li>", escape_html(line));
        }
        if f.more > 0 {
            let _ = write!(
                out,
                "<li>... and {} more (summary.json has them)</li>",
                f.more
            );
        }
        out.push_str("</ul></div>");
    }
    out.push_str("<h2>Firewall rules</h2>");
    html_table(&mut out, &report.firewall);
    out.push_str("<p>Lists for import: <code>firewall/</code> (one file per category and address family) and <code>firewall/proxy.pac</code>.</p>");
    out.push_str("<h2>Clients</h2>");
    html_table(&mut out, &report.clients);
    out.push_str("<h2>Top talkers and timeline</h2>");
    html_table(&mut out, &report.talkers);
    out.push_str(&svg::timeline_chart(&report.timeline));
    out.push_str("<h2>Required endpoints never seen</h2>");
    html_table(&mut out, &report.never_seen);
    html_appendix(&mut out, report);
    let _ = writeln!(out, "<script>{SCRIPT}</script></body></html>");
    out
}

pub fn summary_json(report: &AuditReport) -> serde_json::Result<String> {
    serde_json::to_string_pretty(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_escaped() {
        assert_eq!(
            escape_html("<script>alert(1)</script>.office.com"),
            "&lt;script&gt;alert(1)&lt;/script&gt;.office.com"
        );
        assert_eq!(escape_html("a\"b'c&"), "a&quot;b&#39;c&amp;");
        assert_eq!(escape_markdown("a|b*c"), "a\\|b\\*c");
        assert_eq!(escape_markdown("<b>"), "&lt;b&gt;");
        assert_eq!(
            escape_markdown("the company's \"own\" & <x>"),
            "the company's \"own\" &amp; &lt;x&gt;"
        );
    }
}
