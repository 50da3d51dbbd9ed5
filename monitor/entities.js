// Durable entities (GET /entities?fetchState=true, following the continuation header up to a
// bound): name, key, last operation time and state, refreshed every few seconds.
import { h, json, relative, table, time } from './dom.js';

const REFRESH_MS = 5000;
/** At most this many entities are shown (pages of 100); the count says when there are more. */
const SHOWN = 500;

async function load(api) {
  const entities = [];
  let token;
  do {
    const res = await api.request('GET', '/entities', { query: { fetchState: true, top: 100 }, headers: token ? { 'x-ms-continuation-token': token } : {} });
    if (!res.ok) throw new Error(`the service answered ${res.status}`);
    entities.push(...res.body);
    token = res.headers.get('x-ms-continuation-token') || undefined;
  } while (token && entities.length < SHOWN);
  return { entities, more: Boolean(token) };
}

export async function entitiesView(ctx) {
  const body = h('div', {});
  const render = ({ entities, more }) => {
    const now = Date.now();
    body.replaceChildren(
      entities.length === 0
        ? h('p', { class: 'muted' }, 'No entities with state. An entity is created by its first operation (POST …/entities/{name}/{key}?op=…, or callEntity / signalEntity from an orchestration).')
        : table(
            ['Entity', 'Key', 'Last operation (UTC)', 'State'],
            entities.map((e) =>
              h(
                'tr',
                { 'data-entity': `@${e.entityId.name}@${e.entityId.key}` },
                h('th', { scope: 'row' }, e.entityId.name),
                h('td', { class: 'mono' }, e.entityId.key === '' ? h('span', { class: 'muted' }, '(empty)') : e.entityId.key),
                h('td', { class: 'nowrap' }, e.lastOperationTime ? [time(e.lastOperationTime), h('div', { class: 'muted' }, relative(e.lastOperationTime, now))] : '–'),
                h('td', { class: 'detail' }, json(e.state)),
              ),
            ),
            { class: 'entities' },
          ),
      more ? h('p', { class: 'muted' }, `The first ${entities.length} entities are shown.`) : null,
    );
  };
  const refresh = async () => render(await load(ctx.api));
  await refresh();
  ctx.every(REFRESH_MS, refresh);
  return h(
    'section',
    { class: 'entities' },
    h('h1', {}, 'Entities'),
    h('p', {}, 'Durable entities that have state, by name and key: one operation at a time per entity, the state kept in PostgreSQL.'),
    body,
  );
}
