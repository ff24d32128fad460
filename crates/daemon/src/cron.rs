//! Cron expressions as people write them in crontab: five fields (minute hour day-of-month month
//! day-of-week), or six with a leading seconds field, `@hourly` … `@yearly`.
//!
//! Parsing and stepping through time is `jiff-cron`'s; it counts days of the week from 1 =
//! Sunday, where crontab counts 0 (or 7) = Sunday, 1 = Monday. Numbers in that field are
//! therefore turned into names first, so `0 3 * * 0` means Sunday as it does everywhere else.

use std::str::FromStr;

use jiff::{Timestamp, Zoned, tz::TimeZone};

use crate::error::{DaemonError, Result};

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Cron {
    text: String,
    schedule: jiff_cron::Schedule,
}

const DAY_NAMES: [&str; 8] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];

impl Cron {
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |why: &str| {
            DaemonError::config(
                format!("`{text}` is not a cron schedule: {why}"),
                "write five fields, minute hour day-of-month month day-of-week (e.g. `0 2 * * *` for 02:00 daily), \
                 or six with leading seconds (`*/5 * * * * *`), or @hourly/@daily/@weekly/@monthly/@yearly",
            )
        };
        let trimmed = text.trim();
        let expression = if trimmed.starts_with('@') {
            trimmed.to_string()
        } else {
            let mut fields: Vec<String> = trimmed.split_whitespace().map(str::to_string).collect();
            match fields.len() {
                5 => fields.insert(0, "0".into()),
                6 => {}
                n => return Err(invalid(&format!("it has {n} fields"))),
            }
            fields[5] = day_names(&fields[5]).map_err(|why| invalid(&why))?;
            fields.join(" ")
        };
        let schedule = jiff_cron::Schedule::from_str(&expression).map_err(|e| invalid(&e.to_string()))?;
        Ok(Self { text: trimmed.to_string(), schedule })
    }

    /// The schedule as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The first slot strictly after `after`, in `tz`.
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        self.schedule.after(after.to_zoned(tz.clone())).next().map(|z: Zoned| z.timestamp())
    }
}

/// A crontab day-of-week field with its numbers (0-7, Sunday 0 or 7) written as names; steps
/// (`*/2`) keep their numbers.
fn day_names(field: &str) -> Result<String, String> {
    let name = |part: &str| -> Result<String, String> {
        match part.parse::<usize>() {
            Ok(n) => DAY_NAMES.get(n).map(|d| d.to_string()).ok_or_else(|| format!("day of week {n} is not 0-7")),
            Err(_) => Ok(part.to_string()),
        }
    };
    field
        .split(',')
        .map(|item| {
            let (range, step) = match item.split_once('/') {
                Some((range, step)) => (range, Some(step)),
                None => (item, None),
            };
            let range = match range.split_once('-') {
                Some((from, to)) => format!("{}-{}", name(from)?, name(to)?),
                None => name(range)?,
            };
            Ok(match step {
                Some(step) => format!("{range}/{step}"),
                None => range,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(|items| items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next(cron: &str, after: &str) -> String {
        let tz = TimeZone::UTC;
        let at: Timestamp = after.parse().unwrap();
        Cron::parse(cron).unwrap().next_after(at, &tz).unwrap().to_string()
    }

    #[test]
    fn crontab_fields_mean_what_they_mean_in_crontab() {
        // 2026-11-30 is a Monday.
        assert_eq!(next("0 2 * * *", "2026-11-30T03:00:00Z"), "2026-12-01T02:00:00Z");
        assert_eq!(next("0 3 * * 0", "2026-11-30T03:00:00Z"), "2026-12-06T03:00:00Z", "0 is Sunday");
        assert_eq!(next("0 3 * * 7", "2026-11-30T03:00:00Z"), "2026-12-06T03:00:00Z", "7 is Sunday too");
        assert_eq!(next("0 3 * * 1-5", "2026-12-05T00:00:00Z"), "2026-12-07T03:00:00Z", "Monday to Friday");
        assert_eq!(next("0 3 * * SUN", "2026-11-30T03:00:00Z"), "2026-12-06T03:00:00Z");
        assert_eq!(next("*/2 * * * * *", "2026-11-30T03:00:01Z"), "2026-11-30T03:00:02Z", "a leading seconds field");
        assert_eq!(next("@hourly", "2026-11-30T03:00:00Z"), "2026-11-30T04:00:00Z");
        assert_eq!(next("0 * * * *", "2026-11-30T03:00:00Z"), "2026-11-30T04:00:00Z", "strictly after");
    }

    #[test]
    fn a_bad_schedule_says_what_is_wrong() {
        for bad in ["0 2 * *", "0 2 * * 8", "61 * * * *", "every day"] {
            let err = Cron::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad) && err.contains("hint: write five fields"), "{err}");
        }
    }
}
