/**
 * What a scenario returns, and how the suite reports it: one JSON file per scenario under
 * reliability/results/, and RELIABILITY.md rendered from all of them.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { InvariantReport } from './invariants.ts';
import { ROOT } from './procs.ts';

export const RESULTS_DIR = path.join(ROOT, 'reliability', 'results');
export const REPORT_FILE = path.join(ROOT, 'RELIABILITY.md');

export type Mode = 'full' | 'quick' | 'test';

export interface Check {
  name: string;
  ok: boolean;
  detail?: string;
  /** A known gap reported as a finding: listed, but it does not fail the scenario. */
  finding?: boolean;
}

/** The measured figures every scenario reports (null: not applicable). */
export interface Figures {
  instances: number;
  activities: number;
  faultsInjected: number;
  recoverySeconds: number | null;
  duplicatesFound: number;
  lossesFound: number;
  /** Scenario-specific figures. */
  extra: Record<string, number | string>;
}

export interface ScenarioResult {
  id: string;
  title: string;
  mode: Mode;
  fault: string;
  load: string;
  startedAt: string;
  durationSeconds: number;
  figures: Figures;
  checks: Check[];
  invariants?: InvariantReport | undefined;
  passed: boolean;
  /** Set when the scenario could not run to the end (the error). */
  error?: string;
  notes: string[];
}

export interface ScenarioOptions {
  mode: Mode;
}

export type Scenario = (options: ScenarioOptions) => Promise<ScenarioResult>;

/** Collects a scenario's checks and figures; `result()` decides passed. */
export class Recorder {
  readonly id: string;
  readonly title: string;
  readonly mode: Mode;
  fault = '';
  load = '';
  readonly started = Date.now();
  readonly checks: Check[] = [];
  readonly notes: string[] = [];
  readonly figures: Figures = {
    instances: 0,
    activities: 0,
    faultsInjected: 0,
    recoverySeconds: null,
    duplicatesFound: 0,
    lossesFound: 0,
    extra: {},
  };
  invariants: InvariantReport | undefined;
  error: string | undefined;

  constructor(id: string, title: string, mode: Mode) {
    this.id = id;
    this.title = title;
    this.mode = mode;
  }

  check(name: string, ok: boolean, detail?: string): boolean {
    this.checks.push({ name, ok, ...(detail !== undefined ? { detail } : {}) });
    return ok;
  }

  /** A known gap: reported, does not fail the scenario. */
  finding(name: string, ok: boolean, detail: string): void {
    this.checks.push({ name, ok, detail, finding: true });
  }

  note(text: string): void {
    this.notes.push(text);
  }

  extra(name: string, value: number | string): void {
    this.figures.extra[name] = value;
  }

  result(): ScenarioResult {
    const failed = this.checks.some((c) => !c.ok && !c.finding);
    return {
      id: this.id,
      title: this.title,
      mode: this.mode,
      fault: this.fault,
      load: this.load,
      startedAt: new Date(this.started).toISOString(),
      durationSeconds: round((Date.now() - this.started) / 1000),
      figures: this.figures,
      checks: this.checks,
      invariants: this.invariants,
      passed: this.error === undefined && !failed && (this.invariants?.ok ?? true),
      ...(this.error !== undefined ? { error: this.error } : {}),
      notes: this.notes,
    };
  }
}

export const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** Runs a scenario body with a recorder; an exception becomes a failed result, never a crash of the suite. */
export async function runScenario(
  recorder: Recorder,
  body: (r: Recorder) => Promise<void>,
  cleanup: () => Promise<void>,
): Promise<ScenarioResult> {
  try {
    await body(recorder);
  } catch (err) {
    recorder.error = (err as Error).stack ?? String(err);
  } finally {
    await cleanup().catch((err) => recorder.note(`cleanup failed: ${(err as Error).message}`));
  }
  return recorder.result();
}

export function writeResult(result: ScenarioResult): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${result.id}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}

export function readResults(): ScenarioResult[] {
  let files: string[];
  try {
    files = readdirSync(RESULTS_DIR).filter((f) => f.endsWith('.json') && f !== 'run.json');
  } catch {
    return [];
  }
  return files.map((f) => JSON.parse(readFileSync(path.join(RESULTS_DIR, f), 'utf8')) as ScenarioResult);
}

const cell = (v: unknown): string => (v === null || v === undefined ? '–' : String(v).replaceAll('|', '\\|').replaceAll('\n', ' '));

export interface RunInfo {
  mode: Mode;
  startedAt: string;
  durationSeconds: number;
  node: string;
  postgres: string;
  only?: string[] | undefined;
}

/** RELIABILITY.md: the summary table, then each scenario's fault, load, figures and checks. */
export function renderReport(results: ScenarioResult[], order: string[], run: RunInfo): string {
  const sorted = [...results].sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));
  const lines: string[] = [];
  lines.push('# Reliability report', '');
  lines.push(
    'Generated by `npm run reliability` (reliability/run.ts) from the results under `reliability/results/`. Each scenario runs ' +
      'real pg-taskhub server processes (`src/cli.ts --module reliability/lib/workload.ts`) against a real PostgreSQL, injects ' +
      'its fault, and ends with the oracle (every activity execution logged to `reliability_log`) and the invariant queries ' +
      '(`reliability/lib/invariants.ts`).',
    '',
  );
  lines.push(
    'Run: `DATABASE_URL=postgres://… npm run reliability` (full: 10-minute soak, 5,000-activity fan-out), `-- --quick` (30-second ' +
      'soak, smaller loads, about 5 minutes), `-- --only=worker-kill,soak` (some scenarios; the report keeps the latest result of ' +
      'each). Every scenario also runs in `npm test` (test/reliability/*.test.ts) at test size, the fault scenarios (worker-kill, api-kill, pg-restart, conn-kill, soak) included.',
    '',
  );
  lines.push(
    `Last run: ${run.startedAt} (${run.mode} mode${run.only ? `, only ${run.only.join(', ')}` : ''}), ${run.durationSeconds} s; ` +
      `Node ${run.node}; ${run.postgres}; ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB.`,
    '',
  );
  lines.push('| # | scenario | mode | result | instances | activities | faults | recovery (s) | duplicates | losses | duration (s) |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|');
  sorted.forEach((r) => {
    const findings = r.checks.filter((c) => c.finding && !c.ok).length;
    const verdict = r.passed ? (findings ? `pass (${findings} finding${findings > 1 ? 's' : ''})` : 'pass') : '**FAIL**';
    const f = r.figures;
    lines.push(
      `| ${order.indexOf(r.id) + 1} | ${cell(r.title)} (\`${r.id}\`) | ${r.mode} | ${verdict} | ${f.instances} | ${f.activities} | ${f.faultsInjected} | ${cell(f.recoverySeconds)} | ${f.duplicatesFound} | ${f.lossesFound} | ${r.durationSeconds} |`,
    );
  });
  lines.push('');
  const failures = sorted.flatMap((r) => [
    ...(r.error ? [`- **${r.id}**: did not run to its end: \`${cell(r.error.split('\n')[0])}\``] : []),
    ...r.checks.filter((c) => !c.ok && !c.finding).map((c) => `- **${r.id}**: ${c.name}: ${cell(c.detail ?? '')}`),
  ]);
  if (failures.length > 0) lines.push('## Failed checks', '', ...failures, '');
  const findings = sorted.flatMap((r) => r.checks.filter((c) => c.finding && !c.ok).map((c) => `- **${r.id}**: ${c.name}: ${cell(c.detail ?? '')}`));
  if (findings.length > 0) lines.push('## Findings (known gaps, reported, not failing)', '', ...findings, '');
  for (const r of sorted) {
    lines.push(`## ${order.indexOf(r.id) + 1}. ${r.title} (\`${r.id}\`)`, '');
    lines.push(`- **Fault:** ${r.fault}`, `- **Load:** ${r.load}`, `- **Result:** ${r.passed ? 'pass' : 'FAIL'} (${r.mode} mode, ${r.durationSeconds} s, ${r.startedAt})`);
    if (r.error) lines.push(`- **Error:** \`${cell(r.error.split('\n')[0])}\``);
    lines.push('');
    const f = r.figures;
    lines.push('| figure | value |', '|---|---|');
    lines.push(`| instances | ${f.instances} |`, `| activities | ${f.activities} |`, `| faults injected | ${f.faultsInjected} |`);
    lines.push(`| recovery time (s) | ${cell(f.recoverySeconds)} |`, `| duplicates found | ${f.duplicatesFound} |`, `| losses found | ${f.lossesFound} |`);
    for (const [k, v] of Object.entries(f.extra)) lines.push(`| ${cell(k)} | ${cell(v)} |`);
    lines.push('');
    lines.push('| check | result | detail |', '|---|---|---|');
    for (const c of r.checks) lines.push(`| ${cell(c.name)} | ${c.ok ? 'ok' : c.finding ? 'FINDING' : '**FAIL**'} | ${cell(c.detail ?? '')} |`);
    if (r.invariants) {
      const v = r.invariants;
      lines.push(
        `| invariants checked over | ${v.ok ? 'ok' : '**FAIL**'} | ${v.instances} instances, ${v.historyRows} history rows, ${v.scheduledTasks} scheduled tasks${v.eventsDroppedByEnd ? `; ${v.eventsDroppedByEnd} acknowledged events dropped because terminate came first (allowed)` : ''} |`,
      );
    }
    lines.push('');
    for (const n of r.notes) lines.push(`> ${n}`, '');
  }
  return `${lines.join('\n')}\n`;
}
