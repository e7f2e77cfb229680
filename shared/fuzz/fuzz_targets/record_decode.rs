//! The Kafka record codec's decode over any value bytes: an error or a
//! batch, never a panic; a decoded batch encodes and decodes to itself.
#![no_main]

use boost_kafka::record::{decode, encode};
use boost_proto::common::v1::EventBatchRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut record = encode(&EventBatchRecord::default(), &[]);
    record.value = Some(data.to_vec());
    if let Ok(batch) = decode(&record) {
        let again = decode(&encode(&batch, &[])).expect("a decoded batch re-encodes");
        assert_eq!(again, batch);
    }
});
