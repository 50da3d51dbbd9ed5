// One instance: its status, input, output, custom status, failure, parent and children, the
// timeline and the history table, and the actions (each confirmed in a dialog, each showing the
// API's answer). Refreshed every two seconds while the instance is active.
import { describe } from './api.js';
import { ACTIVE, badge, duration, h, json, table, time } from './dom.js';
import { timeline } from './timeline.js';

const REFRESH_MS = 2000;
const SLOW_REFRESH_MS = 10_000;
const LONG_HISTORY = 2000;
const HISTORY_ROWS = 300;

const ACTIONS = [
  { id: 'terminate', label: 'Terminate', danger: true, when: (s) => ACTIVE.includes(s), reason: true, method: 'POST', path: (id) => `/instances/${id}/terminate` },
  { id: 'suspend', label: 'Suspend', when: (s) => s === 'Running' || s === 'Pending', reason: true, method: 'POST', path: (id) => `/instances/${id}/suspend` },
  { id: 'resume', label: 'Resume', when: (s) => s === 'Suspended', reason: true, method: 'POST', path: (id) => `/instances/${id}/resume` },
  { id: 'rewind', label: 'Rewind', when: (s) => s === 'Failed', reason: true, method: 'POST', path: (id) => `/instances/${id}/rewind` },
  { id: 'raise', label: 'Raise event', when: (s) => ACTIVE.includes(s), event: true, method: 'POST' },
  { id: 'restart', label: 'Restart', when: () => true, restart: true, method: 'POST', path: (id) => `/instances/${id}/restart` },
  { id: 'purge', label: 'Purge', danger: true, when: (s) => !ACTIVE.includes(s), method: 'DELETE', path: (id) => `/instances/${id}` },
];

function section(title, ...content) {
  return h('section', { class: 'card', 'aria-label': title }, h('h2', {}, title), content);
}

function historyTable(history, limit) {
  const rows = history.slice(0, limit).map((e, i) =>
    h(
      'tr',
      { 'data-event': e.EventType },
      h('td', { class: 'num' }, String(i + 1)),
      h('td', {}, e.EventType),
      h('td', { class: 'nowrap' }, time(e.Timestamp)),
      h('td', {}, e.FunctionName ?? e.Name ?? (e.TimerId !== undefined ? `timer #${e.TimerId}` : '')),
      h('td', { class: 'nowrap' }, e.ScheduledTime ? duration(Date.parse(e.Timestamp) - Date.parse(e.ScheduledTime)) : e.FireAt ? `fires ${time(e.FireAt)}` : ''),
      h('td', { class: 'detail' }, detail(e)),
    ),
  );
  return table(['#', 'Event', 'Time (UTC)', 'Name', 'Took', 'Details'], rows, { class: 'history' });
}

function detail(e) {
  const parts = [];
  if (e.InstanceId) parts.push(h('a', { href: `#/instance/${encodeURIComponent(e.InstanceId)}`, class: 'mono' }, e.InstanceId), ' ');
  if (e.ParentInstanceId) parts.push('parent ', h('a', { href: `#/instance/${encodeURIComponent(e.ParentInstanceId)}`, class: 'mono' }, e.ParentInstanceId), ' ');
  if (e.Reason !== undefined && e.Reason !== null) parts.push(h('span', { class: 'error' }, String(e.Reason)), ' ');
  if (e.FailureDetails) parts.push(h('span', { class: 'error' }, `${e.FailureDetails.ErrorType}: ${e.FailureDetails.ErrorMessage}`), ' ');
  const short = (label, v) => {
    if (v === undefined) return;
    const text = JSON.stringify(v);
    parts.push(h('span', { class: 'muted' }, `${label} `), h('code', {}, text.length > 120 ? `${text.slice(0, 117)}…` : text), ' ');
  };
  if (e.EventType !== 'ExecutionStarted') short('in', e.Input);
  short('out', e.Result);
  return parts;
}

function failureOf(status, history) {
  if (status.runtimeStatus !== 'Failed') return null;
  const completed = history.find((e) => e.EventType === 'ExecutionCompleted' && e.FailureDetails);
  const failedTasks = history.filter((e) => e.EventType === 'TaskFailed' || e.EventType === 'SubOrchestrationInstanceFailed');
  return section(
    'Failure',
    completed ? h('p', { class: 'error' }, h('strong', {}, completed.FailureDetails.ErrorType), `: ${completed.FailureDetails.ErrorMessage}`) : null,
    h('p', {}, 'Output: '),
    json(status.output),
    failedTasks.length
      ? h('ul', {}, failedTasks.slice(-5).map((e) => h('li', {}, `${e.FunctionName} #${e.TaskScheduledId}: `, h('span', { class: 'error' }, e.Reason ?? '')))) 
      : null,
    failedTasks.length > 5 ? h('p', { class: 'muted' }, `${failedTasks.length} failed tasks in all; the last five are shown.`) : null,
    h('p', { class: 'muted' }, 'A failed instance can be rewound: its failed tasks run again, the results it has keep.'),
  );
}

function relations(history) {
  const started = history.find((e) => e.EventType === 'ExecutionStarted');
  const children = history.filter((e) => e.InstanceId && e.EventType.startsWith('SubOrchestration'));
  if (!started?.ParentInstanceId && children.length === 0) return null;
  return section(
    'Parent and children',
    started?.ParentInstanceId
      ? h('p', {}, 'Parent: ', h('a', { href: `#/instance/${encodeURIComponent(started.ParentInstanceId)}`, class: 'mono', 'data-rel': 'parent' }, started.ParentInstanceId))
      : null,
    children.length
      ? h('ul', { class: 'children' }, children.map((e) => h('li', {}, h('a', { href: `#/instance/${encodeURIComponent(e.InstanceId)}`, class: 'mono', 'data-rel': 'child' }, e.InstanceId), ` ${e.FunctionName} `, h('span', { class: 'muted' }, e.EventType.replace('SubOrchestrationInstance', '').toLowerCase()))))
      : null,
  );
}

function actionDialog(ctx, instanceId, action, onAnswer) {
  const id = encodeURIComponent(instanceId);
  const fields = [];
  let reason;
  let eventName;
  let eventBody;
  let newId;
  if (action.reason) {
    reason = h('input', { id: 'a-reason', name: 'reason', maxlength: 4096, autocomplete: 'off' });
    fields.push(h('label', { for: 'a-reason' }, 'Reason (recorded in the history)'), reason);
  }
  if (action.event) {
    eventName = h('input', { id: 'a-event', name: 'event', required: true, maxlength: 256, autocomplete: 'off' });
    eventBody = h('textarea', { id: 'a-body', name: 'body', rows: 4, spellcheck: 'false' }, 'null');
    fields.push(h('label', { for: 'a-event' }, 'Event name'), eventName, h('label', { for: 'a-body' }, 'Event data (JSON)'), eventBody);
  }
  if (action.restart) {
    newId = h('input', { id: 'a-newid', type: 'checkbox', checked: true });
    fields.push(h('label', { class: 'check', for: 'a-newid' }, newId, 'Under a new instance ID (restartWithNewInstanceId)'));
  }
  const dialog = h(
    'dialog',
    { class: 'confirm', 'aria-labelledby': 'a-title' },
    h(
      'form',
      { method: 'dialog' },
      h('h2', { id: 'a-title' }, `${action.label} ${instanceId}?`),
      h('p', {}, action.id === 'purge' ? 'Purging deletes the instance and its history. This cannot be undone.' : action.id === 'terminate' ? 'Terminating is final: nothing the instance scheduled changes it afterwards.' : `This sends ${action.method} to the API.`),
      fields,
      h(
        'div',
        { class: 'buttons' },
        h('button', { type: 'submit', value: 'cancel', class: 'secondary' }, 'Cancel'),
        h('button', { type: 'submit', value: 'confirm', class: action.danger ? 'danger' : '', 'data-confirm': action.id }, `Yes, ${action.label.toLowerCase()}`),
      ),
    ),
  );
  dialog.addEventListener('close', async () => {
    dialog.remove();
    if (dialog.returnValue !== 'confirm') return;
    let path = action.path?.(id);
    const query = {};
    let body;
    if (reason && reason.value) query.reason = reason.value;
    if (action.event) {
      path = `/instances/${id}/raiseEvent/${encodeURIComponent(eventName.value)}`;
      body = eventBody.value;
    }
    if (action.restart) query.restartWithNewInstanceId = newId.checked ? 'true' : 'false';
    const res = await ctx.api.request(action.method, path, { query, body });
    onAnswer(action, `${action.method} ${ctx.api.url(path, query)}`, res);
  });
  document.body.append(dialog);
  dialog.showModal();
}

function answerPanel(action, request, res) {
  const links = [];
  if (action.id === 'restart' && res.body?.id) links.push(h('a', { href: `#/instance/${encodeURIComponent(res.body.id)}` }, `Open ${res.body.id}`));
  if (action.id === 'purge' && res.ok) links.push(h('a', { href: '#/instances' }, 'Back to the instances'));
  return h(
    'div',
    { class: `answer ${res.ok ? 'ok' : 'bad'}`, role: 'status', 'data-answer': String(res.status) },
    h('p', {}, h('strong', {}, `${action.label}: the API answered ${describe(res)}`)),
    h('p', { class: 'muted mono' }, request),
    res.body !== null ? json(res.body) : h('p', { class: 'muted' }, '(empty body)'),
    links,
  );
}

export async function instanceView(ctx, instanceId) {
  const id = encodeURIComponent(instanceId);
  const load = () => ctx.api.request('GET', `/instances/${id}`, { query: { showHistory: 'true', showHistoryOutput: 'true' } });
  let res = await load();
  if (res.status === 404) {
    return h('section', {}, h('h1', {}, 'No such instance'), h('p', {}, `No instance with ID ${instanceId} exists (or it was purged).`), h('p', {}, h('a', { href: '#/instances' }, 'Back to the instances')));
  }
  if (!res.ok) throw new Error(describe(res));
  const head = h('div', { class: 'title' });
  const actions = h('div', { class: 'actions', role: 'toolbar', 'aria-label': 'Actions' });
  const answer = h('div', { class: 'answers' });
  const body = h('div', { class: 'instance-body' });
  let historyLimit = HISTORY_ROWS;
  let historyOpen;
  let status = res.body;
  let refreshing = false;

  const render = () => {
    const history = status.historyEvents ?? [];
    const active = ACTIVE.includes(status.runtimeStatus);
    head.replaceChildren(h('h1', {}, h('span', { class: 'mono' }, instanceId)), badge(status.runtimeStatus));
    actions.replaceChildren(
      ...ACTIONS.map((a) =>
        h('button', { type: 'button', class: a.danger ? 'danger' : 'secondary', 'data-action': a.id, disabled: !a.when(status.runtimeStatus), onclick: () => actionDialog(ctx, instanceId, a, onAnswer) }, a.label),
      ),
    );
    const facts = h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Orchestration'), h('dd', {}, h('a', { href: `#/instances?${new URLSearchParams({ name: status.name })}` }, status.name)),
      h('dt', {}, 'Status'), h('dd', {}, badge(status.runtimeStatus)),
      h('dt', {}, 'Created'), h('dd', {}, `${time(status.createdTime)} UTC`),
      h('dt', {}, 'Last updated'), h('dd', {}, `${time(status.lastUpdatedTime)} UTC`),
      h('dt', {}, 'History'), h('dd', {}, `${history.length} events`),
    );
    const parts = [
      section('Status', facts),
      failureOf(status, history),
      section('Timeline', timeline(history, { active })),
      h('div', { class: 'grid3' }, section('Input', json(status.input)), section('Output', json(status.output)), section('Custom status', json(status.customStatus))),
      relations(history),
      h(
        'details',
        { class: 'card history-box', open: historyOpen ?? history.length <= 40, ontoggle: (e) => (historyOpen = e.target.open) },
        h('summary', {}, h('h2', {}, `History (${history.length} events)`)),
        historyTable(history, historyLimit),
        history.length > historyLimit
          ? h('button', { type: 'button', class: 'secondary', onclick: () => { historyLimit = history.length; render(); } }, `Show all ${history.length} events`)
          : null,
      ),
    ];
    body.replaceChildren(...parts.filter(Boolean));
  };

  const refresh = async () => {
    if (refreshing) return;
    refreshing = true;
    try {
      const next = await load();
      if (next.status === 404) {
        head.replaceChildren(h('h1', {}, h('span', { class: 'mono' }, instanceId)), h('span', { class: 'badge' }, 'purged'));
        body.replaceChildren(h('p', {}, 'This instance no longer exists.'));
        actions.replaceChildren();
        return;
      }
      if (next.ok || next.status === 202) {
        status = next.body;
        render();
      }
    } finally {
      refreshing = false;
    }
  };

  function onAnswer(action, request, answerRes) {
    answer.replaceChildren(answerPanel(action, request, answerRes));
    void refresh();
  }

  render();
  // A long history is a large read: poll it less often (every 10 s past 2,000 events).
  let lastLoad = Date.now();
  ctx.every(REFRESH_MS, async () => {
    if (!ACTIVE.includes(status.runtimeStatus)) return;
    if ((status.historyEvents?.length ?? 0) > LONG_HISTORY && Date.now() - lastLoad < SLOW_REFRESH_MS) return;
    lastLoad = Date.now();
    await refresh();
  });
  return h('section', { class: 'instance' }, head, actions, answer, body);
}
