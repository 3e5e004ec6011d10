//! Conditional requests as S3 judges them (RFC 9110 §13.2.2's order): on GET and HEAD,
//! `If-Match` then `If-Unmodified-Since` (412), `If-None-Match` then `If-Modified-Since`
//! (304); on PUT, `If-None-Match: *` and `If-Match` (412), on DELETE `If-Match`, checked
//! by the store at the moment of the write. Times compare in whole seconds, as HTTP dates
//! carry them.

use super::stored::epoch_seconds;
use s3s::dto::{ETagCondition, Timestamp};
use s3s::{S3Result, s3_error};
use shared_modules::object_store::disk::{ObjectMeta, Precondition, PreconditionError};

/// The read conditions of a GET or HEAD (or of a copy's source).
#[derive(Default)]
pub struct ReadConditions<'a> {
    pub if_match: Option<&'a ETagCondition>,
    pub if_none_match: Option<&'a ETagCondition>,
    pub if_modified_since: Option<&'a Timestamp>,
    pub if_unmodified_since: Option<&'a Timestamp>,
}

fn matches(condition: &ETagCondition, etag: &str) -> bool {
    match condition {
        ETagCondition::Any => true,
        ETagCondition::ETag(want) => want.value() == etag,
    }
}

impl ReadConditions<'_> {
    /// Ok to answer with `meta`, or the 412 or 304 to answer instead.
    pub fn check(&self, meta: &ObjectMeta) -> S3Result<()> {
        let modified = meta.last_modified.timestamp();
        let after = |at: &Timestamp| epoch_seconds(at).is_some_and(|at| modified > at);
        match self.if_match {
            Some(want) if !matches(want, &meta.etag) => {
                return Err(s3_error!(
                    PreconditionFailed,
                    "the object's ETag is not the one asked for (If-Match)"
                ));
            }
            Some(_) => {}
            None => {
                if self.if_unmodified_since.is_some_and(after) {
                    return Err(s3_error!(
                        PreconditionFailed,
                        "the object changed after the time given (If-Unmodified-Since)"
                    ));
                }
            }
        }
        match self.if_none_match {
            Some(want) if matches(want, &meta.etag) => Err(s3_error!(NotModified)),
            Some(_) => Ok(()),
            None => match self.if_modified_since {
                Some(at) if !after(at) => Err(s3_error!(NotModified)),
                _ => Ok(()),
            },
        }
    }
}

/// The store's precondition for a PUT's `If-None-Match` / `If-Match`. S3 takes only `*` in
/// a PUT's If-None-Match.
pub fn for_put(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<Precondition> {
    match (if_match, if_none_match) {
        (Some(_), Some(_)) => Err(s3_error!(
            InvalidArgument,
            "If-Match and If-None-Match cannot be sent together"
        )),
        (None, Some(ETagCondition::Any)) => Ok(Precondition::Absent),
        (None, Some(ETagCondition::ETag(_))) => Err(s3_error!(
            NotImplemented,
            "a PUT's If-None-Match takes only `*`"
        )),
        (Some(condition), None) => Ok(for_delete(Some(condition))),
        (None, None) => Ok(Precondition::Always),
    }
}

/// The store's precondition for a DELETE's `If-Match`.
pub fn for_delete(if_match: Option<&ETagCondition>) -> Precondition {
    match if_match {
        None => Precondition::Always,
        Some(ETagCondition::Any) => Precondition::ETag(None),
        Some(ETagCondition::ETag(want)) => Precondition::ETag(Some(want.value().to_string())),
    }
}

/// A failed write condition as S3 answers it.
pub fn refused(e: PreconditionError) -> s3s::S3Error {
    match e {
        PreconditionError::Missing => s3_error!(NoSuchKey, "{e}"),
        PreconditionError::Exists
        | PreconditionError::Changed
        | PreconditionError::SourceRefused => {
            s3_error!(PreconditionFailed, "{e}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3s::dto::{ETag, TimestampFormat};

    fn meta() -> ObjectMeta {
        ObjectMeta {
            key: "k".into(),
            blob: "b".into(),
            etag: "abc".into(),
            size: 1,
            last_modified: "2030-01-01T12:00:00.700Z".parse().unwrap(),
            headers: Default::default(),
            part_sizes: vec![],
        }
    }

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(TimestampFormat::HttpDate, text).unwrap()
    }

    fn code(result: S3Result<()>) -> String {
        match result {
            Ok(()) => "ok".into(),
            Err(e) => e.code().as_str().to_string(),
        }
    }

    #[test]
    fn reads_follow_s3s_order() {
        let same = ETagCondition::ETag(ETag::Strong("abc".into()));
        let other = ETagCondition::ETag(ETag::Strong("zzz".into()));
        let (before, exact, later) = (
            at("Tue, 01 Jan 2030 11:00:00 GMT"),
            at("Tue, 01 Jan 2030 12:00:00 GMT"),
            at("Tue, 01 Jan 2030 13:00:00 GMT"),
        );
        let check = |c: ReadConditions<'_>| code(c.check(&meta()));
        assert_eq!(check(ReadConditions::default()), "ok");
        let if_match = |c| ReadConditions {
            if_match: Some(c),
            ..Default::default()
        };
        assert_eq!(check(if_match(&other)), "PreconditionFailed");
        assert_eq!(check(if_match(&same)), "ok");
        assert_eq!(check(if_match(&ETagCondition::Any)), "ok");
        let none_match = |c| ReadConditions {
            if_none_match: Some(c),
            ..Default::default()
        };
        assert_eq!(check(none_match(&same)), "NotModified");
        assert_eq!(check(none_match(&ETagCondition::Any)), "NotModified");
        assert_eq!(check(none_match(&other)), "ok");
        let modified_since = |t| ReadConditions {
            if_modified_since: Some(t),
            ..Default::default()
        };
        assert_eq!(check(modified_since(&before)), "ok");
        // The same second (the object's fraction is not in the date): not modified.
        assert_eq!(check(modified_since(&exact)), "NotModified");
        assert_eq!(check(modified_since(&later)), "NotModified");
        let unmodified = |t| ReadConditions {
            if_unmodified_since: Some(t),
            ..Default::default()
        };
        assert_eq!(check(unmodified(&before)), "PreconditionFailed");
        assert_eq!(check(unmodified(&exact)), "ok");
        // If-Match true wins over If-Unmodified-Since false; If-None-Match false (a
        // match) wins over If-Modified-Since true.
        let both = ReadConditions {
            if_match: Some(&same),
            if_unmodified_since: Some(&before),
            ..Default::default()
        };
        assert_eq!(check(both), "ok");
        let both = ReadConditions {
            if_none_match: Some(&same),
            if_modified_since: Some(&before),
            ..Default::default()
        };
        assert_eq!(check(both), "NotModified");
    }

    #[test]
    fn writes_take_star_or_an_etag() {
        let any = ETagCondition::Any;
        let some = ETagCondition::ETag(ETag::Strong("abc".into()));
        assert_eq!(for_put(None, Some(&any)).unwrap(), Precondition::Absent);
        assert_eq!(
            for_put(Some(&some), None).unwrap(),
            Precondition::ETag(Some("abc".into()))
        );
        assert!(for_put(None, Some(&some)).is_err());
        assert_eq!(for_delete(None), Precondition::Always);
    }
}
