//! [`MemoryLogger`]: keeps everything logged, for tests of the trainer.

use std::collections::BTreeMap;

use super::{LogError, Logger};

/// Records every value in memory, by tag, in the order logged.
#[derive(Debug, Clone, Default)]
pub struct MemoryLogger {
    scalars: BTreeMap<String, Vec<(u64, f64)>>,
    texts: BTreeMap<String, Vec<(u64, String)>>,
    histograms: BTreeMap<String, Vec<(u64, Vec<f32>)>>,
    flushes: usize,
}

impl MemoryLogger {
    /// An empty logger.
    pub fn new() -> Self {
        Self::default()
    }

    /// The `(step, value)` pairs logged under `tag`; empty if none.
    pub fn scalars(&self, tag: &str) -> &[(u64, f64)] {
        self.scalars.get(tag).map_or(&[], Vec::as_slice)
    }

    /// The last value logged under `tag`.
    pub fn last_scalar(&self, tag: &str) -> Option<f64> {
        self.scalars(tag).last().map(|&(_, value)| value)
    }

    /// The tags that have scalars, sorted.
    pub fn scalar_tags(&self) -> impl Iterator<Item = &str> {
        self.scalars.keys().map(String::as_str)
    }

    /// The `(step, text)` pairs logged under `tag`; empty if none.
    pub fn texts(&self, tag: &str) -> &[(u64, String)] {
        self.texts.get(tag).map_or(&[], Vec::as_slice)
    }

    /// The `(step, values)` pairs logged under `tag`; empty if none.
    pub fn histograms(&self, tag: &str) -> &[(u64, Vec<f32>)] {
        self.histograms.get(tag).map_or(&[], Vec::as_slice)
    }

    /// How many times [`Logger::flush`] was called.
    pub fn flushes(&self) -> usize {
        self.flushes
    }
}

impl Logger for MemoryLogger {
    fn scalar(&mut self, tag: &str, value: f64, step: u64) {
        self.scalars
            .entry(tag.to_owned())
            .or_default()
            .push((step, value));
    }

    fn text(&mut self, tag: &str, text: &str, step: u64) {
        self.texts
            .entry(tag.to_owned())
            .or_default()
            .push((step, text.to_owned()));
    }

    fn histogram(&mut self, tag: &str, values: &[f32], step: u64) {
        self.histograms
            .entry(tag.to_owned())
            .or_default()
            .push((step, values.to_vec()));
    }

    fn flush(&mut self) -> Result<(), LogError> {
        self.flushes += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Logs through the trait object, as the trainer will.
    fn log_iteration(log: &mut dyn Logger, step: u64) -> Result<(), LogError> {
        log.scalar("charts/SPS", 100.0 * step as f64, step);
        log.histogram("surgery/cos_sim", &[0.5, -0.5], step);
        log.flush()
    }

    #[test]
    fn records_values_by_tag_in_order() {
        let mut log = MemoryLogger::new();
        log.text("config", "seed = 1", 0);
        for step in [1, 2] {
            log_iteration(&mut log, step).unwrap();
        }
        log.scalar("charts/a/episodic_return", 9.5, 2);
        assert_eq!(log.scalars("charts/SPS"), &[(1, 100.0), (2, 200.0)]);
        assert_eq!(log.last_scalar("charts/SPS"), Some(200.0));
        assert_eq!(log.last_scalar("missing"), None);
        assert!(log.scalars("missing").is_empty());
        assert_eq!(
            log.scalar_tags().collect::<Vec<_>>(),
            ["charts/SPS", "charts/a/episodic_return"]
        );
        assert_eq!(log.texts("config"), &[(0, "seed = 1".to_owned())]);
        assert_eq!(log.histograms("surgery/cos_sim")[1], (2, vec![0.5, -0.5]));
        assert_eq!(log.flushes(), 2);
    }

    #[test]
    fn boxed_and_borrowed_loggers_are_loggers() {
        let mut log = MemoryLogger::new();
        {
            let mut borrowed: &mut MemoryLogger = &mut log;
            log_iteration(&mut borrowed, 3).unwrap();
        }
        let mut boxed: Box<dyn Logger> = Box::new(log);
        log_iteration(&mut boxed, 4).unwrap();
    }
}
