//! People: `duban invite`.

use chrono::Utc;

use duban::config::Settings;
use duban::core::ledger::Role;

use super::{App, out, say};

/// A random invitation code: 12 characters of an alphabet without 0/O, 1/I/L.
fn invitation_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).expect("the system's random source");
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

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
    let liaison = role == Role::Liaison;
    if liaison {
        // A liaison answers for a unit of the ledger: a typo would bind them to nothing.
        super::ledger::check_unit(app, &unit).await?;
    }
    let name = name.map(|n| duban::core::ledger::parse::name(&n));
    let code = invitation_code();
    let now = Utc::now();
    let expires = now + chrono::Duration::days(7);
    let hash = duban::app::bot::code_hash(&code);
    app.store
        .create_invite(&duban::store::NewInvite {
            code_hash: &hash,
            role,
            unit: liaison.then_some(unit.as_str()),
            place: (!liaison).then_some(unit.as_str()),
            person_name: name.as_deref(),
            created_by: &App::actor(by),
            at: now,
            expires_at: expires,
        })
        .await?;
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
