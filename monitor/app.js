// The monitor's entry: the key gate, the navigation, and a hash router (#/, #/instances?…,
// #/instance/<id>, #/schedules, #/singletons, #/entities). Each view renders into <main> and may refresh itself
// on a timer, which stops when the view is left or the tab is hidden.
import { Api, Unauthorized } from './api.js';
import { h } from './dom.js';
import { entitiesView } from './entities.js';
import { instanceView } from './instance.js';
import { instancesView } from './instances.js';
import { overviewView } from './overview.js';
import { schedulesView, singletonsView } from './schedules.js';

const api = new Api(document.body.dataset.api);
const main = document.getElementById('main');
const nav = document.getElementById('nav');

const SECTIONS = [
  ['#/', 'Overview'],
  ['#/instances', 'Instances'],
  ['#/schedules', 'Schedules'],
  ['#/singletons', 'Single-instance'],
  ['#/entities', 'Entities'],
];

/** The current view's timers; cleared on every navigation. */
let timers = [];
let generation = 0;

function route() {
  const hash = location.hash || '#/';
  const [path, search = ''] = hash.slice(1).split('?');
  return { path: path || '/', params: new URLSearchParams(search) };
}

function renderNav(path) {
  const links = [
    ...SECTIONS.map(([href, label]) => {
      const current = href === '#/' ? path === '/' : path.startsWith(href.slice(1)) && !(href === '#/instances' && path.startsWith('/instance/'));
      const isInstance = href === '#/instances' && path.startsWith('/instance/');
      return h('a', { href, 'aria-current': current || isInstance ? 'page' : undefined }, label);
    }),
  ];
  if (ctx.hubs.length > 1) links.push(hubSelector());
  if (api.key) links.push(h('button', { type: 'button', class: 'link', onclick: forgetKey }, 'Forget key'));
  nav.replaceChildren(...links);
  nav.hidden = false;
}

/** Shown when the service serves more than one task hub: every view then reads and acts on the one chosen. */
function hubSelector() {
  const current = api.hub ?? ctx.hubs.find((hub) => hub.default)?.name;
  const select = h(
    'select',
    { id: 'hub', name: 'hub', onchange: () => {
      api.hub = select.value;
      // The views' state (an instance's page, filters) belongs to the hub they were in.
      if (location.hash === '' || location.hash === '#/') void show();
      else location.hash = '#/';
    } },
    ...ctx.hubs.map((hub) => h('option', { value: hub.name, selected: hub.name === current ? true : undefined }, `${hub.name} (${hub.connection})`)),
  );
  return h('span', { class: 'hub' }, h('label', { for: 'hub' }, 'Task hub'), select);
}

function forgetKey() {
  api.key = null;
  void show();
}

/** The key form: nothing else is shown until the service accepts a key. */
function keyGate(refused) {
  nav.hidden = true;
  nav.replaceChildren();
  const input = h('input', { id: 'key', type: 'password', name: 'key', autocomplete: 'current-password', required: true });
  const form = h(
    'form',
    { class: 'card gate', onsubmit: (e) => {
      e.preventDefault();
      api.key = input.value;
      void show();
    } },
    h('h1', {}, 'This task hub needs its key'),
    h('p', {}, 'Enter the system key (TASKHUB_KEY). It is kept for this browser tab only and sent as the x-functions-key header.'),
    h('label', { for: 'key' }, 'Key'),
    input,
    refused ? h('p', { class: 'error', role: 'alert' }, 'The service refused that key.') : null,
    h('button', { type: 'submit' }, 'Open the monitor'),
  );
  main.replaceChildren(form);
  input.focus();
}

const ctx = {
  api,
  /** The task hubs served (GET /taskhubs). */
  hubs: [],
  /** Calls fn every ms while this view is current and the tab is visible. */
  every(ms, fn) {
    const mine = generation;
    const tick = async () => {
      if (mine !== generation) return;
      if (!document.hidden) {
        try {
          await fn();
        } catch (err) {
          if (err instanceof Unauthorized) return void show();
        }
      }
      if (mine === generation) timers.push(setTimeout(tick, ms));
    };
    timers.push(setTimeout(tick, ms));
  },
  navigate(hash) {
    location.hash = hash;
  },
  rerender: () => show(),
};

async function show() {
  generation++;
  for (const t of timers) clearTimeout(t);
  timers = [];
  const mine = generation;
  const { path, params } = route();
  try {
    // Nothing is shown before the service has accepted the request (and the key, when it needs one).
    // The hubs first, without the chosen one: a hub no longer served falls back to the default.
    const hubs = await api.request('GET', '/taskhubs', { withHub: false });
    if (!hubs.ok) throw new Error(`the service answered ${hubs.status}`);
    ctx.hubs = hubs.body;
    if (api.hub && !ctx.hubs.some((hub) => hub.name === api.hub)) api.hub = null;
    const probe = await api.request('GET', '/orchestrators');
    if (!probe.ok) throw new Error(`the service answered ${probe.status}`);
    ctx.orchestrations = probe.body;
    renderNav(path);
    let view;
    if (path === '/') view = await overviewView(ctx);
    else if (path === '/instances') view = await instancesView(ctx, params);
    else if (path.startsWith('/instance/')) view = await instanceView(ctx, decodeURIComponent(path.slice('/instance/'.length)));
    else if (path === '/schedules') view = await schedulesView(ctx);
    else if (path === '/singletons') view = await singletonsView(ctx);
    else if (path === '/entities') view = await entitiesView(ctx);
    else view = h('section', {}, h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/' }, 'Back to the overview')));
    if (mine !== generation) return;
    main.replaceChildren(view);
    const heading = main.querySelector('h1');
    if (heading && document.activeElement === document.body) heading.setAttribute('tabindex', '-1');
  } catch (err) {
    if (mine !== generation) return;
    if (err instanceof Unauthorized) return keyGate(api.key !== null);
    main.replaceChildren(h('section', {}, h('h1', {}, 'Something went wrong'), h('p', { class: 'error', role: 'alert' }, String(err.message ?? err))));
  }
}

// The skip link moves focus without touching the hash (the hash is the router's).
document.querySelector('.skip')?.addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});
window.addEventListener('hashchange', () => {
  void show().then(() => main.focus({ preventScroll: true }));
});
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) window.dispatchEvent(new Event('monitor:visible'));
});
void show();
