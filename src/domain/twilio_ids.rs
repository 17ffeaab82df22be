//! Twilio's identifiers, checked at the edge.
//!
//! A Twilio SID is two letters that say what it names (`CA` a call, `RE` a recording, ...)
//! followed by 32 hexadecimal digits. We check the shape because these ids end up in file names,
//! URLs and log lines; a value that does not fit is rejected before it reaches any of them.

use std::fmt;

macro_rules! sid_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// Accepts exactly the prefix followed by 32 hexadecimal digits.
            pub fn parse(s: &str) -> Option<$name> {
                let s = s.trim();
                let hex = s.strip_prefix($prefix)?;
                (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                    .then(|| $name(s.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

sid_type!(
    /// A call's id (`CA...`): the key of the call log.
    CallSid,
    "CA"
);
sid_type!(
    /// A recording's id (`RE...`): at most one case is ever made from one recording.
    RecordingSid,
    "RE"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let ok = "CA0123456789abcdef0123456789ABCDEF";
        assert_eq!(CallSid::parse(ok).unwrap().as_str(), ok);
        assert!(CallSid::parse("CA123").is_none());
        assert!(CallSid::parse("RE0123456789abcdef0123456789abcdef").is_none());
        assert!(CallSid::parse("CA0123456789abcdef0123456789abcdeg").is_none());
        assert!(CallSid::parse("CA../../etc/passwd0123456789abcdef").is_none());
        assert!(RecordingSid::parse("RE0123456789abcdef0123456789abcdef").is_some());
    }
}
