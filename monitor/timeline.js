// The timeline of one execution, from its history (showHistory=true): a Gantt of activities,
// sub-orchestrations and timers (scheduled → completed, or still open), and markers for events,
// suspensions, rewinds and the end. Large fan-outs are grouped per function name.
import { duration, h } from './dom.js';

/** More bars than this are grouped into one row per kind and name. */
const GROUP_OVER = 60;

function ms(iso) {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : undefined;
}

/** History rows → { bars, marks, start, end }. Pure (now is passed in). */
export function timelineOf(history, now, active) {
  const bars = [];
  const marks = [];
  const timers = new Map();
  let start;
  let end;
  for (const e of history) {
    const at = ms(e.Timestamp);
    if (start === undefined && at !== undefined) start = at;
    switch (e.EventType) {
      case 'TaskCompleted':
      case 'TaskFailed':
        bars.push({ kind: 'activity', name: e.FunctionName ?? '?', id: e.TaskScheduledId, from: ms(e.ScheduledTime) ?? at, to: at, state: e.EventType === 'TaskFailed' ? 'failed' : 'completed' });
        break;
      case 'TaskScheduled':
        bars.push({ kind: 'activity', name: e.FunctionName ?? '?', id: e.TaskScheduledId, from: at, to: undefined, state: 'running' });
        break;
      case 'SubOrchestrationInstanceCompleted':
      case 'SubOrchestrationInstanceFailed':
        bars.push({
          kind: 'sub-orchestration', name: e.FunctionName ?? '?', id: e.TaskScheduledId, instanceId: e.InstanceId,
          from: ms(e.ScheduledTime) ?? at, to: at, state: e.EventType.endsWith('Failed') ? 'failed' : 'completed',
        });
        break;
      case 'SubOrchestrationInstanceCreated':
        bars.push({ kind: 'sub-orchestration', name: e.FunctionName ?? '?', id: e.TaskScheduledId, instanceId: e.InstanceId, from: at, to: undefined, state: 'running' });
        break;
      case 'TimerCreated': {
        const bar = { kind: 'timer', name: 'timer', id: e.TimerId, from: at, to: ms(e.FireAt), state: 'waiting' };
        timers.set(e.TimerId, bar);
        bars.push(bar);
        break;
      }
      case 'TimerFired': {
        const bar = timers.get(e.TimerId);
        if (bar) {
          bar.state = 'fired';
          // When the orchestration saw it fire: the event's time, never before FireAt.
          bar.to = Math.max(ms(e.FireAt) ?? 0, at ?? 0) || bar.to;
        }
        break;
      }
      case 'EventRaised':
        marks.push({ kind: 'event', label: `event ${e.Name}`, at });
        break;
      case 'ExecutionStarted':
        marks.push({ kind: 'start', label: 'started', at });
        break;
      case 'ExecutionSuspended':
      case 'ExecutionResumed':
      case 'ExecutionRewound':
        marks.push({ kind: e.EventType.slice('Execution'.length).toLowerCase(), label: e.EventType.slice('Execution'.length).toLowerCase(), at });
        break;
      case 'ExecutionTerminated':
        marks.push({ kind: 'terminated', label: 'terminated', at });
        end = at;
        break;
      case 'ExecutionCompleted':
        marks.push({ kind: String(e.OrchestrationStatus).toLowerCase(), label: String(e.OrchestrationStatus).toLowerCase(), at });
        end = at;
        break;
      default:
        break;
    }
  }
  start ??= now;
  const finish = end ?? (active ? now : Math.max(start, ...bars.map((b) => b.to ?? b.from ?? start), ...marks.map((m) => m.at ?? start)));
  for (const b of bars) {
    b.from ??= start;
    b.to ??= finish;
    // Still open when the execution ended (terminated, failed): it never finished.
    if (!active && (b.state === 'running' || (b.state === 'waiting' && b.to > finish))) {
      b.state = 'unfinished';
      b.to = Math.min(b.to, finish);
    }
  }
  const last = Math.max(finish, ...bars.map((b) => b.to ?? finish));
  return { bars, marks, start, end: last > start ? last : start + 1 };
}

function group(bars) {
  const groups = new Map();
  for (const b of bars) {
    const key = `${b.kind}:${b.name}`;
    let g = groups.get(key);
    if (!g) {
      g = { kind: b.kind, name: b.name, from: b.from, to: b.to, count: 0, failed: 0, open: 0, state: 'completed', grouped: true };
      groups.set(key, g);
    }
    g.count++;
    g.from = Math.min(g.from, b.from);
    g.to = Math.max(g.to, b.to);
    if (b.state === 'failed') g.failed++;
    if (b.state === 'running' || b.state === 'waiting') g.open++;
    if (b.state === 'unfinished') g.unfinished = (g.unfinished ?? 0) + 1;
  }
  for (const g of groups.values()) g.state = g.open > 0 ? 'running' : g.failed > 0 ? 'failed' : g.unfinished ? 'unfinished' : 'completed';
  return [...groups.values()];
}

function place(el, t, from, to) {
  const span = t.end - t.start;
  const left = ((from - t.start) / span) * 100;
  const width = Math.max(0.4, ((to - from) / span) * 100);
  el.style.left = `${Math.min(99.6, Math.max(0, left))}%`;
  el.style.width = `${Math.min(100 - Math.max(0, left), width)}%`;
}

function label(b) {
  if (b.grouped) {
    const parts = [`${b.count} × ${b.kind} ${b.name}`];
    if (b.failed) parts.push(`${b.failed} failed`);
    if (b.open) parts.push(`${b.open} open`);
    if (b.unfinished) parts.push(`${b.unfinished} never finished`);
    return `${parts.join(', ')}; ${duration(b.to - b.from)} from first start to last end`;
  }
  return `${b.kind} ${b.name} #${b.id}: ${b.state}, ${duration(b.to - b.from)}`;
}

export function timeline(history, { now = Date.now(), active = false } = {}) {
  const t = timelineOf(history, now, active);
  if (t.bars.length === 0 && t.marks.length <= 1) return h('p', { class: 'muted' }, 'Nothing scheduled yet.');
  const grouped = t.bars.length > GROUP_OVER;
  const bars = grouped ? group(t.bars) : t.bars;
  const rows = bars.map((b) => {
    const pending = b.grouped ? b.open + (b.unfinished ?? 0) : 0;
    const done = b.grouped ? b.count - pending : 0;
    const bar = h('span', { class: `g-bar k-${b.kind} st-${b.state}`, title: label(b) }, b.grouped ? (pending ? `${done}/${b.count} done` : `${b.count}`) : '');
    place(bar, t, b.from, b.to);
    if (b.grouped && pending) {
      // How much of a running fan-out is done, as a fill inside its bar.
      const fill = h('span', { class: 'g-fill' });
      fill.style.width = `${(done / b.count) * 100}%`;
      bar.prepend(fill);
    }
    const name = b.instanceId ? h('a', { href: `#/instance/${encodeURIComponent(b.instanceId)}` }, b.name) : b.name;
    return h(
      'li',
      { class: 'g-row', 'data-kind': b.kind, 'data-state': b.state },
      h('span', { class: 'g-label' }, h('span', { class: 'g-kind' }, b.kind === 'sub-orchestration' ? 'sub' : b.kind), ' ', name, b.grouped ? ` ×${b.count}` : ` #${b.id}`),
      h('span', { class: 'g-track' }, bar, h('span', { class: 'sr' }, label(b))),
    );
  });
  const markRow = h('span', { class: 'g-track marks' });
  for (const m of t.marks) {
    if (m.at === undefined) continue;
    const mark = h('span', { class: `g-mark m-${m.kind}`, title: `${m.label} at +${duration(m.at - t.start)}` }, h('span', { class: 'sr' }, `${m.label} at +${duration(m.at - t.start)}`));
    mark.style.left = `${Math.min(100, Math.max(0, ((m.at - t.start) / (t.end - t.start)) * 100))}%`;
    markRow.append(mark);
  }
  const axis = h('div', { class: 'g-axis', 'aria-hidden': 'true' }, h('span', {}), h('span', { class: 'g-ticks' }, [0, 0.5, 1].map((f) => {
    const tick = h('span', { class: 'g-tick' }, `+${duration((t.end - t.start) * f)}`);
    tick.style.left = `${f * 100}%`;
    return tick;
  })));
  return h(
    'figure',
    { class: 'gantt' },
    h('figcaption', {}, grouped ? `${t.bars.length} tasks, grouped per name. ` : '', `Span: ${duration(t.end - t.start)}.`, h('span', { class: 'legend' },
      h('span', { class: 'lg st-completed' }, 'completed'), h('span', { class: 'lg st-failed' }, 'failed'), h('span', { class: 'lg st-running' }, 'open'), h('span', { class: 'lg st-unfinished' }, 'never finished'), h('span', { class: 'lg k-timer' }, 'timer'))),
    axis,
    h('ol', { class: 'g-rows' }, h('li', { class: 'g-row' }, h('span', { class: 'g-label' }, 'events'), markRow), rows),
  );
}
