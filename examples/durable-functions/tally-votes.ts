/**
 * A durable entity (a counter per option, the v3 "counter" pattern): `Tally` keeps one vote count
 * per option, one operation at a time, its state in PostgreSQL. `CountVotes` signals a vote per
 * input item (fire and forget, sent in order) and then calls `get`, which runs after them and
 * returns the tally. A client can signal and read it too: POST …/entities/Tally/{key}?op=vote.
 */
import * as df from 'pg-taskhub/durable-functions';

df.app.entity('Tally', (context: df.EntityContext<Record<string, number>>) => {
  const counts = context.df.getState(() => ({})) ?? {};
  switch (context.df.operationName) {
    case 'vote': {
      const option = context.df.getInput<string>() ?? '';
      counts[option] = (counts[option] ?? 0) + 1;
      context.df.setState(counts);
      break;
    }
    case 'get':
      context.df.return(counts);
      break;
    case 'reset':
      context.df.destructOnExit();
      break;
    default:
      throw new Error(`Tally has no operation '${context.df.operationName}'`);
  }
});

df.app.orchestration('CountVotes', function* (context) {
  const votes = context.df.getInput<string[]>() ?? [];
  const tally = new df.EntityId('Tally', context.df.instanceId);
  for (const vote of votes) context.df.signalEntity(tally, 'vote', vote);
  const counts: Record<string, number> = yield context.df.callEntity(tally, 'get');
  context.log(`tallied ${votes.length} votes`);
  return counts;
});
