/**
 * The library entry point: build a registry of your own orchestrations and activities, then run a
 * task hub (HTTP control plane + workers) over it. See the README, "Bring your own orchestrations".
 */
export { loadConfig, DEFAULT_CONNECTION, type Config, type HubSetting, type Role } from './config.ts';
export { createLogger, type Logger, type LoggerOptions, type LogFormat } from './log.ts';
export { startEmbeddedPostgres, EmbeddedPostgresError, type EmbeddedPostgresHandle } from './db/embedded.ts';
export { startTaskHub, type TaskHub, type StartOptions, type HubOptions, type ServedHub } from './taskhub.ts';
export { main } from './server.ts';
export { Registry, type OrchestrationOptions, type ActivityOptions, type ScheduleOptions } from './orchestrator/registry.ts';
export type { OrchestrationContext, DurableOrchestrationContext, Orchestrator } from './orchestrator/core/context.ts';
export { RetryOptions, Task, TimerTask, EventTask } from './orchestrator/core/tasks.ts';
export { TaskFailedError, NonRetryableError, NonDeterminismError } from './orchestrator/core/failures.ts';
export type { FailureDetails } from './orchestrator/core/history.ts';
export { EntityId, EntityOperationFailedError, type EntityContext, type DurableEntityContext, type EntityFunction } from './orchestrator/core/entities.ts';
export type { EntityClient, EntityRow, EntityFilter } from './orchestrator/entities.ts';
export type { ActivityContext, ActivityFunction, ActivityTaskId } from './orchestrator/core/activity-context.ts';
/** The engine's management verbs; `TaskHubClient` is their former name, kept for existing code. */
export { Management, Management as TaskHubClient } from './orchestrator/management.ts';
export { EngineError, ENGINE_ERROR_CODES, type EngineErrorCode } from './orchestrator/engine-error.ts';
export type { Instance, ListFilter, Cursor } from './orchestrator/core/instance.ts';
export type { Schedule } from './orchestrator/core/schedule.ts';
export type { RuntimeStatus } from './orchestrator/core/statuses.ts';
export { registerExamples } from './examples/index.ts';
export {
  createTaskHubHttpClient,
  listInstancePages,
  BASE_PATH,
  type TaskHubHttpClient,
  type TaskHubHttpClientOptions,
  type InstanceStatus,
  type ManagementPayload,
  type ErrorBody,
} from './client/index.ts';
