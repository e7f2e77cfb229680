//! W3C trace context (`traceparent`, `tracestate`) across every hop a
//! request takes: read from gRPC metadata when a request arrives, written
//! into gRPC metadata when a service calls another ([`InjectTraceContextLayer`]),
//! and into Kafka record headers (as [`TraceHeaders`]) when ingest produces.
//!
//! A request's sampling is decided at the head, before its `rpc` span is
//! built ([`HeadSamplingLayer`]): a dropped request's span goes to a target
//! the exporter never sees (and is not built at all when the log is quieter
//! than INFO), so an unsampled call costs the exporter nothing. The dropped
//! trace's context is kept in a task-local for the request's task, so the
//! next hop (a gRPC call, a Kafka record) is told "not sampled" and drops it
//! too. Inside a processor batch the sampler dropped, no span reaches the
//! exporter either (the batch span is built to take its decision, and marks
//! itself [`Unsampled`]).
//!
//! Propagation follows the spans of `tracing` through
//! `tracing-opentelemetry`, so it is live only while trace export is on
//! ([`crate::telemetry`]). With export off, a caller's trace id is still
//! recorded on the request's log line, and the edge forwards the caller's
//! headers untouched.

use std::{
    sync::OnceLock,
    task::{Context as TaskContext, Poll},
};

use tokio::task::futures::TaskLocalFuture;

use http::{HeaderMap, HeaderName, HeaderValue, Request};
use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::{SpanContext, SpanKind, TraceContextExt, TraceFlags, TraceState},
};
use opentelemetry_sdk::{
    propagation::TraceContextPropagator,
    trace::{IdGenerator, RandomIdGenerator, Sampler, SamplingDecision, ShouldSample},
};
use tower::{Layer, Service};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{
    Registry,
    registry::{LookupSpan, SpanRef},
};

/// The `traceparent` header: version, trace id, parent span id, flags.
pub const TRACEPARENT: &str = "traceparent";

/// Trace context as header pairs, for carriers that are not HTTP (Kafka
/// record headers). Empty when nothing is traced.
pub type TraceHeaders = Vec<(String, String)>;

/// Reads a header map for the propagator.
struct HeaderReader<'a>(&'a HeaderMap);

impl Extractor for HeaderReader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// Writes into a header map for the propagator; a value that is empty (a
/// `tracestate` with no entries) or not a valid header is left out.
struct HeaderWriter<'a>(&'a mut HeaderMap);

impl Injector for HeaderWriter<'_> {
    fn set(&mut self, key: &str, value: String) {
        if value.is_empty() {
            return;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// Reads header pairs (Kafka record headers) for the propagator.
struct PairReader<'a>(Vec<(&'a str, &'a str)>);

impl Extractor for PairReader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, value)| *value)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| *name).collect()
    }
}

/// The caller's trace context carried by `headers` (empty when none or
/// malformed: a bad `traceparent` starts a new trace, it never fails a call).
pub fn from_headers(headers: &HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&HeaderReader(headers))
}

/// The trace context carried by header pairs, e.g. a Kafka record's headers;
/// values that are not UTF-8 are ignored.
pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Context {
    let pairs = pairs
        .into_iter()
        .filter_map(|(name, value)| Some((name, std::str::from_utf8(value).ok()?)))
        .collect();
    TraceContextPropagator::new().extract(&PairReader(pairs))
}

/// Writes the current span's trace context into outgoing `headers`;
/// leaves them as they are when the span is not traced.
pub fn inject_current(headers: &mut HeaderMap) {
    if let Some(context) = current() {
        TraceContextPropagator::new().inject_context(&context, &mut HeaderWriter(headers));
    }
}

/// The current span's trace context as header pairs, for a Kafka record.
pub fn current_headers() -> TraceHeaders {
    let mut headers = TraceHeaders::new();
    if let Some(context) = current() {
        TraceContextPropagator::new().inject_context(&context, &mut PairWriter(&mut headers));
    }
    headers
}

tokio::task_local! {
    /// In a request's task: the trace its head decision dropped (`None`
    /// when sampled). What the next hop is told, with no span to carry it.
    static DROPPED_TRACE: Option<SpanContext>;
}

/// `future` in the current span and, inside a request whose trace was
/// dropped, in that request's dropped trace: for work a request spawns as
/// a task of its own, which would otherwise start with neither.
pub fn in_current_trace<F: std::future::Future>(
    future: F,
) -> TaskLocalFuture<Option<SpanContext>, tracing::instrument::Instrumented<F>> {
    use tracing::Instrument;
    let dropped = DROPPED_TRACE.try_with(Clone::clone).ok().flatten();
    DROPPED_TRACE.scope(dropped, future.in_current_span())
}

/// The trace context to pass on: inside a request whose trace was dropped,
/// that trace's ("not sampled"); else the current span's own; else, inside
/// a processor batch that is not sampled (whose spans are not built, see
/// [`Unsampled`]), the batch's, so the next hop knows it is not sampled.
fn current() -> Option<Context> {
    if let Ok(Some(dropped)) = DROPPED_TRACE.try_with(Clone::clone) {
        return Some(Context::new().with_remote_span_context(dropped));
    }
    let span = tracing::Span::current();
    let context = span.context();
    if context.span().span_context().is_valid() {
        return Some(context);
    }
    let unsampled = span
        .with_subscriber(|(id, dispatch)| {
            let registry = dispatch.downcast_ref::<Registry>()?;
            let span = registry.span(id)?;
            span.scope()
                .find_map(|s| s.extensions().get::<Unsampled>().map(|u| u.0.clone()))
        })
        .flatten()?;
    Some(Context::new().with_remote_span_context(unsampled))
}

/// Marks a processor batch's span that continues or starts a trace the
/// sampler dropped: its descendants are not given to the OpenTelemetry
/// layer at all (see `telemetry`), which is most of what tracing costs
/// when sampling is low.
pub(crate) struct Unsampled(pub(crate) SpanContext);

/// Whether `span` or one of its ancestors carries [`Unsampled`].
pub(crate) fn in_unsampled_trace<S>(span: SpanRef<'_, S>) -> bool
where
    S: for<'a> LookupSpan<'a>,
{
    span.scope()
        .any(|s| s.extensions().get::<Unsampled>().is_some())
}

fn mark_unsampled(span: &tracing::Span, context: SpanContext) {
    span.with_subscriber(|(id, dispatch)| {
        if let Some(data) = dispatch
            .downcast_ref::<Registry>()
            .and_then(|registry| registry.span(id))
        {
            data.extensions_mut().insert(Unsampled(context));
        }
    });
}

/// The name of the span every request runs in (see `grpc`); a root span
/// of this name reaching the exporter's sampler was sampled at the head.
pub const RPC_SPAN: &str = "rpc";

/// The name of the span a processor handles one fetched batch in; it
/// continues (or starts) the trace its records carry.
pub const BATCH_SPAN: &str = "process batch";

/// Whether spans of `meta` may start or continue a trace with no traced
/// span around them: a request's and a fetched batch's. Every other span
/// is traced only inside one of those.
pub fn is_trace_root(meta: &tracing::Metadata<'_>) -> bool {
    meta.name() == RPC_SPAN || meta.name() == BATCH_SPAN
}

/// The sampler of trace export, set by `telemetry` when export is on.
static HEAD_SAMPLER: OnceLock<Sampler> = OnceLock::new();

/// Makes `sampler` the one [`head_decision`] asks; called once, when trace
/// export starts.
pub(crate) fn set_head_sampler(sampler: Sampler) {
    let _ = HEAD_SAMPLER.set(sampler);
}

/// What a request's span is to be, decided before it is built; put in the
/// request's extensions by [`HeadSamplingLayer`].
#[derive(Clone)]
pub enum Head {
    /// Build the span where the exporter sees it and continue this parent
    /// (also when export is off: the parent's id is still logged).
    Continue(Context),
    /// The sampler dropped the trace: build the span where the exporter
    /// does not see it, and [`record_ids`] of this context on it.
    Drop(SpanContext),
}

/// Takes the sampling decision for a request whose caller sent `parent`
/// (empty when none), with the same sampler the exporter uses.
pub fn head_decision(parent: Context) -> Head {
    match HEAD_SAMPLER.get() {
        Some(sampler) => decide(sampler, parent),
        None => Head::Continue(parent),
    }
}

/// [`head_decision`] with a given sampler.
fn decide(sampler: &Sampler, parent: Context) -> Head {
    let caller = parent.span().span_context().clone();
    let (trace_id, trace_state) = if caller.is_valid() {
        (caller.trace_id(), caller.trace_state().clone())
    } else {
        (
            RandomIdGenerator::default().new_trace_id(),
            TraceState::default(),
        )
    };
    let decision = sampler
        .should_sample(
            Some(&parent),
            trace_id,
            RPC_SPAN,
            &SpanKind::Server,
            &[],
            &[],
        )
        .decision;
    if decision == SamplingDecision::RecordAndSample {
        return Head::Continue(parent);
    }
    Head::Drop(SpanContext::new(
        trace_id,
        RandomIdGenerator::default().new_span_id(),
        TraceFlags::default(),
        false,
        trace_state,
    ))
}

/// Records `context`'s ids on `span` (its `trace_id` and `span_id`
/// fields, declared empty), so every log line inside carries them: a
/// request's span built for a dropped trace (see [`Head::Drop`]), or a span
/// that is traced ([`record_own_ids`]). Nothing is formatted for a span the
/// log does not show.
pub fn record_ids(span: &tracing::Span, context: &SpanContext) {
    span.record("trace_id", tracing::field::display(context.trace_id()));
    span.record("span_id", tracing::field::display(context.span_id()));
}

/// Takes every request's sampling decision ([`head_decision`]) from its
/// `traceparent` before anything else sees it: the decision goes into the
/// request's extensions (as [`Head`], for its `rpc` span), and a dropped
/// trace's context is kept for the request's task, where [`current`] finds
/// it for the next hop. Outermost of the server's tracing layers.
#[derive(Debug, Clone, Copy, Default)]
pub struct HeadSamplingLayer;

impl<S> Layer<S> for HeadSamplingLayer {
    type Service = HeadSampling<S>;

    fn layer(&self, inner: S) -> HeadSampling<S> {
        HeadSampling { inner }
    }
}

/// A server service that takes each request's head decision; see [`HeadSamplingLayer`].
#[derive(Debug, Clone)]
pub struct HeadSampling<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for HeadSampling<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TaskLocalFuture<Option<SpanContext>, S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let head = head_decision(from_headers(request.headers()));
        let dropped = match &head {
            Head::Drop(context) => Some(context.clone()),
            Head::Continue(_) => None,
        };
        request.extensions_mut().insert(head);
        // The inner services' synchronous part runs in the scope too.
        let future = DROPPED_TRACE.sync_scope(dropped.clone(), || self.inner.call(request));
        DROPPED_TRACE.scope(dropped, future)
    }
}

/// Writes header pairs for the propagator.
struct PairWriter<'a>(&'a mut TraceHeaders);

impl Injector for PairWriter<'_> {
    /// An empty value (a `tracestate` with no entries) is left out: W3C
    /// allows omitting it, and every produced record would carry it.
    fn set(&mut self, key: &str, value: String) {
        if !value.is_empty() {
            self.0.push((key.to_string(), value));
        }
    }
}

/// Continues `parent` in `span` and records the ids on it (`trace_id`,
/// `span_id` fields, declared empty by the span), so every log line inside
/// carries them. With export off the span is not traced, and the parent's
/// trace id alone is recorded.
pub fn continue_trace(span: &tracing::Span, parent: Context) {
    let caller = parent.span().span_context().clone();
    // Fails only when export is off (no OpenTelemetry layer): nothing to continue then.
    let _ = span.set_parent(parent);
    if !record_own_ids(span) && caller.is_valid() {
        span.record("trace_id", tracing::field::display(caller.trace_id()));
    }
}

/// Records the ids of the span's own trace context on it (see
/// [`continue_trace`]), for spans that start a trace or inherit one
/// in-process, and marks it [`Unsampled`] when the sampler dropped it.
/// Returns whether the span is traced at all (export on).
pub fn record_own_ids(span: &tracing::Span) -> bool {
    let own = span.context().span().span_context().clone();
    if !own.is_valid() {
        return false;
    }
    record_ids(span, &own);
    if !own.is_sampled() {
        mark_unsampled(span, own);
    }
    true
}

/// Writes the calling span's trace context into every request a client
/// sends: wrap a tonic `Channel` with it (`ServiceBuilder::new().layer(InjectTraceContextLayer).service(channel)`).
#[derive(Debug, Clone, Copy, Default)]
pub struct InjectTraceContextLayer;

impl<S> Layer<S> for InjectTraceContextLayer {
    type Service = InjectTraceContext<S>;

    fn layer(&self, inner: S) -> InjectTraceContext<S> {
        InjectTraceContext { inner }
    }
}

/// A client service that adds `traceparent`/`tracestate`; see [`InjectTraceContextLayer`].
#[derive(Debug, Clone)]
pub struct InjectTraceContext<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for InjectTraceContext<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        inject_current(request.headers_mut());
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn test_reads_a_traceparent_from_headers_and_pairs() {
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, PARENT.parse().expect("header"));
        for context in [
            from_headers(&headers),
            from_pairs([(TRACEPARENT, PARENT.as_bytes())]),
        ] {
            let span = context.span().span_context().clone();
            assert!(span.is_valid() && span.is_sampled() && span.is_remote());
            assert_eq!(
                span.trace_id().to_string(),
                "0af7651916cd43dd8448eb211c80319c"
            );
            assert_eq!(span.span_id().to_string(), "b7ad6b7169203331");
        }
    }

    #[test]
    fn test_the_head_decision_follows_the_sampler_and_the_caller() {
        let ratio = |r| Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(r)));
        let sampled_caller = || from_pairs([(TRACEPARENT, PARENT.as_bytes())]);
        let unsampled = PARENT.replace("-01", "-00");
        let unsampled_caller = from_pairs([(TRACEPARENT, unsampled.as_bytes())]);

        assert!(matches!(
            decide(&ratio(1.0), Context::new()),
            Head::Continue(_)
        ));
        assert!(matches!(
            decide(&ratio(0.0), sampled_caller()),
            Head::Continue(_)
        ));
        let Head::Drop(root) = decide(&ratio(0.0), Context::new()) else {
            panic!("a new trace at ratio 0 is dropped");
        };
        assert!(root.is_valid() && !root.is_sampled());
        let Head::Drop(continued) = decide(&ratio(1.0), unsampled_caller) else {
            panic!("a caller's unsampled trace is dropped");
        };
        assert_eq!(
            continued.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert!(!continued.is_sampled());
        let kept = (0..10_000)
            .filter(|_| matches!(decide(&ratio(0.01), Context::new()), Head::Continue(_)))
            .count();
        assert!((40..=200).contains(&kept), "{kept} of 10,000 kept at 0.01");
    }

    #[tokio::test]
    async fn test_a_dropped_trace_reaches_the_next_hop_from_spawned_tasks_too() {
        let unsampled = PARENT.replace("-01", "-00");
        let dropped = from_pairs([(TRACEPARENT, unsampled.as_bytes())])
            .span()
            .span_context()
            .clone();
        let expected = vec![(TRACEPARENT.to_string(), unsampled.clone())];
        let (own, spawned) = DROPPED_TRACE
            .scope(Some(dropped), async {
                let spawned = tokio::spawn(in_current_trace(async { current_headers() }));
                (current_headers(), spawned.await.expect("task"))
            })
            .await;
        assert_eq!(own, expected);
        assert_eq!(spawned, expected);
        let untraced = tokio::spawn(async { current_headers() }).await;
        assert_eq!(untraced.expect("task"), TraceHeaders::new());
    }

    #[test]
    fn test_a_malformed_traceparent_is_no_context() {
        for bad in [
            "",
            "00-xyz",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ] {
            let context = from_pairs([(TRACEPARENT, bad.as_bytes())]);
            assert!(!context.span().span_context().is_valid(), "{bad:?}");
        }
        let context = from_pairs([(TRACEPARENT, [0xff, 0xfe].as_slice())]);
        assert!(!context.span().span_context().is_valid());
    }
}
