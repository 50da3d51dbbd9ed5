/**
 * Task hubs on the control plane: the `taskHub` and `connection` query parameters select one of the
 * hubs this service serves (default: the configured one), once per request in the shared gate; the
 * routes then read and act on that hub only (`hubOf(request)`), and the URIs they write name it.
 */
import type { FastifyRequest } from 'fastify';
import type { Management } from '../orchestrator/management.ts';
import type { Registry } from '../orchestrator/registry.ts';
import { ApiError } from './api-error.ts';
import { CONNECTION_NAME } from './management-payload.ts';
import type { Query } from './query.ts';

/** What a route needs of one task hub. */
export interface HubView {
  name: string;
  /** The connection (storage) it lives on, as its URIs name it. */
  connection: string;
  client: Management;
  registry: Registry;
}

export interface HubDirectory {
  /** The hub a request without `taskHub` selects. */
  default: HubView;
  all: readonly HubView[];
}

/** The directory of a single-hub app (buildApp given one client and registry). */
export function singleHub(name: string, client: Management, registry: Registry): HubDirectory {
  const hub = { name, connection: CONNECTION_NAME, client, registry };
  return { default: hub, all: [hub] };
}

const sameName = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

/**
 * The hub a request's query selects. `taskHub` (any case; empty means the default) must be served
 * here; `connection`, when given, must be a connection this service knows and the one that hub
 * lives on: the pair names a hub, as in Durable Functions, where one hub name on two storage
 * accounts is two hubs. Anything else is a 404 before the route does anything.
 */
export function selectHub(directory: HubDirectory, query: Query): HubView {
  const name = typeof query.taskHub === 'string' && query.taskHub !== '' ? query.taskHub : undefined;
  const hub = name === undefined ? directory.default : directory.all.find((h) => sameName(h.name, name));
  if (hub === undefined) {
    const served = directory.all.map((h) => `'${h.name}'`).join(', ');
    throw new ApiError('TASK_HUB_NOT_FOUND', `The task hub '${name}' was not found: this service serves ${served}.`);
  }
  const connection = typeof query.connection === 'string' && query.connection !== '' ? query.connection : undefined;
  if (connection !== undefined && !sameName(connection, hub.connection)) {
    const known = directory.all.some((h) => sameName(h.connection, connection));
    throw new ApiError(
      'TASK_HUB_NOT_FOUND',
      known
        ? `The task hub '${hub.name}' was not found on the connection '${connection}': it lives on '${hub.connection}'.`
        : `The connection '${connection}' is not configured here: the task hub '${hub.name}' lives on '${hub.connection}'.`,
    );
  }
  return hub;
}

const selected = new WeakMap<FastifyRequest, HubView>();

export function setHub(request: FastifyRequest, hub: HubView): void {
  selected.set(request, hub);
}

/** The hub the gate selected for this request. */
export function hubOf(request: FastifyRequest): HubView {
  const hub = selected.get(request);
  if (hub === undefined) throw new Error('no task hub selected: the control plane gate did not run for this request');
  return hub;
}

/** The selected hub, when the request went through the control plane's gate (undefined for others). */
export function selectedHub(request: FastifyRequest): HubView | undefined {
  return selected.get(request);
}
