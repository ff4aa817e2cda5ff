//! The log sink's drops: `smol_toy_log_lines_dropped_total`, read at each scrape.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;

use crate::logging;

/// Reads the logger's count of dropped lines when scraped.
#[derive(Debug, Default)]
pub struct LogSinkCollector;

impl Collector for LogSinkCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let dropped = ConstCounter::new(logging::dropped_lines());
        let help = "Log lines dropped because stderr did not take them: they did not fit \
                    in the buffer while the sink was stalled, or their write failed.";
        let descriptor = encoder.encode_descriptor(
            "smol_toy_log_lines_dropped",
            help,
            None,
            dropped.metric_type(),
        )?;
        dropped.encode(descriptor)
    }
}
