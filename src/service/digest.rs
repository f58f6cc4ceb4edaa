//! The digest step: gathers the facts, builds the digest, renders its chart (and, on the
//! ledger's weekday, exports the ledger), and queues all of it to every bound leader through
//! the outbox, once per day and leader.

use std::path::Path;
use std::sync::OnceLock;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};

use crate::config::{Language, Settings};
use crate::core::chart::{ChartError, ChartLabels, unit_bars_png_with_font};
use crate::core::chat::{Address, Attachment, FileKind, FileSource, Message};
use crate::core::digest::{Counts, Cut, Digest, Facts, Options, Silent, build};
use crate::core::ledger::Measure;
use crate::core::remind::{Planned, RecipientKind};
use crate::core::rules::{Assessment, Context, assess};
use crate::store::{DigestCounts, Store, StoreError};

/// The name of the daily digest in the runs table.
pub const DIGEST: &str = "digest";

/// Why a digest could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The chart could not be drawn.
    #[error("the digest's chart: {0}")]
    Chart(#[from] ChartError),
    /// A file under the data directory could not be written or read.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// What one digest did.
#[derive(Debug, Clone)]
pub struct DigestOutcome {
    /// The day, in the office's time zone.
    pub day: NaiveDate,
    /// Why nothing was made, when the day is off.
    pub day_off: bool,
    /// The digest, when one was made.
    pub digest: Option<Digest>,
    /// The chart's path under the data directory, when drawn.
    pub chart: Option<String>,
    /// The exported ledger's path under the data directory, on the ledger's weekday.
    pub ledger: Option<String>,
    /// The messages planned.
    pub planned: Vec<Planned>,
    /// How many of them were new to the outbox.
    pub queued: usize,
}

/// Makes the digest of `now`'s day and, unless `dry_run`, keeps its files and counts and
/// queues it to every bound leader. Nothing on a day off, unless `force`.
pub async fn digest(
    store: &Store,
    settings: &Settings,
    now: DateTime<Utc>,
    force: bool,
    dry_run: bool,
) -> Result<DigestOutcome, DigestError> {
    let day = now.with_timezone(&settings.timezone).date_naive();
    let mut outcome = DigestOutcome {
        day,
        day_off: false,
        digest: None,
        chart: None,
        ledger: None,
        planned: Vec::new(),
        queued: 0,
    };
    if !force && !settings.calendar.is_working_day(day) {
        outcome.day_off = true;
        return Ok(outcome);
    }
    let measures = store.measures().await?;
    let ctx = Context {
        today: day,
        calendar: &settings.calendar,
        rules: &settings.config.rules,
        timezone: settings.timezone,
    };
    let assessments: Vec<Assessment> = measures.iter().map(|m| assess(m, &ctx)).collect();
    let previous = store.last_digest(day).await?.and_then(|c| {
        c.day.map(|d| {
            (
                d,
                Counts {
                    total: c.total,
                    closed: c.closed,
                    red: c.red,
                    yellow: c.yellow,
                    green: c.green,
                    ..Counts::default()
                },
            )
        })
    });
    let (start, end) = day_bounds(settings, day);
    let closed_today = store.closed_between(start, end).await?;
    let silent: Vec<Silent> = store
        .silent_units()
        .await?
        .into_iter()
        .map(|s| Silent {
            unit: s.unit,
            since: s.since.with_timezone(&settings.timezone).date_naive(),
        })
        .collect();
    let unreachable: Vec<Cut> = store
        .unreachable()
        .await?
        .into_iter()
        .map(|u| Cut {
            name: u.name,
            group: u.group,
            place: u.place,
        })
        .collect();
    let requests = store.requests().await?;
    let extended = store.extended_count().await?;
    let facts = Facts {
        today: day,
        measures: &measures,
        assessments: &assessments,
        previous,
        closed_today: &closed_today,
        silent: &silent,
        unreachable: &unreachable,
        requests: &requests,
        extended,
    };
    let options = Options {
        red_list_max: settings.config.digest.red_list_max,
        silent_after_working_days: settings.config.digest.silent_after_working_days,
        language: settings.config.language,
        response: settings.config.rules.response,
    };
    let built = build(&facts, &settings.calendar, &options);
    let language = settings.config.language;
    // A configured font that cannot be read or drawn with falls back to the bundled one; a
    // chart that cannot be drawn at all is left out: leaders get the text regardless.
    let font = chart_font(&settings.config.digest.font_path).unwrap_or_else(|e| {
        tracing::warn!("{e}; the chart uses the bundled font");
        None
    });
    let draw = |font| {
        unit_bars_png_with_font(
            font,
            &built.chart_title,
            &chart_labels(language),
            &built.bars,
        )
    };
    let png = match draw(font) {
        Ok(png) => Some(png),
        Err(e) if font.is_some() => {
            tracing::warn!("drawing the chart with digest.font_path: {e}; using the bundled font");
            draw(None).ok()
        }
        Err(e) => {
            tracing::warn!("drawing the chart: {e}; the digest goes without it");
            None
        }
    };
    let dir = format!("digests/{day}");
    let chart = png.as_ref().map(|_| format!("{dir}/chart-{day}.png"));
    let ledger =
        ledger_due(settings, day).then(|| format!("{dir}/{}-{day}.xlsx", ledger_name(language)));
    if !dry_run {
        if let (Some(png), Some(chart)) = (&png, &chart) {
            write_file(&settings.config.data_dir, chart, png)?;
            store.keep_file(chart, png, now).await?;
        }
        if let Some(ledger) = &ledger {
            let path = settings.config.data_dir.join(ledger);
            export_ledger(store, settings, &path, &measures, &assessments, day).await?;
            let bytes = std::fs::read(&path).map_err(|e| DigestError::File {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            store.keep_file(ledger, &bytes, now).await?;
        }
    }
    let channels = settings.config.channels();
    let leaders: Vec<(Option<i64>, Address)> = store
        .recipients()
        .await?
        .into_iter()
        .filter(|r| matches!(r.kind, RecipientKind::Leader { .. }))
        .filter(|r| channels.contains(&r.chat.channel))
        .map(|r| (r.person_id, r.chat))
        .collect();
    for (person_id, chat) in &leaders {
        // The digest is split by the leader's channel's limit.
        let parts = split_text(&built.text, chat.channel.capabilities().text_limit);
        let chat_id = chat.key();
        let mut push = |key: String, message: Message| {
            outcome.planned.push(Planned {
                key,
                chat: chat.clone(),
                person_id: *person_id,
                kind: DIGEST,
                message,
                items: Vec::new(),
                context: None,
            });
        };
        for (i, part) in parts.iter().enumerate() {
            push(
                format!("digest:{chat_id}:{day}:{}/{}", i + 1, parts.len()),
                Message::text(part.clone()),
            );
        }
        if let Some(chart) = &chart {
            push(
                format!("digest-chart:{chat_id}:{day}"),
                Message::file(
                    Attachment {
                        kind: FileKind::Photo,
                        source: FileSource::Stored(chart.clone()),
                        name: format!("chart-{day}.png"),
                    },
                    built.chart_title.clone(),
                ),
            );
        }
        if let Some(ledger) = &ledger {
            push(
                format!("digest-ledger:{chat_id}:{day}"),
                Message::file(
                    Attachment {
                        kind: FileKind::Document,
                        source: FileSource::Stored(ledger.clone()),
                        name: format!("{}-{day}.xlsx", ledger_name(language)),
                    },
                    match language {
                        Language::Zh => {
                            format!("{}整改台账（每周）", crate::core::text::date(day, language))
                        }
                        Language::En => format!("The ledger as of {day} (weekly)"),
                    },
                ),
            );
        }
    }
    if !dry_run {
        outcome.queued = store
            .enqueue_sweep(DIGEST, day, &outcome.planned, now)
            .await?;
        let counts = built.counts;
        store
            .save_digest(
                day,
                &DigestCounts {
                    day: Some(day),
                    total: counts.total,
                    closed: counts.closed,
                    red: counts.red,
                    yellow: counts.yellow,
                    green: counts.green,
                },
                now,
            )
            .await?;
    }
    outcome.chart = chart;
    outcome.ledger = ledger;
    outcome.digest = Some(built);
    Ok(outcome)
}

/// Whether today's digest should have gone out by `now` and has not.
pub async fn digest_missed(
    store: &Store,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let local = now.with_timezone(&settings.timezone);
    let day = local.date_naive();
    let Some(at) = settings.config.digest.time() else {
        return Ok(false);
    };
    Ok(settings.calendar.is_working_day(day)
        && local.time() >= at
        && !store.run_done(DIGEST, day).await?)
}

/// The UTC instants where the office's day begins and ends.
pub(crate) fn day_bounds(settings: &Settings, day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let local = |d: NaiveDate| {
        settings
            .timezone
            .from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists"))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
    };
    (local(day), local(day.succ_opt().expect("date in range")))
}

/// The chart's legend and axis in `language`.
pub fn chart_labels(language: Language) -> ChartLabels {
    match language {
        Language::Zh => ChartLabels {
            closed: "已销号".into(),
            green: "绿灯".into(),
            yellow: "黄灯".into(),
            red: "红灯".into(),
            axis: "整改措施（项）".into(),
        },
        Language::En => ChartLabels {
            closed: "closed".into(),
            green: "green".into(),
            yellow: "yellow".into(),
            red: "red".into(),
            axis: "measures".into(),
        },
    }
}

fn ledger_name(language: Language) -> &'static str {
    match language {
        Language::Zh => "整改台账",
        Language::En => "ledger",
    }
}

/// Whether the weekly ledger goes with the digest of `day`: on the configured weekday, or,
/// when that day was off, on the first working day after it.
fn ledger_due(settings: &Settings, day: NaiveDate) -> bool {
    let Some(weekday) = settings.config.digest.ledger_weekday() else {
        return false;
    };
    let back = (day.weekday().num_days_from_monday() + 7 - weekday.num_days_from_monday()) % 7;
    let that_day = day - chrono::Days::new(back as u64);
    back == 0 || settings.calendar.working_day_on_or_after(that_day) == day
}

/// The configured chart font, read once; `None` for the bundled one.
fn chart_font(path: &str) -> Result<Option<&'static [u8]>, DigestError> {
    static FONT: OnceLock<(String, &'static [u8])> = OnceLock::new();
    if path.is_empty() {
        return Ok(None);
    }
    if let Some((loaded, bytes)) = FONT.get()
        && loaded == path
    {
        return Ok(Some(bytes));
    }
    let bytes = std::fs::read(path).map_err(|e| DigestError::File {
        path: path.to_string(),
        message: format!("digest.font_path: {e}"),
    })?;
    let bytes: &'static [u8] = bytes.leak();
    let _ = FONT.set((path.to_string(), bytes));
    Ok(Some(bytes))
}

/// Writes a file under the data directory, whole or not at all.
fn write_file(data_dir: &Path, path: &str, bytes: &[u8]) -> Result<(), DigestError> {
    let target = data_dir.join(path);
    let fail = |e: std::io::Error| DigestError::File {
        path: target.display().to_string(),
        message: e.to_string(),
    };
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let temporary = target.with_extension("part");
    std::fs::write(&temporary, bytes).map_err(fail)?;
    std::fs::rename(&temporary, &target).map_err(fail)
}

async fn export_ledger(
    store: &Store,
    settings: &Settings,
    path: &Path,
    measures: &[Measure],
    assessments: &[Assessment<'_>],
    day: NaiveDate,
) -> Result<(), DigestError> {
    let units: Vec<(String, i64)> = store
        .units()
        .await?
        .into_iter()
        .map(|u| (u.name, u.liaisons))
        .collect();
    let summaries = crate::core::report::unit_summaries(&units, measures, assessments);
    let rows: Vec<(&Measure, &Assessment)> = measures.iter().zip(assessments).collect();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| DigestError::File {
            path: dir.display().to_string(),
            message: e.to_string(),
        })?;
    }
    crate::ingest::export::write_ledger(path, &rows, &summaries, day, settings.config.language)
        .map_err(|e| DigestError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })
}

/// Splits a text into messages of at most `limit` characters, between lines (a line longer
/// than the limit is cut).
pub fn split_text(text: &str, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut size = 0;
    for line in text.lines() {
        let line: String = line.chars().take(limit).collect();
        let length = line.chars().count() + 1;
        if size > 0 && size + length > limit {
            out.push(std::mem::take(&mut current));
            size = 0;
        }
        if size > 0 {
            current.push('\n');
        }
        current.push_str(&line);
        size += length;
    }
    if !current.is_empty() || out.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_split_between_lines() {
        let lines: Vec<String> = (0..300)
            .map(|i| format!("第{i}行 {}", "字".repeat(30)))
            .collect();
        let text = lines.join("\n");
        let parts = split_text(&text, 1000);
        assert!(parts.len() > 1);
        for part in &parts {
            assert!(part.chars().count() <= 1000, "{}", part.chars().count());
            assert!(part.starts_with('第') && !part.ends_with('\n'));
        }
        assert_eq!(parts.join("\n"), text, "nothing lost or added");
        assert_eq!(split_text("短", 1000), ["短"]);
        assert_eq!(split_text(&"长".repeat(50), 10), ["长".repeat(10)]);
    }

    #[test]
    fn the_weekly_ledger_goes_on_its_day_or_the_first_working_day_after() {
        let settings = Settings::defaults();
        let day = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
        for (date, due) in [
            ("2024-03-15", true),  // a Friday
            ("2024-03-18", false), // the Monday after
            ("2024-10-04", true),  // Friday in the National Day holiday: its own day still
            ("2024-10-08", true),  // … and the first working day after it carries it too
            ("2024-10-09", false),
            ("2024-10-11", true), // the next Friday
        ] {
            assert_eq!(ledger_due(&settings, day(date)), due, "{date}");
        }
    }
}
