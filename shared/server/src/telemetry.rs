//! Logging and trace export, set up once per process.
//!
//! Logs go to stderr as text or JSON. When an OTLP endpoint is configured,
//! spans are also exported over OTLP/gRPC, sampled as `OTEL_TRACES_SAMPLER`
//! says, and the provider is also the global one (for spans whose times are
//! known only afterwards, like the processor's fetch); otherwise nothing is
//! exported and the OpenTelemetry layer is not installed at all.

use std::io::IsTerminal;

use opentelemetry::{
    KeyValue,
    trace::{Link, SpanKind, TraceContextExt, TraceId, TraceState, TracerProvider as _},
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{
    Resource,
    trace::{Sampler, SamplingDecision, SamplingResult, SdkTracerProvider, ShouldSample},
};
use tracing::{Metadata, Subscriber, subscriber::Interest};
use tracing_subscriber::{
    EnvFilter, Layer,
    filter::{LevelFilter, Targets},
    layer::{Context as FilterContext, Filter, SubscriberExt},
    registry::LookupSpan,
    util::SubscriberInitExt,
};

use crate::{config::TelemetryArgs, trace_context};

/// Keeps the trace exporter alive; dropping it flushes pending spans.
pub struct TelemetryGuard {
    /// The exporter's provider, when export is on.
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(err) = provider.shutdown()
        {
            eprintln!("trace exporter shutdown failed: {err}");
        }
    }
}

/// Installs the global tracing subscriber for `service`.
pub fn init(service: &'static str, args: &TelemetryArgs) -> Result<TelemetryGuard, String> {
    let filter = EnvFilter::try_new(&args.log_filter)
        .map_err(|e| format!("invalid BOOST_LOG filter {:?}: {e}", args.log_filter))?;
    let fmt = if args.log_format == "json" {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .boxed()
    };
    let provider = if args.otlp_endpoint.is_empty() {
        None
    } else {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(&args.otlp_endpoint)
            .build()
            .map_err(|e| format!("invalid OTEL_EXPORTER_OTLP_ENDPOINT: {e}"))?;
        trace_context::set_head_sampler(sampler(args));
        Some(
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_sampler(HeadSampledRpc(sampler(args)))
                .with_resource(Resource::builder().with_service_name(service).build())
                .build(),
        )
    };
    if let Some(provider) = &provider {
        opentelemetry::global::set_tracer_provider(provider.clone());
    }
    // Each layer filters on its own: `BOOST_LOG` sets what is logged, not
    // what is traced, so a quiet log still exports every stage's span.
    let otel = provider.as_ref().map(|p| {
        // Per span, only what is asked for: no source location, thread or
        // target attributes, no busy/idle timing, no OpenTelemetry context
        // switch on every poll (propagation reads the span's own context).
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer(service))
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            .with_context_activation(false)
            .with_filter(SampledOnly {
                targets: traced_targets(),
            })
    });
    tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(otel)
        .try_init()
        .map_err(|e| format!("tracing already initialised: {e}"))?;
    Ok(TelemetryGuard { provider })
}

/// What the OpenTelemetry layer is given: [`traced_targets`], where a
/// trace may start (`trace_context::is_trace_root`) or inside a span it was
/// given, and nothing inside a trace the sampler dropped. A request's span
/// is then not given at all (see `trace_context::head_decision`); a
/// processor batch's span is, to take its decision; descendants would only
/// cost time.
struct SampledOnly {
    targets: Targets,
}

impl<S> Filter<S> for SampledOnly
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(&self, meta: &Metadata<'_>, cx: &FilterContext<'_, S>) -> bool {
        if !self.targets.would_enable(meta.target(), meta.level()) {
            return false;
        }
        // The innermost span this layer was given: an unsampled request's
        // span is not one, so its stages find none here and are left out
        // instead of each starting a trace of its own.
        match cx.lookup_current() {
            Some(current) => !trace_context::in_unsampled_trace(current),
            None => trace_context::is_trace_root(meta),
        }
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.targets.would_enable(meta.target(), meta.level()) {
            // Asked per span: the answer depends on the trace it is in.
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }

    /// The most verbose level traced. Without it the subscriber's level
    /// is TRACE, so every `log` record of the dependencies that log through
    /// `log` (fred, the Redis client, among them) is turned into an event
    /// and offered to the layers: a profile of ingest with export on and
    /// nothing sampled showed that bridge and its filtering.
    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(TRACED_LEVEL)
    }
}

/// Spans below this level are never traced.
const TRACED_LEVEL: LevelFilter = LevelFilter::INFO;

/// The configured sampler, except for a root `rpc` span: the request was
/// sampled at the head already (`trace_context::head_decision`; dropped
/// requests' spans never reach the exporter), and a second draw on the
/// exporter's own trace id would sample ratio² of requests. The span is
/// known by its kind, SERVER (only a request's span has it): its name here
/// is already its `otel.name`, the method's path.
#[derive(Debug, Clone)]
struct HeadSampledRpc(Sampler);

impl ShouldSample for HeadSampledRpc {
    fn should_sample(
        &self,
        parent: Option<&opentelemetry::Context>,
        trace_id: TraceId,
        name: &str,
        kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let root = parent.is_none_or(|cx| !cx.span().span_context().is_valid());
        if root && *kind == SpanKind::Server {
            return SamplingResult {
                decision: SamplingDecision::RecordAndSample,
                attributes: Vec::new(),
                trace_state: TraceState::default(),
            };
        }
        self.0
            .should_sample(parent, trace_id, name, kind, attributes, links)
    }
}

/// What becomes a span in the export: Boost's spans at INFO and above, and
/// nothing of the transport crates (the exporter's own calls among them).
fn traced_targets() -> Targets {
    Targets::new()
        .with_default(TRACED_LEVEL)
        .with_target(crate::grpc::UNSAMPLED_RPC_TARGET, LevelFilter::OFF)
        .with_target("h2", LevelFilter::OFF)
        .with_target("hyper", LevelFilter::OFF)
        .with_target("hyper_util", LevelFilter::OFF)
        .with_target("tonic", LevelFilter::OFF)
        .with_target("tower", LevelFilter::OFF)
        .with_target("opentelemetry", LevelFilter::OFF)
        .with_target("opentelemetry_sdk", LevelFilter::OFF)
        .with_target("opentelemetry_otlp", LevelFilter::OFF)
}

/// The sampler `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` name
/// (checked when the config is parsed).
fn sampler(args: &TelemetryArgs) -> Sampler {
    let ratio = args.trace_sampler_arg;
    match args.trace_sampler.as_str() {
        "always_on" => Sampler::AlwaysOn,
        "always_off" => Sampler::AlwaysOff,
        "traceidratio" => Sampler::TraceIdRatioBased(ratio),
        "parentbased_always_off" => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        "parentbased_traceidratio" => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
        }
        _ => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_a_request_sampled_at_the_head_is_not_drawn_again() {
        let sampler = HeadSampledRpc(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            0.0,
        ))));
        let decide = |name: &str, kind: SpanKind| {
            sampler
                .should_sample(None, TraceId::from(7), name, &kind, &[], &[])
                .decision
        };
        // As tracing-opentelemetry asks for it: named by its `otel.name`.
        assert_eq!(
            decide("/boost.ingest.v1.IngestService/Track", SpanKind::Server),
            SamplingDecision::RecordAndSample
        );
        assert_eq!(
            decide(trace_context::BATCH_SPAN, SpanKind::Consumer),
            SamplingDecision::Drop
        );
    }
}
