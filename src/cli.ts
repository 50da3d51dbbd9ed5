#!/usr/bin/env node
/** `pg-taskhub [start|migrate] [--module ./my-orchestrations.ts]` */
import { main } from './server.ts';

main(process.argv.slice(2)).then(
  (code) => {
    // Everything was closed in order; exit even if a library left a timer behind.
    process.exit(code);
  },
  (err: unknown) => {
    // One line; the stack only when asked for (LOG_LEVEL=debug or trace).
    const verbose = ['debug', 'trace'].includes(process.env.LOG_LEVEL ?? '');
    const text = verbose ? ((err as Error).stack ?? String(err)) : ((err as Error).message ?? String(err)).replace(/\s+/g, ' ');
    process.stderr.write(`pg-taskhub: ${text}\n`);
    process.exit(1);
  },
);
