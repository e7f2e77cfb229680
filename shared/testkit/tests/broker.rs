//! The patched broker's read path (`shared/vendor/tansu-storage`): a fetch
//! streams records up to `max_bytes` and reads their headers in one query,
//! so these check what that rewrite could break. Each record must come back
//! with its own headers, in offset order, across many small fetches; and a
//! record larger than `max_bytes` is still returned on its own (KIP-74),
//! where tansu 0.6 returned nothing and stalled the consumer.

use std::collections::BTreeMap;

use boost_kafka::{
    KafkaArgs, client,
    rskafka::{
        client::partition::{Compression, PartitionClient},
        record::Record,
    },
};
use boost_testkit::TestBroker;

async fn one_partition(broker: &TestBroker) -> PartitionClient {
    let mut args = KafkaArgs::with_brokers(broker.address.clone());
    args.partitions = 1;
    let kafka = client::connect(&args, "broker-test")
        .await
        .expect("connect");
    client::ensure_topic(&kafka, &args)
        .await
        .expect("create topic");
    client::partition_client(&kafka, &args.topic, 0)
        .await
        .expect("partition client")
}

fn record(value: Vec<u8>, headers: BTreeMap<String, Vec<u8>>) -> Record {
    Record {
        key: None,
        value: Some(value),
        headers,
        timestamp: Default::default(),
    }
}

/// Record `i`'s value: 40 bytes, so a 512-byte fetch holds about 12.
fn value_of(i: usize) -> Vec<u8> {
    format!("value-{i:034}").into_bytes()
}

/// Record `i`'s headers: none for every fifth, otherwise its number, and a
/// second header on every third, so a header landing on its neighbour shows.
fn headers_of(i: usize) -> BTreeMap<String, Vec<u8>> {
    let mut headers = BTreeMap::new();
    if !i.is_multiple_of(5) {
        headers.insert("n".to_string(), i.to_string().into_bytes());
    }
    if i.is_multiple_of(3) {
        headers.insert("third".to_string(), vec![b'x'; i % 7]);
    }
    headers
}

#[tokio::test]
async fn every_record_keeps_its_own_headers_across_small_fetches() {
    let broker = TestBroker::start().with_partitions(1);
    let partition = one_partition(&broker).await;
    const RECORDS: usize = 300;
    for chunk in (0..RECORDS).collect::<Vec<_>>().chunks(50) {
        let records = chunk
            .iter()
            .map(|&i| record(value_of(i), headers_of(i)))
            .collect();
        partition
            .produce(records, Compression::NoCompression)
            .await
            .expect("produce");
    }

    let mut offset = 0;
    let mut fetches = 0;
    while offset < RECORDS as i64 {
        let (records, high_watermark) = partition
            .fetch_records(offset, 1..512, 0)
            .await
            .expect("fetch");
        assert_eq!(high_watermark, RECORDS as i64);
        assert!(!records.is_empty(), "an empty fetch at offset {offset}");
        for fetched in records {
            assert_eq!(fetched.offset, offset, "records come back in offset order");
            let i = offset as usize;
            assert_eq!(fetched.record.value, Some(value_of(i)));
            assert_eq!(
                fetched.record.headers,
                headers_of(i),
                "headers of record {i}"
            );
            offset += 1;
        }
        fetches += 1;
    }
    assert!(
        fetches >= 20,
        "512-byte fetches of 40-byte values stop at max_bytes: 300 records took only {fetches} fetches"
    );
}

#[tokio::test]
async fn a_record_larger_than_max_bytes_is_returned_alone() {
    let broker = TestBroker::start().with_partitions(1);
    let partition = one_partition(&broker).await;
    partition
        .produce(
            vec![
                record(vec![b'a'; 10_000], BTreeMap::new()),
                record(vec![b'b'; 10], BTreeMap::new()),
            ],
            Compression::NoCompression,
        )
        .await
        .expect("produce");

    let (records, _) = partition
        .fetch_records(0, 1..1_024, 0)
        .await
        .expect("fetch");
    assert_eq!(records.len(), 1, "only the first, oversized record");
    assert_eq!(records[0].offset, 0);
    assert_eq!(records[0].record.value.as_ref().map(Vec::len), Some(10_000));

    let (records, _) = partition
        .fetch_records(1, 1..1_024, 0)
        .await
        .expect("fetch");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].record.value.as_deref(), Some(&b"bbbbbbbbbb"[..]));
}
