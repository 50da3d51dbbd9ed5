// Schedules (GET /schedules: cron, overlap policy, next tick, last outcome and what it found, the
// buffer, counters per outcome) and the single-instance
// orchestrations with the instances that hold their slots (GET /orchestrators + GET /instances).
import { ACTIVE, badge, h, relative, table, time } from './dom.js';

const REFRESH_MS = 5000;

function outcome(value) {
  if (value === null) return h('span', { class: 'muted' }, 'no tick yet');
  return h('span', { class: `badge o-${value}`, 'data-outcome': value }, value);
}

function instanceLink(id) {
  return id ? h('a', { href: `#/instance/${encodeURIComponent(id)}`, class: 'mono' }, id) : '–';
}

const TICKS = 30;
const OUTCOMES = ['started', 'buffered', 'skipped', 'replaced', 'failed'];
const POLICY = {
  skip: 'a tick while the previous run is active starts nothing',
  bufferOne: 'one tick waits for the running instance and starts when it ends',
  bufferAll: 'every tick waits, started in order',
  terminateOther: 'a tick terminates the running instance and starts',
  allowAll: 'every tick starts, no limit',
};

/** A buffered tick's state: waiting, or when its run started. */
function bufferState(t) {
  if (t.outcome !== 'buffered') return '';
  return t.startedTime ? `started ${time(t.startedTime)}` : 'waiting';
}

/** The last ticks of one schedule, oldest → newest, as a strip of outcome cells and a short table. */
function ticksOf(schedule, ticks) {
  const strip = h(
    'ol',
    { class: 'ticks', 'aria-label': `Last ${ticks.length} ticks of ${schedule.name}, oldest first` },
    [...ticks].reverse().map((t) => h('li', { class: `tick o-${t.outcome}`, title: `${time(t.tickTime)} UTC: ${t.outcome}${bufferState(t) ? `, ${bufferState(t)}` : ''}${t.detail ? ` (${t.detail})` : ''}` }, h('span', { class: 'sr' }, `${time(t.tickTime)} ${t.outcome}`))),
  );
  const counts = ticks.reduce((c, t) => ({ ...c, [t.outcome]: (c[t.outcome] ?? 0) + 1 }), {});
  return h(
    'section',
    { class: 'card', 'data-ticks': schedule.name },
    h('h2', {}, `${schedule.name}: recent ticks`),
    ticks.length === 0
      ? h('p', { class: 'muted' }, 'No tick yet.')
      : [
          strip,
          h('p', { class: 'muted' }, `Last ${ticks.length}: ${OUTCOMES.map((o) => `${counts[o] ?? 0} ${o}`).join(', ')}.`),
          table(
            ['Tick (UTC)', 'Outcome', 'Instance', 'Detail'],
            ticks
              .slice(0, 8)
              .map((t) =>
                h(
                  'tr',
                  {},
                  h('td', { class: 'nowrap' }, time(t.tickTime)),
                  h('td', {}, outcome(t.outcome), bufferState(t) ? h('div', { class: 'muted' }, bufferState(t)) : null),
                  h('td', {}, instanceLink(t.instanceId)),
                  h('td', { class: 'detail' }, t.detail ?? ''),
                ),
              ),
          ),
        ],
  );
}

export async function schedulesView(ctx) {
  const body = h('div', {});
  const recent = h('div', {});
  const loadTicks = async (schedules) => {
    const all = await Promise.all(schedules.map(async (s) => (await ctx.api.get(`/schedules/${encodeURIComponent(s.name)}/ticks`, { top: TICKS })).body));
    recent.replaceChildren(...schedules.map((s, i) => ticksOf(s, all[i])));
  };
  const render = (schedules) => {
    const now = Date.now();
    body.replaceChildren(
      schedules.length === 0
        ? h('p', { class: 'muted' }, 'No schedules: no registered orchestration has a schedule, or schedules are off (TASKHUB_SCHEDULES=false).')
        : table(
            ['Orchestration', 'Schedule', 'Policy', 'Next tick (UTC)', 'Last tick (UTC)', 'Last outcome', 'Instance', 'Waiting', 'Started', 'Buffered', 'Skipped', 'Replaced', 'Failed', 'Last detail'],
            schedules.map((s) =>
              h(
                'tr',
                { 'data-schedule': s.name },
                h('th', { scope: 'row' }, h('a', { href: `#/instances?${new URLSearchParams({ name: s.name })}` }, s.name)),
                h('td', {}, h('code', {}, s.cron), ` ${s.timezone}`, s.input !== null ? h('div', { class: 'muted' }, 'input ', h('code', {}, JSON.stringify(s.input))) : null),
                h(
                  'td',
                  { 'data-policy': s.overlap },
                  h('code', { title: POLICY[s.overlap] ?? '' }, s.overlap),
                  h('div', { class: 'muted' }, `catch-up ${s.catchupWindowSeconds} s`),
                ),
                h('td', { class: 'nowrap' }, time(s.nextRunTime), h('div', { class: 'muted' }, relative(s.nextRunTime, now))),
                h('td', { class: 'nowrap' }, s.lastTickTime ? [time(s.lastTickTime), h('div', { class: 'muted' }, relative(s.lastTickTime, now))] : '–'),
                h('td', {}, outcome(s.lastOutcome)),
                h('td', {}, instanceLink(s.lastInstanceId)),
                h('td', { class: 'num', 'data-waiting': String(s.waiting) }, String(s.waiting)),
                ...[s.startedCount, s.bufferedCount, s.skippedCount, s.replacedCount, s.failedCount].map((n) => h('td', { class: 'num' }, String(n))),
                h('td', { class: 'detail', 'data-last-detail': '' }, [s.lastDetail, s.lastError && s.lastError !== s.lastDetail ? `last error: ${s.lastError}` : null].filter(Boolean).join(' · ')),
              ),
            ),
            { class: 'schedules' },
          ),
      h(
        'p',
        { class: 'muted' },
        'What a tick does while the previous run is still active is its policy: skip, bufferOne, bufferAll, terminateOther or allowAll; ' +
          'a tick missed longer ago than the catch-up window is skipped. Each tick has one outcome. ' +
          'Below, the recent ticks of each schedule (GET /schedules/{name}/ticks; the last 1,000 are kept).',
      ),
    );
  };
  const refresh = async () => {
    const schedules = (await ctx.api.get('/schedules')).body;
    render(schedules);
    await loadTicks(schedules);
  };
  await refresh();
  ctx.every(REFRESH_MS, refresh);
  return h('section', { class: 'schedules' }, h('h1', {}, 'Schedules'), body, recent);
}

export async function singletonsView(ctx) {
  const singles = ctx.orchestrations.filter((o) => o.singleton !== false);
  const holders = await Promise.all(
    singles.map(async (o) => (await ctx.api.get('/instances', { name: o.name, runtimeStatus: ACTIVE.join(','), top: 100, showInput: false })).body),
  );
  return h(
    'section',
    { class: 'singletons' },
    h('h1', {}, 'Single-instance orchestrations'),
    h('p', {}, 'Each holds at most one active instance (per key, for keyed ones); the database decides it with a unique index. An active instance holds the slot until it ends.'),
    singles.length === 0
      ? h('p', { class: 'muted' }, 'No single-instance orchestration is registered.')
      : table(
          ['Orchestration', 'Slot', 'Held by', 'Status', 'Since (UTC)'],
          singles.flatMap((o, i) => {
            const active = holders[i];
            if (active.length === 0) {
              return [h('tr', { 'data-singleton': o.name }, h('th', { scope: 'row' }, o.name), h('td', {}, o.singleton === 'keyed' ? 'per key' : 'one'), h('td', { class: 'muted' }, 'free'), h('td', {}, ''), h('td', {}, ''))];
            }
            return active.map((inst) =>
              h(
                'tr',
                { 'data-singleton': o.name },
                h('th', { scope: 'row' }, o.name),
                h('td', {}, o.singleton === 'keyed' ? 'per key' : 'one'),
                h('td', {}, instanceLink(inst.instanceId)),
                h('td', {}, badge(inst.runtimeStatus)),
                h('td', { class: 'nowrap' }, time(inst.createdTime)),
              ),
            );
          }),
        ),
    h(
      'p',
      { class: 'muted' },
      'What the API exposes today: which instances are active. The key of a keyed slot, and concurrency keys with their waiting queue ' +
        '(GET /concurrency), come with the concurrency-limits work and will be shown here when the API serves them.',
    ),
  );
}
