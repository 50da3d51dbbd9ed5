/**
 * Durable HTTP: no activity of our own, only context.df.callHttp. The report service (its base URL
 * comes with the input; SAMPLE_SERVICES_URL in the tests) starts an export with 202 Accepted and a
 * Location to poll; callHttp polls it behind durable timers (Retry-After) until the export is
 * ready, every poll recorded in history, so a restart of the service mid-export loses nothing.
 * Then a listing: a 404 is an answer, not an error.
 *
 *   start: {"month":"2026-11","api":"http://127.0.0.1:8080"}
 *   output: {"month":"2026-11","file":"report-2026-11.csv","rows":42,"previous":"none"}
 */
import * as df from 'pg-taskhub/durable-functions';

df.app.orchestration('ExportReport', function* (context) {
  const { month, api } = context.df.getInput<{ month: string; api: string }>();
  const exported: df.DurableHttpResponse = yield context.df.callHttp({
    method: 'POST',
    url: `${api}/reports/${month}/export`,
    body: { format: 'csv' },
    headers: { 'Content-Type': 'application/json' },
  });
  if (exported.statusCode !== 200) throw new Error(`the export of ${month} ended with ${exported.statusCode}`);
  const { file, rows } = JSON.parse(exported.content ?? '{}') as { file: string; rows: number };
  context.df.setCustomStatus({ exported: file });

  const [year, mon] = month.split('-').map(Number) as [number, number];
  const before = mon === 1 ? `${year - 1}-12` : `${year}-${String(mon - 1).padStart(2, '0')}`;
  const previous: df.DurableHttpResponse = yield context.df.callHttp({ method: 'GET', url: `${api}/reports/${before}` });
  return { month, file, rows, previous: previous.statusCode === 404 ? 'none' : JSON.parse(previous.content ?? '{}').file };
});
