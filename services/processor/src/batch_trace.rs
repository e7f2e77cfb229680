//! The span of one fetched batch, continuing the traces its records carry.
//!
//! A batch holds records of many requests, and one PostgreSQL transaction
//! stores them all. Its `process batch` span is the **child** of the first
//! record context that is sampled (so one traced request reads as one trace
//! from the caller's RPC down to the commit) and **links** to every other
//! record context, so each other request's trace leads to the batch too.
//! With no traced record the span starts a trace of its own, sampled like
//! any new trace. The fetch, whose end is known only once it returned
//! records, is a child span with its measured start and end.

use std::time::SystemTime;

use boost_kafka::{record, rskafka::record::RecordAndOffset};
use boost_server::trace_context;
use opentelemetry::{
    Context,
    trace::{SpanKind, TraceContextExt, Tracer, TracerProvider as _},
};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// At most this many other requests are linked from one batch span.
const MAX_LINKS: usize = 128;

/// The span to process `records` of `partition` in; `fetch` is when the
/// fetch that returned them started and ended.
pub fn batch_span(
    partition: i32,
    records: &[RecordAndOffset],
    fetch: (SystemTime, SystemTime),
) -> tracing::Span {
    let span = tracing::info_span!(
        trace_context::BATCH_SPAN,
        otel.kind = "consumer",
        partition,
        records = records.len(),
        first_offset = records.first().map(|r| r.offset),
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    if span.is_disabled() {
        return span;
    }
    let contexts: Vec<Context> = records
        .iter()
        .flat_map(|item| record::trace_contexts(&item.record))
        .collect();
    let parent = contexts
        .iter()
        .position(|context| context.span().span_context().is_sampled())
        .or((!contexts.is_empty()).then_some(0));
    match parent {
        Some(index) => {
            let others = contexts.iter().enumerate().filter(|(i, _)| *i != index);
            for (_, context) in others.take(MAX_LINKS) {
                span.add_link(context.span().span_context().clone());
            }
            trace_context::continue_trace(&span, contexts[index].clone());
        }
        None => {
            trace_context::record_own_ids(&span);
        }
    }
    record_fetch(&span, fetch);
    span
}

/// Exports the fetch as a child of the batch span, with its real times.
fn record_fetch(span: &tracing::Span, (started, ended): (SystemTime, SystemTime)) {
    let parent = span.context();
    if !parent.span().span_context().is_sampled() {
        return;
    }
    let tracer = opentelemetry::global::tracer_provider().tracer("boost-processor");
    let mut fetch = tracer
        .span_builder("fetch")
        .with_kind(SpanKind::Consumer)
        .with_start_time(started)
        .start_with_context(&tracer, &parent);
    opentelemetry::trace::Span::end_with_timestamp(&mut fetch, ended);
}
