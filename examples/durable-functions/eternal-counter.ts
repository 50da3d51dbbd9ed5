/**
 * continueAsNew: a counter that ticks every 100 ms and starts each tick as a new execution with a
 * fresh history, so it could run forever without its history growing; here it stops at `until`.
 */
import * as df from 'pg-taskhub/durable-functions';

df.app.orchestration('EternalCounter', function* (context) {
  const state = context.df.getInput<{ count: number; until: number }>();
  if (!context.df.isReplaying) context.log(`tick ${state.count}`);
  if (state.count >= state.until) return state.count;
  yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 100));
  context.df.continueAsNew({ count: state.count + 1, until: state.until });
  return undefined;
});
