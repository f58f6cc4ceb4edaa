//! The commands on one measure: `set-status`, `close`, `reject`, `reopen`, `extend` and
//! `history`.

use chrono::{DateTime, NaiveDate, Utc};

use duban::core::ledger::{Source, Status};
use duban::core::report::status_label;
use duban::core::text::Language;

use super::{App, out, say};

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

/// A use case's refusal as the command line reports it.
fn refused<T>(
    language: Language,
    code: &str,
    e: duban::app::measure::MeasureError,
) -> anyhow::Result<T> {
    match e {
        duban::app::measure::MeasureError::Refused(r) => {
            Err(super::Refusal(r.text(code, language)).into())
        }
        duban::app::measure::MeasureError::Store(e) => Err(e.into()),
    }
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
    let change = App::cli_change(by, note);
    let done = match duban::app::measure::close(&app.store, &app.settings, &code, change).await {
        Ok(done) => done,
        Err(e) => return refused(language, &code, e),
    };
    say!(
        "{code}{} {} → {}",
        language.pick("：", ":"),
        status_label(done.from, language),
        status_label(done.to, language)
    );
    Ok(())
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
    if let Err(e) =
        duban::app::measure::reject(&app.store, &app.settings, &code, &reason, change).await
    {
        return refused(language, &code, e);
    }
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
    if let Err(e) = duban::app::measure::reopen(&app.store, &code, change).await {
        return refused(language, &code, e);
    }
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

/// `duban recheck`: 回头看, confirmed or reopened.
pub async fn recheck(
    app: &App,
    code: &str,
    reopen: bool,
    reason: Option<String>,
    by: Option<String>,
) -> anyhow::Result<()> {
    let code = duban::core::ledger::parse::code(code);
    let language = app.language();
    let change = App::cli_change(by, reason.clone());
    if let Err(e) = duban::app::measure::recheck(&app.store, &code, reopen, change).await {
        return refused(language, &code, e);
    }
    let reason = reason.map(|r| out::safe(&r)).unwrap_or_default();
    say!(
        "{}",
        match (reopen, language) {
            (false, Language::Zh) => format!("{code}：回头看确认整改效果，保持已销号"),
            (false, Language::En) => format!("{code}: re-checked and confirmed; stays closed"),
            (true, Language::Zh) =>
                format!("{code}：回头看未通过，已重新打开，状态为推进中。理由：{reason}"),
            (true, Language::En) =>
                format!("{code}: re-check failed ({reason}); in progress again"),
        }
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
    let change = App::cli_change(by, Some(reason));
    let old = match duban::app::measure::extend(&app.store, &code, date, app.today(), change).await
    {
        Ok(old) => old,
        Err(e) => return refused(language, &code, e),
    };
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
            source: duban::core::report::source_label(h.source, language).to_string(),
            kind: duban::core::report::history_kind_label(&h.kind, language),
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
            source: duban::core::report::source_label(Source::Chat, language).to_string(),
            kind: duban::core::report::history_kind_label("evidence", language),
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
            source: duban::core::report::source_label(n.source, language).to_string(),
            kind: duban::core::report::history_kind_label("progress", language),
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
