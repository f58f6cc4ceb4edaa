//! The merged areas of an .xlsx file's sheets, found while its parts are unpacked for the
//! size check: the `<mergeCell ref="…"/>` elements come after a sheet's data, and reading
//! them through an XML parser would parse the whole sheet a second time.

use std::collections::HashMap;
use std::io::Write;

use calamine::Dimensions;

/// Watches the bytes of one sheet part go by and keeps its merged areas.
#[derive(Default)]
pub(super) struct MergeScanner {
    /// The last bytes seen before the merged areas began, in case a tag is cut in two.
    tail: Vec<u8>,
    /// Everything from the start of the `mergeCells` element on, once it is seen.
    section: Option<Vec<u8>>,
}

/// Bytes kept from one write to the next while looking for the element.
const CARRY: usize = 64;

impl Write for MergeScanner {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(section) = &mut self.section {
            section.extend_from_slice(buf);
            return Ok(buf.len());
        }
        let mut joined = std::mem::take(&mut self.tail);
        joined.extend_from_slice(buf);
        match tag_start(&joined, b"mergeCells") {
            Some(at) => self.section = Some(joined[at..].to_vec()),
            None => {
                let keep = joined.len().saturating_sub(CARRY);
                self.tail = joined.split_off(keep);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl MergeScanner {
    /// The merged areas seen; `None` when one could not be read (the caller then asks the
    /// XML parser).
    pub(super) fn areas(&self) -> Option<Vec<Dimensions>> {
        let Some(section) = &self.section else {
            return Some(Vec::new());
        };
        let mut areas = Vec::new();
        for tag in tags(section, b"mergeCell") {
            areas.push(parse_area(attribute(tag?, b"ref")?)?);
        }
        Some(areas)
    }
}

/// The start tags named `name` in `bytes`, each up to its closing `>`; `None` for one that
/// never closes.
fn tags<'b>(bytes: &'b [u8], name: &'b [u8]) -> impl Iterator<Item = Option<&'b [u8]>> {
    let mut from = 0;
    std::iter::from_fn(move || {
        let start = from + tag_start(&bytes[from..], name)?;
        let Some(end) = memchr::memchr(b'>', &bytes[start..]).map(|e| start + e) else {
            from = bytes.len();
            return Some(None);
        };
        from = end;
        Some(Some(&bytes[start..end]))
    })
}

/// Where the first start tag `<name` or `<prefix:name` begins in `bytes` (text cannot hold
/// a `<`, so this is a tag). The name must end there: `<mergeCell` is not `<mergeCells`.
fn tag_start(bytes: &[u8], name: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = memchr::memmem::find(&bytes[from..], name) {
        let at = from + found;
        from = at + 1;
        let ends = bytes
            .get(at + name.len())
            .is_none_or(|b| b.is_ascii_whitespace() || matches!(b, b'/' | b'>'));
        if !ends {
            continue;
        }
        let before = &bytes[..at];
        match before.last() {
            Some(b'<') => return Some(at - 1),
            Some(b':') => {}
            _ => continue,
        }
        let prefix = &before[..before.len() - 1];
        let lt = prefix
            .iter()
            .rposition(|b| !(b.is_ascii_alphanumeric() || *b == b'_'));
        if let Some(lt) = lt
            && prefix[lt] == b'<'
            && lt + 1 < prefix.len()
        {
            return Some(lt);
        }
    }
    None
}

/// The value of attribute `name` in a tag, quoted either way.
fn attribute<'t>(tag: &'t [u8], name: &[u8]) -> Option<&'t str> {
    let mut from = 0;
    while let Some(found) = memchr::memmem::find(&tag[from..], name) {
        let at = from + found;
        from = at + 1;
        if at == 0 || !tag[at - 1].is_ascii_whitespace() {
            continue;
        }
        let rest = &tag[at + name.len()..];
        let rest = rest
            .trim_ascii_start()
            .strip_prefix(b"=")?
            .trim_ascii_start();
        let quote = *rest.first()?;
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        let value = &rest[1..];
        let end = memchr::memchr(quote, value)?;
        return std::str::from_utf8(&value[..end]).ok();
    }
    None
}

/// An area in A1 notation (`B3:C7`, or one cell `B3`), 0-based.
fn parse_area(text: &str) -> Option<Dimensions> {
    let (start, end) = text.split_once(':').unwrap_or((text, text));
    Some(Dimensions::new(parse_cell(start)?, parse_cell(end)?))
}

/// A cell in A1 notation (`$` marks allowed), as 0-based (row, column).
fn parse_cell(text: &str) -> Option<(u32, u32)> {
    let text = text.trim().replace('$', "");
    let digits = text.find(|c: char| c.is_ascii_digit())?;
    let (letters, number) = text.split_at(digits);
    if letters.is_empty() || !letters.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let mut col: u32 = 0;
    for b in letters.bytes() {
        col = col
            .checked_mul(26)?
            .checked_add(u32::from(b.to_ascii_uppercase() - b'A') + 1)?;
    }
    let row: u32 = number.parse().ok()?;
    Some((row.checked_sub(1)?, col - 1))
}

/// The part of each sheet, by its name, from `xl/workbook.xml` and its relationships;
/// `None` when either cannot be read.
pub(super) fn sheet_parts(workbook: &[u8], rels: &[u8]) -> Option<HashMap<String, String>> {
    let mut targets = HashMap::new();
    for tag in tags(rels, b"Relationship") {
        let tag = tag?;
        if let (Some(id), Some(target)) = (attribute(tag, b"Id"), attribute(tag, b"Target")) {
            let path = match target.strip_prefix('/') {
                Some(absolute) => absolute.to_string(),
                None => format!("xl/{target}"),
            };
            targets.insert(id.to_string(), path);
        }
    }
    let mut parts = HashMap::new();
    for tag in tags(workbook, b"sheet") {
        let tag = tag?;
        let name = unescape(attribute(tag, b"name")?)?;
        // The relationship id is the one attribute named `id` with a namespace prefix.
        let id = relationship_id(tag)?;
        if let Some(path) = targets.get(id) {
            parts.insert(name, path.clone());
        }
    }
    Some(parts)
}

/// The value of the `prefix:id` attribute of a tag.
fn relationship_id(tag: &[u8]) -> Option<&str> {
    let mut from = 0;
    while let Some(found) = memchr::memmem::find(&tag[from..], b":id") {
        let at = from + found;
        from = at + 1;
        let mut p = at;
        while p > 0 && tag[p - 1].is_ascii_alphanumeric() {
            p -= 1;
        }
        if p == at || p == 0 || !tag[p - 1].is_ascii_whitespace() {
            continue;
        }
        return attribute(&tag[p - 1..], &tag[p..at + 3]);
    }
    None
}

/// Text of an XML attribute with its entities replaced.
fn unescape(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let end = rest[at..].find(';')? + at;
        let entity = &rest[at + 1..end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let number = entity.strip_prefix('#')?;
                let code = match number.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                    None => number.parse().ok()?,
                };
                char::from_u32(code)?
            }
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(chunks: &[&str]) -> Option<Vec<Dimensions>> {
        let mut scanner = MergeScanner::default();
        for chunk in chunks {
            scanner.write_all(chunk.as_bytes()).unwrap();
        }
        scanner.areas()
    }

    #[test]
    fn merged_areas_are_read_whatever_the_chunks() {
        let sheet = r#"<worksheet><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>mergeCells mergeCell</t></is></c></row></sheetData><mergeCells count="2"><mergeCell ref="A2:A6"/><mergeCell ref='$B$3:C4' /></mergeCells><pageMargins/></worksheet>"#;
        let want = vec![
            Dimensions::new((1, 0), (5, 0)),
            Dimensions::new((2, 1), (3, 2)),
        ];
        assert_eq!(scan(&[sheet]), Some(want.clone()));
        for cut in 1..sheet.len() {
            assert_eq!(
                scan(&[&sheet[..cut], &sheet[cut..]]),
                Some(want.clone()),
                "cut at {cut}"
            );
        }
        let prefixed = r#"<x:worksheet><x:sheetData/><x:mergeCells count="1"><x:mergeCell ref="AA10"/></x:mergeCells></x:worksheet>"#;
        assert_eq!(
            scan(&[prefixed]),
            Some(vec![Dimensions::new((9, 26), (9, 26))])
        );
        assert_eq!(scan(&["<worksheet><sheetData/></worksheet>"]), Some(vec![]));
        assert_eq!(
            scan(&[r#"<mergeCells><mergeCell ref="1A:B"/></mergeCells>"#]),
            None,
            "an area it cannot read leaves it to the XML parser"
        );
    }

    #[test]
    fn sheets_are_found_by_name() {
        let workbook = r#"<workbook xmlns:r="x"><sheets><sheet name="台账 &amp; 附表" sheetId="1" r:id="rId2"/><sheet name="说明" sheetId="2" r:id="rId1"/></sheets></workbook>"#;
        let rels = r#"<Relationships><Relationship Id="rId1" Type="t" Target="worksheets/sheet2.xml"/><Relationship Id="rId2" Type="t" Target="/xl/worksheets/sheet1.xml"/></Relationships>"#;
        let parts = sheet_parts(workbook.as_bytes(), rels.as_bytes()).unwrap();
        assert_eq!(parts["台账 & 附表"], "xl/worksheets/sheet1.xml");
        assert_eq!(parts["说明"], "xl/worksheets/sheet2.xml");
        assert_eq!(parts.len(), 2);
    }
}
