//! The commands on one measure: `set-status`, `close`, `reject`, `reopen`, `extend` and
//! `history`.

use chrono::{DateTime, NaiveDate, Utc};

use duban::core::ledger::{Source, Status};
use duban::core::report::status_label;
use duban::core::text::Language;
use duban::store::Change;

use super::{App, out, refuse, say};

/// `duban set-status`.
pub async fn set_status(
    app: &App,
    code: &str,
    status: Status,
    note: Option<String>,
    by: Option<String>,
) -> anyhow::Result<()> {
    let code = duban::core::ledger::parse::code(code);
    let change = App::cli_change(by, note);
    let done = app.store.set_status(&code, status, &change).await?;
    let language = app.language();
    let (from, to) = (
        status_label(done.from, language),
        status_label(done.to, language),
    );
    if done.from == done.to {
        say!(
            "{}",
            language.pick(
                format!("{code}当前已是{to}，未作更改"),
                format!("{code} is already {to}; nothing changed")
            )
        );
    } else {
        say!("{code}{} {from} → {to}", language.pick("：", ":"));
    }
    Ok(())
}

/// `duban close`: approves the pending claim, or closes at once.
pub async fn close(
    app: &App,
    code: &str,
    note: Option<String>,
    by: Option<String>,
) -> anyhow::Result<()> {
    let code = duban::core::ledger::parse::code(code);
    let language = app.language();
    let change = App::cli_change(by, note.clone());
    let status = app.store.measure(&code).await?.status;
    let (from, to) = match status {
        Status::Closed => {
            return refuse(
                language,
                format!("{code}已销号，无需再次销号"),
                format!("{code} is closed already"),
            );
        }
        Status::Claimed => {
            decide_claim(app, &code, true, note.as_deref(), change).await?;
            (Status::Claimed, Status::Closed)
        }
        _ => {
            let done = app.store.set_status(&code, Status::Closed, &change).await?;
            (done.from, done.to)
        }
    };
    say!(
        "{code}{} {} → {}",
        language.pick("：", ":"),
        status_label(from, language),
        status_label(to, language)
    );
    Ok(())
}

/// The office's decision on a measure's pending claim, from the command line: the same
/// use case as a button in a chat, which tells the claimant.
async fn decide_claim(
    app: &App,
    code: &str,
    approve: bool,
    reason: Option<&str>,
    change: Change,
) -> anyhow::Result<()> {
    use duban::app::decide::{Decider, Outcome, Subject, decide};
    let mut tx = app.store.begin_change(change.at).await?;
    // A measure imported as 申请销号 has no claim yet: it is the ledger's.
    let imported = Change {
        actor: "台账导入".into(),
        source: duban::core::ledger::Source::Import,
        note: None,
        chat: None,
        ..change.clone()
    };
    let pending = match tx.find_measure(code).await? {
        Some((id, _)) => tx.claim_of_claimed(id, &imported).await?,
        None => None,
    };
    let Some(claim) = pending else {
        return decided_meanwhile(app.language());
    };
    let decider = Decider {
        change,
        office: true,
        user: None,
    };
    match decide(
        &mut tx,
        &app.settings,
        Subject::Claim(claim),
        approve,
        reason,
        &decider,
    )
    .await?
    {
        Outcome::Decided { .. } => {
            tx.commit().await?;
            Ok(())
        }
        Outcome::Refused(_) | Outcome::NeedsReason { .. } => decided_meanwhile(app.language()),
    }
}

fn decided_meanwhile<T>(language: Language) -> anyhow::Result<T> {
    refuse(
        language,
        "这项销号申请刚刚已由他人处理".to_string(),
        "the claim was decided meanwhile".to_string(),
    )
}

/// Refuses unless the measure has `wanted`; `why` words the refusal (Chinese, English) from
/// the status it has.
async fn require_status(
    app: &App,
    code: &str,
    wanted: Status,
    why: impl FnOnce(&str) -> (String, String),
) -> anyhow::Result<()> {
    let status = app.store.measure(code).await?.status;
    if status == wanted {
        return Ok(());
    }
    let (zh, en) = why(status_label(status, app.language()));
    refuse(app.language(), zh, en)
}

/// `duban reject`: a claim back to work, with the reason to the liaison.
pub async fn reject(
    app: &App,
    code: &str,
    reason: String,
    by: Option<String>,
) -> anyhow::Result<()> {
    let code = duban::core::ledger::parse::code(code);
    let language = app.language();
    let change = App::cli_change(by, Some(reason.clone()));
    require_status(app, &code, Status::Claimed, |label| {
        (
            format!("{code}当前为{label}，不是申请销号：只有销号申请可以退回"),
            format!("{code} is {label}, not claimed: only a claim can be sent back"),
        )
    })
    .await?;
    decide_claim(app, &code, false, Some(&reason), change).await?;
    say!(
        "{}",
        language.pick(
            format!(
                "{code}：销号申请已退回，回到推进中。理由：{}",
                out::safe(&reason)
            ),
            format!(
                "{code}: claim sent back ({}); in progress again",
                out::safe(&reason)
            )
        )
    );
    Ok(())
}

/// `duban reopen`: a closed measure back to work.
pub async fn reopen(
    app: &App,
    code: &str,
    reason: String,
    by: Option<String>,
) -> anyhow::Result<()> {
    let code = duban::core::ledger::parse::code(code);
    let language = app.language();
    let change = App::cli_change(by, Some(reason.clone()));
    require_status(app, &code, Status::Closed, |label| {
        (
            format!("{code}当前为{label}，尚未销号，无需重新打开"),
            format!("{code} is {label}, not closed: nothing to re-open"),
        )
    })
    .await?;
    app.store
        .set_status(&code, Status::InProgress, &change)
        .await?;
    say!(
        "{}",
        language.pick(
            format!(
                "{code}：已重新打开，状态为推进中。理由：{}",
                out::safe(&reason)
            ),
            format!("{code}: re-opened ({}); in progress", out::safe(&reason))
        )
    );
    Ok(())
}

/// `duban extend`: moves a deadline.
pub async fn extend(
    app: &App,
    code: &str,
    date: NaiveDate,
    reason: String,
    by: Option<String>,
) -> anyhow::Result<()> {
    let code = duban::core::ledger::parse::code(code);
    let language = app.language();
    let today = app.today();
    if date <= today {
        return refuse(
            language,
            format!(
                "新的完成时限{}须晚于今天（{}）",
                app.day(date),
                app.day(today)
            ),
            format!("the new deadline {date} must be after today ({today})"),
        );
    }
    let measure = app.store.measure(&code).await?;
    if let Some(refusal) = duban::core::workflow::extension_refusal(&measure.deadline, date) {
        let why = duban::core::workflow::extension_refusal_text(refusal, language);
        return refuse(language, format!("{code}：{why}"), format!("{code}: {why}"));
    }
    let change = App::cli_change(by, Some(reason));
    let old = app.store.extend(&code, date, &change).await?;
    say!(
        "{}",
        language.pick(
            format!(
                "{code}：完成时限由{}调整为{}",
                duban::core::text::date_text(&old, language),
                app.day(date)
            ),
            format!("{code}: deadline {old} → {date}")
        )
    );
    Ok(())
}

/// One line of a measure's timeline.
struct Event {
    at: DateTime<Utc>,
    source: String,
    kind: String,
    actor: String,
    change: String,
    note: String,
}

fn source_label(source: Source, language: Language) -> &'static str {
    match (source, language) {
        (Source::Import, Language::Zh) => "导入",
        (Source::Cli, Language::Zh) => "命令行",
        (Source::Chat, Language::Zh) => "聊天",
        (Source::Import, Language::En) => "import",
        (Source::Cli, Language::En) => "cli",
        (Source::Chat, Language::En) => "chat",
    }
}

/// A kind of history entry in words.
fn kind_label(kind: &str, language: Language) -> String {
    let (zh, en) = match kind {
        "created" => ("新建", "created"),
        "status" => ("状态变更", "status changed"),
        "edit" => ("导入修改", "edited by import"),
        "note" => ("报送进展", "progress reported"),
        "flag" => ("申请协调", "coordination asked"),
        "extension" => ("申请延期", "extension asked"),
        "deadline" => ("调整时限", "deadline moved"),
        "evidence" => ("佐证材料", "evidence"),
        "progress" => ("进展记录", "progress note"),
        other => (other, other),
    };
    language.pick(zh, en).to_string()
}

/// `duban history`: every event of a measure, in time order, with a header.
pub async fn history(app: &App, code: &str, json: bool) -> anyhow::Result<()> {
    let code = duban::core::ledger::parse::code(code);
    let history = app.store.history(&code).await?;
    let notes = app.store.notes(&code).await?;
    let claims = app.store.claims(&code).await?;
    let evidence = app.store.evidence(&code).await?;
    if json {
        let value = serde_json::json!({
            "code": code,
            "history": history,
            "notes": notes,
            "claims": claims,
            "evidence": evidence,
        });
        say!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let language = app.language();
    let tz = app.settings.timezone;
    let measure = app.store.measure(&code).await?;
    let mut events: Vec<Event> = Vec::new();
    for h in &history {
        let change = match (h.kind.as_str(), &h.old, &h.new) {
            (_, Some(old), Some(new)) => format!(
                "{} → {}",
                duban::core::text::date_text(old, language),
                duban::core::text::date_text(new, language)
            ),
            ("created", _, _) => status_label(h.to, language).to_string(),
            ("status", _, _) => format!(
                "{} → {}",
                h.from.map_or("—", |s| status_label(s, language)),
                status_label(h.to, language)
            ),
            _ => String::new(),
        };
        events.push(Event {
            at: h.at,
            source: source_label(h.source, language).to_string(),
            kind: kind_label(&h.kind, language),
            actor: h.actor.clone(),
            change,
            note: h.note.clone().unwrap_or_default(),
        });
    }
    for e in &evidence {
        let at = e["at"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
        let size = e["size"].as_i64().unwrap_or(0);
        let sha = e["sha256"].as_str().unwrap_or_default();
        events.push(Event {
            at,
            source: source_label(Source::Chat, language).to_string(),
            kind: kind_label("evidence", language),
            actor: e["sent_by"].as_str().unwrap_or_default().to_string(),
            change: String::new(),
            note: language.pick(
                format!(
                    "{}（{size}字节，SHA-256 {sha}）",
                    e["file_name"].as_str().unwrap_or_default()
                ),
                format!(
                    "{} ({size} bytes, SHA-256 {sha})",
                    e["file_name"].as_str().unwrap_or_default()
                ),
            ),
        });
    }
    // A note that a history line already carries (a chat reply) is not shown twice.
    for n in &notes {
        let told = history.iter().any(|h| {
            (h.at - n.at).num_seconds().abs() <= 1
                && h.note
                    .as_deref()
                    .is_some_and(|t| t.contains(n.body.as_str()))
        });
        if told {
            continue;
        }
        events.push(Event {
            at: n.at,
            source: source_label(n.source, language).to_string(),
            kind: kind_label("progress", language),
            actor: n.author.clone(),
            change: String::new(),
            note: n.body.clone(),
        });
    }
    events.sort_by_key(|e| e.at);
    say!(
        "{} {}",
        code,
        out::safe(&duban::core::report::fit(&measure.content, 60))
    );
    let headers = language.pick(
        ["时间", "来源", "事件", "操作人", "变化", "说明"],
        ["time", "source", "event", "by", "change", "note"],
    );
    use duban::core::report::fit;
    say!(
        "{}  {}  {}  {}  {}  {}",
        fit(headers[0], 22),
        fit(headers[1], 6),
        fit(headers[2], 10),
        fit(headers[3], 16),
        fit(headers[4], 30),
        headers[5]
    );
    for e in &events {
        let at = e.at.with_timezone(&tz).naive_local();
        say!(
            "{}  {}  {}  {}  {}  {}",
            fit(&duban::core::text::date_time(at, language), 22),
            fit(&e.source, 6),
            fit(&e.kind, 10),
            fit(&out::safe(&e.actor), 16),
            fit(&out::safe(&e.change), 30),
            out::safe(&e.note)
        );
    }
    say!(
        "{}",
        language.pick(
            format!("共{}条记录，按时间先后排列", events.len()),
            format!("{} entries, oldest first", events.len())
        )
    );
    Ok(())
}
