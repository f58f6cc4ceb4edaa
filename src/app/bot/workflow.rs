//! The office's side of the bot: claims (销号) with their evidence, extension requests and
//! coordination flags reach office members with 通过 / 退回 (or 转为诉求) buttons; a
//! rejection's reason comes as a reply; liaisons answer requests (诉求).

use serde_json::json;

use super::{Download, Step, clip, tr};
use crate::app::decide::{self, Decider, Outcome, Subject};
use crate::core::chat::{Action, Button, IncomingFile, Message};
use crate::core::ledger::Status;
use crate::core::rules::RequestCategory;
use crate::core::text::Language;
use crate::core::workflow::{category_label, request_code};
use crate::store::{Asker, NewEvidence, SentMessage, StoreError};

/// What a button under an office notice does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Approve,
    Reject,
}

impl Step<'_> {
    /// Queues a notice about something (`kind`, `context`) to every office chat; `key` is
    /// completed with the chat.
    pub(super) async fn notify_office(
        &mut self,
        key: &str,
        kind: &str,
        message: Message,
        context: serde_json::Value,
    ) -> Result<(), StoreError> {
        self.queued |= self.tx.notify_office(key, kind, &message, &context).await?;
        Ok(())
    }

    /// The claim's notice to the office, with 通过 / 退回.
    pub(super) async fn notify_claim(
        &mut self,
        claim: i64,
        measure_id: i64,
        code: &str,
        unit: Option<&str>,
    ) -> Result<(), StoreError> {
        let measure = self.tx.measure(code).await?;
        // Files sent before the claim go with it.
        let earlier = self.tx.adopt_evidence(measure_id, claim).await?;
        let evidence = self.tx.evidence_count(measure_id).await?;
        let who = self.signature(unit);
        let message = claim_notice(&measure, claim, &who, evidence, self.lang());
        self.notify_office(
            &format!("claim:{claim}"),
            "claim",
            message,
            json!({ "claim": claim }),
        )
        .await?;
        for (n, file) in earlier.iter().enumerate() {
            let kind = match file.kind.as_str() {
                "photo" => crate::core::chat::FileKind::Photo,
                _ => crate::core::chat::FileKind::Document,
            };
            let forwarded = Forwarded {
                id: file.id,
                code,
                number: n as i64 + 1,
                kind,
                file_id: &file.file_id,
                name: &file.file_name,
                sender: &file.sent_by,
            };
            self.forward_evidence(&forwarded, claim).await?;
        }
        Ok(())
    }

    /// Forwards a piece of evidence to every office chat by the channel's file id, captioned
    /// with the measure, its number in the claim, who sent it and its SHA-256.
    async fn forward_evidence(
        &mut self,
        file: &Forwarded<'_>,
        claim: i64,
    ) -> Result<(), StoreError> {
        // The SHA-256 stays in the history (`duban history`); the notice names the file.
        let (code, number, name, sender) = (file.code, file.number, file.name, file.sender);
        let caption = match self.lang() {
            Language::Zh => format!("📎 {code} 销号佐证材料第{number}件：{name}（{sender}）"),
            Language::En => format!("📎 {code} evidence {number}: {name} ({sender})"),
        };
        let message = Message::file(
            crate::core::chat::Attachment {
                kind: file.kind,
                source: crate::core::chat::FileSource::Channel(file.file_id.to_string()),
                name: name.to_string(),
            },
            caption,
        );
        self.notify_office(
            &format!("evidence:{}", file.id),
            "evidence",
            message,
            json!({ "claim": claim }),
        )
        .await
    }

    /// An extension request's notice to the office, with 通过 / 退回.
    pub(super) async fn notify_extension(
        &mut self,
        request: i64,
        code: &str,
        until: chrono::NaiveDate,
        reason: &str,
        unit: Option<&str>,
    ) -> Result<(), StoreError> {
        let measure = self.tx.measure(code).await?;
        let who = self.signature(unit);
        let text = match self.lang() {
            Language::Zh => format!(
                "📅 延期申请 {code}：{}\n{who}申请由{}延期至{}。理由：{reason}\n同意请点“同意延期”；不同意请点“不予同意”并回复本消息写明理由。",
                crate::core::report::fit(&measure.content, 60).trim_end(),
                measure.deadline.describe(Language::Zh),
                crate::core::text::date(until, Language::Zh),
            ),
            Language::En => format!(
                "📅 Extension asked for {code}: {}\n{who} asks to move {} to {until}: {reason}\nPress Approve to agree; to refuse, press Refuse and reply to this message with the reason.",
                crate::core::report::fit(&measure.content, 60).trim_end(),
                measure.deadline.describe(Language::En),
            ),
        };
        let message = Message {
            buttons: vec![decision_buttons("x", request, self.lang())],
            ..Message::text(text)
        };
        self.notify_office(
            &format!("extension:{request}"),
            "extension",
            message,
            json!({ "extension": request }),
        )
        .await
    }

    /// A coordination flag's notice to the office, with buttons to raise it into a request
    /// of each category.
    pub(super) async fn notify_flag(
        &mut self,
        flag: i64,
        code: &str,
        reason: &str,
        unit: Option<&str>,
        question: bool,
    ) -> Result<(), StoreError> {
        let who = self.signature(unit);
        let language = self.lang();
        let text = match (language, question) {
            (Language::Zh, true) => format!(
                "❓ {who}就{code}提问：{reason}\n请答复提问人；如需按响应时限督办，可点下方按钮列为督办事项（{}）。",
                self.settings.config.rules.response.describe(language)
            ),
            (Language::En, true) => format!(
                "❓ {who} asks about {code}: {reason}\nPlease answer them; to track it under the response rule, raise it into a request below."
            ),
            (Language::Zh, false) => format!(
                "⚠️ {who}就{code}申请协调：{reason}\n如需按响应时限督办，请点下方按钮列为督办事项（{}）。",
                self.settings.config.rules.response.describe(language)
            ),
            (Language::En, false) => format!(
                "⚠️ {who} asks for coordination on {code}: {reason}\nTo track it under the response rule, raise it into a request below."
            ),
        };
        // The buttons give it to the lead unit; another unit, or the office, is named after
        // the button's data.
        let text = match language {
            Language::Zh => format!(
                "{text}\n交其他单位或{office}答复：发送“#f:{flag}:general 单位名称”（general 可换成 consult、major）。",
                office = self.office_name()
            ),
            Language::En => format!(
                "{text}\nTo have another unit (or the office) answer: send \"#f:{flag}:general UNIT\" (or consult, major)."
            ),
        };
        let buttons = [
            RequestCategory::Consult,
            RequestCategory::General,
            RequestCategory::Major,
        ]
        .into_iter()
        .map(|c| {
            Button::new(
                match language {
                    Language::Zh => format!("列为督办事项·{}", category_label(c, language)),
                    Language::En => format!("Request: {}", category_label(c, language)),
                },
                format!("f:{flag}:{}", crate::core::workflow::category_code(c)),
            )
        })
        .collect();
        let message = Message {
            buttons: vec![buttons],
            ..Message::text(text)
        };
        self.notify_office(
            &format!("flag:{flag}"),
            "flag",
            message,
            json!({ "flag": flag }),
        )
        .await
    }

    /// A press on a button under an office notice (`c:` claim, `x:` extension, `f:` flag);
    /// returns the toast.
    pub(super) async fn office_press(
        &mut self,
        message_id: Option<&str>,
        data: &str,
        reason: Option<&str>,
    ) -> Result<String, StoreError> {
        let refused = tr(
            self.lang(),
            "此按钮无效或已过期。",
            "This button is not valid any more.",
        );
        let mut parts = data.split(':');
        let (Some(prefix), Some(id), Some(action), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Ok(refused);
        };
        let Ok(id) = id.parse::<i64>() else {
            return Ok(refused);
        };
        if !self.who.office() {
            return Ok(match self.lang() {
                Language::Zh => format!("只有{}可以核验和审批。", self.office_name()),
                Language::En => "Only the supervision office can decide this.".to_string(),
            });
        }
        let decision = match action {
            "ok" => Some(Decision::Approve),
            "no" => Some(Decision::Reject),
            _ => None,
        };
        match (prefix, decision) {
            ("c", Some(decision)) => self.decide_claim(id, decision, reason, message_id).await,
            ("x", Some(decision)) => {
                self.decide_extension(id, decision, reason, message_id)
                    .await
            }
            // The words after a flag's button name the unit that answers.
            ("f", None) => match crate::core::workflow::parse_category(action) {
                Some(category) => self.raise_flag(id, category, reason, message_id).await,
                None => Ok(refused),
            },
            _ => Ok(refused),
        }
    }

    /// Approves or rejects a claim. A rejection without a reason asks for one.
    async fn decide_claim(
        &mut self,
        id: i64,
        decision: Decision,
        reason: Option<&str>,
        message_id: Option<&str>,
    ) -> Result<String, StoreError> {
        let raw = match (decision, reason) {
            (Decision::Approve, _) => "[button] 通过".to_string(),
            (Decision::Reject, reason) => reason.unwrap_or_default().to_string(),
        };
        self.decide(Subject::Claim(id), decision, reason, &raw, message_id)
            .await
    }

    /// Approves or rejects an extension request. A rejection without a reason asks for one.
    async fn decide_extension(
        &mut self,
        id: i64,
        decision: Decision,
        reason: Option<&str>,
        message_id: Option<&str>,
    ) -> Result<String, StoreError> {
        let raw = match (decision, reason) {
            (Decision::Approve, _) => match self.tx.extension(id).await? {
                Some(request) => format!(
                    "[button] 同意延期至{}",
                    crate::core::text::date(request.until, Language::Zh)
                ),
                None => "[button] 同意延期".to_string(),
            },
            (Decision::Reject, reason) => reason.unwrap_or_default().to_string(),
        };
        self.decide(Subject::Extension(id), decision, reason, &raw, message_id)
            .await
    }

    /// The office's decision on `subject` (see [`crate::app::decide::decide`]), with the
    /// pressed notice marked decided, or the reason asked for.
    async fn decide(
        &mut self,
        subject: Subject,
        decision: Decision,
        reason: Option<&str>,
        raw: &str,
        message_id: Option<&str>,
    ) -> Result<String, StoreError> {
        let mut change = self.change(None, raw);
        change.actor = self.who.decider(self.office_name());
        let user = self.who.user.clone();
        let decider = Decider {
            change,
            office: self.who.office(),
            user: Some(&user),
        };
        let approve = decision == Decision::Approve;
        let outcome = decide::decide(
            &mut self.tx,
            self.settings,
            subject,
            approve,
            reason,
            &decider,
        )
        .await?;
        match outcome {
            Outcome::Decided { line, .. } => {
                self.queued = true;
                let kind = match subject {
                    Subject::Claim(_) => "claim",
                    Subject::Extension(_) => "extension",
                };
                self.close_notice(kind, message_id, &line).await?;
                Ok(line)
            }
            Outcome::Refused(line) => Ok(line),
            Outcome::NeedsReason { code } => self.ask_reason(&code, subject).await,
        }
    }

    /// Raises a coordination flag into a request of `category`, for `to` (a unit, or the
    /// office) or else the measure's lead unit.
    async fn raise_flag(
        &mut self,
        id: i64,
        category: RequestCategory,
        to: Option<&str>,
        message_id: Option<&str>,
    ) -> Result<String, StoreError> {
        let actor = self.who.decider(self.office_name());
        match decide::raise_flag(&mut self.tx, self.settings, id, category, to, &actor).await? {
            Outcome::Decided { line, .. } => {
                self.close_notice("flag", message_id, &line).await?;
                Ok(line)
            }
            Outcome::Refused(line) | Outcome::NeedsReason { code: line } => Ok(line),
        }
    }

    /// Asks the office member for a rejection's reason.
    async fn ask_reason(&mut self, code: &str, subject: Subject) -> Result<String, StoreError> {
        let context = subject.context();
        let data = match subject {
            Subject::Claim(id) => format!("c:{id}:no"),
            Subject::Extension(id) => format!("x:{id}:no"),
        };
        // Where a reply cannot name this prompt, the reason goes after the button's data.
        let line = match (self.lang(), self.caps.threading) {
            (Language::Zh, true) => format!("请回复本条消息写明退回{code}的理由。"),
            (Language::En, true) => {
                format!("Reply to this message with the reason for rejecting {code}.")
            }
            (Language::Zh, false) => {
                format!("请发送“退回 #{data} 理由”，写明退回{code}的理由。")
            }
            (Language::En, false) => {
                format!("Send \"reject #{data} REASON\" with the reason for rejecting {code}.")
            }
        };
        // A press sent as text (a one-tap link) is answered in the chat, by this prompt.
        if !matches!(self.incoming.event, crate::core::chat::Event::Button { .. }) {
            self.say_about(line, context).await?;
            return Ok(String::new());
        }
        let key = format!(
            "reason:{}:{}",
            self.incoming.update_id, self.who.sender.user_id
        );
        let queued = self
            .tx
            .enqueue_about(
                &key,
                &self.chat,
                "prompt",
                &Message::text(line.clone()),
                &context,
            )
            .await?;
        self.queued |= queued.is_some();
        Ok(line)
    }

    /// Marks the pressed notice decided: its text gets the decision, its buttons go.
    async fn close_notice(
        &mut self,
        kind: &str,
        message_id: Option<&str>,
        line: &str,
    ) -> Result<(), StoreError> {
        let Some(message_id) = message_id else {
            return Ok(());
        };
        let Some(sent) = self.tx.sent_message(&self.chat, message_id).await? else {
            return Ok(());
        };
        if sent.kind != kind || !self.caps.edits {
            return Ok(());
        }
        self.actions.push(Action::Edit {
            chat_id: self.incoming.chat_id.clone(),
            message_id: message_id.to_string(),
            message: Message::text(format!("{}\n—— {line}", sent.message.text)),
        });
        Ok(())
    }

    /// A text in reply to an office notice or prompt: the reason for a rejection. Returns
    /// whether the text was taken as one.
    pub(super) async fn reason_reply(
        &mut self,
        sent: &SentMessage,
        text: &str,
    ) -> Result<bool, StoreError> {
        let Some(context) = &sent.context else {
            return Ok(false);
        };
        let claim = context.get("claim").and_then(|v| v.as_i64());
        let extension = context.get("extension").and_then(|v| v.as_i64());
        if claim.is_none() && extension.is_none() {
            return Ok(false);
        }
        if !self.who.office() {
            return Ok(false);
        }
        // "退回 理由" rejects at once; otherwise the text is the reason owed after 退回.
        let stated = ["退回", "驳回", "不同意", "reject"]
            .iter()
            .find_map(|w| text.strip_prefix(w))
            .map(|rest| {
                rest.trim_start_matches([' ', ':', '\u{FF1A}', ',', '\u{FF0C}'])
                    .trim()
            });
        let user = self.who.user.clone();
        let owed = match (claim, extension) {
            (Some(id), _) => self
                .tx
                .claim(id)
                .await?
                .is_some_and(|c| c.rejecting_user == Some(user)),
            (_, Some(id)) => self
                .tx
                .extension(id)
                .await?
                .is_some_and(|e| e.rejecting_user == Some(user)),
            _ => false,
        };
        let reason = match stated {
            Some(reason) if !reason.is_empty() => reason.to_string(),
            Some(_) => {
                self.say(tr(
                    self.lang(),
                    "请写明退回理由，如“退回 验收报告未附”。",
                    "Give the reason, e.g. \"reject: no acceptance report\".",
                ))
                .await?;
                return Ok(true);
            }
            None if owed => text.trim().to_string(),
            None => {
                self.say(tr(
                    self.lang(),
                    "核验请点通知下方的“通过”；退回请点“退回”后回复理由，或直接回复“退回 理由”。",
                    "Press Approve under the notice; to reject, press Reject and reply with the reason, or reply \"reject: reason\".",
                ))
                .await?;
                return Ok(true);
            }
        };
        let reason = clip(&reason);
        let line = match (claim, extension) {
            (Some(id), _) => {
                self.decide_claim(id, Decision::Reject, Some(&reason), None)
                    .await?
            }
            (_, Some(id)) => {
                self.decide_extension(id, Decision::Reject, Some(&reason), None)
                    .await?
            }
            _ => return Ok(false),
        };
        self.say(line).await?;
        Ok(true)
    }

    /// A photo or a document: evidence for the measure it names (by caption code, by the
    /// reminder or confirmation it replies to).
    pub(super) async fn file_event(
        &mut self,
        file: &IncomingFile,
        caption: &str,
        reply_to: Option<&str>,
    ) -> Result<(), StoreError> {
        if !self.who.bound() {
            if !self.group() {
                self.tell_unbound().await?;
            }
            return Ok(());
        }
        let mut sent = match reply_to {
            Some(id) => self.tx.sent_message(&self.chat, id).await?,
            None => None,
        };
        let reminder = match reply_to {
            Some(id) => self.tx.sent_reminder(&self.chat, id).await?,
            None => None,
        };
        // Where a file cannot reply to a message (DingTalk), it goes with the measure the
        // chat was last told about (the confirmation of a claim, say).
        if reply_to.is_none() && !self.caps.threading {
            sent = self.tx.latest_about_measure(&self.chat).await?;
        }
        let lead = crate::core::reply::split_code(caption);
        let mut target: Option<(i64, String)> = None;
        if let Some(lead) = &lead {
            target = match &reminder {
                Some(r) => r.items.iter().find(|(_, c)| *c == lead.code).cloned(),
                None => None,
            };
            if target.is_none() && !lead.glued {
                target = self
                    .tx
                    .find_measure(&lead.code)
                    .await?
                    .map(|(id, _)| (id, lead.code.clone()));
            }
        }
        if target.is_none()
            && let Some(r) = &reminder
            && r.items.len() == 1
        {
            target = Some(r.items[0].clone());
        }
        if target.is_none()
            && let Some(measure) = sent
                .as_ref()
                .and_then(|s| s.context.as_ref())
                .and_then(|c| c.get("measure"))
                .and_then(|m| m.as_i64())
        {
            target = self.tx.measure_code(measure).await?.map(|c| (measure, c));
        }
        let Some((measure_id, code)) = target else {
            if self.group() && sent.is_none() {
                return Ok(());
            }
            return self
                .say(tr(
                    self.lang(),
                    "收到文件，但不知道是哪项措施的佐证材料：请回复提醒或确认消息发送，或在说明里写明序号，如“1-3 验收报告”。",
                    "Which measure is this evidence for? Reply to the reminder or the confirmation, or put the code in the caption, e.g. \"1-3 acceptance report\".",
                ))
                .await;
        };
        let measure = self.tx.measure(&code).await?;
        let Some(unit) = self.who.may_change(&measure.lead_unit, &measure.units) else {
            let line = match self.lang() {
                Language::Zh => format!("您只能为本单位的整改措施提交材料，无权为{code}提交。"),
                Language::En => {
                    format!("You can only send evidence for your own units' measures, not {code}.")
                }
            };
            return self.say(line).await;
        };
        let unit = unit.map(str::to_string);
        let limit = self.settings.config.evidence.max_megabytes;
        let bytes = match self.file {
            Download::Bytes(bytes) => bytes,
            Download::TooLarge => {
                return self
                    .say(match self.lang() {
                        Language::Zh => {
                            format!("文件超过{limit}MB，无法保存，请压缩或拆分后重发。")
                        }
                        Language::En => format!(
                            "The file is over {limit} MB and cannot be kept: send it smaller."
                        ),
                    })
                    .await;
            }
            Download::Empty => {
                return self
                    .say(tr(
                        self.lang(),
                        "文件为空（0字节），未作为佐证材料保存，请检查后重发。",
                        "The file is empty (0 bytes) and was not kept as evidence: check it and send it again.",
                    ))
                    .await;
            }
            Download::Invalid => {
                return self
                    .say(tr(
                        self.lang(),
                        "无法读取该文件的大小，未作为佐证材料保存，请重新发送或改用其他格式。",
                        "The file's size cannot be read, so it was not kept as evidence: send it again, or in another format.",
                    ))
                    .await;
            }
            Download::None | Download::Failed => {
                return self
                    .say(tr(
                        self.lang(),
                        "文件未能接收，请稍后重发。",
                        "The file could not be fetched: please send it again later.",
                    ))
                    .await;
            }
        };
        let sha256 = crate::app::signin::sha256_hex(bytes);
        let path = evidence_path(&sha256, &file.name);
        if let Err(e) = store_file(&self.settings.config.data_dir, &path, bytes) {
            tracing::error!("keeping evidence {path}: {e}");
            return Err(StoreError::Corrupt {
                column: "evidence file",
                value: e.to_string(),
            });
        }
        let raw = if caption.is_empty() {
            format!("[{}] {}", file.kind.code(), file.name)
        } else {
            caption.to_string()
        };
        let change = self.change(unit.clone(), &raw);
        let evidence = NewEvidence {
            measure_id,
            file_id: &file.file_id,
            file_name: &file.name,
            kind: file.kind.code(),
            size: bytes.len() as i64,
            sha256: &sha256,
            path: &path,
        };
        let id = self.tx.add_evidence(&evidence, &change).await?;
        let count = self.tx.evidence_count(measure_id).await?;
        // A claim waiting for the office gets its evidence forwarded there.
        if let Some(claim) = self.tx.pending_claim(measure_id).await? {
            let sender = self.signature(unit.as_deref());
            let forwarded = Forwarded {
                id,
                code: &code,
                number: count,
                kind: file.kind,
                file_id: &file.file_id,
                name: &file.name,
                sender: &sender,
            };
            self.forward_evidence(&forwarded, claim).await?;
        }
        let status = self.tx.status(measure_id).await?;
        let line = match self.lang() {
            Language::Zh => format!(
                "📎 {code} 已收到佐证材料：{}（第{count}件），状态：{}",
                file.name,
                crate::core::report::status_label(status, Language::Zh)
            ),
            Language::En => format!(
                "📎 {code}: evidence {} received (file {count}), status {}",
                file.name,
                crate::core::report::status_label(status, Language::En)
            ),
        };
        let line = if status == Status::Claimed || status == Status::Closed {
            line
        } else {
            match self.lang() {
                Language::Zh => format!("{line}。完成后请回复“{code} 已完成”申请销号。"),
                Language::En => format!("{line}. When done, reply \"{code} done\" to claim it."),
            }
        };
        self.say_about(line, json!({ "measure": measure_id })).await
    }

    /// A text that answers a request (诉求): by its code ("R12 …"), or in reply to a
    /// request reminder. Returns whether the text was taken as an answer.
    pub(super) async fn request_reply(
        &mut self,
        sent: Option<&SentMessage>,
        text: &str,
    ) -> Result<bool, StoreError> {
        let listed: Vec<i64> = sent
            .and_then(|s| s.context.as_ref())
            .and_then(|c| c.get("requests"))
            .and_then(|r| r.as_array())
            .map(|ids| ids.iter().filter_map(|v| v.as_i64()).collect())
            .unwrap_or_default();
        // "R12 …", "R12：…", "R3已协调解决", "回复R5，……": the code, then the answer.
        let named_code = crate::core::reply::request_code_at_start(text);
        let (named, rest) = match named_code {
            Some((id, rest)) => (Some(id), rest),
            None => (None, ""),
        };
        let (id, answer) = match (named, listed.as_slice()) {
            (Some(id), _) => (id, rest.trim()),
            (None, [only]) => (*only, text.trim()),
            (None, []) => return Ok(false),
            (None, _) => {
                self.say(tr(
                    self.lang(),
                    "这条提醒列了多项诉求，请写明编号，如“R3 已与企业对接，问题已解决”。",
                    "This reminder lists several requests: start with the code, e.g. \"R3 solved with the company\".",
                ))
                .await?;
                return Ok(true);
            }
        };
        self.answer_request(id, answer).await?;
        Ok(true)
    }

    /// Answers request `id` with `answer`, for a liaison of its unit or the office.
    pub(super) async fn answer_request(&mut self, id: i64, answer: &str) -> Result<(), StoreError> {
        let code = request_code(id);
        let Some(request) = self.tx.request(id).await? else {
            let line = match self.lang() {
                Language::Zh => format!("没有这项诉求：{code}。"),
                Language::En => format!("No request has the code {code}."),
            };
            return self.say(line).await;
        };
        if !self.who.office() && !self.who.units().contains(&request.unit.as_str()) {
            let line = match self.lang() {
                Language::Zh => format!("{code} 不是本单位的诉求，无权答复。"),
                Language::En => format!("{code} is not your unit's request."),
            };
            return self.say(line).await;
        }
        if answer.is_empty() {
            return self
                .say(match self.lang() {
                    Language::Zh => {
                        format!("请写明答复内容，如“{code} 已与企业对接，问题已解决”。")
                    }
                    Language::En => {
                        format!("Write the answer, e.g. \"{code} solved with the company\".")
                    }
                })
                .await;
        }
        let today = self.today();
        let actor = self.who.actor();
        let answer = clip(answer);
        if !self.tx.answer_request(id, &answer, &actor, today).await? {
            return self
                .say(match self.lang() {
                    Language::Zh => format!("{code} 已答复过，无需再报。"),
                    Language::En => format!("{code} was answered already."),
                })
                .await;
        }
        let late = today > request.due;
        let line = match (self.lang(), late) {
            (Language::Zh, false) => format!(
                "✅ {code} 已答复并办结（时限：{}）。",
                crate::core::text::date(request.due, Language::Zh)
            ),
            (Language::Zh, true) => format!(
                "✅ {code} 已答复并办结；已超过时限（{}），计为超时答复。",
                crate::core::text::date(request.due, Language::Zh)
            ),
            (Language::En, false) => {
                format!("✅ {code} answered and closed (due {}).", request.due)
            }
            (Language::En, true) => {
                format!(
                    "✅ {code} answered and closed, after its limit of {}: counted late.",
                    request.due
                )
            }
        };
        self.say(line).await
    }

    /// The office's day.
    pub(super) fn today(&self) -> chrono::NaiveDate {
        self.now.with_timezone(&self.settings.timezone).date_naive()
    }

    /// Records a flag and tells the office; returns nothing (the caller confirms). A
    /// question to the office is a flag too, worded as one.
    pub(super) async fn flag(
        &mut self,
        measure_id: i64,
        code: &str,
        reason: &str,
        unit: Option<&str>,
        question: bool,
    ) -> Result<(), StoreError> {
        let name = self.who.actor();
        let asker = Asker {
            person_id: self.who.person_id(),
            name: &name,
            user: &self.who.user,
            chat: &self.chat,
            unit,
        };
        let id = self.tx.flag(measure_id, &asker, reason).await?;
        self.notify_flag(id, code, reason, unit, question).await
    }

    /// Records an extension request and tells the office.
    pub(super) async fn request_extension(
        &mut self,
        measure_id: i64,
        code: &str,
        until: chrono::NaiveDate,
        reason: Option<&str>,
        unit: Option<&str>,
    ) -> Result<(), StoreError> {
        let name = self.who.actor();
        let asker = Asker {
            person_id: self.who.person_id(),
            name: &name,
            user: &self.who.user,
            chat: &self.chat,
            unit,
        };
        let id = self
            .tx
            .request_extension(measure_id, &asker, until, reason)
            .await?;
        self.notify_extension(id, code, until, reason.unwrap_or(""), unit)
            .await
    }
}

/// The office's two answers for `prefix:id`: 通过 / 退回 for a claim (`c`), 同意延期 /
/// 不予同意 for an extension (`x`).
/// The claim's notice to the office: the measure, who claims, the evidence so far, and
/// 通过 / 退回.
pub(crate) fn claim_notice(
    measure: &crate::core::ledger::Measure,
    claim: i64,
    who: &str,
    evidence: i64,
    language: Language,
) -> Message {
    let code = &measure.code;
    let text = match language {
        Language::Zh => format!(
            "📋 销号申请 {code}：{}\n牵头单位：{} · 时限：{} · 申请人：{who}\n佐证材料{evidence}件（随后发来的会转到这里）。\n核验后请点“通过”；退回请点“退回”并回复本消息写明理由。",
            crate::core::report::fit(&measure.content, 60).trim_end(),
            measure.lead_unit,
            measure.deadline.describe(Language::Zh),
        ),
        Language::En => format!(
            "📋 Completion claimed for {code}: {}\nLead unit {} · deadline {} · by {who}\nEvidence: {evidence} file(s) (more will be forwarded here).\nVerify, then press Approve; to reject, press Reject and reply to this message with the reason.",
            crate::core::report::fit(&measure.content, 60).trim_end(),
            measure.lead_unit,
            measure.deadline.describe(Language::En),
        ),
    };
    Message {
        buttons: vec![decision_buttons("c", claim, language)],
        ..Message::text(text)
    }
}

fn decision_buttons(prefix: &str, id: i64, language: Language) -> Vec<Button> {
    let (ok, no) = match (prefix, language) {
        ("x", Language::Zh) => ("✅ 同意延期", "↩️ 不予同意"),
        ("x", Language::En) => ("✅ Approve", "↩️ Refuse"),
        (_, Language::Zh) => ("✅ 通过", "↩️ 退回"),
        (_, Language::En) => ("✅ Approve", "↩️ Reject"),
    };
    vec![
        Button::new(ok, format!("{prefix}:{id}:ok")),
        Button::new(no, format!("{prefix}:{id}:no")),
    ]
}

/// Where evidence is kept under the data directory: by its hash, so that the same file sent
/// twice is kept once, with the sent name's extension.
pub(crate) fn evidence_path(sha256: &str, name: &str) -> String {
    let extension: String = std::path::Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| {
            e.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(8)
                .collect::<String>()
                .to_lowercase()
        })
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "bin".into());
    format!("evidence/{}/{sha256}.{extension}", &sha256[..2])
}

/// Writes a file under the data directory, through a temporary file so that a crash
/// leaves no half-written copy.
pub(crate) fn store_file(
    data_dir: &std::path::Path,
    path: &str,
    bytes: &[u8],
) -> std::io::Result<()> {
    let target = data_dir.join(path);
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if target.exists() {
        return Ok(());
    }
    let temporary = target.with_extension("part");
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, &target)
}

/// A piece of evidence on its way to the office.
struct Forwarded<'a> {
    /// Its row.
    id: i64,
    /// The measure's code.
    code: &'a str,
    /// Its number among the claim's evidence.
    number: i64,
    kind: crate::core::chat::FileKind,
    /// The channel's id of the file.
    file_id: &'a str,
    name: &'a str,
    /// Who sent it.
    sender: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_paths_are_content_addressed() {
        let sha = "ab".repeat(32);
        assert_eq!(
            evidence_path(&sha, "验收报告.PDF"),
            format!("evidence/ab/{sha}.pdf")
        );
        assert_eq!(
            evidence_path(&sha, "photo"),
            format!("evidence/ab/{sha}.bin")
        );
        // Only the extension's letters and digits are kept: no way out of the directory.
        assert_eq!(
            evidence_path(&sha, "../../报告.p/d\\f"),
            format!("evidence/ab/{sha}.bin")
        );
        assert_eq!(
            evidence_path(&sha, "../../x.s/h"),
            format!("evidence/ab/{sha}.bin")
        );
        assert_eq!(
            evidence_path(&sha, "a.tar.GZ"),
            format!("evidence/ab/{sha}.gz")
        );
    }

    #[test]
    fn files_are_written_whole_and_once() {
        let dir = tempfile::tempdir().unwrap();
        store_file(dir.path(), "evidence/ab/x.pdf", b"first").unwrap();
        store_file(dir.path(), "evidence/ab/x.pdf", b"second").unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("evidence/ab/x.pdf")).unwrap(),
            b"first"
        );
        assert!(!dir.path().join("evidence/ab/x.part").exists());
    }

    #[test]
    fn decision_buttons_carry_the_id() {
        let buttons = decision_buttons("c", 42, Language::Zh);
        assert_eq!(buttons[0].data, "c:42:ok");
        assert_eq!(buttons[1].data, "c:42:no");
        assert!(buttons.iter().all(|b| b.data.len() <= 64));
    }
}
