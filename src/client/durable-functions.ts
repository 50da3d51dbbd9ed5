/**
 * The official Durable Functions JavaScript client (npm `durable-functions`) outside a Functions
 * host: `getClient(context)` reads the binding data that the host would put in the function's
 * context (the creation and management URL templates, the base URL, the key's query string). These
 * build that data for a pg-taskhub server, so every client method works, the management ones
 * included (`createCheckStatusResponse`, `createHttpManagementPayload`, `waitForCompletionOrCreateCheckStatusResponse`):
 *
 *   import * as df from 'durable-functions';
 *   import { durableClientContext } from 'pg-taskhub/client';
 *   process.env.WEBSITE_HOSTNAME ??= '127.0.0.1:7071'; // see below
 *   const client = df.getClient(durableClientContext('http://127.0.0.1:7071', { key: process.env.TASKHUB_KEY }) as never);
 *
 * WEBSITE_HOSTNAME: when it is unset (or holds 0.0.0.0), `getClient` assumes local development and
 * rewrites the origin of every URL in the binding data to http://localhost:7071. Set it (to the
 * server's host:port, or any value without 0.0.0.0) and the URLs keep the server's origin.
 *
 * Without a key the client talks to the server's routes directly (`rpcBaseUrl`: the mode of Durable
 * Functions' out-of-process workers); with a key it uses the URL templates, which carry `code=<key>`
 * as the host's do (the rpc mode has no way to send a key). With `taskHub` (a hub other than the
 * server's default) it uses the templates too, which then carry `taskHub` and `connection`.
 */
export interface DurableClientDataOptions {
  /** The system key (TASKHUB_KEY) when the server has one. */
  key?: string;
  /** The task hub every call acts on (one of TASKHUB_HUBS); default: the server's default hub (the URLs say TaskHub). */
  taskHub?: string;
  /** The connection that hub lives on (Storage, or the name in TASKHUB_HUBS); default Storage. */
  connection?: string;
}

/** The binding data of a durableClient input (OrchestrationClientInputData), as a Functions host fills it. */
export interface DurableClientData {
  taskHubName: string;
  creationUrls: { createNewInstancePostUri: string; createAndWaitOnNewInstancePostUri: string };
  managementUrls: {
    id: string;
    statusQueryGetUri: string;
    sendEventPostUri: string;
    terminatePostUri: string;
    rewindPostUri: string;
    purgeHistoryDeleteUri: string;
    restartPostUri: string;
    suspendPostUri: string;
    resumePostUri: string;
  };
  baseUrl: string;
  requiredQueryStringParameters: string;
  rpcBaseUrl?: string;
}

/** What the host puts in the management URL templates where the instance ID goes. */
const INSTANCE_ID = 'INSTANCEID';

/** serverUrl: where the server listens, e.g. http://127.0.0.1:7071 (no path). */
export function durableClientData(serverUrl: string, options: DurableClientDataOptions = {}): DurableClientData {
  const origin = new URL(serverUrl).origin;
  const base = `${origin}/runtime/webhooks/durabletask`;
  const taskHub = options.taskHub ?? 'TaskHub';
  const code = options.key === undefined ? '' : `code=${encodeURIComponent(options.key)}`;
  const hub = `taskHub=${encodeURIComponent(taskHub)}&connection=${encodeURIComponent(options.connection ?? 'Storage')}${code ? `&${code}` : ''}`;
  const instance = `${base}/instances/${INSTANCE_ID}`;
  // A hub named explicitly goes into the creation URLs too, and the rpc mode (whose starts and
  // actions carry no taskHub) is not used: every call then reaches that hub.
  const named = options.taskHub !== undefined || options.connection !== undefined;
  const creation = named ? hub : code;
  return {
    taskHubName: taskHub,
    creationUrls: {
      createNewInstancePostUri: `${base}/orchestrators/{functionName}[/{instanceId}]${creation ? `?${creation}` : ''}`,
      createAndWaitOnNewInstancePostUri: `${base}/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}${creation ? `&${creation}` : ''}`,
    },
    managementUrls: {
      id: INSTANCE_ID,
      statusQueryGetUri: `${instance}?${hub}`,
      sendEventPostUri: `${instance}/raiseEvent/{eventName}?${hub}`,
      terminatePostUri: `${instance}/terminate?reason={text}&${hub}`,
      rewindPostUri: `${instance}/rewind?reason={text}&${hub}`,
      purgeHistoryDeleteUri: `${instance}?${hub}`,
      restartPostUri: `${instance}/restart?${hub}`,
      suspendPostUri: `${instance}/suspend?reason={text}&${hub}`,
      resumePostUri: `${instance}/resume?reason={text}&${hub}`,
    },
    baseUrl: base,
    requiredQueryStringParameters: code,
    ...(options.key === undefined && !named ? { rpcBaseUrl: `${base}/` } : {}),
  };
}

/**
 * The part of an InvocationContext that `df.getClient` reads: a durableClient input binding and its
 * data. Pass it as `df.getClient(durableClientContext(url, options) as never)`.
 */
export function durableClientContext(
  serverUrl: string,
  options: DurableClientDataOptions = {},
): { options: { extraInputs: Array<{ type: string; name: string }> }; extraInputs: { get(input: unknown): DurableClientData } } {
  const data = durableClientData(serverUrl, options);
  return { options: { extraInputs: [{ type: 'durableClient', name: 'durableClient' }] }, extraInputs: { get: () => data } };
}
