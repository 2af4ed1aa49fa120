//! Uploads and rejections per environment over the last hour, for the console's
//! overview. These are this instance's own counters, kept in memory by the minute: the
//! Prometheus counters are deployment-wide totals with no environment label (a label per
//! tenant would grow the registry without bound), and the catalog records no rejections.
//! Several instances each count what they served; a restart starts from zero.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use uuid::Uuid;

/// Minutes kept per environment.
const WINDOW_MINUTES: i64 = 60;

#[derive(Debug, Clone, Copy)]
struct Minute {
    minute: i64,
    uploads: u64,
    rejections: u64,
}

/// What an environment's uploads came to in the last hour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecentUploads {
    pub uploads: u64,
    pub rejections: u64,
}

#[derive(Default)]
pub(super) struct UploadActivity {
    minutes: Mutex<HashMap<Uuid, VecDeque<Minute>>>,
}

impl UploadActivity {
    /// Counts one upload to `environment_id`, stored or refused, at `now` (Unix seconds).
    pub fn record(&self, environment_id: Uuid, stored: bool, now: i64) {
        let minute = now.div_euclid(60);
        let mut minutes = self.minutes.lock().unwrap_or_else(|e| e.into_inner());
        let kept = minutes.entry(environment_id).or_default();
        while kept
            .front()
            .is_some_and(|m| m.minute <= minute - WINDOW_MINUTES)
        {
            kept.pop_front();
        }
        if kept.back().is_none_or(|m| m.minute != minute) {
            kept.push_back(Minute {
                minute,
                uploads: 0,
                rejections: 0,
            });
        }
        let current = kept.back_mut().expect("pushed above");
        if stored {
            current.uploads += 1;
        } else {
            current.rejections += 1;
        }
    }

    /// The last hour's counts for `environment_id`, as of `now` (Unix seconds).
    pub fn last_hour(&self, environment_id: Uuid, now: i64) -> RecentUploads {
        let minute = now.div_euclid(60);
        let minutes = self.minutes.lock().unwrap_or_else(|e| e.into_inner());
        let Some(kept) = minutes.get(&environment_id) else {
            return RecentUploads::default();
        };
        kept.iter()
            .filter(|m| m.minute > minute - WINDOW_MINUTES)
            .fold(RecentUploads::default(), |sum, m| RecentUploads {
                uploads: sum.uploads + m.uploads,
                rejections: sum.rejections + m.rejections,
            })
    }

    /// Forgets environments with nothing in the window, so a deleted environment's
    /// counts do not stay forever.
    pub fn prune(&self, now: i64) {
        let minute = now.div_euclid(60);
        let mut minutes = self.minutes.lock().unwrap_or_else(|e| e.into_inner());
        minutes.retain(|_, kept| {
            kept.back()
                .is_some_and(|m| m.minute > minute - WINDOW_MINUTES)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_last_hour_by_environment() {
        let activity = UploadActivity::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let start = 1_000_000 * 60;
        activity.record(a, true, start);
        activity.record(a, false, start + 30);
        activity.record(a, true, start + 61);
        activity.record(b, false, start + 61);
        let seen = activity.last_hour(a, start + 120);
        assert_eq!((seen.uploads, seen.rejections), (2, 1));
        assert_eq!(activity.last_hour(b, start + 120).rejections, 1);
        // The first minute leaves the window an hour later; the second stays a minute more.
        let later = activity.last_hour(a, start + 60 * 60);
        assert_eq!((later.uploads, later.rejections), (1, 0));
        assert_eq!(
            activity.last_hour(a, start + 61 * 60),
            RecentUploads::default()
        );
        activity.prune(start + 61 * 60);
        assert!(activity.minutes.lock().unwrap().is_empty());
    }
}
