//! The shipped sample ledger, other file formats, synthetic ledgers, and the export opened
//! in LibreOffice.

mod common;

use std::path::Path;
use std::process::Command;

use calamine::{Data, Reader, Xlsx, open_workbook};
use common::{Sandbox, by_code, sample};

const AT: &str = "2024-03-15";

#[test]
fn the_committed_sample_is_what_its_source_says() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("fresh.xlsx");
    duban::ingest::sample::write_sample(&fresh).unwrap();
    let committed = Sandbox::sqlite();
    committed.ok(&["import", sample().to_str().unwrap()]);
    let regenerated = Sandbox::sqlite();
    regenerated.ok(&["import", fresh.to_str().unwrap()]);
    assert_eq!(
        committed.measures(AT),
        regenerated.measures(AT),
        "samples/ledger.xlsx is stale: run `cargo run --bin duban-gen -- sample samples/ledger.xlsx`"
    );
}

#[test]
fn the_sample_looks_like_a_real_ledger() {
    let sb = Sandbox::with_sample();
    let all = sb.measures(AT);
    assert!(all.len() >= 60);
    let aspects: std::collections::BTreeSet<&str> =
        all.iter().map(|m| m["aspect"].as_str().unwrap()).collect();
    let problems: std::collections::BTreeSet<&str> =
        all.iter().map(|m| m["problem"].as_str().unwrap()).collect();
    assert_eq!((aspects.len(), problems.len()), (4, 10));
    for unit in ["党工委办公室", "经济发展局", "投资服务中心"] {
        assert!(all.iter().any(|m| m["lead_unit"] == unit), "{unit}");
    }
    // The file itself has the real patterns: merged cells, date cells, serial numbers, text.
    let mut book: Xlsx<_> = open_workbook(sample()).unwrap();
    let merges = book.merge_cells_by_sheet_name("整改台账").unwrap();
    assert!(
        merges.iter().any(|d| d.start.0 == 0 && d.end.1 > 5),
        "a merged title row"
    );
    assert!(
        merges.iter().any(|d| d.end.0 > d.start.0),
        "cells merged down"
    );
    let range = book.worksheet_range("整改台账").unwrap();
    let deadline_col = range
        .rows()
        .nth(2)
        .unwrap()
        .iter()
        .position(|c| c == &Data::String("完成时限".into()))
        .unwrap();
    let cells: Vec<&Data> = range.rows().skip(3).map(|r| &r[deadline_col]).collect();
    assert!(cells.iter().any(|c| matches!(c, Data::DateTime(_))));
    assert!(
        cells
            .iter()
            .any(|c| matches!(c, Data::Float(_) | Data::Int(_)))
    );
    assert!(
        cells
            .iter()
            .any(|c| matches!(c, Data::String(s) if s.contains('年')))
    );
    assert!(
        cells
            .iter()
            .any(|c| matches!(c, Data::String(s) if s == "立行立改"))
    );
}

#[test]
fn an_old_xls_file_reads_like_the_xlsx() {
    let xls = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ledger.xls");
    let from_xls = Sandbox::sqlite();
    from_xls.ok(&["import", xls.to_str().unwrap()]);
    let from_xlsx = Sandbox::sqlite();
    from_xlsx.ok(&["import", sample().to_str().unwrap()]);
    let a = from_xls.measures(AT);
    let b = from_xlsx.measures(AT);
    assert_eq!(a.len(), 66);
    for (x, y) in a.iter().zip(&b) {
        let mut x = x.clone();
        let mut y = y.clone();
        // Date cells print alike; the rest of the row must match exactly.
        x["deadline_text"] = serde_json::Value::Null;
        y["deadline_text"] = serde_json::Value::Null;
        assert_eq!(x, y);
    }
    assert_eq!(by_code(&a, "1-4")["overdue_days"], 50);
}

#[test]
fn synthetic_ledgers_import_whole() {
    let sb = Sandbox::sqlite();
    let file = sb.path("synthetic.xlsx");
    duban::ingest::sample::write_synthetic(&file, 3_000, 120, 11).unwrap();
    let out = sb.ok(&["import", file.to_str().unwrap()]);
    assert!(out.contains("共3000行，新增3000项"), "{out}");
    let units: Vec<serde_json::Value> = serde_json::from_str(&sb.ok(&["units", "--json"])).unwrap();
    assert_eq!(units.len(), 120);
    let all = sb.measures("2024-06-03");
    assert_eq!(all.len(), 3_000);
    assert_eq!(
        all.iter()
            .map(|m| m["problem"].as_str().unwrap())
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        300
    );
    for kind in ["date", "immediate", "long_term"] {
        assert!(all.iter().any(|m| m["deadline_kind"] == kind), "{kind}");
    }
}

/// The export opens in LibreOffice: converted to CSV, its sheets hold the ledger and the
/// summary. LibreOffice is installed by .ci/run; elsewhere the test returns when it is absent.
#[test]
fn the_export_opens_in_libreoffice() {
    let soffice = ["soffice", "libreoffice"].into_iter().find(|b| {
        Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let Some(soffice) = soffice else {
        assert!(
            !common::on_ci(),
            "CI=true but LibreOffice is not installed (.ci/run installs it)"
        );
        common::skip(
            "the_export_opens_in_libreoffice",
            "LibreOffice (soffice) is not installed",
        );
        return;
    };
    let sb = Sandbox::with_sample();
    let export = sb.path("export.xlsx");
    sb.ok(&["export", export.to_str().unwrap(), "--at", AT]);
    let out_dir = sb.path("lo");
    let profile = format!(
        "-env:UserInstallation=file://{}",
        sb.path("lo-profile").display()
    );
    let status = Command::new(soffice)
        .args([
            profile.as_str(),
            "--headless",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1",
            "--outdir",
        ])
        .arg(&out_dir)
        .arg(&export)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let ledger = std::fs::read_to_string(out_dir.join("export-整改台账.csv")).unwrap();
    let lines: Vec<&str> = ledger.lines().collect();
    assert!(
        lines[0].starts_with("整改工作台账（截至2024年3月15日）"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("序号,方面,问题,整改措施"),
        "{}",
        lines[1]
    );
    assert_eq!(lines.iter().filter(|l| l.contains(",红,")).count(), 5);
    let summary = std::fs::read_to_string(out_dir.join("export-牵头单位汇总.csv")).unwrap();
    assert!(
        summary.lines().any(|l| l.starts_with("合计,66,")),
        "{summary}"
    );
}
