/** The scenarios of the suite, in report order (issue 7). */
import type { ScenarioOptions, ScenarioResult } from './lib/report.ts';
import * as apiKill from './tests/api-kill.ts';
import * as auth from './tests/auth.ts';
import * as badInput from './tests/bad-input.ts';
import * as caps from './tests/caps.ts';
import * as connKill from './tests/conn-kill.ts';
import * as nondeterminism from './tests/nondeterminism.ts';
import * as pgRestart from './tests/pg-restart.ts';
import * as races from './tests/races.ts';
import * as redelivery from './tests/redelivery.ts';
import * as soak from './tests/soak.ts';
import * as workerKill from './tests/worker-kill.ts';
import * as timeouts from './tests/timeouts.ts';
import * as hungActivity from './tests/hung-activity.ts';
import * as readFlood from './tests/read-flood.ts';

export interface ScenarioModule {
  id: string;
  title: string;
  run(options: ScenarioOptions): Promise<ScenarioResult>;
}

export const SCENARIOS: ScenarioModule[] = [workerKill, apiKill, pgRestart, connKill, redelivery, races, nondeterminism, badInput, auth, caps, soak, timeouts, hungActivity, readFlood];
