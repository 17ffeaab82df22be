//! SQL built from the filters a person chose: only the conditions in use, each with its own
//! bound value, so every query is one the database can answer from an index. (One fixed
//! statement with `($n is null or column = $n)` for every filter reads the same, but neither
//! SQLite nor PostgreSQL can plan an index for it: a search by phone scanned every case.)

use crate::domain::{CallOutcome, CaseStatus, Channel, Timestamp, Urgency};

/// A value bound to a `$n` of a built query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    I64(i64),
    Text(String),
    Time(Timestamp),
    Status(CaseStatus),
    Urgency(Urgency),
    Outcome(CallOutcome),
    Channel(Channel),
}

/// A statement and its values, numbered as they are added.
#[derive(Debug, Clone, Default)]
pub(crate) struct Built {
    pub(crate) sql: String,
    pub(crate) args: Vec<Arg>,
}

impl Built {
    pub(crate) fn new(sql: &str) -> Built {
        Built {
            sql: sql.to_owned(),
            args: Vec::new(),
        }
    }

    /// Appends `fragment`, each `?` in it becoming the next `$n` bound to the next value.
    pub(crate) fn push(&mut self, fragment: &str, args: impl IntoIterator<Item = Arg>) {
        let mut args = args.into_iter();
        for (i, part) in fragment.split('?').enumerate() {
            if i > 0 {
                let arg = args.next().expect("a value for every ?");
                self.args.push(arg);
                self.sql.push_str(&format!("${}", self.args.len()));
            }
            self.sql.push_str(part);
        }
        assert!(args.next().is_none(), "a ? for every value");
    }

    /// Appends ` and <condition>` (the statement already has a `where`).
    pub(crate) fn and(&mut self, condition: &str, args: impl IntoIterator<Item = Arg>) {
        self.push(" and ", []);
        self.push(condition, args);
    }
}

/// Binds a built query's values, in order, to a sqlx query of either backend.
macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                $crate::store::query::Arg::I64(v) => query.bind(*v),
                $crate::store::query::Arg::Text(v) => query.bind(v.as_str()),
                $crate::store::query::Arg::Time(v) => query.bind(*v),
                $crate::store::query::Arg::Status(v) => query.bind(*v),
                $crate::store::query::Arg::Urgency(v) => query.bind(*v),
                $crate::store::query::Arg::Outcome(v) => query.bind(*v),
                $crate::store::query::Arg::Channel(v) => query.bind(*v),
            };
        }
        query
    }};
}
pub(crate) use bind_all;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order() {
        let mut q = Built::new("select id from cases where true");
        q.and("status = ?", [Arg::Status(CaseStatus::Routed)]);
        q.and(
            "(folio = ? or caller_number = ?)",
            [Arg::Text("1".into()), Arg::Text("+52".into())],
        );
        q.push(" limit ?", [Arg::I64(5)]);
        assert_eq!(
            q.sql,
            "select id from cases where true and status = $1 and (folio = $2 or caller_number = $3) limit $4"
        );
        assert_eq!(q.args.len(), 4);
    }
}
