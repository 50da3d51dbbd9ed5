#!/usr/bin/env node
/** `pg-taskhub [start|migrate] [--module ./my-orchestrations.ts]` */
import { main } from './server.ts';

main(process.argv.slice(2)).then(
  (code) => {
    // Everything was closed in order; exit even if a library left a timer behind.
    process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`pg-taskhub: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
