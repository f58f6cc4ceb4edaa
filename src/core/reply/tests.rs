use super::*;

fn d(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

/// The day of every reply in the corpus: a Monday.
fn ctx(measure: Option<&str>) -> ReplyContext<'_> {
    ReplyContext {
        today: d("2026-11-30"),
        measure,
    }
}

/// A reading as the corpus writes it: `done`, `progress:60`, `extend:2027-03-31`,
/// `ask:done`, `error:date` ….
fn written(reading: &Result<Reading, ReplyError>) -> String {
    let intent = match reading {
        Err(ReplyError::ExtensionWithoutDate) => return "error:date".into(),
        Err(ReplyError::BlockedWithoutReason) => return "error:reason".into(),
        Err(ReplyError::Empty) => return "error:empty".into(),
        Ok(r) => &r.intent,
    };
    let base = match intent {
        Intent::Progress {
            percent: Some(p), ..
        } => format!("progress:{p}"),
        Intent::Extend { until, .. } => format!("extend:{until}"),
        Intent::Answer { request, .. } => format!("answer:{request}"),
        other => other.kind().to_string(),
    };
    match reading {
        Ok(Reading { clear: false, .. }) => format!("ask:{base}"),
        _ => base,
    }
}

/// The corpus: every reply in `corpus.tsv`, read as a reply to a reminder listing its
/// measure (its code, if it starts with one, taken off), must give its reading.
#[test]
fn the_corpus_reads_as_written() {
    let mut wrong = Vec::new();
    let mut per_kind: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    let mut rows = 0;
    for line in include_str!("corpus.tsv").lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        rows += 1;
        let mut columns = line.split('\t');
        let expected = columns.next().unwrap();
        let text = columns.next().expect("a reply");
        let measure = columns.next();
        // As the bot does: a reply starting with a request's code (R12) answers the request;
        // any other leading code names the measure.
        let names_request = text.starts_with(['R', 'r', 'Ｒ'])
            && text.chars().nth(1).is_some_and(|c| c.is_ascii_digit());
        let rest = match split_code(text) {
            Some(lead) if !names_request => lead.rest,
            _ => text,
        };
        let got = written(&read(rest, &ctx(measure)));
        let kind = expected.split(':').next().unwrap().to_string();
        let entry = per_kind.entry(kind).or_default();
        entry.0 += 1;
        if got == expected {
            entry.1 += 1;
        } else {
            wrong.push(format!("{text:?}: {got}, not {expected}"));
        }
    }
    assert!(rows >= 200, "{rows} replies");
    let summary: Vec<String> = per_kind
        .iter()
        .map(|(k, (n, ok))| format!("{k} {ok}/{n}"))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {rows} misread ({}):\n{}",
        wrong.len(),
        summary.join(", "),
        wrong.join("\n")
    );
}

/// Every word of the tables does what its table says, in a sentence of its own.
#[test]
fn every_word_of_the_tables_is_read_as_its_table_says() {
    let c = ctx(None);
    let kind = |text: &str| written(&read(text, &c));
    for lexicon in words::LEXICONS {
        let zh = lexicon.name == "中文";
        for w in lexicon.done {
            assert_eq!(kind(w), "done", "{w}");
            let denied = if zh {
                format!("未{w}")
            } else {
                format!("not {w}")
            };
            assert_ne!(kind(&denied), "done", "{denied}");
            let planned = if zh {
                format!("预计下月{w}")
            } else {
                format!("will be {w}")
            };
            assert_ne!(kind(&planned), "done", "{planned}");
        }
        for w in lexicon.maybe_done {
            assert_eq!(kind(w), "ask:done", "{w}");
        }
        for w in lexicon.partial.iter().filter(|w| !w.contains("中的")) {
            let text = if zh {
                format!("{w}已完成")
            } else {
                format!("{w} done")
            };
            assert_ne!(kind(&text), "done", "{text}");
        }
        for w in lexicon.progress {
            assert_eq!(kind(w), "progress", "{w}");
        }
        for w in lexicon.blocked {
            let text = format!("{w}：资金未到位");
            assert_eq!(kind(&text), "blocked", "{text}");
        }
        for w in lexicon.extension {
            let text = format!("{w} 2027-06-30 设备未到货");
            assert_eq!(kind(&text), "extend:2027-06-30", "{text}");
            assert_eq!(kind(w), "error:date", "{w}");
        }
        for w in lexicon.extension_weak {
            let text = format!("{w} 2027-06-30");
            assert_eq!(kind(&text), "extend:2027-06-30", "{text}");
        }
        for w in lexicon.acknowledge {
            assert_eq!(kind(w), "ask:progress", "{w}");
        }
        for (typo, meant) in lexicon.typos {
            assert_eq!(kind(typo), kind(meant), "{typo}");
        }
    }
    for w in ZH.question {
        let text = format!("{w}需要报送什么材料？");
        assert_eq!(kind(&text), "question", "{text}");
    }
    for w in ZH.sub_steps {
        let text = format!("已完成{w}");
        assert_eq!(kind(&text), "progress", "{text}");
    }
}

#[test]
fn what_each_reading_carries() {
    let c = ctx(None);
    let read = |text: &str| read(text, &c).unwrap().intent;
    assert_eq!(read("已完成"), Intent::Done { note: None });
    assert_eq!(read("已完成。"), Intent::Done { note: None });
    assert_eq!(
        read("已完成，相关材料已报送"),
        Intent::Done {
            note: Some("已完成，相关材料已报送".into())
        }
    );
    assert_eq!(
        read("６０％，合同已签"),
        Intent::Progress {
            percent: Some(60),
            note: "６０％，合同已签".into()
        }
    );
    assert_eq!(
        read("需协调：用地指标未落实"),
        Intent::Blocked {
            reason: "用地指标未落实".into()
        }
    );
    assert_eq!(
        read("资金缺口需协调"),
        Intent::Blocked {
            reason: "资金缺口".into()
        }
    );
    assert_eq!(
        read("需要发改局支持"),
        Intent::Blocked {
            reason: "需要发改局支持".into()
        }
    );
    assert_eq!(
        read("延期至2027年6月30日 设备未到货"),
        Intent::Extend {
            until: d("2027-06-30"),
            reason: Some("设备未到货".into())
        }
    );
    assert_eq!(
        read("设备没到货，申请延期到明年6月30日"),
        Intent::Extend {
            until: d("2027-06-30"),
            reason: Some("设备没到货".into())
        }
    );
    assert_eq!(
        read("申请延期到2027-6-30，原因是设备未到货"),
        Intent::Extend {
            until: d("2027-06-30"),
            reason: Some("设备未到货".into())
        }
    );
    assert_eq!(
        read("延期至下月底"),
        Intent::Extend {
            until: d("2026-12-31"),
            reason: None
        }
    );
    assert_eq!(
        read("R12 已与企业对接"),
        Intent::Answer {
            request: 12,
            text: "已与企业对接".into()
        }
    );
    assert_eq!(
        read("己完成"),
        Intent::Done { note: None },
        "a slip of the pen"
    );
}

#[test]
fn replies_that_need_more() {
    let c = ctx(None);
    assert_eq!(read("  ", &c), Err(ReplyError::Empty));
    assert_eq!(read("延期", &c), Err(ReplyError::ExtensionWithoutDate));
    assert_eq!(
        read("延期 下个星期", &c),
        Err(ReplyError::ExtensionWithoutDate)
    );
    assert_eq!(read("需协调", &c), Err(ReplyError::BlockedWithoutReason));
}

#[test]
fn a_reply_for_several_measures_is_split_by_lines_with_codes() {
    let several = items("2-1 已完成\n2-2 60% 合同已签\n附件随后发送；2-3 需协调 资金");
    let codes: Vec<Option<&str>> = several
        .iter()
        .map(|i| i.lead.as_ref().map(|l| l.code.as_str()))
        .collect();
    assert_eq!(codes, [Some("2-1"), Some("2-2"), Some("2-3")]);
    assert_eq!(several[1].text, "2-2 60% 合同已签\n附件随后发送");
    let one = items("已完成，材料已报送");
    assert_eq!(one.len(), 1);
    assert!(one[0].lead.is_none());
}

#[test]
fn leading_codes() {
    let cases: &[(&str, Option<(&str, &str)>)] = &[
        ("1-3 已完成", Some(("1-3", "已完成"))),
        ("1-3:已完成", Some(("1-3", "已完成"))),
        ("1-3\u{FF1A}已完成", Some(("1-3", "已完成"))),
        ("1-3\u{FF0C}60\u{FF05}", Some(("1-3", "60\u{FF05}"))),
        ("A12, 推进中", Some(("A12", "推进中"))),
        ("１-３ 完成", Some(("1-3", "完成"))),
        ("已完成", None),
        ("60% 合同已签", None),
        ("done", None),
        ("延期 2024-06-30", None),
        ("1-4已完成", Some(("1-4", "已完成"))),
        ("2.3、推进中", Some(("2.3", "推进中"))),
        ("5. 已完成", Some(("5", "已完成"))),
        ("12 已完成", Some(("12", "已完成"))),
        ("1-3", Some(("1-3", ""))),
        ("5月底前完成", None),
        ("3项已完成", None),
        ("3/4 已完成", None),
        ("3-5个工作日内完成", None),
        ("1-2月已完成前期工作", None),
        ("3.5万元已拨付", None),
        ("5.1日前完成", None),
    ];
    for (text, expected) in cases {
        let got = split_code(text);
        assert_eq!(
            got.as_ref().map(|c| (c.code.as_str(), c.rest)),
            *expected,
            "{text:?}"
        );
    }
}

#[test]
fn glued_codes_are_marked() {
    assert!(split_code("1-4已完成").unwrap().glued);
    assert!(!split_code("1-4 已完成").unwrap().glued);
    assert!(!split_code("1-4:已完成").unwrap().glued);
    assert!(!split_code("1-4").unwrap().glued);
}
