//! Requests under the response rule (诉求): `request add`, `request answer`, `requests`.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

use duban::core::report::fit;
use duban::core::rules::RequestCategory;
use duban::core::workflow::{RequestState, category_code, category_label, request_code};

use super::{App, out, refuse, say};

/// `duban request add`.
pub async fn add(
    app: &App,
    unit: &str,
    category: RequestCategory,
    text: &str,
    now: Option<DateTime<FixedOffset>>,
    by: Option<String>,
) -> anyhow::Result<()> {
    let language = app.language();
    let at = now.map_or_else(Utc::now, |n| n.with_timezone(&Utc));
    let raised_on = at.with_timezone(&app.settings.timezone).date_naive();
    let due = duban::core::rules::response_due(
        raised_on,
        category,
        &app.settings.config.rules.response,
        &app.settings.calendar,
    );
    let text = text.trim();
    if text.is_empty() {
        return refuse(
            language,
            "诉求内容为空".to_string(),
            "the request's text is empty".to_string(),
        );
    }
    let unit = duban::core::ledger::parse::name(unit);
    super::ledger::check_unit(app, &unit).await?;
    let actor = App::actor(by);
    let id = app
        .store
        .add_request(&duban::store::NewRequest {
            unit: &unit,
            category,
            body: text,
            raised_on,
            due,
            by: &actor,
            at,
        })
        .await?;
    say!(
        "{}",
        language.pick(
            format!(
                "{}：{unit}，{}，{}提出，答复时限{}",
                request_code(id),
                category_label(category, language),
                app.day(raised_on),
                app.day(due)
            ),
            format!(
                "{}: {unit}, {}, raised {raised_on}, due {due}",
                request_code(id),
                category_code(category)
            )
        )
    );
    Ok(())
}

/// `duban request answer`.
pub async fn answer(
    app: &App,
    id: &str,
    text: &str,
    now: Option<DateTime<FixedOffset>>,
    by: Option<String>,
) -> anyhow::Result<()> {
    let language = app.language();
    let Some(number) = duban::core::workflow::parse_request_code(id) else {
        return refuse(
            language,
            format!("“{}”不是诉求编号：请写成R12或12", out::safe(id)),
            format!("{id:?} is not a request: write R12 or 12"),
        );
    };
    let code = request_code(number);
    let Some(request) = app.store.request(number).await? else {
        return refuse(
            language,
            format!("没有诉求{code}"),
            format!("no request {code}"),
        );
    };
    let text = text.trim();
    if text.is_empty() {
        return refuse(
            language,
            "答复内容为空".to_string(),
            "the answer is empty".to_string(),
        );
    }
    let at = now.map_or_else(Utc::now, |n| n.with_timezone(&Utc));
    let on = at.with_timezone(&app.settings.timezone).date_naive();
    if !app
        .store
        .answer_request(number, text, &App::actor(by), at, on)
        .await?
    {
        return refuse(
            language,
            format!("{code}已答复过"),
            format!("{code} was answered already"),
        );
    }
    let late = on > request.due;
    say!(
        "{}",
        language.pick(
            format!(
                "{code}：已于{}答复（时限{}）{}",
                app.day(on),
                app.day(request.due),
                if late { "，计为超时答复" } else { "" }
            ),
            format!(
                "{code}: answered on {on} (due {}){}",
                request.due,
                if late { ", late" } else { "" }
            )
        )
    );
    Ok(())
}

/// `duban requests`.
pub async fn list(app: &App, at: Option<NaiveDate>, json: bool) -> anyhow::Result<()> {
    let at = at.unwrap_or_else(|| app.today());
    let requests = app.store.requests().await?;
    let calendar = &app.settings.calendar;
    if json {
        let rows: Vec<serde_json::Value> = requests
            .iter()
            .map(|r| {
                let mut row = serde_json::to_value(r).expect("a request serializes");
                row["code"] = r.code().into();
                row["category"] = category_code(r.category).into();
                row["state"] =
                    serde_json::to_value(r.state(at, calendar)).expect("a state serializes");
                row
            })
            .collect();
        say!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let language = app.language();
    let headers = language.pick(
        ["编号", "单位", "类别", "时限", "办理情况", "内容"],
        ["code", "unit", "category", "due", "state", "request"],
    );
    say!(
        "{}  {}  {}  {}  {}  {}",
        fit(headers[0], 5),
        fit(headers[1], 12),
        fit(headers[2], 10),
        fit(headers[3], 16),
        fit(headers[4], 24),
        headers[5]
    );
    for r in &requests {
        let state = match (r.state(at, calendar), language) {
            (RequestState::Open { working_days_left }, duban::core::text::Language::Zh) => {
                if working_days_left == 0 {
                    "办理中，今日到期".to_string()
                } else {
                    format!("办理中，还剩{working_days_left}个工作日")
                }
            }
            (RequestState::Open { working_days_left }, _) => {
                format!("open, {working_days_left} working day(s) left")
            }
            (RequestState::Late { overdue_days }, duban::core::text::Language::Zh) => {
                format!("超时{overdue_days}个工作日未答复")
            }
            (RequestState::Late { overdue_days }, _) => {
                format!("LATE by {overdue_days} working day(s)")
            }
            (RequestState::AnsweredInTime, duban::core::text::Language::Zh) => "按时答复".into(),
            (RequestState::AnsweredInTime, _) => "answered in time".into(),
            (RequestState::AnsweredLate { overdue_days }, duban::core::text::Language::Zh) => {
                format!("超时{overdue_days}个工作日答复")
            }
            (RequestState::AnsweredLate { overdue_days }, _) => {
                format!("answered {overdue_days} working day(s) late")
            }
        };
        say!(
            "{}  {}  {}  {}  {}  {}",
            fit(&r.code(), 5),
            fit(&out::safe(&r.unit), 12),
            fit(category_label(r.category, language), 10),
            fit(&app.day(r.due), 16),
            fit(&state, 24),
            fit(&out::safe(&r.body), 40)
        );
    }
    say!(
        "{}",
        language.pick(
            format!("共{}项诉求（截至{}）", requests.len(), app.day(at)),
            format!("{} request(s) (as of {at})", requests.len())
        )
    );
    Ok(())
}
