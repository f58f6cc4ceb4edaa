//! The web workbench (工作台): the office works the ledger in a browser, leaders read it on
//! their phones, liaisons look up and answer for their own measures. Served by `duban run
//! --web ADDR` on its own listener, server-rendered (no JavaScript needed), Chinese.
//!
//! Signing in takes no password: a one-time link (`duban web-link`, or `/web` in a chat)
//! opens a page whose button signs in (a POST, so that a chat app fetching the link for a
//! preview cannot use it up). The session is a cookie whose SHA-256 is stored; roles are
//! checked on the server for every page and every action; every POST carries the session's
//! CSRF token and must come from the workbench's own origin.
//!
//! Every change goes through the use cases the chat and the CLI call
//! ([`crate::app::measure`], [`crate::app::decide`]), with the source `web` and the person's
//! name, and tells the people concerned in their chat through the outbox.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{Duration, NaiveDate, Utc};
use serde::Deserialize;

use tokio::sync::Mutex;

use crate::config::Settings;
use crate::core::ledger::{Measure, Role, Source};
use crate::core::report::MeasureRow;
use crate::core::rules::{Context, assess};
use crate::service::http::same_secret;
use crate::store::{Change, Store, StoreError, WebSession};

mod admin;
mod pages;

/// What a handler answers: a page, or the page that stopped it early (refused, not found,
/// signed out); both are responses.
pub(super) type Page = Result<Response, Response>;

/// The cookie that carries a session.
pub const COOKIE: &str = "duban_session";

/// Rows on one page of the ledger.
pub const PAGE_SIZE: usize = 50;

pub use crate::app::signin::SignInError as WebError;

/// The workbench's state: the store, the settings, and the ledger as last read.
pub struct Web {
    /// The database.
    pub store: Store,
    /// The configuration.
    pub settings: Arc<Settings>,
    snapshot: Mutex<Option<Arc<Snapshot>>>,
    wake: Option<Arc<crate::service::Wake>>,
}

/// The ledger as the workbench shows it on one day, read once per change of the database.
pub struct Snapshot {
    version: String,
    /// The day the lights are for.
    pub today: NaiveDate,
    /// Every measure, in ledger order.
    pub measures: Vec<Measure>,
    /// Each measure's row (light, due, tier), in the same order.
    pub rows: Vec<MeasureRow>,
    chart: std::sync::OnceLock<Option<Vec<u8>>>,
}

impl Snapshot {
    /// The overview chart (lead units' bars) as a PNG, drawn once per snapshot.
    pub fn chart(&self, settings: &Settings) -> Option<&[u8]> {
        self.chart
            .get_or_init(|| {
                let ctx = context(settings, self.today);
                let assessments: Vec<_> = self.measures.iter().map(|m| assess(m, &ctx)).collect();
                let bars = crate::core::digest::bars(&self.measures, &assessments);
                let language = settings.config.language;
                crate::core::chart::unit_bars_png_with_font(
                    None,
                    language.pick("各牵头单位整改进度", "Progress by lead unit"),
                    &crate::service::digest::chart_labels(language),
                    &bars,
                )
                .ok()
            })
            .as_deref()
    }
}

fn context(settings: &Settings, today: NaiveDate) -> Context<'_> {
    Context {
        today,
        calendar: &settings.calendar,
        rules: &settings.config.rules,
        timezone: settings.timezone,
    }
}

impl Web {
    /// The workbench over a store.
    pub fn new(store: Store, settings: Arc<Settings>) -> Web {
        Web {
            store,
            settings,
            snapshot: Mutex::new(None),
            wake: None,
        }
    }

    /// Rings `wake` after each change, so that the service's delivery loops send what the
    /// change queued at once.
    pub fn with_wake(mut self, wake: Arc<crate::service::Wake>) -> Web {
        self.wake = Some(wake);
        self
    }

    fn changed(&self) {
        if let Some(wake) = &self.wake {
            wake.ring();
        }
    }

    /// Today in the office's time zone.
    pub fn today(&self) -> NaiveDate {
        Utc::now()
            .with_timezone(&self.settings.timezone)
            .date_naive()
    }

    /// The ledger as of now: the last snapshot while the database has not changed since.
    pub async fn snapshot(&self) -> Result<Arc<Snapshot>, StoreError> {
        let version = self.store.ledger_version().await?;
        let today = self.today();
        let mut held = self.snapshot.lock().await;
        if let Some(snapshot) = held.as_ref()
            && snapshot.version == version
            && snapshot.today == today
        {
            return Ok(Arc::clone(snapshot));
        }
        let measures = self.store.measures().await?;
        let ctx = context(&self.settings, today);
        let language = self.settings.config.language;
        let rows = measures
            .iter()
            .map(|m| MeasureRow::new(m, &assess(m, &ctx), language))
            .collect();
        let snapshot = Arc::new(Snapshot {
            version,
            today,
            measures,
            rows,
            chart: std::sync::OnceLock::new(),
        });
        *held = Some(Arc::clone(&snapshot));
        Ok(snapshot)
    }

    /// The address people open the workbench at, without a trailing slash.
    pub fn base_url(&self) -> String {
        base_url(&self.settings)
    }
}

pub use crate::app::signin::{base_url, hash, secret, sign_in_link};

/// The workbench's routes.
pub fn router(web: Arc<Web>) -> Router {
    // A claim's evidence may be as large as chat evidence may be, a few files at once.
    let evidence_limit = usize::try_from(web.settings.config.evidence.max_megabytes)
        .unwrap_or(usize::MAX / (1 << 22))
        .saturating_mul(4 << 20);
    // An uploaded ledger may be as large as an import may read.
    let upload_limit = usize::try_from(web.settings.config.import.max_megabytes)
        .unwrap_or(usize::MAX / (1 << 20))
        .saturating_mul(1 << 20);
    Router::new()
        .route("/", get(overview))
        .route("/ledger", get(ledger))
        .route("/ledger.xlsx", get(ledger_xlsx))
        .route("/measures/{code}", get(measure))
        .route("/measures/{code}/evidence/{number}", get(evidence))
        .route(
            "/measures/{code}/claim",
            post(claim_with_evidence).layer(DefaultBodyLimit::max(evidence_limit)),
        )
        .route("/measures/{code}/{action}", post(measure_action))
        .route("/extensions/{id}/{action}", post(extension_action))
        .route("/flags/{id}/raise", post(raise_flag))
        .route("/todo", get(todo))
        .route("/requests", get(admin::requests).post(admin::add_request))
        .route("/requests/{id}/answer", post(admin::answer_request))
        .route(
            "/import",
            get(admin::import_page)
                .post(admin::import_upload)
                .layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/import/confirm", post(admin::import_confirm))
        .route("/people", get(admin::people))
        .route("/people/invite", post(admin::invite))
        .route("/chart.png", get(chart))
        .route("/api/measures", get(api_measures))
        .route("/signin/{token}", get(sign_in_page))
        .route("/signin", post(sign_in))
        .route("/signout", post(sign_out))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(axum::middleware::map_response(secure_headers))
        .with_state(web)
}

/// Headers on every answer: no caching of pages, no framing, no referrer (with a sign-in
/// link in it) sent to other sites. `no-referrer` would make browsers send `Origin: null`
/// on the workbench's own forms, which the same-origin check refuses.
async fn secure_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        headers
            .entry(name)
            .or_insert_with(|| HeaderValue::from_static(value));
    };
    set(headers, header::CACHE_CONTROL, "no-store");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "same-origin");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'",
    );
    response
}

/// An answer that stops a request: a page for browsers.
pub(super) fn stop(status: StatusCode, title: &str, text: &str) -> Response {
    (status, pages::message(title, text)).into_response()
}

pub(super) fn internal(e: StoreError) -> Response {
    tracing::warn!("web: {e}");
    stop(
        StatusCode::INTERNAL_SERVER_ERROR,
        "暂时无法处理",
        "数据库暂时不可用，请稍后刷新重试。",
    )
}

pub(super) async fn not_found() -> Response {
    stop(StatusCode::NOT_FOUND, "没有这个页面", "请从导航栏进入。")
}

/// The session a request's cookie names.
async fn session(web: &Web, headers: &HeaderMap) -> Result<Option<WebSession>, StoreError> {
    let Some(token) = cookie(headers, COOKIE) else {
        return Ok(None);
    };
    web.store.web_session(&hash(&token), Utc::now()).await
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The session, or the page that asks to sign in.
pub(super) async fn signed_in(web: &Web, headers: &HeaderMap) -> Result<WebSession, Response> {
    match session(web, headers).await {
        Ok(Some(session)) => Ok(session),
        Ok(None) => Err(stop(
            StatusCode::UNAUTHORIZED,
            "请先登录",
            "请使用整改办发给您的登录链接（命令 duban web-link，或在聊天中向机器人发送 /web）。",
        )),
        Err(e) => Err(internal(e)),
    }
}

/// Whether a POST comes from the workbench itself: its Origin (or, without one, its
/// Referer) is the workbench's base URL, or the host it was sent to.
fn same_origin(web: &Web, headers: &HeaderMap) -> bool {
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            let referer = headers.get(header::REFERER)?.to_str().ok()?;
            let url = reqwest::Url::parse(referer).ok()?;
            Some(url.origin().ascii_serialization())
        });
    let Some(origin) = origin else {
        return false;
    };
    if origin == web.base_url() {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    web.settings.config.web.base_url.trim().is_empty()
        && host.is_some_and(|host| origin == format!("http://{host}"))
}

/// Checks a state-changing request: a session that may change things, its CSRF token, and
/// the same origin.
pub(super) async fn may_change(
    web: &Web,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<WebSession, Response> {
    let session = signed_in(web, headers).await?;
    let forbidden = |text: &str| stop(StatusCode::FORBIDDEN, "无权操作", text);
    if !same_origin(web, headers) {
        return Err(forbidden("请求不是从工作台页面发出的，已拒绝。"));
    }
    if !same_secret(csrf.as_bytes(), session.csrf.as_bytes()) {
        return Err(forbidden("页面已过期，请刷新后重试。"));
    }
    if matches!(session.role, Role::Leader | Role::Head) {
        return Err(forbidden("领导和单位主要负责人只能查看，不能修改。"));
    }
    Ok(session)
}

/// The session, when it is the office's; else the page that refuses (403). The error is the
/// handler's answer as it stands, like every `Page`.
#[allow(clippy::result_large_err)]
pub(super) fn office(session: WebSession) -> Result<WebSession, Response> {
    match session.role {
        Role::Office => Ok(session),
        _ => Err(stop(
            StatusCode::FORBIDDEN,
            "无权操作",
            "只有整改办可以查看或进行这项操作。",
        )),
    }
}

/// Whether a session may see a measure: the office and leaders see all, a liaison and a
/// unit head their unit's.
fn may_see(session: &WebSession, measure: &Measure) -> bool {
    match (&session.role, &session.unit) {
        (Role::Liaison | Role::Head, Some(unit)) => measure.involves(unit),
        (Role::Liaison | Role::Head, None) => false,
        _ => true,
    }
}

/// The filters, sort and page of the ledger (the same for the page, the .xlsx and the API).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Filter {
    /// A unit, leading or responsible.
    #[serde(default)]
    pub unit: String,
    /// A responsible leader.
    #[serde(default)]
    pub leader: String,
    /// Words of the problem.
    #[serde(default)]
    pub problem: String,
    /// red, yellow or green.
    #[serde(default)]
    pub colour: String,
    /// A status code.
    #[serde(default)]
    pub status: String,
    /// Words anywhere: code, measure, problem, units, progress.
    #[serde(default)]
    pub q: String,
    /// `code`, `due`, `colour`, `status`, `unit`; a leading `-` reverses.
    #[serde(default)]
    pub sort: String,
    /// The page, from 1.
    #[serde(default)]
    pub page: Option<usize>,
}

impl Filter {
    fn keeps(&self, measure: &Measure, row: &MeasureRow) -> bool {
        let has = |text: &str, words: &str| words.is_empty() || text.contains(words);
        let unit = self.unit.trim();
        let leader = self.leader.trim();
        let q = self.q.trim();
        (unit.is_empty() || measure.involves(unit))
            && (leader.is_empty() || measure.leaders.iter().any(|l| l == leader))
            && has(
                measure.problem.as_deref().unwrap_or_default(),
                self.problem.trim(),
            )
            && (self.colour.is_empty() || row.colour == self.colour)
            && (self.status.is_empty() || row.status == self.status)
            && (q.is_empty()
                || measure.code.contains(q)
                || measure.content.contains(q)
                || measure.problem.as_deref().is_some_and(|p| p.contains(q))
                || measure.lead_unit.contains(q)
                || measure.units.iter().any(|u| u.contains(q))
                || measure
                    .latest_progress
                    .as_deref()
                    .is_some_and(|p| p.contains(q)))
    }

    /// The indexes of the snapshot's rows this filter keeps for `session`, sorted.
    pub fn select(&self, snapshot: &Snapshot, session: &WebSession) -> Vec<usize> {
        let mut kept: Vec<usize> = (0..snapshot.measures.len())
            .filter(|&i| {
                let measure = &snapshot.measures[i];
                may_see(session, measure) && self.keeps(measure, &snapshot.rows[i])
            })
            .collect();
        let (key, reverse) = match self.sort.strip_prefix('-') {
            Some(key) => (key, true),
            None => (self.sort.as_str(), false),
        };
        let rows = &snapshot.rows;
        let colour_rank = |c: &str| match c {
            "red" => 0,
            "yellow" => 1,
            _ => 2,
        };
        match key {
            "due" => kept.sort_by(|&a, &b| {
                (rows[a].due.is_none(), &rows[a].due).cmp(&(rows[b].due.is_none(), &rows[b].due))
            }),
            "colour" => kept.sort_by_key(|&i| (colour_rank(rows[i].colour), rows[i].due.clone())),
            "status" => kept.sort_by_key(|&i| rows[i].status),
            "unit" => kept.sort_by(|&a, &b| rows[a].lead_unit.cmp(&rows[b].lead_unit)),
            _ => {}
        }
        if reverse {
            kept.reverse();
        }
        kept
    }

    /// The query string of this filter with another page or sort.
    pub fn query(&self, page: Option<usize>, sort: Option<&str>) -> String {
        let mut pairs = url_pairs();
        for (key, value) in [
            ("unit", self.unit.as_str()),
            ("leader", self.leader.as_str()),
            ("problem", self.problem.as_str()),
            ("colour", self.colour.as_str()),
            ("status", self.status.as_str()),
            ("q", self.q.as_str()),
            ("sort", sort.unwrap_or(&self.sort)),
        ] {
            if !value.is_empty() {
                pairs.append_pair(key, value);
            }
        }
        if let Some(page) = page.filter(|p| *p > 1) {
            pairs.append_pair("page", &page.to_string());
        }
        pairs.finish()
    }
}

fn url_pairs() -> form_urlencoded::Serializer<'static, String> {
    form_urlencoded::Serializer::new(String::new())
}

async fn overview(State(web): State<Arc<Web>>, headers: HeaderMap) -> Page {
    let session = signed_in(&web, &headers).await?;
    let snapshot = web.snapshot().await.map_err(internal)?;
    let week_ago = match web
        .store
        .last_digest(snapshot.today - Duration::days(7))
        .await
    {
        Ok(counts) => counts,
        Err(e) => return Err(internal(e)),
    };
    let silent = web.store.silent_units().await.map_err(internal)?;
    Ok(pages::overview(&web, &session, &snapshot, week_ago, &silent).into_response())
}

async fn ledger(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(filter): Query<Filter>,
) -> Page {
    let session = signed_in(&web, &headers).await?;
    let snapshot = web.snapshot().await.map_err(internal)?;
    let kept = filter.select(&snapshot, &session);
    Ok(pages::ledger(&web, &session, &snapshot, &filter, &kept).into_response())
}

async fn ledger_xlsx(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(filter): Query<Filter>,
) -> Page {
    let session = signed_in(&web, &headers).await?;
    let snapshot = web.snapshot().await.map_err(internal)?;
    let kept = filter.select(&snapshot, &session);
    let ctx = context(&web.settings, snapshot.today);
    let measures: Vec<&Measure> = kept.iter().map(|&i| &snapshot.measures[i]).collect();
    let assessments: Vec<_> = measures.iter().map(|m| assess(m, &ctx)).collect();
    let rows: Vec<_> = measures.iter().copied().zip(assessments.iter()).collect();
    let owned: Vec<Measure> = measures.iter().map(|m| (*m).clone()).collect();
    let units = web.store.units().await.map_err(internal)?;
    let units: Vec<(String, i64)> = units.into_iter().map(|u| (u.name, u.liaisons)).collect();
    let summaries = crate::core::report::unit_summaries(&units, &owned, &assessments);
    let language = web.settings.config.language;
    match crate::ingest::export::ledger_bytes(&rows, &summaries, snapshot.today, language) {
        Ok(bytes) => {
            let name = format!("整改台账-{}.xlsx", snapshot.today);
            let disposition = format!(
                "attachment; filename=\"ledger-{}.xlsx\"; filename*=UTF-8''{}",
                snapshot.today,
                percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC)
            );
            Ok((
                [
                    (
                        header::CONTENT_TYPE,
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                            .to_string(),
                    ),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                bytes,
            )
                .into_response())
        }
        Err(e) => {
            tracing::warn!("web: exporting the ledger: {e}");
            Ok(stop(
                StatusCode::INTERNAL_SERVER_ERROR,
                "导出失败",
                "台账导出失败，请稍后重试。",
            ))
        }
    }
}

/// A measure the session may see, or the page that says it cannot.
async fn visible_measure(web: &Web, session: &WebSession, code: &str) -> Result<Measure, Response> {
    let code = crate::core::ledger::parse::code(code);
    let missing = || {
        stop(
            StatusCode::NOT_FOUND,
            "没有这项措施",
            &format!("没有序号为“{code}”的措施，或您无权查看。"),
        )
    };
    match web.store.measure(&code).await {
        Ok(measure) if may_see(session, &measure) => Ok(measure),
        Ok(_) | Err(StoreError::NoSuchMeasure { .. }) => Err(missing()),
        Err(e) => Err(internal(e)),
    }
}

async fn measure(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Page {
    let session = signed_in(&web, &headers).await?;
    let measure = visible_measure(&web, &session, &code).await?;
    let code = measure.code.clone();
    let read = async {
        Ok::<_, StoreError>((
            web.store.history(&code).await?,
            web.store.notes(&code).await?,
            web.store.evidence(&code).await?,
            web.store.claims(&code).await?,
        ))
    };
    let (history, notes, evidence, claims) = read.await.map_err(internal)?;
    let today = web.today();
    let row = MeasureRow::new(
        &measure,
        &assess(&measure, &context(&web.settings, today)),
        web.settings.config.language,
    );
    let flash = cookie_flash(&headers);
    let page = pages::measure(
        &web,
        &session,
        &pages::MeasurePage {
            measure: &measure,
            row: &row,
            history: &history,
            notes: &notes,
            evidence: &evidence,
            claims: &claims,
            flash: flash.as_deref(),
        },
    );
    let mut response = page.into_response();
    if flash.is_some() {
        response.headers_mut().append(
            header::SET_COOKIE,
            HeaderValue::from_static("duban_flash=; Path=/; Max-Age=0; SameSite=Lax"),
        );
    }
    Ok(response)
}

async fn evidence(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path((code, number)): Path<(String, usize)>,
) -> Page {
    let session = signed_in(&web, &headers).await?;
    let measure = visible_measure(&web, &session, &code).await?;
    let file = match web.store.evidence_file(&measure.code, number).await {
        Ok(Some(file)) => file,
        Ok(None) => return Err(not_found().await),
        Err(e) => return Err(internal(e)),
    };
    let (name, kind, path) = file;
    let bytes = match std::fs::read(web.settings.config.data_dir.join(&path)) {
        Ok(bytes) => bytes,
        Err(_) => match web.store.kept_file(&path).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                return Err(stop(
                    StatusCode::NOT_FOUND,
                    "文件不在本机",
                    "这份材料的文件不在本实例的数据目录中。",
                ));
            }
            Err(e) => return Err(internal(e)),
        },
    };
    let lower = name.to_lowercase();
    let content_type = match () {
        _ if kind == "photo" || lower.ends_with(".jpg") || lower.ends_with(".jpeg") => "image/jpeg",
        _ if lower.ends_with(".png") => "image/png",
        _ if lower.ends_with(".pdf") => "application/pdf",
        _ => "application/octet-stream",
    };
    let inline = content_type.starts_with("image/");
    let encoded: String =
        percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC).collect();
    let disposition = format!(
        "{}; filename*=UTF-8''{encoded}",
        if inline { "inline" } else { "attachment" }
    );
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

/// A form that changes something.
#[derive(Debug, Deserialize)]
struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    until: String,
}

/// The outcome of the last action, carried by a short-lived cookie, shown once.
pub(super) fn cookie_flash(headers: &HeaderMap) -> Option<String> {
    cookie(headers, "duban_flash").map(|f| {
        percent_encoding::percent_decode_str(&f)
            .decode_utf8_lossy()
            .into_owned()
    })
}

/// Where to go after an action, with its outcome shown once.
pub(super) fn back_to(path: &str, flash: &str) -> Response {
    let encoded: String =
        percent_encoding::utf8_percent_encode(flash, percent_encoding::NON_ALPHANUMERIC).collect();
    let mut response = Redirect::to(path).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!(
        "duban_flash={encoded}; Path=/; Max-Age=60; HttpOnly; SameSite=Lax"
    )) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// Who acts on the web, as the office's notices sign it: unit, name, and where.
fn signature(session: &WebSession) -> String {
    match &session.unit {
        Some(unit) => format!("{unit} {}（网页）", session.name),
        None => format!("{}（网页）", session.name),
    }
}

fn web_change(session: &WebSession, note: Option<String>) -> Change {
    Change {
        actor: session.name.clone(),
        source: Source::Web,
        at: Utc::now(),
        note,
        chat: None,
    }
}

/// A note as typed: cleaned like chat text, and at most 2,000 characters.
pub(super) fn clean_note(note: &str) -> String {
    crate::core::text::clean(note).chars().take(2000).collect()
}

async fn measure_action(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path((code, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Page {
    use crate::app::measure::{self as uc, MeasureError};
    let session = may_change(&web, &headers, &form.csrf).await?;
    let measure = visible_measure(&web, &session, &code).await?;
    let code = measure.code.clone();
    let office = session.role == Role::Office;
    let note = clean_note(&form.note);
    let optional = (!note.is_empty()).then(|| note.clone());
    let language = web.settings.config.language;
    let settings = &web.settings;
    let forbidden = || {
        stop(
            StatusCode::FORBIDDEN,
            "无权操作",
            "这项操作只有整改办可以进行。",
        )
    };
    let outcome: Result<String, MeasureError> = match action.as_str() {
        "progress" => {
            let who = signature(&session);
            uc::report(
                &web.store,
                settings,
                &code,
                &note,
                false,
                &[],
                &who,
                web_change(&session, optional.clone()),
            )
            .await
            .map(|done| {
                format!(
                    "{code} 已记录进展，状态：{}",
                    crate::core::report::status_label(done.to, language)
                )
            })
        }
        "approve" if office => uc::close(
            &web.store,
            settings,
            &code,
            web_change(&session, optional.clone()),
        )
        .await
        .map(|_| format!("{code} 已销号。")),
        "reject" if office => {
            if note.is_empty() {
                return Ok(back_to(&measure_path(&code), "退回须写明理由。"));
            }
            uc::reject(
                &web.store,
                settings,
                &code,
                &note,
                web_change(&session, optional.clone()),
            )
            .await
            .map(|_| format!("{code} 销号申请已退回，理由已告知联络员。"))
        }
        "reopen" if office => {
            if note.is_empty() {
                return Ok(back_to(&measure_path(&code), "重新打开须写明理由。"));
            }
            uc::reopen(&web.store, &code, web_change(&session, optional.clone()))
                .await
                .map(|_| format!("{code} 已重新打开，状态为推进中。"))
        }
        "extend" if office => {
            let Some(until) = parse_until(&form.until) else {
                return Ok(back_to(
                    &measure_path(&code),
                    "请填写新的完成时限，如 2027-06-30。",
                ));
            };
            uc::extend(
                &web.store,
                &code,
                until,
                web.today(),
                web_change(&session, optional.clone()),
            )
            .await
            .map(|old| {
                format!(
                    "{code} 完成时限由{}调整为{}。",
                    crate::core::text::date_text(&old, language),
                    crate::core::text::date(until, language)
                )
            })
        }
        "recheck" if office => uc::recheck(
            &web.store,
            &code,
            false,
            web_change(&session, optional.clone()),
        )
        .await
        .map(|_| format!("{code} 回头看确认整改效果，保持已销号。")),
        "approve" | "reject" | "reopen" | "extend" | "recheck" => return Err(forbidden()),
        _ => return Err(not_found().await),
    };
    match outcome {
        Ok(line) => {
            web.changed();
            Ok(back_to(&measure_path(&code), &line))
        }
        Err(MeasureError::Refused(r)) => {
            Ok(back_to(&measure_path(&code), &r.text(&code, language)))
        }
        Err(MeasureError::Store(e)) => Err(internal(e)),
    }
}

/// A liaison's claim of completion with its evidence (a multipart form: the CSRF token,
/// the words, and files).
async fn claim_with_evidence(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(code): Path<String>,
    mut multipart: axum::extract::Multipart,
) -> Page {
    use crate::app::measure::{self as uc, MeasureError, Upload};
    let mut csrf = String::new();
    let mut note = String::new();
    let mut files = Vec::new();
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_string();
                let file_name = crate::core::text::clean(field.file_name().unwrap_or_default());
                let Ok(bytes) = field.bytes().await else {
                    return Ok(back_to(
                        &measure_path(&code),
                        "上传未完成，或文件超过大小限制。",
                    ));
                };
                match name.as_str() {
                    "csrf" => csrf = String::from_utf8_lossy(&bytes).to_string(),
                    "note" => note = String::from_utf8_lossy(&bytes).to_string(),
                    "evidence" if !bytes.is_empty() || !file_name.is_empty() => {
                        files.push(Upload {
                            name: match file_name.is_empty() {
                                true => "evidence".to_string(),
                                false => file_name,
                            },
                            bytes: bytes.to_vec(),
                        })
                    }
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(_) => {
                return Ok(back_to(
                    &measure_path(&code),
                    "上传未完成，或文件超过大小限制。",
                ));
            }
        }
    }
    let session = may_change(&web, &headers, &csrf).await?;
    let measure = visible_measure(&web, &session, &code).await?;
    let code = measure.code.clone();
    let note = clean_note(&note);
    let who = signature(&session);
    let language = web.settings.config.language;
    let outcome = uc::report(
        &web.store,
        &web.settings,
        &code,
        &note,
        true,
        &files,
        &who,
        web_change(&session, (!note.is_empty()).then(|| note.clone())),
    )
    .await;
    match outcome {
        Ok(_) => {
            web.changed();
            Ok(back_to(
                &measure_path(&code),
                &format!(
                    "{code} 已申请销号（佐证材料{}件），等待整改办核验。",
                    files.len()
                ),
            ))
        }
        Err(MeasureError::Refused(r)) => {
            Ok(back_to(&measure_path(&code), &r.text(&code, language)))
        }
        Err(MeasureError::Store(e)) => Err(internal(e)),
    }
}

/// A new deadline as typed: `2027-06-30` (a date field), or any date the ledger accepts.
fn parse_until(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .or_else(|| {
            crate::core::ledger::parse::deadline(text)
                .ok()
                .and_then(|d| d.date())
        })
}

/// What a path segment escapes: all but letters, digits and `-._~`.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn measure_path(code: &str) -> String {
    let encoded: String = percent_encoding::utf8_percent_encode(code, SEGMENT).collect();
    format!("/measures/{encoded}")
}

async fn extension_action(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path((id, action)): Path<(i64, String)>,
    Form(form): Form<ActionForm>,
) -> Page {
    use crate::app::decide::{Decider, Outcome, Subject, decide};
    let session = may_change(&web, &headers, &form.csrf).await?;
    let session = office(session)?;
    let approve = match action.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return Err(not_found().await),
    };
    let note = clean_note(&form.note);
    if !approve && note.is_empty() {
        return Ok(back_to("/todo", "不予同意须写明理由。"));
    }
    let change = web_change(&session, (!note.is_empty()).then(|| note.clone()));
    let result = async {
        let mut tx = web.store.begin_change(change.at).await?;
        let decider = Decider {
            change,
            office: true,
            user: None,
        };
        let reason = (!note.is_empty()).then_some(note.as_str());
        let outcome = decide(
            &mut tx,
            &web.settings,
            Subject::Extension(id),
            approve,
            reason,
            &decider,
        )
        .await?;
        if matches!(outcome, Outcome::Decided { .. }) {
            tx.commit().await?;
        }
        Ok::<_, StoreError>(outcome)
    };
    match result.await {
        Ok(Outcome::Decided { line, code }) => {
            web.changed();
            Ok(back_to("/todo", &format!("{code}：{line}")))
        }
        Ok(Outcome::Refused(why)) => Ok(back_to("/todo", &why)),
        Ok(Outcome::NeedsReason { .. }) => Ok(back_to("/todo", "不予同意须写明理由。")),
        Err(e) => Err(internal(e)),
    }
}

/// The office's form raising a coordination flag into a request.
#[derive(Debug, Deserialize)]
struct RaiseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    unit: String,
}

/// Raises a coordination flag into a request for the unit the office names (or the office).
async fn raise_flag(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<RaiseForm>,
) -> Page {
    use crate::app::decide::Outcome;
    let session = may_change(&web, &headers, &form.csrf).await?;
    let session = office(session)?;
    let Some(category) = crate::core::workflow::parse_category(&form.category) else {
        return Ok(back_to("/todo", "请选择诉求类别。"));
    };
    let to = form.unit.trim();
    let result = async {
        let mut tx = web.store.begin_change(Utc::now()).await?;
        let outcome = crate::app::decide::raise_flag(
            &mut tx,
            &web.settings,
            id,
            category,
            (!to.is_empty()).then_some(to),
            &session.name,
        )
        .await?;
        if matches!(outcome, Outcome::Decided { .. }) {
            tx.commit().await?;
        }
        Ok::<_, StoreError>(outcome)
    };
    match result.await.map_err(internal)? {
        Outcome::Decided { line, code } => {
            web.changed();
            Ok(back_to("/todo", &format!("{code}：{line}")))
        }
        Outcome::Refused(why) | Outcome::NeedsReason { code: why } => Ok(back_to("/todo", &why)),
    }
}

async fn todo(State(web): State<Arc<Web>>, headers: HeaderMap) -> Page {
    let session = signed_in(&web, &headers).await?;
    let session = office(session)?;
    let queue = web.store.office_queue().await.map_err(internal)?;
    let requests = web.store.requests().await.map_err(internal)?;
    let units = web.store.unit_names().await.map_err(internal)?;
    let flash = cookie_flash(&headers);
    Ok(pages::todo(&web, &session, &queue, &requests, &units, flash.as_deref()).into_response())
}

async fn chart(State(web): State<Arc<Web>>, headers: HeaderMap) -> Page {
    if let Err(r) = signed_in(&web, &headers).await {
        return Ok(r);
    }
    let snapshot = web.snapshot().await.map_err(internal)?;
    match snapshot.chart(&web.settings) {
        Some(png) => Ok(([(header::CONTENT_TYPE, "image/png")], png.to_vec()).into_response()),
        None => Err(not_found().await),
    }
}

async fn api_measures(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(filter): Query<Filter>,
) -> Page {
    let session = match session(&web, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Ok((
                StatusCode::UNAUTHORIZED,
                axum::Json(serde_json::json!({"error": "sign in first"})),
            )
                .into_response());
        }
        Err(e) => return Err(internal(e)),
    };
    let snapshot = web.snapshot().await.map_err(internal)?;
    let kept = filter.select(&snapshot, &session);
    let rows: Vec<&MeasureRow> = kept.iter().map(|&i| &snapshot.rows[i]).collect();
    Ok(axum::Json(rows).into_response())
}

async fn sign_in_page(Path(token): Path<String>) -> Response {
    pages::sign_in(&token).into_response()
}

#[derive(Debug, Deserialize)]
struct SignInForm {
    #[serde(default)]
    token: String,
}

async fn sign_in(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Page {
    if !same_origin(&web, &headers) {
        return Err(stop(
            StatusCode::FORBIDDEN,
            "无法登录",
            "请求不是从工作台页面发出的，已拒绝。",
        ));
    }
    let now = Utc::now();
    let hours = i64::from(web.settings.config.web.session_hours.max(1));
    let session_token = secret();
    let redeemed = web
        .store
        .redeem_web_link(
            &hash(form.token.trim()),
            &hash(&session_token),
            &secret(),
            now,
            now + Duration::hours(hours),
        )
        .await;
    match redeemed {
        Ok(Some(session)) => {
            tracing::info!(name = %session.name, role = session.role.code(), "web: signed in");
            let secure = match web.base_url().starts_with("https://") {
                true => "; Secure",
                false => "",
            };
            let cookie = format!(
                "{COOKIE}={session_token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
                hours * 3600
            );
            let mut response = Redirect::to("/").into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            Ok(response)
        }
        Ok(None) => Err(stop(
            StatusCode::FORBIDDEN,
            "链接已失效",
            "这个登录链接已使用过或已过期（15分钟内有效，只能用一次）。请重新获取：duban web-link，或在聊天中向机器人发送 /web。",
        )),
        Err(e) => Err(internal(e)),
    }
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Page {
    let session = signed_in(&web, &headers).await?;
    if !same_origin(&web, &headers) || !same_secret(form.csrf.as_bytes(), session.csrf.as_bytes()) {
        return Err(stop(
            StatusCode::FORBIDDEN,
            "无权操作",
            "请求不是从工作台页面发出的，已拒绝。",
        ));
    }
    if let Some(token) = cookie(&headers, COOKIE)
        && let Err(e) = web.store.end_web_session(&hash(&token), Utc::now()).await
    {
        return Err(internal(e));
    }
    let mut response = stop(StatusCode::OK, "已退出", "您已退出工作台。");
    response.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("duban_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"),
    );
    Ok(response)
}
