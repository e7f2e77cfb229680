//! Does a stored offset still fit the broker's log?
//!
//! Offsets live in PostgreSQL, the log in the broker; either can be replaced
//! without the other (a new broker data directory, a reset cluster, a
//! restored database). Consuming from an offset that belongs to another log
//! would skip every record before it for good, so a partition whose offset
//! does not fit is held — NOT_SERVING, flagged in GetStatus — until an
//! operator moves it (`boost-offsets reset`, audited).

use std::fmt;

use boost_kafka::rskafka::client::{
    error::{Error as KafkaError, ProtocolError, ServerErrorResponse},
    partition::{OffsetAt, PartitionClient},
};
use boost_storage::offsets::StoredOffset;

/// Why a stored offset cannot be consumed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetConflict {
    /// The broker's log ends before the stored offset: it is younger than
    /// the offsets (a new or reset broker).
    PastHighWatermark {
        /// The stored next offset.
        stored: i64,
        /// The broker's high watermark.
        high_watermark: i64,
    },
    /// The broker deleted records that were never stored.
    BeforeLogStart {
        /// The stored next offset.
        stored: i64,
        /// The first offset the broker still holds.
        log_start: i64,
    },
    /// The record before the stored offset is not the one that was stored:
    /// a different log that grew past the stored offset.
    DifferentLog {
        /// The stored next offset.
        stored: i64,
    },
}

impl fmt::Display for OffsetConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OffsetConflict::PastHighWatermark {
                stored,
                high_watermark,
            } => write!(
                f,
                "stored offset {stored} is past the broker's high watermark {high_watermark}: \
                 the broker's log is younger than the stored offsets (new or reset broker?)"
            ),
            OffsetConflict::BeforeLogStart { stored, log_start } => write!(
                f,
                "stored offset {stored} is before the broker's log start {log_start}: \
                 records {stored}..{log_start} were deleted by the broker before they were stored"
            ),
            OffsetConflict::DifferentLog { stored } => write!(
                f,
                "the record at offset {} is not the one stored: the broker holds a different log",
                stored - 1
            ),
        }
    }
}

/// What the broker says about a partition around a stored offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogView {
    /// First offset held.
    pub log_start: i64,
    /// Next offset to be written.
    pub high_watermark: i64,
    /// Digest of the record at `stored - 1`, when the broker returned it.
    pub previous_digest: Option<[u8; 32]>,
}

/// Checks `stored` against what the broker holds.
pub fn check(stored: &StoredOffset, log: &LogView) -> Result<(), OffsetConflict> {
    let next = stored.next_offset;
    if next > log.high_watermark {
        return Err(OffsetConflict::PastHighWatermark {
            stored: next,
            high_watermark: log.high_watermark,
        });
    }
    if next < log.log_start {
        return Err(OffsetConflict::BeforeLogStart {
            stored: next,
            log_start: log.log_start,
        });
    }
    if let (Some(expected), Some(found)) = (&stored.last_record_sha256, &log.previous_digest)
        && expected.as_slice() != found.as_slice()
    {
        return Err(OffsetConflict::DifferentLog { stored: next });
    }
    Ok(())
}

/// Asks the broker for its log start, high watermark and the record before
/// `stored` (one list-offsets and one fetch).
pub async fn probe(
    client: &PartitionClient,
    stored: &StoredOffset,
    max_bytes: i32,
    max_wait_ms: i32,
) -> Result<LogView, KafkaError> {
    let log_start = client.get_offset(OffsetAt::Earliest).await?;
    let previous = stored.next_offset - 1;
    let from = if previous >= log_start && stored.last_record_sha256.is_some() {
        previous
    } else {
        stored.next_offset.max(log_start)
    };
    match client.fetch_records(from, 1..max_bytes, max_wait_ms).await {
        Ok((records, high_watermark)) => Ok(LogView {
            log_start,
            high_watermark,
            previous_digest: records
                .iter()
                .find(|r| r.offset == previous)
                .map(|r| boost_kafka::record::digest(&r.record)),
        }),
        // Kafka answers a fetch past the log's end with an error that still
        // carries the high watermark.
        Err(err) => match out_of_range_high_watermark(&err) {
            Some(high_watermark) => Ok(LogView {
                log_start,
                high_watermark,
                previous_digest: None,
            }),
            None => Err(err),
        },
    }
}

/// The high watermark of an OFFSET_OUT_OF_RANGE fetch error.
pub fn out_of_range_high_watermark(err: &KafkaError) -> Option<i64> {
    match err {
        KafkaError::ServerError {
            protocol_error: ProtocolError::OffsetOutOfRange,
            response: Some(ServerErrorResponse::PartitionFetchState { high_watermark, .. }),
            ..
        } => Some(*high_watermark),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn stored(next_offset: i64, digest: Option<[u8; 32]>) -> StoredOffset {
        StoredOffset {
            next_offset,
            last_record_sha256: digest.map(|d| d.to_vec()),
            updated_at: SystemTime::now(),
        }
    }

    fn log(log_start: i64, high_watermark: i64, previous_digest: Option<[u8; 32]>) -> LogView {
        LogView {
            log_start,
            high_watermark,
            previous_digest,
        }
    }

    #[test]
    fn test_offset_inside_the_same_log_fits() {
        assert_eq!(
            check(&stored(10, Some([1; 32])), &log(0, 10, Some([1; 32]))),
            Ok(())
        );
        assert_eq!(
            check(&stored(10, Some([1; 32])), &log(0, 50, Some([1; 32]))),
            Ok(())
        );
        // No digest to compare (after a reset, or the record was not returned).
        assert_eq!(check(&stored(10, None), &log(0, 50, Some([2; 32]))), Ok(()));
        assert_eq!(
            check(&stored(10, Some([1; 32])), &log(10, 50, None)),
            Ok(())
        );
    }

    #[test]
    fn test_young_log_is_a_conflict_not_a_wait() {
        let conflict = check(&stored(1_363, Some([1; 32])), &log(0, 5, None));
        assert_eq!(
            conflict,
            Err(OffsetConflict::PastHighWatermark {
                stored: 1_363,
                high_watermark: 5
            })
        );
        let text = conflict.expect_err("conflict").to_string();
        assert!(
            text.contains("1363") && text.contains("high watermark 5"),
            "{text}"
        );
    }

    #[test]
    fn test_deleted_records_and_different_logs_are_conflicts() {
        assert_eq!(
            check(&stored(3, None), &log(8, 20, None)),
            Err(OffsetConflict::BeforeLogStart {
                stored: 3,
                log_start: 8
            })
        );
        assert_eq!(
            check(&stored(10, Some([1; 32])), &log(0, 40, Some([2; 32]))),
            Err(OffsetConflict::DifferentLog { stored: 10 })
        );
    }
}
