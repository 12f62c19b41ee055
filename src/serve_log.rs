//! `sesame serve`'s log lines: the server emits `tracing` events (one per request, one per
//! decision; `sesame_server::ACCESS_LOG` and `DECISION_LOG`), and this layer writes each as one
//! line on stderr, as text or as a JSON object (`--log-format`).

use crate::cli::LogFormat;
use serde_json::{Map, Value};
use sesame_login::clock::{format_utc, rfc3339_utc, unix_seconds};
use std::io::Write;
use std::time::SystemTime;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Writes the server's access and decision events as lines.
pub struct ServeLog {
    format: LogFormat,
}

impl ServeLog {
    /// A layer writing lines in `format`.
    pub fn new(format: LogFormat) -> Self {
        ServeLog { format }
    }
}

impl<S: Subscriber> Layer<S> for ServeLog {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let target = event.metadata().target();
        let access = target == sesame_server::ACCESS_LOG;
        if !access && target != sesame_server::DECISION_LOG {
            return;
        }
        let mut fields = Fields(Map::new());
        event.record(&mut fields);
        let now = unix_seconds(SystemTime::now());
        let line = match self.format {
            LogFormat::Json => {
                let mut object = fields.0;
                object.insert("time".into(), rfc3339_utc(now).into());
                Value::Object(object).to_string()
            }
            LogFormat::Text if access => access_text(&fields, now),
            LogFormat::Text => decision_text(&fields, now),
        };
        let _ = writeln!(std::io::stderr(), "{line}");
    }
}

/// `2026-12-05 12:00:00 UTC 127.0.0.1 GET /route 200 3ms`
fn access_text(f: &Fields, now: i64) -> String {
    let ms = f.0.get("ms").and_then(Value::as_f64).unwrap_or_default();
    format!(
        "{} {} {} {} {} {}ms",
        format_utc(now),
        f.text("ip"),
        f.text("method"),
        f.text("route"),
        f.text("status"),
        ms.floor() as u64
    )
}

/// `2026-12-05 12:00:00 UTC login for alice (requested from 127.0.0.1) approved`
fn decision_text(f: &Fields, now: i64) -> String {
    format!(
        "{} login for {} (requested from {}) {}",
        format_utc(now),
        f.text("user"),
        f.text("requested_from"),
        f.text("event")
    )
}

/// An event's fields, as JSON values.
struct Fields(Map<String, Value>);

impl Fields {
    /// A field as text: a string as it is, anything else as JSON writes it.
    fn text(&self, name: &str) -> String {
        match self.0.get(name) {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => String::new(),
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}
