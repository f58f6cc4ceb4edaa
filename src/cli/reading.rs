//! `duban reading`: how a reply is read, and the words duban recognises.

use std::path::Path;
use std::process::ExitCode;

use duban::config::Settings;
use duban::core::reply::words::{LEXICONS, Lexicon};
use duban::core::reply::{Intent, ReplyContext, ReplyError, read, split_code};
use duban::core::text::Language;

use super::{App, out, refuse, say};

/// `duban reading`.
pub async fn reading(
    config: Option<&Path>,
    text: Option<String>,
    measure: Option<String>,
    words: bool,
) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(config)?;
    let language = settings.config.language;
    if words {
        for lexicon in LEXICONS {
            print_lexicon(lexicon, language);
        }
    }
    let Some(text) = text else {
        if !words {
            return refuse(
                language,
                "请给出要解读的回复，如 duban reading \"基本完成\"；或用 --words 列出可识别的词".into(),
                "give a reply to read, e.g. duban reading \"almost done\"; or --words for the words".into(),
            );
        }
        return Ok(ExitCode::SUCCESS);
    };
    let content = match measure {
        Some(code) => {
            let app = App::open(config).await?;
            let code = duban::core::ledger::parse::code(&code);
            Some(app.store.measure(&code).await?.content)
        }
        None => None,
    };
    let today = chrono::Utc::now()
        .with_timezone(&settings.timezone)
        .date_naive();
    let (code, rest) = match split_code(&text) {
        Some(lead) if !text.trim_start().starts_with(['R', 'r', 'Ｒ']) => {
            (Some(lead.code.clone()), lead.rest.to_string())
        }
        _ => (None, text.clone()),
    };
    let ctx = ReplyContext {
        today,
        measure: content.as_deref(),
    };
    let zh = language == Language::Zh;
    if let Some(code) = &code {
        say!("{}{code}", language.pick("序号：", "code: "));
    }
    match read(&rest, &ctx) {
        Ok(reading) => {
            let what = describe(&reading.intent, language);
            say!("{}{what}", language.pick("读作：", "read as: "));
            if !reading.clear {
                say!(
                    "{}",
                    language.pick(
                        "说法不够明确：机器人会先请联络员确认（是 / 不是），确认前不作更改。",
                        "unclear: the bot asks the liaison to confirm (Yes / No) and changes nothing before."
                    )
                );
            }
        }
        Err(e) => {
            let why = match (e, zh) {
                (ReplyError::Empty, true) => "回复为空".to_string(),
                (ReplyError::ExtensionWithoutDate, true) => {
                    "申请延期但没有写日期：机器人会请联络员写明日期".to_string()
                }
                (ReplyError::BlockedWithoutReason, true) => {
                    "需协调但没有写事由：机器人会请联络员说明".to_string()
                }
                (e, _) => e.to_string(),
            };
            say!(
                "{}{why}",
                language.pick("无法读作更新：", "not an update: ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A reading in words.
fn describe(intent: &Intent, language: Language) -> String {
    let zh = language == Language::Zh;
    match intent {
        Intent::Done { .. } if zh => "申请销号（已完成，待整改办核验）".into(),
        Intent::Done { .. } => "completion claimed, for the office to verify".into(),
        Intent::Progress {
            percent: Some(p), ..
        } if zh => format!("推进中，进度{p}%"),
        Intent::Progress {
            percent: Some(p), ..
        } => format!("in progress, {p}%"),
        Intent::Progress { .. } if zh => "推进中（工作进展）".into(),
        Intent::Progress { .. } => "in progress (a report of work)".into(),
        Intent::Blocked { reason } if zh => format!("需协调：{}", out::safe(reason)),
        Intent::Blocked { reason } => format!("needs coordination: {}", out::safe(reason)),
        Intent::Extend { until, reason } => {
            let day = duban::core::text::date(*until, language);
            match (reason.as_deref().map(out::safe), zh) {
                (Some(why), true) => format!("申请延期至{day}。理由：{why}"),
                (None, true) => format!("申请延期至{day}"),
                (Some(why), false) => format!("extension to {day}; reason: {why}"),
                (None, false) => format!("extension to {day}"),
            }
        }
        Intent::Answer { request, text } if zh => {
            format!("答复诉求R{request}：{}", out::safe(text))
        }
        Intent::Answer { request, text } => {
            format!("answer to request R{request}: {}", out::safe(text))
        }
        Intent::Question { .. } if zh => "向整改办提问".into(),
        Intent::Question { .. } => "a question to the office".into(),
        Intent::Note(_) if zh => "进展记录（状态不变）".into(),
        Intent::Note(_) => "a note (the status stays)".into(),
    }
}

fn print_lexicon(lexicon: &Lexicon, language: Language) {
    let rows: [(&str, &str, &[&str]); 14] = [
        ("完成（申请销号）", "completion", lexicon.done),
        (
            "可能已完成（先确认）",
            "maybe done (asked)",
            lexicon.maybe_done,
        ),
        ("否定（之前）", "negation (before)", lexicon.negation),
        ("否定（之后）", "negation (after)", lexicon.negation_after),
        (
            "“完成”后的名词",
            "nouns after completion",
            lexicon.noun_after,
        ),
        ("计划", "plans", lexicon.plan),
        ("部分完成", "partial", lexicon.partial),
        ("环节（非完成）", "steps", lexicon.sub_steps),
        ("工作进展", "progress", lexicon.progress),
        ("需协调", "coordination", lexicon.blocked),
        ("申请延期", "extension", lexicon.extension),
        (
            "延后（须有日期）",
            "later (with a date)",
            lexicon.extension_weak,
        ),
        ("提问", "questions", lexicon.question),
        (
            "应答（先确认）",
            "acknowledgements (asked)",
            lexicon.acknowledge,
        ),
    ];
    say!("── {} ──", lexicon.name);
    let separator = language.pick("、", ", ");
    for (zh, en, words) in rows {
        say!(
            "{}{}{}",
            language.pick(zh, en),
            language.pick("：", ": "),
            words.join(separator)
        );
    }
    let (starts, ends) = lexicon.blocked_pair;
    say!(
        "{}",
        language.pick(
            format!(
                "需协调（前后搭配）：{} …… {}",
                starts.join("、"),
                ends.join("、")
            ),
            format!(
                "coordination (pairs): {} … {}",
                starts.join(", "),
                ends.join(", ")
            )
        )
    );
    if !lexicon.typos.is_empty() {
        let typos: Vec<String> = lexicon
            .typos
            .iter()
            .map(|(typo, meant)| format!("{typo}→{meant}"))
            .collect();
        say!(
            "{}{}",
            language.pick("笔误：", "typos: "),
            typos.join(separator)
        );
    }
}
