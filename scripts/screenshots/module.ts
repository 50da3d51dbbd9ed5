/**
 * Orchestrations for the README's monitor screenshots (`npm run screenshots`): a Showcase whose
 * timeline has every kind of bar (activities in sequence and in parallel, a sub-orchestration, a
 * timer, an external event), and a NightlyReport on a two-second schedule that outlives its tick,
 * so the schedules page shows started and skipped ticks.
 */
import type { Registry } from '../../src/orchestrator/registry.ts';

const work = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function register(registry: Registry): Registry {
  registry
    .activity('ValidateOrder', async (order: { id: string }) => {
      await work(120);
      return { ...order, valid: true };
    })
    .activity('ReserveStock', async (warehouse: string) => {
      await work(warehouse === 'north' ? 420 : 260);
      return `${warehouse}: reserved`;
    })
    .activity('ChargeCard', async () => {
      await work(330);
      return 'charged';
    })
    .activity('Ship', async () => {
      await work(180);
      return 'shipped';
    })
    .orchestration('Showcase', { description: 'An order: validate, reserve and charge in parallel, greet, wait, approve, ship' }, function* (context) {
      const order = context.df.getInput<{ id: string }>();
      yield context.df.callActivity('ValidateOrder', order);
      yield context.df.Task.all([
        context.df.callActivity('ReserveStock', 'north'),
        context.df.callActivity('ReserveStock', 'south'),
        context.df.callActivity('ChargeCard', order),
      ]);
      yield context.df.callSubOrchestrator('HelloSequence');
      yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 800));
      context.df.setCustomStatus('waiting for approval');
      const approved: boolean = yield context.df.waitForExternalEvent('Approve');
      context.df.setCustomStatus(approved ? 'approved' : 'rejected');
      if (!approved) return 'cancelled';
      return yield context.df.callActivity('Ship', order);
    });

  registry
    .activity('BuildReport', async () => {
      await work(4500);
      return { rows: 1234 };
    })
    .orchestration(
      'NightlyReport',
      { description: 'A report every 2 s (really nightly); single-instance, so ticks skip while one runs', singleton: true, schedule: { cron: '*/2 * * * * *' } },
      function* (context) {
        return yield context.df.callActivity('BuildReport');
      },
    );
  return registry;
}
