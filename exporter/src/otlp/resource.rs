//! The OTLP resource of an instrumented process and attribute helpers.

use super::OtlpConfig;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use vfscope_segment::ProcessMeta;

/// An attribute with any value.
pub fn kv(key: &str, value: impl Into<any_value::Value>) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(value.into()),
        }),
        ..Default::default()
    }
}

/// A string attribute.
pub fn kv_str(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.to_string()))
}

/// vfscope as the instrumentation scope.
pub fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "vfscope".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        ..Default::default()
    }
}

/// One instrumented process: `service.name` from `OTEL_SERVICE_NAME`, else
/// from `OTEL_RESOURCE_ATTRIBUTES`, else the program name; the process's
/// pid, program and start identify it (never its command line, which may
/// hold paths); `OTEL_RESOURCE_ATTRIBUTES` adds to it.
pub fn process_resource(config: &OtlpConfig, meta: &ProcessMeta) -> Resource {
    let from_attributes = config
        .resource
        .iter()
        .find(|(k, _)| k == "service.name")
        .map(|(_, v)| v.as_str());
    let service = config
        .service_name
        .as_deref()
        .or(from_attributes)
        .unwrap_or(meta.program());
    let mut attributes = vec![
        kv_str("service.name", service),
        kv_str(
            "service.instance.id",
            &format!("{}-{}", meta.pid, meta.proc_start_ticks),
        ),
        kv("process.pid", any_value::Value::IntValue(meta.pid as i64)),
        kv_str("process.executable.name", meta.program()),
        kv_str("db.system.name", "sqlite"),
        kv_str("vfscope.sqlite.version", &meta.sqlite_version),
        kv_str("telemetry.sdk.name", "vfscope"),
        kv_str("telemetry.sdk.language", "rust"),
        kv_str("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
    ];
    for (key, value) in &config.resource {
        if key != "service.name" {
            attributes.retain(|a| &a.key != key);
            attributes.push(kv_str(key, value));
        }
    }
    Resource {
        attributes,
        ..Default::default()
    }
}
