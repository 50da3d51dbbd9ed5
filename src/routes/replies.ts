/**
 * Replies shared by several routes: the status response (GET status, and the end of a start that
 * waited), the start response (start and restart), and the links added to a start conflict.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import type { StartOutcome } from '../orchestrator/management.ts';
import type { HistoryEvent } from '../orchestrator/core/history.ts';
import type { Instance } from '../orchestrator/core/instance.ts';
import type { Waiting } from '../orchestrator/core/concurrency.ts';
import { EngineError } from '../orchestrator/engine-error.ts';
import { fromEngine } from './errors.ts';
import { hubOf } from './hubs.ts';
import { JSON_UTF8 } from './json.ts';
import { managementPayload, requestOrigin, statusQueryGetUri, type UriContext } from './management-payload.ts';
import { statusCode, statusJson } from './status-payload.ts';

export type HubConfig = Pick<Config, 'key'> & { http: Pick<Config['http'], 'publicUrl'> };

/** The URIs of the request's own task hub (its name and connection). */
export function uriContext(request: FastifyRequest, config: HubConfig): UriContext {
  const hub = hubOf(request);
  return { origin: requestOrigin(request, config.http.publicUrl), hubName: hub.name, connection: hub.connection, key: config.key };
}

/** A JSON response from JSON text already written (route response schemas document it). */
export function sendJsonText(reply: FastifyReply, status: number, text: string): FastifyReply {
  return reply.code(status).type(JSON_UTF8).send(text);
}

/** A JSON response from UTF-8 bytes already encoded (a cached rendering). */
export function sendJsonBytes(reply: FastifyReply, status: number, bytes: Buffer): FastifyReply {
  return reply.code(status).type(JSON_UTF8).send(bytes);
}

/** A response with an empty body (202 of an action, 404 of a status). */
export function sendEmpty(reply: FastifyReply, status: number): FastifyReply {
  return reply.code(status).send();
}

export interface StatusFlags {
  showHistory: boolean;
  showHistoryOutput: boolean;
  showInput: boolean;
  returnInternalServerErrorOnFailure: boolean;
}

/** The status response's code and JSON text: 202 while active, 200 when terminal, 500 for Failed on request. */
export function renderStatus(
  found: { instance: Instance; history?: HistoryEvent[] | undefined; waiting?: Waiting | undefined },
  flags: StatusFlags,
): { code: number; body: string } {
  const code = statusCode(found.instance.runtimeStatus, flags.returnInternalServerErrorOnFailure);
  const body = statusJson(found.instance, {
    showInput: flags.showInput,
    waiting: found.waiting,
    history: flags.showHistory ? (found.history ?? []) : undefined,
    historyOptions: { showOutput: flags.showHistoryOutput, showDetails: flags.showHistoryOutput && code !== 500 },
  });
  return { code, body };
}

/** Sends a rendered status response (a 202 gets Location and Retry-After). */
export function sendRenderedStatus(request: FastifyRequest, reply: FastifyReply, config: HubConfig, rendered: { code: number; body: string }): FastifyReply {
  if (rendered.code === 202) void reply.header('location', `${requestOrigin(request, config.http.publicUrl)}${request.url}`).header('retry-after', '5');
  return sendJsonText(reply, rendered.code, rendered.body);
}

/** 202 (+ Location, Retry-After) while active, 200 when terminal, 500 for Failed on request. */
export function sendStatus(
  request: FastifyRequest,
  reply: FastifyReply,
  config: HubConfig,
  found: { instance: Instance; history?: HistoryEvent[] | undefined; waiting?: Waiting | undefined },
  flags: StatusFlags,
): FastifyReply {
  return sendRenderedStatus(request, reply, config, renderStatus(found, flags));
}

/**
 * 202 with the management payload of a new instance (also a queued one, and the instance a debounced
 * start collapsed into: the one that will run); 200 with the active one's (useExisting).
 */
export function sendStarted(request: FastifyRequest, reply: FastifyReply, config: HubConfig, outcome: StartOutcome): FastifyReply {
  const id = outcome.kind === 'existing' ? outcome.instance.instanceId : outcome.instanceId;
  const payload = managementPayload(uriContext(request, config), id);
  void reply.header('location', payload.statusQueryGetUri);
  if (outcome.kind === 'existing') return reply.code(200).send(payload);
  return reply.code(202).header('retry-after', '10').send(payload);
}

/**
 * Runs a start; a singleton conflict gets the active instance's statusQueryGetUri in its body and
 * a Location header pointing at it (an id conflict gets the same: it names the same kind of holder).
 */
export async function startOrConflict(request: FastifyRequest, config: HubConfig, start: () => Promise<StartOutcome>): Promise<StartOutcome> {
  try {
    return await start();
  } catch (err) {
    if (err instanceof EngineError && (err.code === 'SINGLETON_ACTIVE' || err.code === 'INSTANCE_EXISTS')) {
      const holder = err.details.instanceId;
      if (typeof holder === 'string') {
        const uri = statusQueryGetUri(uriContext(request, config), holder);
        throw fromEngine(err, { statusQueryGetUri: uri }, { location: uri });
      }
    }
    throw err;
  }
}
