/**
 * A typed HTTP client of the pg-taskhub control plane: openapi-fetch over the types generated from
 * the OpenAPI document (src/client/schema.ts, written by `npm run openapi`). Paths, parameters,
 * bodies and each status's response are checked by the compiler:
 *
 *   const hub = createTaskHubHttpClient('http://127.0.0.1:7071', { key: process.env.TASKHUB_KEY });
 *   const { data, error, response } = await hub.POST('/runtime/webhooks/durabletask/orchestrators/{functionName}', {
 *     params: { path: { functionName: 'HelloSequence' } },
 *     body: null,
 *   });
 *
 * `data` is the 2xx body, `error` the 4xx/5xx one (the `{Message, code}` shape; undefined when the
 * answer has no body, as a 404 of a status or a 401), `response` the fetch Response (headers such
 * as x-ms-continuation-token). Published as `pg-taskhub/client`.
 */
import createClient from 'openapi-fetch';
import type { Client, ClientOptions } from 'openapi-fetch';
import type { components, operations, paths } from './schema.ts';

export type { components, operations, paths };
export { durableClientContext, durableClientData, type DurableClientData, type DurableClientDataOptions } from './durable-functions.ts';

/** The base path of the Durable Functions webhook API: every control-plane path starts with it. */
export const BASE_PATH = '/runtime/webhooks/durabletask';

export type TaskHubHttpClient = Client<paths>;

export interface TaskHubHttpClientOptions {
  /** The system key (TASKHUB_KEY), sent as the x-functions-key header on every request. */
  key?: string;
  /** Headers added to every request. */
  headers?: Record<string, string>;
  /** A fetch of your own (tests, proxies, retries). */
  fetch?: ClientOptions['fetch'];
}

/** A status payload, as GET instances/{id} and the listing return it. */
export type InstanceStatus = paths['/runtime/webhooks/durabletask/instances']['get']['responses'][200]['content']['application/json'][number];

/** The management payload of a start (202): the instance ID and the URIs that manage it. */
export type ManagementPayload =
  paths['/runtime/webhooks/durabletask/orchestrators/{functionName}']['post']['responses'][202]['content']['application/json'];

/** An error body: `{"Message": …, "code": …}` and context fields. */
export type ErrorBody = paths['/runtime/webhooks/durabletask/instances']['get']['responses'][400]['content']['application/json'];

/**
 * A client of the service at `baseUrl`: its origin, e.g. `http://127.0.0.1:7071` (a base URL ending
 * in the webhook base path, as `rpcBaseUrl` of the durable-functions client, is accepted too).
 */
export function createTaskHubHttpClient(baseUrl: string, options: TaskHubHttpClientOptions = {}): TaskHubHttpClient {
  const origin = baseUrl.replace(/\/+$/, '').replace(new RegExp(`${BASE_PATH}$`, 'i'), '');
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== undefined && options.key !== '') headers['x-functions-key'] = options.key;
  return createClient<paths>({ baseUrl: origin, headers, ...(options.fetch ? { fetch: options.fetch } : {}) });
}

export type ListQuery = NonNullable<paths['/runtime/webhooks/durabletask/instances']['get']['parameters']['query']>;

/**
 * Every page of a listing, following x-ms-continuation-token until the last page. Throws on an
 * error answer (with its status and body).
 */
export async function* listInstancePages(client: TaskHubHttpClient, query: ListQuery = {}): AsyncGenerator<InstanceStatus[]> {
  let token: string | undefined;
  do {
    const { data, error, response } = await client.GET('/runtime/webhooks/durabletask/instances', {
      params: { query, header: token === undefined ? {} : { 'x-ms-continuation-token': token } },
    });
    if (data === undefined) throw new Error(`listing instances failed: HTTP ${response.status} ${JSON.stringify(error ?? null)}`);
    yield data;
    token = response.headers.get('x-ms-continuation-token') || undefined;
  } while (token !== undefined);
}
