/**
 * The monitor pattern: poll a weather service every `pollSeconds` until the sky is clear, then
 * send one alert; give up at the expiry. A durable timer between polls: no worker is held while
 * the orchestration waits, and a restart of the service loses nothing.
 */
import * as df from 'pg-taskhub/durable-functions';

const services = (): string => process.env.SAMPLE_SERVICES_URL as string;

df.app.activity('GetSky', {
  handler: async (city: string) => {
    const res = await fetch(`${services()}/weather/${encodeURIComponent(city)}`);
    if (!res.ok) throw new Error(`the weather service answered ${res.status}`);
    return ((await res.json()) as { sky: string }).sky;
  },
});

df.app.activity('SendClearSkyAlert', {
  handler: async (city: string) => {
    await fetch(`${services()}/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ city }) });
    return true;
  },
});

df.app.orchestration('WeatherWatch', function* (context) {
  const { city, pollSeconds, expiresInSeconds } = context.df.getInput<{ city: string; pollSeconds: number; expiresInSeconds: number }>();
  const expiry = context.df.currentUtcDateTime.getTime() + expiresInSeconds * 1000;
  let checks = 0;
  while (context.df.currentUtcDateTime.getTime() < expiry) {
    const sky: string = yield context.df.callActivity('GetSky', city);
    checks++;
    context.df.setCustomStatus({ checks, sky });
    if (sky === 'Clear') {
      yield context.df.callActivity('SendClearSkyAlert', city);
      return `clear in ${city} after ${checks} checks`;
    }
    yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + pollSeconds * 1000));
  }
  return `still not clear in ${city} after ${checks} checks`;
});
