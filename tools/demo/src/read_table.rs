//! Reads the first `<table>` of an HTML page back into rows of cells, as a browser lays it out.
//!
//! The timeline's tests and the demo's end-to-end test check the written page with it, so they
//! see the columns a reader sees, not the data the page was built from. It reads the plain
//! markup the timeline writes (`<tr>`, `<th>`, `<td>`, attributes allowed, no `colspan`), and
//! is no general HTML parser.

/// The rows of the first table in `html`, each a list of its cells' text (tags inside a cell
/// dropped, entities decoded, whitespace trimmed); empty when there is no table.
pub fn read_table(html: &str) -> Vec<Vec<String>> {
    let Some(start) = html.find("<table") else {
        return Vec::new();
    };
    let table = &html[start..];
    let table = &table[..table.find("</table>").unwrap_or(table.len())];
    table
        .split("<tr")
        .skip(1)
        .map(|row| cells(row.split("</tr>").next().unwrap_or(row)))
        .collect()
}

/// The cells of one row's markup.
fn cells(mut row: &str) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(open) = next_cell(row) {
        let Some(tag_end) = row[open..].find('>') else {
            break;
        };
        let content = &row[open + tag_end + 1..];
        let len = content.find("</t").unwrap_or(content.len());
        out.push(text(&content[..len]));
        row = &content[len..];
    }
    out
}

/// Where the next `<td` or `<th` starts.
fn next_cell(row: &str) -> Option<usize> {
    [row.find("<td"), row.find("<th")]
        .into_iter()
        .flatten()
        .min()
}

/// A cell's text: tags dropped, the entities the timeline writes decoded, trimmed.
fn text(markup: &str) -> String {
    let mut plain = String::new();
    let mut in_tag = false;
    for c in markup.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => plain.push(c),
            _ => {}
        }
    }
    plain
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cells_with_attributes_tags_and_entities() {
        let html = "<p>x</p><table>\n<thead><tr><th>step</th><th class=\"n\">p50 ms</th></tr></thead>\
                    <tbody><tr><td>1 A &amp; <b>B</b></td><td> 1.5 </td></tr>\
                    <tr><td>total</td><td></td></tr></tbody></table><table><tr><td>no</td></tr></table>";
        assert_eq!(
            read_table(html),
            vec![
                vec!["step", "p50 ms"],
                vec!["1 A & B", "1.5"],
                vec!["total", ""],
            ]
        );
        assert!(read_table("<p>no table</p>").is_empty());
    }
}
