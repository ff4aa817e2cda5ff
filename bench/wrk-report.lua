-- Prints wrk's results as one JSON line, so that bench.py need not parse its tables.
done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
