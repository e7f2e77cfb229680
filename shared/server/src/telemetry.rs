//! Logging and trace export, set up once per process.
//!
//! Logs go to stderr as text or JSON. When an OTLP endpoint is configured,
//! spans are also exported over OTLP/gRPC; otherwise nothing is exported and
//! the OpenTelemetry layer is not installed at all.

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::TelemetryArgs;

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
        Some(
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(Resource::builder().with_service_name(service).build())
                .build(),
        )
    };
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(service)));
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init()
        .map_err(|e| format!("tracing already initialised: {e}"))?;
    Ok(TelemetryGuard { provider })
}
