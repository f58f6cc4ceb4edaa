//! The web workbench against a running `duban run` (with the fake Telegram on 127.0.0.1 as
//! its chat): signing in once per link, each role's access enforced on the server (a liaison
//! cannot read or change another unit's measure by URL, a leader cannot POST anything, a
//! cross-site POST or one without the CSRF token is refused and changes nothing), the
//! office deciding a claim made in the chat with the claimant told there, the API, the
//! filtered ledger as .xlsx, and signing out everywhere. On SQLite and PostgreSQL.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::fake_telegram::FakeTelegram;
use common::{PgDatabase, Running, Sandbox, bind, by_code, free_port};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};

const OFFICE: i64 = 7100;
const ECON: i64 = 7201;

/// Two measures of 经济发展局 (one overdue, one due later) and one of 国资办.
fn ledger(sb: &Sandbox) {
    let today = chrono::Utc::now().date_naive();
    let past = today - chrono::Duration::days(40);
    let later = today + chrono::Duration::days(200);
    let file = sb.path("ledger.csv");
    std::fs::write(
        &file,
        format!(
            "序号,整改措施,牵头单位,责任领导,完成时限,状态\n\
             E-1,建成新区综合能源站,经济发展局,王建国,{past},推进中\n\
             E-2,完成重点企业帮扶,经济发展局,王建国,{later},未启动\n\
             G-1,完成国有资产清查,国资办,李红,{past},推进中\n"
        ),
    )
    .unwrap();
    sb.ok(&["import", file.to_str().unwrap()]);
}

fn measure_status(sb: &Sandbox, code: &str) -> String {
    let at = chrono::Utc::now().date_naive().to_string();
    by_code(&sb.measures(&at), code)["status"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A browser without a browser: cookies kept by hand, redirects not followed.
struct Visitor {
    base: String,
    http: reqwest::Client,
    cookie: Option<String>,
}

impl Visitor {
    fn new(base: &str) -> Visitor {
        Visitor {
            base: base.to_string(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.text().await.unwrap())
    }

    /// POSTs a form as the workbench's own page would (its origin), or as `origin` says.
    async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .form(&form.iter().copied().collect::<HashMap<_, _>>());
        if let Some(origin) = origin
            .or(Some(self.base.as_str()))
            .filter(|o| !o.is_empty())
        {
            request = request.header(ORIGIN, origin);
        }
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie);
        }
        request.send().await.unwrap()
    }

    /// POSTs a form from the workbench's own page; returns the status.
    async fn posted(&self, path: &str, form: &[(&str, &str)]) -> StatusCode {
        self.post(path, form, None).await.status()
    }

    /// Opens a sign-in link, presses its button, and keeps the session's cookie.
    async fn sign_in(&mut self, link: &str) -> StatusCode {
        let token = link.rsplit('/').next().unwrap().to_string();
        let (status, page) = self.get(&format!("/signin/{token}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("登录"), "{page}");
        let response = self.post("/signin", &[("token", &token)], None).await;
        let status = response.status();
        if let Some(cookie) = response.headers().get(SET_COOKIE) {
            let cookie = cookie.to_str().unwrap();
            assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
            self.cookie = Some(cookie.split(';').next().unwrap().to_string());
        }
        status
    }

    /// The CSRF token of the session, read from a page's form.
    async fn csrf(&self) -> String {
        let (_, page) = self.get("/").await;
        let at = page.find("name=\"csrf\" value=\"").expect("a form") + 19;
        page[at..at + 64].to_string()
    }
}

/// The outcome an action shows once (its short-lived cookie), decoded.
fn flash(response: &reqwest::Response) -> String {
    let cookie = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("duban_flash="))
        .unwrap_or_default();
    let value = cookie.split(';').next().unwrap_or_default();
    percent_encoding::percent_decode_str(value)
        .decode_utf8_lossy()
        .into_owned()
}

/// A sign-in link from `duban web-link` (the URL is the last line).
fn link(sb: &Sandbox, base: &str, args: &[&str]) -> String {
    let out = sb
        .command()
        .env("DUBAN_WEB_BASE_URL", base)
        .arg("web-link")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    stdout.lines().last().unwrap().trim().to_string()
}

async fn workbench_story(sb: Sandbox) {
    ledger(&sb);
    let fake = FakeTelegram::start().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let running: Running = sb.start_bot(
        &fake,
        &[
            ("DUBAN_WEB_LISTEN", &format!("127.0.0.1:{port}")),
            ("DUBAN_TELEGRAM_ADMINS", &OFFICE.to_string()),
        ],
    );
    let ready = async {
        loop {
            if reqwest::get(format!("{base}/")).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), ready)
        .await
        .expect("the workbench listens");

    // Nothing without a session: pages ask to sign in, the API answers 401.
    let mut office = Visitor::new(&base);
    assert_eq!(office.get("/").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        office.get("/api/measures").await.0,
        StatusCode::UNAUTHORIZED
    );

    // A link works once; the page it opens signs in only by its button (a POST).
    let office_link = link(&sb, &base, &["张主任", "--role", "office"]);
    assert!(office_link.starts_with(&base), "{office_link}");
    let (status, _) = office
        .get(&format!(
            "/signin/{}",
            office_link.rsplit('/').next().unwrap()
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = office
        .get(&format!(
            "/signin/{}",
            office_link.rsplit('/').next().unwrap()
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "looking at the page uses nothing");
    assert_eq!(office.sign_in(&office_link).await, StatusCode::SEE_OTHER);
    let (status, page) = office.get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("总览") && page.contains("张主任"), "{page}");
    let mut again = Visitor::new(&base);
    assert_eq!(again.sign_in(&office_link).await, StatusCode::FORBIDDEN);
    assert!(again.cookie.is_none());
    // An expired link is refused (valid 0 minutes here).
    let out = sb
        .command()
        .env("DUBAN_WEB_BASE_URL", &base)
        .env("DUBAN_WEB__LINK_MINUTES", "0")
        .args(["web-link", "张主任", "--role", "office"])
        .output()
        .unwrap();
    let expired = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .to_string();
    assert_eq!(again.sign_in(&expired).await, StatusCode::FORBIDDEN);
    // A sign-in POSTed from another site is refused too.
    let other_link = link(&sb, &base, &["张主任", "--role", "office"]);
    let token = other_link.rsplit('/').next().unwrap();
    assert_eq!(
        again
            .post("/signin", &[("token", token)], Some("http://evil.example"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );

    // The ledger: lights with their words, filters, the measure's page.
    let (_, page) = office.get("/ledger?colour=red").await;
    assert!(page.contains("E-1") && page.contains("G-1"), "{page}");
    assert!(!page.contains(">E-2<"), "E-2 is not red: {page}");
    assert!(page.contains(">红<"), "{page}");
    let (_, page) = office.get("/ledger?unit=%E5%9B%BD%E8%B5%84%E5%8A%9E").await;
    assert!(page.contains("G-1") && !page.contains(">E-1<"), "{page}");

    // A liaison of 国资办 sees their unit's measures, and nothing of another unit's.
    let mut liaison = Visitor::new(&base);
    let liaison_link = link(
        &sb,
        &base,
        &["赵联络", "--role", "liaison", "--unit", "国资办"],
    );
    assert_eq!(liaison.sign_in(&liaison_link).await, StatusCode::SEE_OTHER);
    assert_eq!(liaison.get("/measures/G-1").await.0, StatusCode::OK);
    assert_eq!(liaison.get("/measures/E-1").await.0, StatusCode::NOT_FOUND);
    let (_, page) = liaison.get("/ledger").await;
    assert!(page.contains("G-1") && !page.contains(">E-1<"), "{page}");
    let (_, api) = liaison.get("/api/measures").await;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&api).unwrap();
    assert_eq!(rows.len(), 1, "{api}");
    assert_eq!(rows[0]["code"], "G-1");
    assert_eq!(liaison.get("/todo").await.0, StatusCode::FORBIDDEN);
    let csrf = liaison.csrf().await;
    assert_eq!(
        liaison
            .posted(
                "/measures/E-2/progress",
                &[("csrf", &csrf), ("note", "越权报送")]
            )
            .await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(measure_status(&sb, "E-2"), "not_started");
    assert_eq!(
        liaison
            .posted(
                "/measures/G-1/approve",
                &[("csrf", &csrf), ("note", "自己销号")]
            )
            .await,
        StatusCode::FORBIDDEN
    );
    // Their own progress goes in, with the source web and their name.
    assert_eq!(
        liaison
            .posted(
                "/measures/G-1/progress",
                &[("csrf", &csrf), ("note", "已完成清查底稿")]
            )
            .await,
        StatusCode::SEE_OTHER
    );
    let history: serde_json::Value =
        serde_json::from_str(&sb.ok(&["history", "G-1", "--json"])).unwrap();
    let last = history["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["source"], "web", "{last}");
    assert_eq!(last["actor"], "赵联络", "{last}");

    // A claim with its evidence: kept by SHA-256, shown to the office, told in its chat.
    let picture: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.clone())
        .text("note", "清查完成，报告见附件")
        .part(
            "evidence",
            reqwest::multipart::Part::bytes(picture.clone()).file_name("现场照片.png"),
        );
    let response = liaison
        .http
        .post(format!("{base}/measures/G-1/claim"))
        .header(ORIGIN, &base)
        .header(COOKIE, liaison.cookie.clone().unwrap())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(
        flash(&response).contains("佐证材料1件"),
        "{}",
        flash(&response)
    );
    assert_eq!(measure_status(&sb, "G-1"), "claimed");
    let (_, page) = liaison.get("/measures/G-1").await;
    use sha2::Digest;
    let sha: String = sha2::Sha256::digest(&picture)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        page.contains(&sha) && page.contains("现场照片.png"),
        "{page}"
    );
    let response = liaison
        .http
        .get(format!("{base}/measures/G-1/evidence/1"))
        .header(COOKIE, liaison.cookie.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().to_vec(), picture);
    fake.wait_for(15, "the claim's notice to the office", |f| {
        f.sent_to(OFFICE)
            .iter()
            .any(|s| s.text.contains("销号申请 G-1") && s.text.contains("佐证材料1件"))
    })
    .await;

    // Refused, and nothing changed: a POST without the CSRF token, and one from elsewhere.
    let office_csrf = office.csrf().await;
    assert_eq!(
        office
            .posted("/measures/E-1/reopen", &[("note", "无令牌")])
            .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        office
            .post(
                "/measures/E-1/extend",
                &[
                    ("csrf", &office_csrf),
                    ("until", "2099-01-01"),
                    ("note", "跨站"),
                ],
                Some("http://evil.example"),
            )
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        office
            .post(
                "/measures/E-1/extend",
                &[
                    ("csrf", &office_csrf),
                    ("until", "2099-01-01"),
                    ("note", "无来源"),
                ],
                Some(""),
            )
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let history: serde_json::Value =
        serde_json::from_str(&sb.ok(&["history", "E-1", "--json"])).unwrap();
    assert!(
        !history.to_string().contains("2099"),
        "the deadline moved: {history}"
    );

    // A leader reads everything and changes nothing.
    let mut leader = Visitor::new(&base);
    let leader_link = link(&sb, &base, &["王建国", "--role", "leader"]);
    assert_eq!(leader.sign_in(&leader_link).await, StatusCode::SEE_OTHER);
    assert_eq!(leader.get("/measures/E-1").await.0, StatusCode::OK);
    assert_eq!(leader.get("/measures/G-1").await.0, StatusCode::OK);
    let leader_csrf = leader.csrf().await;
    for (path, form) in [
        ("/measures/E-1/progress", vec![("note", "领导批示")]),
        ("/measures/E-1/approve", vec![]),
        (
            "/measures/E-1/extend",
            vec![("until", "2099-01-01"), ("note", "x")],
        ),
        ("/extensions/1/approve", vec![]),
    ] {
        let mut form = form;
        form.push(("csrf", &leader_csrf));
        let response = leader.post(path, &form, None).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(measure_status(&sb, "E-1"), "in_progress");

    // A claim made in the chat, approved on the web; the claimant is told in the chat.
    bind(&sb, &fake, ECON, ECON, "经济发展局", "liaison", None).await;
    let answer = fake.ask(ECON, ECON, "E-1 已完成 能源站已投运", None).await;
    assert!(answer.contains("申请销号"), "{answer}");
    assert_eq!(measure_status(&sb, "E-1"), "claimed");
    let (_, todo) = office.get("/todo").await;
    assert!(todo.contains("E-1") && todo.contains("待核验"), "{todo}");
    let before = fake.sent_to(ECON).len();
    let response = office
        .post(
            "/measures/E-1/approve",
            &[("csrf", &office_csrf), ("note", "现场核验通过")],
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers().get(LOCATION).unwrap(), "/measures/E-1");
    assert_eq!(measure_status(&sb, "E-1"), "closed");
    fake.wait_for(15, "the claimant told", |f| {
        f.sent_to(ECON)[before..]
            .iter()
            .any(|s| s.text.contains("E-1") && s.text.contains("通过"))
    })
    .await;
    let (_, page) = office.get("/measures/E-1").await;
    assert!(page.contains("已销号") && page.contains("网页"), "{page}");
    // A second decision changes nothing.
    assert_eq!(
        office
            .posted("/measures/E-1/approve", &[("csrf", &office_csrf)])
            .await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(measure_status(&sb, "E-1"), "closed");

    // The filtered ledger as a workbook.
    let response = office
        .http
        .get(format!(
            "{base}/ledger.xlsx?unit=%E5%9B%BD%E8%B5%84%E5%8A%9E"
        ))
        .header(COOKIE, office.cookie.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.bytes().await.unwrap();
    let file = sb.path("filtered.xlsx");
    std::fs::write(&file, &bytes).unwrap();
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&file).unwrap();
    use calamine::Reader;
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    let cells: String = sheet.rows().flatten().map(|c| c.to_string()).collect();
    assert!(cells.contains("G-1") && !cells.contains("E-1"), "{cells}");

    // 诉求: the office registers one for 国资办; its liaison answers it; a leader cannot add.
    assert_eq!(
        office
            .posted(
                "/requests",
                &[
                    ("csrf", &office_csrf),
                    ("unit", "国资办"),
                    ("category", "general"),
                    ("body", "企业反映用地指标不足"),
                ]
            )
            .await,
        StatusCode::SEE_OTHER
    );
    let (_, page) = liaison.get("/requests").await;
    assert!(
        page.contains("企业反映用地指标不足") && page.contains("R1"),
        "{page}"
    );
    assert_eq!(
        leader
            .posted(
                "/requests",
                &[
                    ("csrf", &leader_csrf),
                    ("unit", "国资办"),
                    ("category", "major"),
                    ("body", "x"),
                ]
            )
            .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        liaison
            .posted(
                "/requests/1/answer",
                &[("csrf", &csrf), ("body", "已协调自然资源局解决")]
            )
            .await,
        StatusCode::SEE_OTHER
    );
    let (_, page) = office.get("/requests").await;
    assert!(
        page.contains("已协调自然资源局解决") && page.contains("按时答复"),
        "{page}"
    );

    // A coordination flag goes to the unit the office names: on the web to 国资办, in the
    // chat to the office itself; a unit the ledger does not name is refused.
    let flag_notice =
        |f: &FakeTelegram, words: &str| f.sent_to(OFFICE).iter().any(|s| s.text.contains(words));
    fake.ask(ECON, ECON, "E-2 需协调 缺少资金", None).await;
    fake.wait_for(15, "the first flag's notice", |f| {
        flag_notice(f, "缺少资金")
    })
    .await;
    let (_, todo) = office.get("/todo").await;
    assert!(
        todo.contains("缺少资金") && todo.contains("/flags/1/raise"),
        "{todo}"
    );
    let response = office
        .post(
            "/flags/1/raise",
            &[
                ("csrf", &office_csrf),
                ("category", "consult"),
                ("unit", "国资办"),
            ],
            None,
        )
        .await;
    assert!(
        flash(&response).contains("由国资办答复"),
        "{}",
        flash(&response)
    );
    fake.ask(ECON, ECON, "E-2 需协调 缺少人手", None).await;
    fake.wait_for(15, "the second flag's notice", |f| {
        flag_notice(f, "缺少人手")
    })
    .await;
    let answer = fake.ask(OFFICE, OFFICE, "#f:2:major 整改办", None).await;
    assert!(answer.contains("由整改办答复"), "{answer}");
    fake.ask(ECON, ECON, "E-2 需协调 第三件事", None).await;
    fake.wait_for(15, "the third flag's notice", |f| {
        flag_notice(f, "第三件事")
    })
    .await;
    let answer = fake
        .ask(OFFICE, OFFICE, "#f:3:general 不存在局", None)
        .await;
    assert!(answer.contains("没有单位“不存在局”"), "{answer}");
    let requests: serde_json::Value =
        serde_json::from_str(&sb.ok(&["requests", "--json"])).unwrap();
    let units: Vec<&str> = requests
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["unit"].as_str().unwrap())
        .collect();
    assert_eq!(units, ["国资办", "国资办", "整改办"], "{requests}");

    // 导入: a file with a bad cell is refused whole, naming its row and column; a good one
    // is checked first, then imported on confirmation.
    let upload = |name: &str, body: &str| {
        reqwest::multipart::Form::new()
            .text("csrf", office_csrf.clone())
            .part(
                "file",
                reqwest::multipart::Part::bytes(body.as_bytes().to_vec())
                    .file_name(name.to_string()),
            )
    };
    let post_upload = |form: reqwest::multipart::Form| {
        office
            .http
            .post(format!("{base}/import"))
            .header(ORIGIN, &base)
            .header(COOKIE, office.cookie.clone().unwrap())
            .multipart(form)
            .send()
    };
    let bad = "序号,整改措施,牵头单位,完成时限\nN-1,新增措施,国资办,明年\n";
    let response = post_upload(upload("bad.csv", bad)).await.unwrap();
    let page = response.text().await.unwrap();
    assert!(page.contains("id=\"problems\""), "{page}");
    assert!(
        page.contains("第2行") && page.contains("完成时限"),
        "{page}"
    );
    let good = format!(
        "序号,整改措施,牵头单位,完成时限\nN-1,完成新区国资监管平台建设,国资办,{}\n",
        chrono::Utc::now().date_naive() + chrono::Duration::days(90)
    );
    let response = post_upload(upload("good.csv", &good)).await.unwrap();
    let page = response.text().await.unwrap();
    assert!(page.contains("将新增1项"), "{page}");
    assert!(
        sb.run(&["history", "N-1"]).status.code() != Some(0),
        "a dry run wrote"
    );
    let at = page.find("name=\"upload\" value=\"").unwrap() + 21;
    let upload_name = &page[at..at + page[at..].find('"').unwrap()];
    assert_eq!(
        office
            .posted(
                "/import/confirm",
                &[
                    ("csrf", &office_csrf),
                    ("upload", upload_name),
                    ("shown", "good.csv"),
                ]
            )
            .await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(measure_status(&sb, "N-1"), "not_started");
    let response = office
        .post(
            "/import/confirm",
            &[
                ("csrf", &office_csrf),
                ("upload", upload_name),
                ("shown", "good.csv"),
            ],
            None,
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "a used upload is gone"
    );
    assert_eq!(
        office
            .posted(
                "/import/confirm",
                &[
                    ("csrf", &office_csrf),
                    ("upload", "../../duban.db"),
                    ("shown", "x"),
                ]
            )
            .await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(liaison.get("/import").await.0, StatusCode::FORBIDDEN);

    // 人员: an invitation made on the page binds in the chat, and the binding is listed.
    let response = office
        .post(
            "/people/invite",
            &[
                ("csrf", &office_csrf),
                ("role", "liaison"),
                ("place", "国资办"),
                ("name", ""),
            ],
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let shown = flash(&response);
    let at = shown.find("邀请码：").expect("the code is shown") + "邀请码：".len();
    let code: String = shown[at..].chars().take(12).collect();
    let bound = fake.ask(7301, 7301, &format!("/bind {code}"), None).await;
    assert!(bound.contains("绑定成功"), "{bound}");
    let (_, page) = office.get("/people").await;
    assert!(
        page.contains("国资办") && page.contains("Telegram"),
        "{page}"
    );
    assert_eq!(liaison.get("/people").await.0, StatusCode::FORBIDDEN);

    // /web in a private chat: a sign-in link without a preview, for the sender's role.
    let answer = fake.ask(ECON, ECON, "/web", None).await;
    let url = answer
        .split_whitespace()
        .find(|w| w.contains("/signin/"))
        .unwrap_or_else(|| panic!("{answer}"));
    let sent = fake.calls("sendMessage");
    let call = sent
        .iter()
        .rev()
        .find(|c| c.body["text"].as_str().is_some_and(|t| t.contains(url)))
        .unwrap();
    assert_eq!(
        call.body["link_preview_options"]["is_disabled"], true,
        "{:?}",
        call.body
    );
    let mut econ = Visitor::new(&base);
    assert_eq!(econ.sign_in(url).await, StatusCode::SEE_OTHER);
    assert_eq!(econ.get("/measures/E-2").await.0, StatusCode::OK);
    assert_eq!(econ.get("/measures/G-1").await.0, StatusCode::NOT_FOUND);

    // Signed out everywhere by the office's command.
    let out = sb.ok(&["web-logout", "赵联络"]);
    assert!(out.contains('1'), "{out}");
    assert_eq!(liaison.get("/").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(office.get("/").await.0, StatusCode::OK);
    assert!(running.stop());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workbench_enforces_roles_on_sqlite() {
    workbench_story(Sandbox::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workbench_enforces_roles_on_postgres() {
    let db = PgDatabase::create().await;
    workbench_story(Sandbox::with_url(&db.url)).await;
}
