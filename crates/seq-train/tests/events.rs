//! The trainer's `tracing` events. In a test binary of its own: tracing
//! caches per call site whether anyone listens, and a call site first
//! reached by another test's thread while this test's subscriber is being
//! installed can keep "no one" for the rest of the process.

mod common;
use common::{data, model, temp_dir};
use seq_train::{OptimizerConfig, Trainer, TrainerConfig};

/// Collects the messages of the `tracing` events sent while it is the
/// default subscriber.
struct Events(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl tracing::Subscriber for Events {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        self.0.lock().unwrap().push(m.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn training_sends_structured_events() {
    let dir = temp_dir("events");
    let (p, mut m) = model(1, 0.0);
    let mut cfg = TrainerConfig::new(2);
    (cfg.quiet, cfg.checkpoint) = (true, Some(dir.join("ck.safetensors")));
    let opt = OptimizerConfig::sgd(0.1).build(p.named_vars()).unwrap();
    let mut t = Trainer::new(cfg, p, opt);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    tracing::subscriber::with_default(Events(seen.clone()), || {
        t.fit(&m, &data(1, 2), None).unwrap();
        m.scale = f64::INFINITY;
        t.config.epochs = 3;
        assert!(t.fit(&m, &data(1, 2), None).is_err());
    });
    let seen = seen.lock().unwrap().clone();
    let count = |what: &str| seen.iter().filter(|m| m.as_str() == what).count();
    assert_eq!(count("epoch end"), 2, "{seen:?}");
    assert_eq!(count("checkpoint written"), 2, "{seen:?}");
    assert_eq!(count("not finite: training stops"), 1, "{seen:?}");
}
