//! Hand-made .xlsx files for the tests of hostile input: the parts written as XML into a zip,
//! so that a test controls what a spreadsheet program would not write (a shared string of
//! half a gigabyte, a merged area to the sheet's last cell, a formula without its result).

use std::io::Write;
use std::path::Path;

use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

/// One cell of a hand-made sheet.
#[derive(Debug, Clone)]
pub enum XCell {
    /// Text written in the cell itself.
    Text(String),
    /// A formula whose result is not kept.
    Formula(String),
    /// The first shared string.
    Shared,
}

/// A sheet: rows of cells from A1, and merged areas in A1 notation.
#[derive(Debug, Clone, Default)]
pub struct XSheet {
    pub rows: Vec<Vec<Option<XCell>>>,
    pub merges: Vec<String>,
}

/// Column letters of a 0-based column.
pub fn letters(col: usize) -> String {
    let mut n = col + 1;
    let mut out = Vec::new();
    while n > 0 {
        out.push((b'A' + ((n - 1) % 26) as u8) as char);
        n = (n - 1) / 26;
    }
    out.iter().rev().collect()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Writes `sheet` as an .xlsx at `path`. `shared` writes one shared string of that many
/// copies of `A` (streamed, never held in memory).
pub fn write(path: &Path, sheet: &XSheet, shared: Option<u64>) {
    let file = std::fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(9));
    let part = |zip: &mut zip::ZipWriter<std::fs::File>, name: &str, body: &str| {
        zip.start_file(name, options).unwrap();
        zip.write_all(body.as_bytes()).unwrap();
    };
    let shared_type = if shared.is_some() {
        r#"<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>"#
    } else {
        ""
    };
    part(
        &mut zip,
        "[Content_Types].xml",
        &format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>{shared_type}</Types>"#
        ),
    );
    part(
        &mut zip,
        "_rels/.rels",
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
    );
    part(
        &mut zip,
        "xl/workbook.xml",
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="台账" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
    );
    let shared_rel = if shared.is_some() {
        r#"<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>"#
    } else {
        ""
    };
    part(
        &mut zip,
        "xl/_rels/workbook.xml.rels",
        &format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>{shared_rel}</Relationships>"#
        ),
    );
    zip.start_file("xl/worksheets/sheet1.xml", options).unwrap();
    write!(
        zip,
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#
    )
    .unwrap();
    for (r, row) in sheet.rows.iter().enumerate() {
        write!(zip, r#"<row r="{}">"#, r + 1).unwrap();
        for (c, cell) in row.iter().enumerate() {
            let at = format!("{}{}", letters(c), r + 1);
            match cell {
                None => {}
                Some(XCell::Text(text)) => write!(
                    zip,
                    r#"<c r="{at}" t="inlineStr"><is><t>{}</t></is></c>"#,
                    escape(text)
                )
                .unwrap(),
                Some(XCell::Formula(formula)) => {
                    write!(zip, r#"<c r="{at}"><f>{}</f></c>"#, escape(formula)).unwrap()
                }
                Some(XCell::Shared) => write!(zip, r#"<c r="{at}" t="s"><v>0</v></c>"#).unwrap(),
            }
        }
        write!(zip, "</row>").unwrap();
    }
    write!(zip, "</sheetData>").unwrap();
    if !sheet.merges.is_empty() {
        write!(zip, r#"<mergeCells count="{}">"#, sheet.merges.len()).unwrap();
        for area in &sheet.merges {
            write!(zip, r#"<mergeCell ref="{area}"/>"#).unwrap();
        }
        write!(zip, "</mergeCells>").unwrap();
    }
    write!(zip, "</worksheet>").unwrap();
    if let Some(length) = shared {
        zip.start_file("xl/sharedStrings.xml", options).unwrap();
        write!(
            zip,
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>"#
        )
        .unwrap();
        let chunk = vec![b'A'; 1 << 20];
        let mut left = length;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            zip.write_all(&chunk[..n]).unwrap();
            left -= n as u64;
        }
        write!(zip, "</t></si></sst>").unwrap();
    }
    zip.finish().unwrap();
}

/// The ledger header in row 1 and `rows` measures after it, as text cells.
pub fn ledger(rows: usize) -> XSheet {
    let header = ["序号", "整改措施", "牵头单位", "完成时限", "状态"];
    let mut sheet = XSheet::default();
    sheet.rows.push(
        header
            .iter()
            .map(|h| Some(XCell::Text(h.to_string())))
            .collect(),
    );
    for i in 1..=rows {
        sheet.rows.push(vec![
            Some(XCell::Text(format!("1-{i}"))),
            Some(XCell::Text(format!("完善第{i}项制度"))),
            Some(XCell::Text("经济发展局".into())),
            Some(XCell::Text("2030-06-30".into())),
            Some(XCell::Text("推进中".into())),
        ]);
    }
    sheet
}
