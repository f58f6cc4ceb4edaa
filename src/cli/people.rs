//! People: `duban invite`.

use chrono::Utc;

use duban::config::Settings;
use duban::core::ledger::Role;

use super::{App, out, say};

/// `duban invite`: a one-time code, its link, and how to use it; the code is the last line.
pub async fn invite(
    app: &App,
    unit: &str,
    role: &str,
    name: Option<String>,
    by: Option<String>,
) -> anyhow::Result<()> {
    let language = app.language();
    let role = Role::from_code(role).expect("clap checks the role");
    let unit = duban::core::ledger::parse::name(unit);
    // A liaison answers for a unit, a head leads one: both name a unit of the ledger.
    let liaison = role.has_unit();
    if liaison {
        // A liaison answers for a unit of the ledger: a typo would bind them to nothing.
        super::ledger::check_unit(app, &unit).await?;
    }
    let name = name.map(|n| duban::core::ledger::parse::name(&n));
    let invitation = duban::app::signin::invite(
        &app.store,
        role,
        &unit,
        name.as_deref(),
        &App::actor(by),
        Utc::now(),
    )
    .await?;
    let (code, expires) = (invitation.code, invitation.expires_at);
    let until = expires.with_timezone(&app.settings.timezone).naive_local();
    let label = duban::app::bot::role_label(role, language, app.settings.config.office_name());
    say!(
        "{}",
        language.pick(
            format!(
                "已为{unit}（{label}）生成邀请码，只能使用一次，有效期至{}（{}）。",
                duban::core::text::date_time(until, language),
                app.settings.config.timezone
            ),
            format!(
                "Invitation for {unit} ({label}), single use, valid until {} ({}).",
                duban::core::text::date_time(until, language),
                app.settings.config.timezone
            )
        )
    );
    if role == Role::Leader {
        match &name {
            None => say!(
                "{}",
                language.pick(
                    "提示：没有用 --name 写明是台账中的哪位责任领导，绑定后收不到催办抄报。",
                    "note: no --name names the 责任领导 of the ledger this leader is, so no copies of urges will reach them."
                )
            ),
            Some(name) => {
                let known = app
                    .store
                    .measures()
                    .await?
                    .iter()
                    .any(|m| m.leaders.iter().any(|l| l == name));
                if !known {
                    say!(
                        "{}",
                        language.pick(
                            format!(
                                "提示：台账的责任领导中没有“{}”。绑定后暂收不到催办抄报；核对姓名，或导入写有该责任领导的台账后，即自动关联。",
                                out::safe(name)
                            ),
                            format!(
                                "note: no measure of the ledger names {:?} as its 责任领导. Copies of urges reach them once a ledger naming them is imported (or check the name).",
                                out::safe(name)
                            )
                        )
                    );
                }
            }
        }
    }
    let channels = app.settings.config.channels();
    let dingtalk = channels.contains(&duban::core::chat::ChannelKind::DingTalk);
    // Telegram's link, unless DingTalk is the only channel.
    if !dingtalk || channels.contains(&duban::core::chat::ChannelKind::Telegram) {
        match bot_username(&app.settings).await {
            Some(user) => say!(
                "{}https://t.me/{user}?start={code}",
                language.pick("链接：", "Link: ")
            ),
            None => say!(
                "{}",
                language.pick(
                    "链接：设置 telegram.bot_username 或 DUBAN_TELEGRAM_TOKEN 后可生成 t.me 链接。",
                    "Link: set telegram.bot_username or DUBAN_TELEGRAM_TOKEN to get the t.me link."
                )
            ),
        }
        say!(
            "{}/bind {code}",
            language.pick("或向机器人发送：", "Or send the bot: ")
        );
    }
    if dingtalk {
        say!(
            "{}",
            language.pick(
                format!(
                    "钉钉：在与机器人的单聊中发送“绑定 {code}”；联络员的邀请码也可在本单位工作群里@机器人并发送“绑定 {code}”，把群绑定为本单位的工作群。"
                ),
                format!(
                    "DingTalk: send \"绑定 {code}\" to the robot in a 1:1 chat; a liaison's code also binds a group as the unit's chat when sent there with an @mention of the robot."
                )
            )
        );
    }
    say!("{code}");
    Ok(())
}

/// The bot's username: from config, else from the server when a token is set.
async fn bot_username(settings: &Settings) -> Option<String> {
    let configured = settings
        .config
        .telegram
        .bot_username
        .trim_start_matches('@');
    if !configured.is_empty() {
        return Some(configured.to_string());
    }
    if settings.config.telegram.token.is_empty() {
        return None;
    }
    let telegram = super::service::telegram(settings).ok()?;
    telegram.username().await.ok().filter(|u| !u.is_empty())
}

/// `duban web-link`: a one-time sign-in link to the web workbench; the URL is the last line.
pub async fn web_link(
    app: &App,
    name: &str,
    role: &str,
    unit: Option<String>,
    by: Option<String>,
) -> anyhow::Result<()> {
    let language = app.language();
    let role = Role::from_code(role).expect("clap checks the role");
    let name = duban::core::ledger::parse::name(name);
    if name.is_empty() {
        return super::refuse(
            language,
            "请写明登录人的姓名".to_string(),
            "name the person who signs in".to_string(),
        );
    }
    let unit = unit.map(|u| duban::core::ledger::parse::name(&u));
    if role.has_unit() && unit.is_none() {
        return super::refuse(
            language,
            "联络员和单位主要负责人的登录链接须用 --unit 写明所在单位".to_string(),
            "a liaison's or unit head's sign-in link needs --unit".to_string(),
        );
    }
    let by = by.unwrap_or_else(|| {
        format!(
            "cli:{}",
            std::env::var("USER").unwrap_or_else(|_| "office".into())
        )
    });
    let url = duban::web::sign_in_link(
        &app.store,
        &app.settings,
        &name,
        role,
        unit.as_deref(),
        &by,
        Utc::now(),
    )
    .await
    .map_err(|e| match e {
        duban::web::WebError::Store(e) => anyhow::Error::from(e),
        other => anyhow::Error::from(other),
    })?;
    let minutes = app.settings.config.web.link_minutes;
    say!(
        "{}",
        language.pick(
            format!(
                "{}的工作台登录链接（{minutes}分钟内有效，只能使用一次；打开后点“登录”）：",
                out::safe(&name)
            ),
            format!(
                "A sign-in link to the workbench for {} (valid {minutes} minutes, once; open it and press 登录):",
                out::safe(&name)
            )
        )
    );
    say!("{url}");
    Ok(())
}

/// `duban web-logout`: ends a person's sessions on every browser.
pub async fn web_logout(app: &App, name: &str) -> anyhow::Result<()> {
    let language = app.language();
    let name = duban::core::ledger::parse::name(name);
    let ended = app.store.end_web_sessions_of(&name, Utc::now()).await?;
    say!(
        "{}",
        language.pick(
            format!(
                "已退出{}的{ended}个工作台登录，未使用的登录链接已作废",
                out::safe(&name)
            ),
            format!(
                "ended {ended} workbench session(s) of {}; unused sign-in links are void",
                out::safe(&name)
            )
        )
    );
    Ok(())
}
