// The overview: instances per runtime status and per orchestration name (GET /counts), the
// registered orchestrations (GET /orchestrators), refreshed every two seconds.
import { badge, h, STATUSES, table, time } from './dom.js';

const REFRESH_MS = 2000;

function listLink(params, label) {
  const q = new URLSearchParams(params);
  return h('a', { href: `#/instances?${q}` }, label);
}

function tiles(counts) {
  return h(
    'ul',
    { class: 'tiles', 'aria-label': 'Instances per runtime status' },
    STATUSES.map((status) =>
      h(
        'li',
        { class: `tile s-${status.toLowerCase()}`, 'data-status': status },
        h('a', { href: `#/instances?${new URLSearchParams({ status })}` }, h('span', { class: 'n' }, String(counts.byStatus[status] ?? 0)), h('span', { class: 'label' }, status)),
      ),
    ),
  );
}

function byName(counts) {
  const shown = STATUSES.filter((s) => counts.byStatus[s] > 0);
  if (counts.byName.length === 0) return h('p', { class: 'muted' }, 'No instances yet.');
  return table(
    ['Orchestration', 'Total', ...shown],
    counts.byName.map((row) =>
      h(
        'tr',
        { 'data-name': row.name },
        h('th', { scope: 'row' }, listLink({ name: row.name }, row.name)),
        h('td', { class: 'num' }, String(row.total)),
        shown.map((status) =>
          h('td', { class: 'num' }, row.byStatus[status] > 0 ? listLink({ name: row.name, status }, String(row.byStatus[status])) : h('span', { class: 'muted' }, '0')),
        ),
      ),
    ),
    { class: 'counts' },
  );
}

function registered(orchestrations) {
  return table(
    ['Name', 'Single-instance', 'Schedule', 'Description'],
    orchestrations.map((o) =>
      h(
        'tr',
        {},
        h('th', { scope: 'row' }, listLink({ name: o.name }, o.name)),
        h('td', {}, o.singleton === false ? '–' : o.singleton === 'keyed' ? 'per key' : 'yes'),
        h('td', {}, o.schedule ? h('a', { href: '#/schedules' }, `${o.schedule.cron} (${o.schedule.timezone})`) : '–'),
        h('td', {}, o.description ?? ''),
      ),
    ),
  );
}

export async function overviewView(ctx) {
  const counts = (await ctx.api.get('/counts')).body;
  const body = h('div', {});
  const stamp = h('span', { class: 'muted', 'aria-live': 'off' });
  const render = (c) => {
    body.replaceChildren(
      h('p', { class: 'total' }, `${c.total} instance${c.total === 1 ? '' : 's'} kept. `, badge('Running'), ` ${c.byStatus.Running} running.`),
      tiles(c),
      h('h2', {}, 'Per orchestration'),
      byName(c),
    );
    stamp.textContent = `Live: refreshed ${time(new Date().toISOString())} UTC`;
  };
  render(counts);
  ctx.every(REFRESH_MS, async () => render((await ctx.api.get('/counts')).body));
  return h(
    'section',
    { class: 'overview' },
    h('div', { class: 'title' }, h('h1', {}, 'Overview'), stamp),
    body,
    h('h2', {}, 'Registered orchestrations'),
    registered(ctx.orchestrations),
  );
}
