/** What the control plane is built from: passed in by buildApp's caller, never taken from globals. */
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Management } from '../orchestrator/management.ts';
import type { Registry } from '../orchestrator/registry.ts';
import type { Telemetry } from '../telemetry/index.ts';
import type { HealthCheck } from './health.ts';
import type { HubDirectory } from './hubs.ts';

export interface AppDeps {
  config: Pick<Config, 'hubName' | 'key' | 'bodyLimit' | 'http'> & { telemetry?: Pick<Config['telemetry'], 'metricsPublic'> };
  /** The clock of the start rate limit (milliseconds); tests pass one they control. Default Date.now. */
  clock?: () => number;
  /** The default hub's verbs and registry (the only hub when `hubs` is not given). */
  client: Management;
  registry: Registry;
  /** Every task hub served; default: one, `config.hubName` over `client` and `registry`. Routes use `hubOf(request)`. */
  hubs?: HubDirectory;
  health: HealthCheck;
  log?: Logger;
  /** Metrics (GET /metrics) and traces (a span per request); none when absent. */
  telemetry?: Telemetry | undefined;
}
