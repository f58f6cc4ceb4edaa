//! The workbench's pages beyond the ledger: 诉求 (requests under the response rule, added
//! and answered), 导入 (a ledger uploaded, its dry run shown, then imported on
//! confirmation) and 人员 (who is bound where, who cannot be reached, invitation codes).

use std::sync::Arc;

use axum::Form;
use axum::extract::{Multipart, Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use chrono::Utc;
use maud::html;
use serde::Deserialize;

use super::pages::{local, page};
use super::{Page, Web, back_to, cookie_flash, internal, may_change, signed_in};
use crate::core::ledger::Role;
use crate::core::text::Language;
use crate::core::workflow::{RequestState, category_label, parse_category, request_code};

/// 诉求: every request the session may see, with its category, limit and state.
pub async fn requests(State(web): State<Arc<Web>>, headers: HeaderMap) -> Page {
    let session = signed_in(&web, &headers).await?;
    let all = web.store.requests().await.map_err(internal)?;
    let units = web.store.unit_names().await.map_err(internal)?;
    let today = web.today();
    let mine = |unit: &str| match (&session.role, &session.unit) {
        (Role::Liaison | Role::Head, Some(own)) => own == unit,
        (Role::Liaison | Role::Head, None) => false,
        _ => true,
    };
    let shown: Vec<_> = all.iter().rev().filter(|r| mine(&r.unit)).collect();
    let flash = cookie_flash(&headers);
    let csrf = &session.csrf;
    let office = session.role == Role::Office;
    let may_answer = matches!(session.role, Role::Office | Role::Liaison);
    let body = html! {
        @if let Some(flash) = &flash { div.flash #flash role="status" { (flash) } }
        h1 { "诉求（" (shown.len()) "）" }
        p.muted { "响应规则：咨询类当天答复，一般性协调5个工作日，重大事项1个月。" }
        @if office {
            form.filters #add method="post" action="/requests" {
                input type="hidden" name="csrf" value=(csrf);
                label { "单位" select name="unit" required { @for u in &units { option value=(u) { (u) } } } }
                label { "类别" select name="category" {
                    option value="consult" { "咨询类" }
                    option value="general" selected { "一般性协调" }
                    option value="major" { "重大事项" }
                } }
                label { "内容" input name="body" required size="30"; }
                button type="submit" { "登记诉求" }
            }
        }
        div.scroll {
            table #requests {
                thead { tr { th { "编号" } th { "单位" } th { "类别" } th { "内容" } th { "提出" } th { "时限" } th { "状态" } th { "答复" } } }
                tbody {
                    @for r in &shown {
                        @let state = r.state(today, &web.settings.calendar);
                        tr {
                            td { (r.code()) }
                            td { (r.unit) }
                            td { (category_label(r.category, Language::Zh)) }
                            td { (r.body) }
                            td { (r.raised_on) }
                            td { (r.due) }
                            td { (match state {
                                RequestState::Open { working_days_left: 0 } => "今天到期".to_string(),
                                RequestState::Open { working_days_left } => format!("还剩{working_days_left}个工作日"),
                                RequestState::Late { overdue_days } => format!("逾期{overdue_days}个工作日"),
                                RequestState::AnsweredInTime => "按时答复".to_string(),
                                RequestState::AnsweredLate { overdue_days } => format!("逾期{overdue_days}个工作日后答复"),
                            }) }
                            td {
                                @if let Some(answer) = &r.answer {
                                    (answer) @if let Some(by) = &r.answered_by { span.muted { " · " (by) } }
                                } @else if may_answer {
                                    form method="post" action={ "/requests/" (r.id) "/answer" } {
                                        input type="hidden" name="csrf" value=(csrf);
                                        input name="body" required placeholder="答复内容";
                                        button type="submit" { "答复" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&web, "诉求", Some(&session), body).into_response())
}

#[derive(Debug, Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    body: String,
}

/// Adds a request (the office).
pub async fn add_request(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Form(form): Form<RequestForm>,
) -> Page {
    let session = may_change(&web, &headers, &form.csrf).await?;
    let session = super::office(session)?;
    let body = super::clean_note(&form.body);
    let Some(category) = parse_category(&form.category) else {
        return Ok(back_to("/requests", "请选择诉求类别。"));
    };
    if body.is_empty() {
        return Ok(back_to("/requests", "诉求内容为空。"));
    }
    let at = Utc::now();
    let raised_on = at.with_timezone(&web.settings.timezone).date_naive();
    let due = crate::core::rules::response_due(
        raised_on,
        category,
        &web.settings.config.rules.response,
        &web.settings.calendar,
    );
    let unit = crate::core::ledger::parse::name(&form.unit);
    match web
        .store
        .add_request(&crate::store::NewRequest {
            unit: &unit,
            category,
            body: &body,
            raised_on,
            due,
            by: &session.name,
            at,
        })
        .await
    {
        Ok(id) => {
            web.changed();
            Ok(back_to(
                "/requests",
                &format!("已登记{}：{unit}，答复时限{due}", request_code(id)),
            ))
        }
        Err(crate::store::StoreError::NoSuchUnit { unit, .. }) => {
            Ok(back_to("/requests", &format!("没有单位“{unit}”。")))
        }
        Err(e) => Err(internal(e)),
    }
}

/// Answers a request (the office, or a liaison of its unit).
pub async fn answer_request(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<RequestForm>,
) -> Page {
    let session = may_change(&web, &headers, &form.csrf).await?;
    let request = match web.store.request(id).await {
        Ok(Some(r)) => r,
        Ok(None) => return Ok(super::not_found().await),
        Err(e) => return Err(internal(e)),
    };
    if session.role == Role::Liaison && session.unit.as_deref() != Some(request.unit.as_str()) {
        return Ok(super::not_found().await);
    }
    let body = super::clean_note(&form.body);
    if body.is_empty() {
        return Ok(back_to("/requests", "答复内容为空。"));
    }
    let at = Utc::now();
    let on = at.with_timezone(&web.settings.timezone).date_naive();
    match web
        .store
        .answer_request(id, &body, &session.name, at, on)
        .await
    {
        Ok(true) => {
            web.changed();
            Ok(back_to("/requests", &format!("{}已答复。", request.code())))
        }
        Ok(false) => Ok(back_to(
            "/requests",
            &format!("{}已答复过。", request.code()),
        )),
        Err(e) => Err(internal(e)),
    }
}

/// 导入: the upload form.
pub async fn import_page(State(web): State<Arc<Web>>, headers: HeaderMap) -> Page {
    let session = signed_in(&web, &headers).await?;
    let session = super::office(session)?;
    let flash = cookie_flash(&headers);
    let body = html! {
        @if let Some(flash) = &flash { div.flash #flash role="status" { (flash) } }
        h1 { "导入台账" }
        p { "上传 .xlsx / .xls / .ods / .csv 台账。先检查并列出每一处问题（行、列）和将要发生的变化，确认后才导入；导入要么全部成功，要么什么也不写。" }
        form method="post" action="/import" enctype="multipart/form-data" {
            input type="hidden" name="csrf" value=(session.csrf);
            input type="file" name="file" required accept=".xlsx,.xls,.ods,.csv";
            " "
            button type="submit" { "检查" }
        }
    };
    Ok(page(&web, "导入", Some(&session), body).into_response())
}

/// Where uploads wait for their confirmation.
fn uploads(web: &Web) -> std::path::PathBuf {
    web.settings.config.data_dir.join("uploads")
}

/// An upload's name on disk: a random token and the original extension.
fn upload_name(token: &str, extension: &str) -> String {
    format!("{token}.{extension}")
}

/// Takes an upload and shows its dry run; the import waits for a confirmation.
pub async fn import_upload(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Page {
    let mut csrf = String::new();
    let mut file: Option<(String, Vec<u8>)> = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_string();
                let file_name = field.file_name().unwrap_or_default().to_string();
                let Ok(bytes) = field.bytes().await else {
                    return Ok(back_to("/import", "上传未完成，或文件超过大小限制。"));
                };
                match name.as_str() {
                    "csrf" => csrf = String::from_utf8_lossy(&bytes).to_string(),
                    "file" => file = Some((file_name, bytes.to_vec())),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(_) => return Ok(back_to("/import", "上传未完成，或文件超过大小限制。")),
        }
    }
    let session = may_change(&web, &headers, &csrf).await?;
    let session = super::office(session)?;
    let Some((shown, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return Ok(back_to("/import", "请选择要导入的台账文件。"));
    };
    let extension = std::path::Path::new(&shown)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_lowercase)
        .unwrap_or_default();
    if !["xlsx", "xls", "ods", "csv"].contains(&extension.as_str()) {
        return Ok(back_to(
            "/import",
            "只能导入 .xlsx、.xls、.ods 或 .csv 文件。",
        ));
    }
    let token = super::secret();
    let dir = uploads(&web);
    let path = dir.join(upload_name(&token, &extension));
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&path, &bytes)) {
        tracing::warn!("web: keeping an upload: {e}");
        return Ok(back_to("/import", "无法保存上传的文件。"));
    }
    let report = run_import(&web, &session.name, &path, true).await;
    let shown = crate::core::text::clean(&shown);
    let body = html! {
        h1 { "导入检查：" (shown) }
        @match &report {
            Err(problems) => {
                p #problems { "发现" (problems.len()) "处问题，未导入任何内容。请修改后重新上传：" }
                ul { @for p in problems { li { (p) } } }
                a href="/import" { "重新上传" }
            }
            Ok(lines) => {
                ul #dry-run { @for line in lines { li { (line) } } }
                form method="post" action="/import/confirm" {
                    input type="hidden" name="csrf" value=(session.csrf);
                    input type="hidden" name="upload" value=(upload_name(&token, &extension));
                    input type="hidden" name="shown" value=(shown);
                    button #confirm type="submit" { "确认导入" }
                }
            }
        }
    };
    if report.is_err() {
        let _ = std::fs::remove_file(&path);
    }
    Ok(page(&web, "导入检查", Some(&session), body).into_response())
}

/// Runs an import of `path`; returns what changed (or would) in lines, or every problem.
async fn run_import(
    web: &Web,
    actor: &str,
    path: &std::path::Path,
    dry_run: bool,
) -> Result<Vec<String>, Vec<String>> {
    use crate::ingest::import::{ImportError, ImportOptions, import_file};
    let options = ImportOptions {
        dry_run,
        sheet: None,
        actor: actor.to_string(),
        at: Utc::now(),
        progress: None,
        max_megabytes: web.settings.config.import.max_megabytes,
    };
    let language = web.settings.config.language;
    match import_file(&web.store, path, options).await {
        Ok(report) => {
            let o = &report.outcome;
            let verb = if dry_run { "将" } else { "已" };
            let mut lines = vec![format!(
                "共{}行：{verb}新增{}项、更新{}项，未变{}项",
                o.rows,
                o.created.len(),
                o.updated.len(),
                o.unchanged
            )];
            if !o.updated.is_empty() {
                lines.push(format!("更新：{}", o.updated.join("、")));
            }
            if !o.missing.is_empty() {
                lines.push(format!(
                    "台账中有{}项本文件未列出（保留不删）：{}",
                    o.missing.len(),
                    o.missing.join("、")
                ));
            }
            if !o.status_kept.is_empty() {
                lines.push(format!(
                    "{}项的状态与系统不同，不按文件修改（请用 set-status）",
                    o.status_kept.len()
                ));
            }
            if !o.new_units.is_empty() {
                lines.push(format!("新单位：{}", o.new_units.join("、")));
            }
            lines.extend(report.warnings.iter().map(|w| w.text(language)));
            Ok(lines)
        }
        Err(ImportError::Cells(problems)) => {
            Err(problems.iter().map(|p| p.text(language)).collect())
        }
        Err(e) => Err(vec![e.to_string()]),
    }
}

#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    upload: String,
    #[serde(default)]
    shown: String,
}

/// Imports a checked upload.
pub async fn import_confirm(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Form(form): Form<ConfirmForm>,
) -> Page {
    let session = may_change(&web, &headers, &form.csrf).await?;
    let session = super::office(session)?;
    // Only a name this workbench gave out: 64 hex digits and an extension.
    let valid = form.upload.split_once('.').is_some_and(|(token, ext)| {
        token.len() == 64
            && token.bytes().all(|b| b.is_ascii_hexdigit())
            && ["xlsx", "xls", "ods", "csv"].contains(&ext)
    });
    let path = uploads(&web).join(&form.upload);
    if !valid || !path.is_file() {
        return Ok(back_to("/import", "这份上传已导入或已失效，请重新上传。"));
    }
    let outcome = run_import(&web, &session.name, &path, false).await;
    let _ = std::fs::remove_file(&path);
    web.changed();
    match outcome {
        Ok(lines) => Ok(back_to(
            "/ledger",
            &format!(
                "已导入“{}”。{}",
                crate::core::text::clean(&form.shown),
                lines.first().cloned().unwrap_or_default()
            ),
        )),
        Err(problems) => Ok(back_to(
            "/import",
            &format!("未导入：{}", problems.first().cloned().unwrap_or_default()),
        )),
    }
}

/// 人员: who is bound where, on which channel, who cannot be reached; invitation codes.
pub async fn people(State(web): State<Arc<Web>>, headers: HeaderMap) -> Page {
    let session = signed_in(&web, &headers).await?;
    let session = super::office(session)?;
    let entries = web.store.directory().await.map_err(internal)?;
    let units = web.store.unit_names().await.map_err(internal)?;
    let flash = cookie_flash(&headers);
    let office = web.settings.config.office_name();
    let unreachable = entries
        .iter()
        .filter(|e| e.unreachable_at.is_some())
        .count();
    let body = html! {
        @if let Some(flash) = &flash { div.flash #flash role="status" { (flash) } }
        h1 { "人员" }
        p.muted { "共" (entries.len()) "个绑定，其中无法送达" (unreachable) "个。" }
        h2 { "生成邀请码" }
        form.filters #invite method="post" action="/people/invite" {
            input type="hidden" name="csrf" value=(session.csrf);
            label { "角色" select name="role" {
                option value="liaison" { "联络员" }
                option value="leader" { "领导" }
                option value="head" { "单位主要负责人" }
                option value="office" { (office) }
            } }
            label { "单位或所在部门" input name="place" list="units" required size="12"; }
            datalist #units { @for u in &units { option value=(u) {} } }
            label { "姓名（领导须填台账中的责任领导）" input name="name" size="8"; }
            button type="submit" { "生成" }
        }
        h2 { "绑定" }
        div.scroll {
            table #people {
                thead { tr { th { "单位/部门" } th { "姓名" } th { "角色" } th { "渠道" } th { "绑定时间" } th { "送达" } } }
                tbody {
                    @for e in &entries {
                        tr {
                            td { (e.place) }
                            td { @if e.name.is_empty() { "（工作群）" } @else { (e.name) } }
                            td { (match e.role { Some(Role::Liaison) => "联络员", Some(Role::Leader) => "领导", Some(Role::Office) => office, Some(Role::Head) => "单位主要负责人", None => "群" }) }
                            td { (channel_label(&e.channel)) }
                            td { (e.bound_at.get(..16).unwrap_or(&e.bound_at).replace('T', " ")) }
                            td { @if let Some(at) = &e.unreachable_at { strong { "无法送达" } " " span.muted { (at.get(..10).unwrap_or(at)) } } @else { "正常" } }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&web, "人员", Some(&session), body).into_response())
}

fn channel_label(channel: &str) -> &str {
    match channel {
        "telegram" => "Telegram",
        "dingtalk" => "钉钉",
        "console" => "控制台",
        other => other,
    }
}

#[derive(Debug, Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    place: String,
    #[serde(default)]
    name: String,
}

/// Makes an invitation code (the office); the code is shown once.
pub async fn invite(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Form(form): Form<InviteForm>,
) -> Page {
    let session = may_change(&web, &headers, &form.csrf).await?;
    let session = super::office(session)?;
    let Some(role) = Role::from_code(&form.role) else {
        return Ok(back_to("/people", "请选择角色。"));
    };
    let place = crate::core::ledger::parse::name(&form.place);
    if place.is_empty() {
        return Ok(back_to("/people", "请填写单位或所在部门。"));
    }
    let name = crate::core::ledger::parse::name(&form.name);
    let name = (!name.is_empty()).then_some(name);
    match crate::app::signin::invite(
        &web.store,
        role,
        &place,
        name.as_deref(),
        &session.name,
        Utc::now(),
    )
    .await
    {
        Ok(invitation) => Ok(back_to(
            "/people",
            &format!(
                "{place}的邀请码：{}（只能使用一次，{}前有效）。在与机器人的私聊中发送“/bind {}”或“绑定 {}”。",
                invitation.code,
                local(&web, invitation.expires_at),
                invitation.code,
                invitation.code
            ),
        )),
        Err(crate::store::StoreError::NoSuchUnit { unit, .. }) => Ok(back_to(
            "/people",
            &format!("台账中没有单位“{unit}”：联络员须属于台账中的单位。"),
        )),
        Err(e) => Err(internal(e)),
    }
}
