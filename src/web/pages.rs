//! The workbench's pages, rendered on the server with maud (which escapes every value):
//! readable without JavaScript and on a phone. A light is always its colour and its word
//! (红 / 黄 / 绿), never colour alone.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::{Filter, PAGE_SIZE, Snapshot, Web, measure_path};
use crate::core::ledger::{HistoryEntry, Measure, ProgressNote, Role, Status};
use crate::core::report::{MeasureRow, history_kind_label, source_label, status_label};
use crate::core::text::Language;
use crate::core::workflow::{Claim, ClaimState, Request, RequestState};
use crate::store::{DigestCounts, OfficeQueue, SilentUnit, WebSession};

const STYLE: &str = r#"
*{box-sizing:border-box}body{margin:0;font-family:system-ui,-apple-system,"PingFang SC","Microsoft YaHei","Noto Sans CJK SC",sans-serif;color:#1f2328;background:#f6f8fa;line-height:1.5}
header{background:#8b1a1a;color:#fff;padding:.5rem 1rem;display:flex;flex-wrap:wrap;gap:.25rem 1rem;align-items:center}
header a{color:#fff;text-decoration:none}header .brand{font-weight:700;margin-right:1rem}
header form{margin-left:auto}header button{background:none;border:1px solid #fff;color:#fff;border-radius:4px;padding:.1rem .6rem}
main{padding:1rem;max-width:1200px;margin:0 auto}
h1{font-size:1.35rem;margin:.2rem 0 1rem}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:.75rem}
.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:.75rem}
.card b{display:block;font-size:1.6rem}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#eef1f4;white-space:nowrap}th a{color:inherit}
.scroll{overflow-x:auto}
.light{display:inline-block;min-width:2.2em;text-align:center;border-radius:3px;font-weight:700;padding:0 .3em}
.light.red{background:#d1242f;color:#fff}.light.yellow{background:#f2c200;color:#1f2328}.light.green{background:#1a7f37;color:#fff}
form.filters{display:flex;flex-wrap:wrap;gap:.5rem;margin-bottom:1rem;align-items:flex-end}
form.filters label{display:flex;flex-direction:column;font-size:.85rem}
input,select,textarea,button{font:inherit;padding:.3rem .4rem}
textarea{width:100%;min-height:4em}
.actions{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:.75rem}
.actions form{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:.75rem}
.flash{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:.5rem .75rem;margin-bottom:1rem}
.muted{color:#656d76}.pager{margin:1rem 0;display:flex;gap:1rem;align-items:center}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:.75rem}
dt{color:#656d76}dd{margin:0}
img.evidence{max-width:100%;max-height:320px;border:1px solid #d0d7de}
img.chart{max-width:100%;background:#fff;border:1px solid #d0d7de}
@media (max-width:640px){main{padding:.5rem}td,th{padding:.25rem}.hide-narrow{display:none}}
"#;

/// The role in words.
fn role_label(role: Role) -> &'static str {
    match role {
        Role::Office => "整改办",
        Role::Leader => "领导",
        Role::Liaison => "联络员",
        Role::Head => "单位主要负责人",
    }
}

fn light(colour: &str) -> Markup {
    let word = match colour {
        "red" => "红",
        "yellow" => "黄",
        _ => "绿",
    };
    html! { span class={ "light " (colour) } title={ (word) "灯" } { (word) } }
}

pub(super) fn page(web: &Web, title: &str, session: Option<&WebSession>, body: Markup) -> Markup {
    let office = web.settings.config.office.name.as_str();
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · duban 督办工作台" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    a.brand href="/" { "督办工作台 · " (office) }
                    @if let Some(session) = session {
                        nav {
                            a href="/" { "总览" } " · "
                            a href="/ledger" { "台账" } " · "
                            a href="/requests" { "诉求" }
                            @if session.role == Role::Office {
                                " · " a href="/todo" { "待办" }
                                " · " a href="/import" { "导入" }
                                " · " a href="/people" { "人员" }
                            }
                        }
                        form method="post" action="/signout" {
                            span { (session.name) "（" (role_label(session.role)) @if let Some(unit) = &session.unit { " · " (unit) } "）" }
                            " "
                            input type="hidden" name="csrf" value=(session.csrf);
                            button type="submit" { "退出" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A page with a title and one paragraph, for refusals and notices.
pub fn message(title: &str, text: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · duban" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header { a.brand href="/" { "督办工作台" } }
                main { h1 { (title) } p { (text) } }
            }
        }
    }
}

/// The page a sign-in link opens: a button that signs in, so that a link preview cannot.
pub fn sign_in(token: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { "登录 · duban 督办工作台" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header { span.brand { "督办工作台" } }
                main {
                    h1 { "登录督办工作台" }
                    p { "点击下方按钮登录。链接只能使用一次，15分钟内有效。" }
                    form method="post" action="/signin" {
                        input type="hidden" name="token" value=(token);
                        button #signin type="submit" { "登录" }
                    }
                }
            }
        }
    }
}

/// Counts of a set of rows.
#[derive(Default)]
struct Tally {
    total: usize,
    closed: usize,
    claimed: usize,
    in_progress: usize,
    not_started: usize,
    red: usize,
    yellow: usize,
    green: usize,
}

impl Tally {
    fn add(&mut self, row: &MeasureRow) {
        self.total += 1;
        match row.status {
            "closed" => self.closed += 1,
            "claimed" => self.claimed += 1,
            "in_progress" => self.in_progress += 1,
            _ => self.not_started += 1,
        }
        match row.colour {
            "red" => self.red += 1,
            "yellow" => self.yellow += 1,
            _ => self.green += 1,
        }
    }

    fn rate(&self) -> f64 {
        match self.total {
            0 => 0.0,
            n => self.closed as f64 * 100.0 / n as f64,
        }
    }
}

fn change(now: usize, then: Option<i64>) -> Markup {
    match then {
        None => html! { span.muted { "上周无简报" } },
        Some(then) => {
            let delta = now as i64 - then;
            html! { span.muted { "较上周 " @if delta > 0 { "+" } (delta) } }
        }
    }
}

/// 总览: totals, completion rate, lights with the change since last week, lead units
/// ranked, the chart.
pub fn overview(
    web: &Web,
    session: &WebSession,
    snapshot: &Snapshot,
    week_ago: Option<DigestCounts>,
    silent: &[SilentUnit],
) -> Markup {
    let mut tally = Tally::default();
    let mut units: std::collections::BTreeMap<&str, Tally> = Default::default();
    for (measure, row) in snapshot.measures.iter().zip(&snapshot.rows) {
        if !super::may_see(session, measure) {
            continue;
        }
        tally.add(row);
        units
            .entry(measure.lead_unit.as_str())
            .or_default()
            .add(row);
    }
    let mut ranked: Vec<(&str, Tally)> = units.into_iter().collect();
    ranked.sort_by(|a, b| {
        b.1.rate()
            .partial_cmp(&a.1.rate())
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.1.red.cmp(&b.1.red))
            .then(a.0.cmp(b.0))
    });
    let silent_days = |unit: &str| {
        silent
            .iter()
            .find(|s| s.unit == unit)
            .map(|s| (snapshot.today - s.since.date_naive()).num_days().max(0))
    };
    let week = week_ago.as_ref();
    let body = html! {
        h1 { "总览 · " (crate::core::text::date(snapshot.today, Language::Zh)) }
        div.cards {
            div.card { "整改措施" b { (tally.total) } }
            div.card { "已销号" b { (tally.closed) } span.muted { "完成率 " (format!("{:.1}%", tally.rate())) } }
            div.card { "申请销号" b { (tally.claimed) } }
            div.card { "推进中" b { (tally.in_progress) } }
            div.card { "未启动" b { (tally.not_started) } }
            div.card { (light("red")) " 红灯" b { (tally.red) } (change(tally.red, week.map(|w| w.red))) }
            div.card { (light("yellow")) " 黄灯" b { (tally.yellow) } (change(tally.yellow, week.map(|w| w.yellow))) }
            div.card { (light("green")) " 绿灯" b { (tally.green) } (change(tally.green, week.map(|w| w.green))) }
        }
        h2 { "牵头单位排名" }
        div.scroll {
            table #units {
                thead { tr { th { "名次" } th { "牵头单位" } th { "措施" } th { "已销号" } th { "完成率" } th { "红灯" } th { "未回复天数" } } }
                tbody {
                    @for (n, (unit, t)) in ranked.iter().enumerate() {
                        tr {
                            td { (n + 1) }
                            td { a href={ "/ledger?" (unit_query(unit)) } { (unit) } }
                            td { (t.total) }
                            td { (t.closed) }
                            td { (format!("{:.1}%", t.rate())) }
                            td { @if t.red > 0 { (light("red")) " " } (t.red) }
                            td { @match silent_days(unit) { Some(d) => { (d) "天" }, None => { "—" } } }
                        }
                    }
                }
            }
        }
        h2 { "各牵头单位整改进度" }
        img.chart src="/chart.png" alt="各牵头单位整改进度图：已销号、绿灯、黄灯、红灯的措施数";
    };
    page(web, "总览", Some(session), body)
}

fn unit_query(unit: &str) -> String {
    let mut pairs = super::url_pairs();
    pairs.append_pair("unit", unit);
    pairs.finish()
}

fn options(selected: &str, choices: &[(&str, &str)]) -> Markup {
    html! {
        @for (value, label) in choices {
            option value=(value) selected[*value == selected] { (label) }
        }
    }
}

/// 台账: the ledger with lights, filters, sorting and paging.
pub fn ledger(
    web: &Web,
    session: &WebSession,
    snapshot: &Snapshot,
    filter: &Filter,
    kept: &[usize],
) -> Markup {
    let pages = kept.len().div_ceil(PAGE_SIZE).max(1);
    let current = filter.page.unwrap_or(1).clamp(1, pages);
    let shown =
        &kept[((current - 1) * PAGE_SIZE).min(kept.len())..(current * PAGE_SIZE).min(kept.len())];
    let sort_link = |key: &str, label: &str| {
        let next = match filter.sort.as_str() {
            s if s == key => format!("-{key}"),
            _ => key.to_string(),
        };
        html! { a href={ "/ledger?" (filter.query(None, Some(&next))) } { (label) } }
    };
    let body = html! {
        h1 { "整改台账" }
        form.filters method="get" action="/ledger" {
            label { "单位" input name="unit" value=(filter.unit) size="10"; }
            label { "责任领导" input name="leader" value=(filter.leader) size="6"; }
            label { "问题" input name="problem" value=(filter.problem) size="10"; }
            label { "亮灯" select name="colour" { (options(&filter.colour, &[("", "全部"), ("red", "红"), ("yellow", "黄"), ("green", "绿")])) } }
            label { "状态" select name="status" { (options(&filter.status, &[("", "全部"), ("not_started", "未启动"), ("in_progress", "推进中"), ("claimed", "申请销号"), ("closed", "已销号")])) } }
            label { "关键词" input name="q" value=(filter.q) size="10"; }
            input type="hidden" name="sort" value=(filter.sort);
            button type="submit" { "筛选" }
            a href="/ledger" { "清除" }
            a href={ "/ledger.xlsx?" (filter.query(None, None)) } { "导出Excel" }
        }
        p.muted #count { "共" (kept.len()) "项，第" (current) "/" (pages) "页" }
        div.scroll {
            table #ledger {
                thead {
                    tr {
                        th { (sort_link("code", "序号")) }
                        th { (sort_link("colour", "亮灯")) }
                        th { "整改措施" }
                        th { (sort_link("unit", "牵头单位")) }
                        th.hide-narrow { "责任领导" }
                        th { (sort_link("due", "完成时限")) }
                        th { (sort_link("status", "状态")) }
                        th.hide-narrow { "最新进展" }
                    }
                }
                tbody {
                    @for &i in shown {
                        @let m = &snapshot.measures[i];
                        @let row = &snapshot.rows[i];
                        tr {
                            td { a href=(measure_path(&m.code)) { (m.code) } }
                            td { (light(row.colour)) br; span.muted { (row.colour_reason) } }
                            td { (crate::core::report::fit(&m.content, 60).trim_end()) }
                            td { (m.lead_unit) }
                            td.hide-narrow { (m.leaders.join("、")) }
                            td { (m.deadline_text) }
                            td { (status_label(m.status, Language::Zh)) }
                            td.hide-narrow { (m.latest_progress.as_deref().map(|p| crate::core::report::fit(p, 40)).unwrap_or_default().trim_end()) }
                        }
                    }
                }
            }
        }
        div.pager {
            @if current > 1 { a rel="prev" href={ "/ledger?" (filter.query(Some(current - 1), None)) } { "上一页" } }
            span { "第" (current) "/" (pages) "页" }
            @if current < pages { a rel="next" href={ "/ledger?" (filter.query(Some(current + 1), None)) } { "下一页" } }
        }
    };
    page(web, "台账", Some(session), body)
}

/// What the measure page shows.
pub struct MeasurePage<'a> {
    /// The measure.
    pub measure: &'a Measure,
    /// Its light and due day today.
    pub row: &'a MeasureRow,
    /// Its timeline.
    pub history: &'a [HistoryEntry],
    /// Its progress notes.
    pub notes: &'a [ProgressNote],
    /// Its evidence, as the store lists it.
    pub evidence: &'a [serde_json::Value],
    /// Its claims.
    pub claims: &'a [Claim],
    /// The outcome of the last action, shown once.
    pub flash: Option<&'a str>,
}

pub(super) fn local(web: &Web, at: chrono::DateTime<chrono::Utc>) -> String {
    at.with_timezone(&web.settings.timezone)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// 措施: every field, the timeline, notes, evidence and the actions the role allows.
/// A form on a measure's page that posts a note (`note`, required or not) with the CSRF
/// token to `PATH/ACTION`.
fn note_form(
    path: &str,
    action: &str,
    id: Option<&str>,
    csrf: &str,
    label: &str,
    required: bool,
    button: &str,
) -> Markup {
    html! {
        form id=[id] method="post" action={ (path) "/" (action) } {
            input type="hidden" name="csrf" value=(csrf);
            label { (label) textarea name="note" required[required] {} }
            button type="submit" { (button) }
        }
    }
}

pub fn measure(web: &Web, session: &WebSession, p: &MeasurePage<'_>) -> Markup {
    let m = p.measure;
    let row = p.row;
    let path = measure_path(&m.code);
    let office = session.role == Role::Office;
    let liaison = session.role == Role::Liaison;
    let csrf = &session.csrf;
    let body = html! {
        @if let Some(flash) = p.flash { div.flash #flash role="status" { (flash) } }
        h1 { "措施 " (m.code) " " (light(row.colour)) }
        dl #fields {
            dt { "整改措施" } dd { (m.content) }
            @if let Some(aspect) = &m.aspect { dt { "方面" } dd { (aspect) } }
            @if let Some(problem) = &m.problem { dt { "问题" } dd { (problem) } }
            @if let Some(target) = &m.target { dt { "整改目标" } dd { (target) } }
            dt { "牵头单位" } dd { (m.lead_unit) }
            dt { "责任单位" } dd { (m.units.join("、")) }
            dt { "责任领导" } dd { (m.leaders.join("、")) }
            dt { "完成时限" } dd { (m.deadline_text) @if let Some(due) = &row.due { span.muted { "（按 " (due) " 计）" } } }
            dt { "亮灯" } dd { (light(row.colour)) " " (row.colour_reason) }
            dt { "状态" } dd #status { (status_label(m.status, Language::Zh)) }
            @if let Some(progress) = &m.latest_progress { dt { "最新进展" } dd { (progress) } }
        }
        @if matches!(session.role, Role::Office | Role::Liaison) {
            h2 { "操作" }
            div.actions {
                @if (liaison || office) && m.status != Status::Closed {
                    (note_form(&path, "progress", None, csrf, "报送进展", true, "报送"))
                }
                @if liaison && m.status != Status::Closed && m.status != Status::Claimed {
                    form #claim method="post" action={ (path) "/claim" } enctype="multipart/form-data" {
                        input type="hidden" name="csrf" value=(csrf);
                        label { "申请销号（说明完成情况）" textarea name="note" {} }
                        label { "佐证材料（图片或文件，可多选）" input type="file" name="evidence" multiple; }
                        button type="submit" { "申请销号" }
                    }
                }
                @if office && m.status == Status::Claimed {
                    (note_form(&path, "approve", Some("approve"), csrf, "核验意见（可不填）", false, "通过，销号"))
                    (note_form(&path, "reject", None, csrf, "退回理由", true, "退回"))
                }
                @if office && m.status != Status::Closed {
                    form method="post" action={ (path) "/extend" } {
                        input type="hidden" name="csrf" value=(csrf);
                        label { "新的完成时限" input type="date" name="until" required; }
                        label { "理由" textarea name="note" required {} }
                        button type="submit" { "调整时限" }
                    }
                }
                @if office && m.status == Status::Closed {
                    (note_form(&path, "recheck", Some("recheck"), csrf, "回头看：复核意见", false, "确认整改效果"))
                    (note_form(&path, "reopen", None, csrf, "重新打开的理由", true, "重新打开"))
                }
            }
        }
        h2 { "佐证材料" }
        @if p.evidence.is_empty() { p.muted { "暂无" } }
        @for (n, file) in p.evidence.iter().enumerate() {
            @let name = file["file_name"].as_str().unwrap_or_default();
            @let link = format!("{path}/evidence/{}", n + 1);
            div.card {
                @if file["kind"] == "photo" || name.to_lowercase().ends_with(".jpg") || name.to_lowercase().ends_with(".png") {
                    img.evidence src=(link) alt=(name);
                    br;
                }
                a href=(link) { (name) }
                " · " (file["size"].as_i64().unwrap_or(0) / 1024) " KB · " (file["sent_by"].as_str().unwrap_or_default())
                br;
                span.muted { "SHA-256 " code { (file["sha256"].as_str().unwrap_or_default()) } }
            }
        }
        @if !p.claims.is_empty() {
            h2 { "销号申请" }
            table {
                thead { tr { th { "申请人" } th { "时间" } th { "结果" } th { "理由" } } }
                tbody {
                    @for c in p.claims {
                        tr {
                            td { (c.claimed_by) }
                            td { (local(web, c.claimed_at)) }
                            td { (match c.state { ClaimState::Pending => "待核验", ClaimState::Approved => "已通过", ClaimState::Rejected => "退回", ClaimState::Withdrawn => "撤回" }) @if let Some(by) = &c.decided_by { " · " (by) } }
                            td { (c.reason.as_deref().unwrap_or_default()) }
                        }
                    }
                }
            }
        }
        h2 { "整改进展" }
        @if p.notes.is_empty() { p.muted { "暂无" } }
        @for note in p.notes.iter().rev() {
            div.card { span.muted { (local(web, note.at)) " · " (note.author) " · " (source_label(note.source, Language::Zh)) } br; (note.body) }
        }
        h2 { "历史记录" }
        div.scroll {
            table #history {
                thead { tr { th { "时间" } th { "来源" } th { "人员" } th { "事项" } th { "状态" } th { "内容" } } }
                tbody {
                    @for h in p.history.iter().rev() {
                        tr {
                            td { (local(web, h.at)) }
                            td { (source_label(h.source, Language::Zh)) }
                            td { (h.actor) @if let Some(unit) = &h.unit { "（" (unit) "）" } }
                            td { (history_kind_label(&h.kind, Language::Zh)) }
                            td { @if let Some(from) = h.from { (status_label(from, Language::Zh)) " → " } (status_label(h.to, Language::Zh)) }
                            td { (h.note.as_deref().unwrap_or_default()) @if let (Some(old), Some(new)) = (&h.old, &h.new) { " " (old) " → " (new) } }
                        }
                    }
                }
            }
        }
    };
    page(web, &format!("措施 {}", m.code), Some(session), body)
}

/// 待办: claims waiting for verification (oldest first), extension requests, flags, and
/// late requests; decided inline.
pub fn todo(
    web: &Web,
    session: &WebSession,
    queue: &OfficeQueue,
    requests: &[Request],
    units: &[String],
    flash: Option<&str>,
) -> Markup {
    let today = web.today();
    let late: Vec<(&Request, i64)> = requests
        .iter()
        .filter_map(|r| match r.state(today, &web.settings.calendar) {
            RequestState::Late { overdue_days } => Some((r, overdue_days)),
            _ => None,
        })
        .collect();
    let csrf = &session.csrf;
    let body = html! {
        @if let Some(flash) = flash { div.flash #flash role="status" { (flash) } }
        h1 { "待办" }
        h2 { "待核验的销号申请（" (queue.claims.len()) "）" }
        @if queue.claims.is_empty() { p.muted { "暂无" } }
        div.scroll {
            table #claims {
                @if !queue.claims.is_empty() {
                    thead { tr { th { "措施" } th { "申请人" } th { "申请时间" } th { "等待工作日" } th { "核验" } } }
                }
                tbody {
                    @for c in &queue.claims {
                        @let path = measure_path(&c.code);
                        tr {
                            td { a href=(path) { (c.code) } }
                            td { (c.claimed_by) }
                            td { (local(web, c.claimed_at)) }
                            td { (web.settings.calendar.working_days_between(c.claimed_at.with_timezone(&web.settings.timezone).date_naive(), today)) }
                            td {
                                form method="post" action={ (path) "/approve" } {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button type="submit" { "通过" }
                                }
                                " "
                                a href=(path) { "查看材料 / 退回" }
                            }
                        }
                    }
                }
            }
        }
        h2 { "延期申请（" (queue.extensions.len()) "）" }
        @if queue.extensions.is_empty() { p.muted { "暂无" } }
        @for e in &queue.extensions {
            div.card {
                a href=(measure_path(&e.code)) { (e.code) } " · " (e.requested_by) " 申请延期至 " (crate::core::text::date(e.until, Language::Zh))
                @if let Some(reason) = &e.reason { "，理由：" (reason) }
                form method="post" action={ "/extensions/" (e.id) "/approve" } {
                    input type="hidden" name="csrf" value=(csrf);
                    button type="submit" { "同意延期" }
                }
                form method="post" action={ "/extensions/" (e.id) "/reject" } {
                    input type="hidden" name="csrf" value=(csrf);
                    input name="note" placeholder="不予同意的理由" required;
                    button type="submit" { "不予同意" }
                }
            }
        }
        h2 { "申请协调（" (queue.flags.len()) "）" }
        @if queue.flags.is_empty() { p.muted { "暂无" } }
        @if !queue.flags.is_empty() {
            datalist #units { option value=(web.settings.config.office_name()) {} @for u in units { option value=(u) {} } }
        }
        @for f in &queue.flags {
            div.card {
                a href=(measure_path(&f.code)) { (f.code) } " · " (f.unit.as_deref().unwrap_or(&f.lead_unit)) " · " (local(web, f.asked_at)) br; (f.reason)
                form.filters method="post" action={ "/flags/" (f.id) "/raise" } {
                    input type="hidden" name="csrf" value=(csrf);
                    label { "类别" select name="category" {
                        option value="consult" { "咨询类" }
                        option value="general" selected { "一般性协调" }
                        option value="major" { "重大事项" }
                    } }
                    label { "交由（单位或" (web.settings.config.office_name()) "）" input name="unit" list="units" value=(f.lead_unit) size="12"; }
                    button type="submit" { "列为督办事项" }
                }
            }
        }
        h2 { "逾期未答复的诉求（" (late.len()) "）" }
        @if late.is_empty() { p.muted { "暂无" } }
        @for (r, days) in &late {
            div.card { (r.code()) " · " (r.unit) " · 逾期" (days) "个工作日" br; (r.body) }
        }
    };
    page(web, "待办", Some(session), body)
}
