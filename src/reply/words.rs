//! What duban recognises in a reply, as data: one table of words per language, so that an
//! office can read what is understood (`duban reading --words`) and a test can run every row.
//!
//! Chinese words are matched without spaces and with full-width forms folded to ASCII;
//! English words are matched lower-case, at word boundaries.

/// The words of one language, by what they signal.
#[derive(Debug, Clone, Copy)]
pub struct Lexicon {
    /// The language's name, for listings.
    pub name: &'static str,
    /// A claim of completion: 已完成, 办结, 整改到位 ….
    pub done: &'static [&'static str],
    /// Completion said loosely: the bot asks before taking it for a claim (基本完成 ….
    pub maybe_done: &'static [&'static str],
    /// Words that deny what follows them within a few characters (未, 没, 尚未, 无法 …).
    pub negation: &'static [&'static str],
    /// Words right after 完成 that deny it (完成不了).
    pub negation_after: &'static [&'static str],
    /// Words right after 完成 that make it a noun or a condition, not a claim: 完成情况,
    /// 完成时间, 完成后.
    pub noun_after: &'static [&'static str],
    /// Words that make a later 完成 a plan, not a claim (预计, 计划, 争取, 拟, 将, 力争 …).
    pub plan: &'static [&'static str],
    /// Words that make a result partial (一半, 部分, 初稿, 阶段性 …).
    pub partial: &'static [&'static str],
    /// Steps of a larger measure: 已完成招标 is no claim on a measure that is more than a tender.
    pub sub_steps: &'static [&'static str],
    /// A report of work under way (推进中, 已召开, 已上报, 合同已签 …).
    pub progress: &'static [&'static str],
    /// A call for coordination (需协调, 有困难, 请领导出面 …).
    pub blocked: &'static [&'static str],
    /// Asking for support from someone: `需要 … 支持`, a start word and an end word a few
    /// characters apart.
    pub blocked_pair: (&'static [&'static str], &'static [&'static str]),
    /// An extension asked for; without a date the bot asks for one (延期, 顺延 …).
    pub extension: &'static [&'static str],
    /// A later date asked for only when a date follows (推迟到, 延后至 …).
    pub extension_weak: &'static [&'static str],
    /// A question to the office (请问, 能否, 怎么 …); a question mark at the end counts too.
    pub question: &'static [&'static str],
    /// An acknowledgement that says nothing of the work (好的, 收到 …): the bot asks.
    pub acknowledge: &'static [&'static str],
    /// Slips of the pen and of voice input, with what was meant (己完成 → 已完成).
    pub typos: &'static [(&'static str, &'static str)],
}

/// The Chinese words.
pub const ZH: Lexicon = Lexicon {
    name: "中文",
    done: &[
        "已全部完成",
        "全部完成",
        "全面完成",
        "已完成",
        "完成了",
        "完成",
        "已办结",
        "办结",
        "整改到位",
        "全部到位",
        "落实到位",
        "办理完毕",
        "整改完毕",
        "已完结",
        "完结",
        "已整改",
        "已竣工",
        "竣工",
        "申请销号",
        "请验收",
        "弄完了",
        "做完了",
        "搞定",
    ],
    maybe_done: &[
        "基本完成",
        "差不多完成",
        "差不多了",
        "接近完成",
        "已印发",
        "已出台",
    ],
    negation: &[
        "尚未",
        "还没有",
        "还没",
        "没有",
        "没",
        "未能",
        "暂未",
        "未",
        "不能",
        "无法",
        "不",
    ],
    negation_after: &["不了", "不成", "不到"],
    noun_after: &[
        "情况", "率", "进度", "比例", "时限", "时间", "期限", "节点", "计划", "目标", "标准", "难",
        "前", "后", "的",
    ],
    plan: &[
        "预计", "计划", "争取", "力争", "拟于", "拟", "将于", "将", "准备", "打算", "有望", "即将",
        "正在",
    ],
    partial: &[
        "三分之一",
        "三分之二",
        "一半",
        "部分",
        "初稿",
        "阶段性",
        "中的",
        "还剩",
        "尚余",
        "其中",
    ],
    sub_steps: &[
        "招标",
        "立项",
        "选址",
        "设计",
        "方案编制",
        "编制方案",
        "调研",
        "起草",
        "征求意见",
        "初稿",
        "备案",
        "签约",
        "采购",
        "评审",
        "前期",
    ],
    progress: &[
        "推进中",
        "正在",
        "进展",
        "推进",
        "已开会",
        "开过会",
        "已召开",
        "召开了",
        "已部署",
        "部署了",
        "已上报",
        "已报",
        "已起草",
        "已启动",
        "已开展",
        "已对接",
        "对接",
        "洽谈",
        "已签",
        "签订",
        "已成立",
        "已下发",
        "已组织",
        "已开工",
        "开工建设",
        "开始施工",
        "施工",
        "已进场",
        "安装调试",
        "已拨付",
        "拨付到位",
        "封顶",
        "在写",
        "待审议",
        "落实",
    ],
    blocked: &[
        "需要协调",
        "需协调",
        "请协调",
        "协调解决",
        "帮助协调",
        "有困难",
        "困难",
        "有难度",
        "受阻",
        "难以推进",
        "推进不下去",
        "卡在",
        "求助",
        "出面协调",
        "领导协调",
    ],
    blocked_pair: (
        &["需要", "需", "请", "恳请", "希望"],
        &["支持", "协调", "帮助", "出面"],
    ),
    extension: &[
        "申请延期",
        "延期",
        "顺延",
        "延长时限",
        "时限延长",
        "时限调整为",
        "延长至",
        "延长到",
    ],
    extension_weak: &["延后", "推迟", "推后", "延至"],
    question: &[
        "请问",
        "想问",
        "问一下",
        "咨询一下",
        "能否",
        "能不能",
        "是否",
        "怎么",
        "如何",
        "哪些",
        "哪里",
        "什么",
        "谁",
    ],
    acknowledge: &["好的", "好", "收到", "知道了", "明白", "嗯", "ok", "okay"],
    typos: &[
        ("己完成", "已完成"),
        ("以完成", "已完成"),
        ("己经", "已经"),
        ("以经", "已经"),
        ("己办结", "已办结"),
        ("完承", "完成"),
        ("己整改", "已整改"),
    ],
};

/// The English words.
pub const EN: Lexicon = Lexicon {
    name: "English",
    done: &[
        "all done",
        "done",
        "completed",
        "complete",
        "finished",
        "closed out",
    ],
    maybe_done: &[
        "almost done",
        "nearly done",
        "mostly done",
        "basically done",
    ],
    negation: &["not", "n't", "never", "no"],
    negation_after: &["yet"],
    noun_after: &["rate", "date"],
    plan: &[
        "will",
        "expected to",
        "expect to",
        "plan to",
        "going to",
        "by next",
    ],
    partial: &["half", "partly", "partially", "part of"],
    sub_steps: &["tender", "design", "draft", "approval", "procurement"],
    progress: &[
        "in progress",
        "started",
        "under way",
        "underway",
        "ongoing",
        "working on",
        "signed",
        "construction",
        "progress",
    ],
    blocked: &[
        "blocked",
        "need coordination",
        "needs coordination",
        "need help",
        "stuck",
        "need support",
    ],
    blocked_pair: (&["need", "please"], &["coordination", "support", "help"]),
    extension: &["extend", "extension"],
    extension_weak: &["postpone", "delay", "move to"],
    question: &[
        "how", "what", "who", "when", "where", "which", "can we", "could", "should",
    ],
    acknowledge: &["ok", "okay", "got it", "noted", "yes", "roger"],
    typos: &[],
};

/// Both tables, as `duban reading --words` lists them.
pub const LEXICONS: [&Lexicon; 2] = [&ZH, &EN];
