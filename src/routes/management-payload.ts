/**
 * The Durable Functions management ("check status") payload: the nine URIs a caller uses to manage
 * an instance, built from TASKHUB_PUBLIC_URL when it is set, else from the origin of the incoming
 * request (its Host header, or X-Forwarded-Host/-Proto when the peer is a trusted proxy). Pure.
 */
import type { FastifyRequest } from 'fastify';

export const BASE_PATH = '/runtime/webhooks/durabletask';

/** The default connection's name (DATABASE_URL or the embedded PostgreSQL), as Durable Functions' URIs say it. */
export const CONNECTION_NAME = 'Storage';

export interface ManagementPayload {
  id: string;
  statusQueryGetUri: string;
  sendEventPostUri: string;
  terminatePostUri: string;
  rewindPostUri: string;
  purgeHistoryDeleteUri: string;
  restartPostUri: string;
  suspendPostUri: string;
  resumePostUri: string;
}

export interface UriContext {
  /** scheme://host[:port][/prefix]: the public URL, or the origin of the incoming request. */
  origin: string;
  hubName: string;
  /** The connection the hub lives on (default CONNECTION_NAME). */
  connection?: string;
  /** The system key, when one is configured: it is part of every URI (as Durable Functions does). */
  key: string | undefined;
}

/**
 * The origin URIs are built on. The configured public URL wins: then a forged Host cannot point a
 * URI (which carries the key as `code`) at another server. Without one, request.protocol and
 * request.host follow X-Forwarded-* only when Fastify's trustProxy trusts the peer.
 */
export function requestOrigin(request: FastifyRequest, publicUrl: string | undefined): string {
  return publicUrl ?? `${request.protocol}://${request.host}`;
}

export function instanceUri(ctx: UriContext, instanceId: string): string {
  return `${ctx.origin}${BASE_PATH}/instances/${encodeURIComponent(instanceId)}`;
}

function suffix(ctx: UriContext): string {
  const code = ctx.key === undefined ? '' : `&code=${encodeURIComponent(ctx.key)}`;
  return `taskHub=${encodeURIComponent(ctx.hubName)}&connection=${encodeURIComponent(ctx.connection ?? CONNECTION_NAME)}${code}`;
}

export function statusQueryGetUri(ctx: UriContext, instanceId: string): string {
  return `${instanceUri(ctx, instanceId)}?${suffix(ctx)}`;
}

export function managementPayload(ctx: UriContext, instanceId: string): ManagementPayload {
  const instance = instanceUri(ctx, instanceId);
  const s = suffix(ctx);
  return {
    id: instanceId,
    statusQueryGetUri: `${instance}?${s}`,
    sendEventPostUri: `${instance}/raiseEvent/{eventName}?${s}`,
    terminatePostUri: `${instance}/terminate?reason={text}&${s}`,
    rewindPostUri: `${instance}/rewind?reason={text}&${s}`,
    purgeHistoryDeleteUri: `${instance}?${s}`,
    restartPostUri: `${instance}/restart?${s}`,
    suspendPostUri: `${instance}/suspend?reason={text}&${s}`,
    resumePostUri: `${instance}/resume?reason={text}&${s}`,
  };
}
