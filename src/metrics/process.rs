//! The process collector: the standard `process_*` metrics, read from `/proc` at
//! each scrape, with the names and meanings of the official Go client's.

use std::fs;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;
use rustix::param::{clock_ticks_per_second, page_size};
use rustix::process::{Resource, getrlimit};

/// Reads `/proc/self` when scraped. Linux only; a file it cannot read leaves its
/// metrics out of that scrape rather than failing it.
#[derive(Debug, Default)]
pub struct ProcessCollector;

/// What `/proc/self/stat` says, converted to units.
#[derive(Debug, PartialEq)]
struct ProcessStat {
    cpu_seconds: f64,
    threads: i64,
    /// Seconds after boot.
    start_seconds: f64,
    virtual_bytes: i64,
    resident_bytes: i64,
}

impl ProcessStat {
    /// Parses `/proc/self/stat` (proc(5)). The command name, in parentheses, may hold
    /// spaces and parentheses itself, so the fields are counted after the last `)`.
    fn parse(stat: &str) -> Option<ProcessStat> {
        let fields: Vec<&str> = stat
            .get(stat.rfind(')')? + 1..)?
            .split_whitespace()
            .collect();
        // `fields[0]` is field 3 of proc(5), the state.
        let field = |number: usize| fields.get(number - 3)?.parse::<u64>().ok();
        let ticks = clock_ticks_per_second() as f64;
        Some(ProcessStat {
            cpu_seconds: (field(14)? + field(15)?) as f64 / ticks,
            threads: field(20)? as i64,
            start_seconds: field(22)? as f64 / ticks,
            virtual_bytes: field(23)? as i64,
            resident_bytes: (field(24)? * page_size() as u64) as i64,
        })
    }
}

/// The boot time, in seconds since the Unix epoch, from `/proc/stat`.
fn boot_time() -> Option<f64> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find_map(|line| line.strip_prefix("btime "))?;
    line.trim().parse().ok()
}

/// One integer gauge: its name, help, unit and value.
type IntegerGauge = (&'static str, &'static str, Option<&'static Unit>, i64);

/// The descriptor counts and, from `/proc/self/stat`, the memory and thread gauges.
fn integer_gauges(stat: Option<&ProcessStat>) -> Vec<IntegerGauge> {
    let mut gauges = Vec::with_capacity(5);
    if let Ok(entries) = fs::read_dir("/proc/self/fd") {
        let help = "Number of open file descriptors.";
        gauges.push(("process_open_fds", help, None, entries.count() as i64));
    }
    if let Some(limit) = getrlimit(Resource::Nofile).current {
        let help = "Maximum number of open file descriptors.";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        gauges.push(("process_max_fds", help, None, limit));
    }
    if let Some(stat) = stat {
        let bytes = Some(&Unit::Bytes);
        gauges.extend([
            (
                "process_virtual_memory",
                "Virtual memory size in bytes.",
                bytes,
                stat.virtual_bytes,
            ),
            (
                "process_resident_memory",
                "Resident memory size in bytes.",
                bytes,
                stat.resident_bytes,
            ),
            (
                "process_threads",
                "Number of OS threads in the process.",
                None,
                stat.threads,
            ),
        ]);
    }
    gauges
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stat = fs::read_to_string("/proc/self/stat")
            .ok()
            .as_deref()
            .and_then(ProcessStat::parse);
        for (name, help, unit, value) in integer_gauges(stat.as_ref()) {
            let metric = ConstGauge::new(value);
            metric.encode(encoder.encode_descriptor(name, help, unit, metric.metric_type())?)?;
        }
        let Some(stat) = stat else {
            return Ok(());
        };
        let seconds = Some(&Unit::Seconds);
        if let Some(boot) = boot_time() {
            let start = ConstGauge::new(boot + stat.start_seconds);
            let help = "Start time of the process since unix epoch in seconds.";
            let descriptor = encoder.encode_descriptor(
                "process_start_time",
                help,
                seconds,
                start.metric_type(),
            )?;
            start.encode(descriptor)?;
        }
        let cpu = ConstCounter::new(stat.cpu_seconds);
        let help = "Total user and system CPU time spent in seconds.";
        cpu.encode(encoder.encode_descriptor("process_cpu", help, seconds, cpu.metric_type())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fields_are_counted_after_the_command_name() {
        // A command name with a space and a parenthesis, as proc(5) allows.
        let stat = "4242 (a b) c) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 3 0 \
                    1000 8192000 512 18446744073709551615";
        let ticks = clock_ticks_per_second() as f64;
        assert_eq!(
            ProcessStat::parse(stat),
            Some(ProcessStat {
                cpu_seconds: 300.0 / ticks,
                threads: 3,
                start_seconds: 1000.0 / ticks,
                virtual_bytes: 8_192_000,
                resident_bytes: 512 * page_size() as i64,
            })
        );
        assert_eq!(ProcessStat::parse("4242 (truncated"), None);
    }

    #[test]
    fn this_process_reads() {
        let stat = fs::read_to_string("/proc/self/stat").unwrap();
        let stat = ProcessStat::parse(&stat).expect("parses");
        assert!(stat.threads >= 1 && stat.resident_bytes > 0, "{stat:?}");
        assert!(boot_time().is_some_and(|boot| boot > 1.0e9));
    }
}
