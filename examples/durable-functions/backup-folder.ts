/**
 * Fan-out/fan-in: list a folder's files, copy every file in parallel (one activity each), and
 * add up the bytes copied. The file store is SAMPLE_SERVICES_URL.
 */
import * as df from 'pg-taskhub/durable-functions';

const services = (): string => process.env.SAMPLE_SERVICES_URL as string;

df.app.activity('ListFolder', {
  handler: async (folder: string) => {
    const res = await fetch(`${services()}/files?folder=${encodeURIComponent(folder)}`);
    return (await res.json()) as string[];
  },
});

df.app.activity('CopyFile', {
  handler: async (file: string, context) => {
    const res = await fetch(`${services()}/backup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ file }) });
    if (!res.ok) throw new Error(`copying ${file} failed: ${res.status}`);
    const { bytes } = (await res.json()) as { bytes: number };
    context.debug(`copied ${file}: ${bytes} bytes`);
    return bytes;
  },
});

df.app.orchestration('BackupFolder', function* (context) {
  const folder = context.df.getInput<string>();
  const files: string[] = yield context.df.callActivity('ListFolder', folder);
  const copies = files.map((file) => context.df.callActivity('CopyFile', file));
  const sizes: number[] = yield context.df.Task.all(copies);
  return { folder, files: files.length, bytes: sizes.reduce((sum, n) => sum + n, 0) };
});
