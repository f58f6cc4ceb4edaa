//! The working-day calendar (工作日历): weekends, official holidays and make-up working days.
//!
//! Chinese public holidays move every year and come with make-up working days (调休) on
//! weekends. The calendar is built from data files in the layout of `data/holidays-cn.toml`,
//! which ships inside the binary. Years without data fall back to plain weekends; callers
//! ask [`Calendar::covers`] and warn the office about such years.
//!
//! Working-day arithmetic runs on a prefix table of working days, so counting the working
//! days between two dates costs two array reads whatever the distance.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::Deserialize;

/// The holiday data that ships with duban, written from the State Council notices.
pub const BUILTIN_CN: &str = include_str!("../../data/holidays-cn.toml");

/// The first and last year the prefix table covers; dates outside are clamped to plain weekends.
const TABLE_FIRST_YEAR: i32 = 1990;
const TABLE_LAST_YEAR: i32 = 2100;

/// Errors in a holiday data file.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    /// The file is not valid TOML of the expected layout.
    #[error("holiday data {source_name}: {message}")]
    Syntax {
        /// The file the data came from.
        source_name: String,
        /// What the parser said.
        message: String,
    },
    /// A date or range inside the file cannot be read.
    #[error("holiday data {source_name}, year {year}, {holiday}: {message}")]
    Entry {
        /// The file the data came from.
        source_name: String,
        /// The `[[year]]` block.
        year: i32,
        /// The holiday's name.
        holiday: String,
        /// What is wrong.
        message: String,
    },
}

/// What kind of day a date is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayKind {
    /// A plain Monday to Friday.
    Workday,
    /// A plain Saturday or Sunday.
    Weekend,
    /// A day off of an official holiday (法定节假日), with the holiday's name.
    Holiday(String),
    /// A weekend day that is a working day to make up for a holiday (调休上班).
    MakeUpWorkday(String),
}

impl DayKind {
    /// Whether people work on this day.
    pub fn is_working(&self) -> bool {
        matches!(self, DayKind::Workday | DayKind::MakeUpWorkday(_))
    }
}

#[derive(Deserialize)]
struct FileLayout {
    #[serde(default)]
    year: Vec<YearLayout>,
}

#[derive(Deserialize)]
struct YearLayout {
    year: i32,
    #[serde(default)]
    notice: String,
    #[serde(default)]
    holidays: Vec<HolidayLayout>,
}

#[derive(Deserialize)]
struct HolidayLayout {
    name: String,
    off: String,
    #[serde(default)]
    work: Vec<String>,
}

/// The working-day calendar.
#[derive(Debug, Clone)]
pub struct Calendar {
    off: BTreeMap<NaiveDate, String>,
    work: BTreeMap<NaiveDate, String>,
    notices: BTreeMap<i32, String>,
    /// `prefix[i]` is the number of working days in `[table_start, table_start + i)`.
    prefix: Vec<u32>,
    table_start: NaiveDate,
}

impl Calendar {
    /// A calendar with no holiday data at all: weekends only.
    pub fn weekends_only() -> Calendar {
        Calendar::build(BTreeMap::new(), BTreeMap::new(), BTreeMap::new())
    }

    /// The calendar of the data that ships with duban (2022–2026).
    pub fn builtin() -> Calendar {
        Calendar::from_sources(&[("builtin holidays-cn.toml", BUILTIN_CN)])
            .expect("the built-in holiday data is valid")
    }

    /// A calendar built from several data files, later files adding to or overriding earlier
    /// ones year by year. Each source is `(name for error messages, TOML text)`.
    pub fn from_sources(sources: &[(&str, &str)]) -> Result<Calendar, CalendarError> {
        let mut years: BTreeMap<i32, (YearLayout, &str)> = BTreeMap::new();
        for (name, text) in sources {
            let layout: FileLayout = toml::from_str(text).map_err(|e| CalendarError::Syntax {
                source_name: name.to_string(),
                message: e.to_string(),
            })?;
            for year in layout.year {
                years.insert(year.year, (year, *name));
            }
        }
        let mut off = BTreeMap::new();
        let mut work = BTreeMap::new();
        let mut notices = BTreeMap::new();
        for (year, (layout, source_name)) in years {
            notices.insert(year, layout.notice.clone());
            for holiday in &layout.holidays {
                let entry_error = |message: String| CalendarError::Entry {
                    source_name: source_name.to_string(),
                    year,
                    holiday: holiday.name.clone(),
                    message,
                };
                for day in parse_range(&holiday.off).map_err(entry_error)? {
                    off.insert(day, holiday.name.clone());
                }
                for text in &holiday.work {
                    let day = parse_day(text).map_err(entry_error)?;
                    work.insert(day, holiday.name.clone());
                }
            }
        }
        Ok(Calendar::build(off, work, notices))
    }

    fn build(
        off: BTreeMap<NaiveDate, String>,
        work: BTreeMap<NaiveDate, String>,
        notices: BTreeMap<i32, String>,
    ) -> Calendar {
        let table_start = NaiveDate::from_ymd_opt(TABLE_FIRST_YEAR, 1, 1).expect("valid date");
        let table_end = NaiveDate::from_ymd_opt(TABLE_LAST_YEAR, 12, 31).expect("valid date");
        let len = (table_end - table_start).num_days() as usize + 2;
        let mut calendar = Calendar {
            off,
            work,
            notices,
            prefix: Vec::with_capacity(len),
            table_start,
        };
        let mut count = 0u32;
        let mut day = table_start;
        calendar.prefix.push(0);
        while day <= table_end {
            if calendar.kind_uncached(day).is_working() {
                count += 1;
            }
            calendar.prefix.push(count);
            day = day.succ_opt().expect("date in range");
        }
        calendar
    }

    /// Whether the calendar has the official data for `year`.
    pub fn covers(&self, year: i32) -> bool {
        self.notices.contains_key(&year)
    }

    /// The years the calendar has official data for.
    pub fn covered_years(&self) -> BTreeSet<i32> {
        self.notices.keys().copied().collect()
    }

    /// The notice a year's data was written from, such as `国办发明电〔2023〕7号`.
    pub fn notice(&self, year: i32) -> Option<&str> {
        self.notices.get(&year).map(String::as_str)
    }

    /// What kind of day `day` is.
    pub fn kind(&self, day: NaiveDate) -> DayKind {
        self.kind_uncached(day)
    }

    fn kind_uncached(&self, day: NaiveDate) -> DayKind {
        if let Some(name) = self.work.get(&day) {
            return DayKind::MakeUpWorkday(name.clone());
        }
        if let Some(name) = self.off.get(&day) {
            return DayKind::Holiday(name.clone());
        }
        match day.weekday() {
            Weekday::Sat | Weekday::Sun => DayKind::Weekend,
            _ => DayKind::Workday,
        }
    }

    /// Whether `day` is a working day.
    pub fn is_working_day(&self, day: NaiveDate) -> bool {
        match self.index(day) {
            Some(i) => self.prefix[i + 1] > self.prefix[i],
            None => self.kind_uncached(day).is_working(),
        }
    }

    fn index(&self, day: NaiveDate) -> Option<usize> {
        let i = (day - self.table_start).num_days();
        if i < 0 || i as usize + 1 >= self.prefix.len() {
            return None;
        }
        Some(i as usize)
    }

    /// The working days in `(from, to]`: after `from`, up to and including `to`.
    /// Negative when `to` is before `from`.
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> i64 {
        if to < from {
            return -self.working_days_between(to, from);
        }
        match (self.index(from), self.index(to)) {
            (Some(a), Some(b)) => i64::from(self.prefix[b + 1]) - i64::from(self.prefix[a + 1]),
            _ => {
                let mut count = 0;
                let mut day = from;
                while day < to {
                    day = day.succ_opt().expect("date in range");
                    if self.is_working_day(day) {
                        count += 1;
                    }
                }
                count
            }
        }
    }

    /// `day` itself when it is a working day, otherwise the next working day after it.
    pub fn working_day_on_or_after(&self, day: NaiveDate) -> NaiveDate {
        let mut day = day;
        while !self.is_working_day(day) {
            day = day.succ_opt().expect("date in range");
        }
        day
    }

    /// `day` itself when it is a working day, otherwise the last working day before it.
    pub fn working_day_on_or_before(&self, day: NaiveDate) -> NaiveDate {
        let mut day = day;
        while !self.is_working_day(day) {
            day = day.pred_opt().expect("date in range");
        }
        day
    }

    /// The date `n` working days after `day`: with `n = 0`, `day` itself when it is a working
    /// day and the next working day otherwise.
    pub fn add_working_days(&self, day: NaiveDate, n: u32) -> NaiveDate {
        if n == 0 {
            return self.working_day_on_or_after(day);
        }
        if let Some(i) = self.index(day) {
            let target = self.prefix[i + 1] + n;
            // The first index whose running count reaches `target` is the answer.
            let found = self.prefix.partition_point(|&count| count < target);
            if found < self.prefix.len() {
                return self.table_start + Days::new(found as u64 - 1);
            }
        }
        let mut left = n;
        let mut day = day;
        while left > 0 {
            day = day.succ_opt().expect("date in range");
            if self.is_working_day(day) {
                left -= 1;
            }
        }
        day
    }
}

fn parse_day(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| format!("cannot read {text:?} as a date (YYYY-MM-DD)"))
}

fn parse_range(text: &str) -> Result<Vec<NaiveDate>, String> {
    let (first, last) = match text.split_once("..") {
        Some((a, b)) => (parse_day(a)?, parse_day(b)?),
        None => {
            let day = parse_day(text)?;
            (day, day)
        }
    };
    if last < first || (last - first).num_days() > 31 {
        return Err(format!("{text:?} is not a range of at most a month"));
    }
    Ok(first.iter_days().take_while(|d| *d <= last).collect())
}

#[cfg(test)]
mod tests;
