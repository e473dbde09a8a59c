//! [`History`]: the metrics of every epoch of a run.

/// The metrics of each epoch, in order: `train_loss`, `val_loss`, `val_*`, `lr`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// One record per epoch: `(metric, value)` pairs.
    pub epochs: Vec<Vec<(String, f64)>>,
}

impl History {
    /// The names of the metrics, in the order first seen.
    pub fn metric_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for (k, _) in self.epochs.iter().flatten() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
        names
    }

    /// The values of `metric` per epoch (NaN where missing).
    pub fn series(&self, metric: &str) -> Vec<f64> {
        self.epochs
            .iter()
            .map(|r| r.metric(metric).unwrap_or(f64::NAN))
            .collect()
    }

    pub(crate) fn to_state(&self) -> Vec<(String, Vec<f64>)> {
        self.metric_names()
            .into_iter()
            .map(|n| {
                let s = self.series(&n);
                (n, s)
            })
            .collect()
    }

    pub(crate) fn from_state(columns: &[(String, Vec<f64>)]) -> History {
        let epochs = columns.first().map_or(0, |c| c.1.len());
        History {
            epochs: (0..epochs)
                .map(|e| columns.iter().map(|(k, v)| (k.clone(), v[e])).collect())
                .collect(),
        }
    }
}

/// Looking a metric up in an epoch's record.
pub trait Record {
    /// The value of `metric`, if recorded.
    fn metric(&self, name: &str) -> Option<f64>;
}

impl Record for Vec<(String, f64)> {
    fn metric(&self, name: &str) -> Option<f64> {
        self.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
    }
}
