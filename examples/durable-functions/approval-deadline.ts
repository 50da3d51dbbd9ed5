/**
 * A durable timer raced against an event, and cancelled when the event wins: approve within the
 * deadline (event "Approval" carrying the approver's name) or the request expires.
 */
import * as df from 'pg-taskhub/durable-functions';

df.app.orchestration('ApprovalDeadline', function* (context) {
  const { deadlineSeconds } = context.df.getInput<{ deadlineSeconds: number }>();
  const deadline = new Date(context.df.currentUtcDateTime.getTime() + deadlineSeconds * 1000);
  const timer = context.df.createTimer(deadline);
  const approval = context.df.waitForExternalEvent('Approval');
  context.df.setCustomStatus('waiting for approval');
  const winner = yield context.df.Task.any([approval, timer]);
  if (winner === approval) {
    timer.cancel();
    return `approved by ${approval.result}`;
  }
  return 'expired';
});
