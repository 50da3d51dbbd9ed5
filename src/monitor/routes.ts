/**
 * The monitor at /monitor: a server-rendered shell and a small vanilla ES-module front end
 * (monitor/*.js, *.css), read once at start and served from memory. No bundler, no framework, no
 * CDN: the files ship in the package and work offline. The page reads and acts only through the
 * public control plane (same port, same key, sent as x-functions-key from sessionStorage), so the
 * shell and its assets carry no data and are served without the key, like /docs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { Type } from 'typebox';
import { BASE_PATH } from '../routes/management-payload.ts';

/** monitor/ at the package root (beside migrations/), from src/monitor or dist/monitor alike. */
export const MONITOR_DIR = fileURLToPath(new URL('../../monitor/', import.meta.url));

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/**
 * Scripts and styles from this origin only; the page talks to this origin only. No inline script
 * or style, no frames: markup injected through data (it is always set as text) could not run.
 */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

interface Asset {
  type: string;
  body: Buffer;
}

function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const file of readdirSync(dir)) {
    const type = TYPES[path.extname(file)];
    if (type !== undefined) assets.set(file, { type, body: readFileSync(path.join(dir, file)) });
  }
  return assets;
}

function shell(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>pg-taskhub monitor</title>
<link rel="icon" href="/monitor/assets/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/monitor/assets/monitor.css">
<script type="module" src="/monitor/assets/app.js"></script>
</head>
<body data-api="${BASE_PATH}">
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <a class="brand" href="#/">pg-taskhub <span>monitor</span></a>
  <nav id="nav" aria-label="Sections" hidden></nav>
</header>
<main id="main" tabindex="-1"><p class="muted">Loading…</p></main>
<noscript><p>The monitor needs JavaScript. The API it uses is documented at <a href="/docs">/docs</a>.</p></noscript>
</body>
</html>
`;
}

function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-cache');
}

export function monitorRoutes(dir = MONITOR_DIR): FastifyPluginAsync {
  const assets = loadAssets(dir);
  const page = shell();
  return async (app) => {
    app.get('/monitor', { schema: { hide: true } }, async (_request, reply) =>
      secure(reply).type('text/html; charset=utf-8').send(page),
    );
    app.get(
      '/monitor/assets/:file',
      { schema: { hide: true, params: Type.Object({ file: Type.String({ maxLength: 64 }) }) } },
      async (request, reply) => {
        const asset = assets.get((request.params as { file: string }).file);
        if (asset === undefined) return reply.code(404).type('text/plain; charset=utf-8').send('Not found');
        return secure(reply).type(asset.type).send(asset.body);
      },
    );
  };
}
