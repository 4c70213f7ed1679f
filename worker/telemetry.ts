import { Runtime } from '@temporalio/worker';
import type { Config } from '../config';

/**
 * Serves the Temporal SDK's own metrics on WORKER_METRICS_ADDRESS (counters end in `_total`), for Prometheus to scrape
 * each worker process. Must run before the process opens any Temporal connection. Answers where to read them.
 */
export function installWorkerMetrics(config: Config): string | undefined {
  const address = config.WORKER_METRICS_ADDRESS;
  if (!address) return undefined;
  Runtime.install({
    telemetryOptions: { metrics: { prometheus: { bindAddress: address, countersTotalSuffix: true } } },
  });
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), address.slice(address.lastIndexOf(':') + 1)];
  return `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}/metrics`;
}
