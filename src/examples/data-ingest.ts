/**
 * DataIngest, the seed scenario: a daily, single-instance orchestration that lists N sources and
 * fans out one ScrapeAndLoad per source. Loads are idempotent upserts, so running it twice, or
 * terminating it mid-run and starting again, loads each source exactly once.
 */
import { createHash } from 'node:crypto';
import type { Registry } from '../orchestrator/registry.ts';
import { type ExampleOptions, type ExampleServices, requirePool } from './services.ts';

const DEFAULT_SOURCES = 3000;

/** A "scraped" payload: small and deterministic for a source id. */
function scrape(sourceId: string): { sourceId: string; digest: string; size: number } {
  const digest = createHash('sha256').update(sourceId).digest('hex');
  return { sourceId, digest: digest.slice(0, 16), size: parseInt(digest.slice(0, 4), 16) };
}

export function registerDataIngest(registry: Registry, services: ExampleServices, options: ExampleOptions): void {
  const schedule = options.dataIngestSchedule === undefined ? { cron: '0 2 * * *', timezone: 'UTC' } : options.dataIngestSchedule;
  registry
    .activity('ListSources', async (input: { sources: number }) => {
      const n = Math.max(0, Math.min(100_000, Math.floor(Number(input?.sources ?? DEFAULT_SOURCES))));
      return Array.from({ length: n }, (_, i) => `source-${String(i + 1).padStart(6, '0')}`);
    })
    .activity('ScrapeAndLoad', async (sourceId: string, context) => {
      await new Promise((resolve) => setTimeout(resolve, 2)); // the "network"
      const item = scrape(sourceId);
      await (await requirePool(services)).query(
        `INSERT INTO ingest_items (source_id, payload, loaded_by) VALUES ($1, $2, $3)
         ON CONFLICT (source_id) DO UPDATE SET payload = EXCLUDED.payload, loaded_by = EXCLUDED.loaded_by, loaded_at = now()`,
        [sourceId, JSON.stringify(item), context.instanceId],
      );
      return item.size;
    })
    .orchestration(
      'DataIngest',
      {
        description: 'Daily scrape-and-load of every source; single-instance',
        singleton: true,
        ...(schedule ? { schedule: { ...schedule, input: { sources: options.dataIngestSources ?? DEFAULT_SOURCES } } } : {}),
      },
      function* (context) {
        const input = context.df.getInput<{ sources?: number; pauseSeconds?: number } | null>();
        // For a demo (the README's curl tour): wait first, so that the run stays active for a while.
        const pauseSeconds = Math.max(0, Math.min(86_400, Number(input?.pauseSeconds ?? 0) || 0));
        if (pauseSeconds > 0) {
          context.df.setCustomStatus({ phase: 'pausing', seconds: pauseSeconds });
          yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + pauseSeconds * 1000));
        }
        const sources: string[] = yield context.df.callActivity('ListSources', { sources: input?.sources ?? DEFAULT_SOURCES });
        context.df.setCustomStatus({ phase: 'loading', sources: sources.length });
        yield context.df.Task.all(sources.map((id) => context.df.callActivity('ScrapeAndLoad', id)));
        return { loaded: sources.length };
      },
    );
}
