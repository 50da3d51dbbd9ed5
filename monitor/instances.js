// The instance list: filters (status, name, created range, id prefix), newest or oldest first,
// paged by the continuation token the API returns (x-ms-continuation-token).
import { badge, h, STATUSES, time } from './dom.js';

const PAGE = 50;

/** Rows per page: `top` in the hash (1-1000), else PAGE. */
function pageSize(params) {
  const n = Number(params.get('top'));
  return Number.isInteger(n) && n >= 1 && n <= 1000 ? n : PAGE;
}
const TOKEN = 'x-ms-continuation-token';

/** A datetime-local value (no zone: read as UTC, as the API reads it) → ISO. */
function iso(local) {
  return local ? `${local}${local.length === 16 ? ':00' : ''}Z` : undefined;
}

function filtersForm(ctx, params) {
  const statuses = (params.get('status') ?? '').split(',').filter(Boolean);
  const field = (id, label, input) => h('div', { class: 'field' }, h('label', { for: id }, label), input);
  const form = h(
    'form',
    {
      class: 'filters',
      'aria-label': 'Filters',
      onsubmit: (e) => {
        e.preventDefault();
        const data = new FormData(form);
        const q = new URLSearchParams();
        const chosen = data.getAll('status');
        if (chosen.length) q.set('status', chosen.join(','));
        if (params.get('top')) q.set('top', params.get('top'));
        for (const name of ['name', 'from', 'to', 'prefix', 'order']) {
          const v = String(data.get(name) ?? '').trim();
          if (v && !(name === 'order' && v === 'desc')) q.set(name, v);
        }
        ctx.navigate(`#/instances?${q}`);
      },
    },
    h(
      'fieldset',
      { class: 'statuses' },
      h('legend', {}, 'Status'),
      STATUSES.map((s) =>
        h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'status', value: s, checked: statuses.includes(s) }), s),
      ),
    ),
    field(
      'f-name',
      'Orchestration',
      h(
        'select',
        { id: 'f-name', name: 'name' },
        h('option', { value: '' }, 'Any'),
        ctx.orchestrations.map((o) => h('option', { value: o.name, selected: params.get('name') === o.name }, o.name)),
      ),
    ),
    field('f-from', 'Created from (UTC)', h('input', { id: 'f-from', name: 'from', type: 'datetime-local', step: 1, value: params.get('from') ?? '' })),
    field('f-to', 'Created to (UTC)', h('input', { id: 'f-to', name: 'to', type: 'datetime-local', step: 1, value: params.get('to') ?? '' })),
    field('f-prefix', 'Instance ID starts with', h('input', { id: 'f-prefix', name: 'prefix', value: params.get('prefix') ?? '', autocomplete: 'off' })),
    field(
      'f-order',
      'Order',
      h(
        'select',
        { id: 'f-order', name: 'order' },
        h('option', { value: 'desc', selected: params.get('order') !== 'asc' }, 'Newest first'),
        h('option', { value: 'asc', selected: params.get('order') === 'asc' }, 'Oldest first'),
      ),
    ),
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Apply'), h('a', { href: '#/instances', class: 'button secondary' }, 'Clear')),
  );
  // Folded on a phone unless a filter is set; open on a wider screen.
  const active = [...params.keys()].filter((k) => k !== 'order' && k !== 'top').length;
  return h(
    'details',
    { class: 'filters-box', open: active > 0 || window.innerWidth > 700 },
    h('summary', {}, active > 0 ? `Filters (${active} set)` : 'Filters'),
    form,
  );
}

export async function instancesView(ctx, params) {
  const order = params.get('order') === 'asc' ? 'asc' : 'desc';
  const query = {
    runtimeStatus: params.get('status') || undefined,
    name: params.get('name') || undefined,
    createdTimeFrom: iso(params.get('from')),
    createdTimeTo: iso(params.get('to')),
    instanceIdPrefix: params.get('prefix') || undefined,
    order,
    top: pageSize(params),
    showInput: false,
  };
  const rows = h('tbody', {});
  const status = h('p', { class: 'muted', role: 'status' });
  const tokens = [undefined];
  let page = 0;
  const prev = h('button', { type: 'button', class: 'secondary', disabled: true }, '← Previous');
  const next = h('button', { type: 'button', class: 'secondary', disabled: true }, 'Next →');
  const sortButton = h(
    'button',
    {
      type: 'button',
      class: 'link sort',
      'aria-label': `Created: sorted ${order === 'desc' ? 'newest' : 'oldest'} first; change`,
      onclick: () => {
        const q = new URLSearchParams(params);
        if (order === 'desc') q.set('order', 'asc');
        else q.delete('order');
        ctx.navigate(`#/instances?${q}`);
      },
    },
    `Created ${order === 'desc' ? '↓' : '↑'}`,
  );

  const load = async () => {
    const res = await ctx.api.request('GET', '/instances', { query, headers: tokens[page] ? { [TOKEN]: tokens[page] } : {} });
    if (!res.ok) {
      status.textContent = `The API answered ${res.status}: ${res.body?.Message ?? ''}`;
      status.className = 'error';
      return;
    }
    const token = res.headers.get(TOKEN);
    tokens[page + 1] = token || undefined;
    rows.replaceChildren(
      ...res.body.map((i) =>
        h(
          'tr',
          { 'data-instance': i.instanceId },
          h('td', { class: 'c-id' }, h('a', { href: `#/instance/${encodeURIComponent(i.instanceId)}`, class: 'mono' }, i.instanceId)),
          h('td', { class: 'c-name' }, i.name),
          h('td', { class: 'c-status' }, badge(i.runtimeStatus)),
          h('td', { class: 'nowrap c-created', 'data-label': 'created' }, time(i.createdTime)),
          h('td', { class: 'nowrap c-updated', 'data-label': 'updated' }, time(i.lastUpdatedTime)),
        ),
      ),
    );
    status.className = 'muted';
    status.textContent = res.body.length === 0 ? 'No instance matches.' : `Page ${page + 1}: ${res.body.length} instance${res.body.length === 1 ? '' : 's'}${token ? ', more on the next page' : ''}.`;
    prev.disabled = page === 0;
    next.disabled = !token;
  };
  prev.addEventListener('click', () => {
    page = Math.max(0, page - 1);
    void load();
  });
  next.addEventListener('click', () => {
    page++;
    void load();
  });
  await load();
  return h(
    'section',
    { class: 'instances' },
    h('h1', {}, 'Instances'),
    filtersForm(ctx, params),
    status,
    h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        { class: 'list' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Instance ID', 'Orchestration', 'Status'].map((x) => h('th', { scope: 'col' }, x)),
            h('th', { scope: 'col', 'aria-sort': order === 'desc' ? 'descending' : 'ascending' }, sortButton),
            h('th', { scope: 'col' }, 'Last updated'),
          ),
        ),
        rows,
      ),
    ),
    h('div', { class: 'pager' }, prev, next, h('button', { type: 'button', class: 'secondary', onclick: () => void load() }, 'Refresh')),
  );
}
