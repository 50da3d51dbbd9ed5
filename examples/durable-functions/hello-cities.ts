/**
 * Function chaining, durable-functions v3 style: three greetings in sequence. The HTTP starter a
 * Functions app would declare is kept as it is: pg-taskhub accepts it, logs that it is not served,
 * and its own control plane starts the orchestration (POST …/orchestrators/HelloCities).
 */
import * as df from 'pg-taskhub/durable-functions';

const greetCity: df.ActivityHandler = (city: string, context) => {
  context.log(`Greeting ${city} (invocation ${context.invocationId}).`);
  return `Hello, ${city}!`;
};
df.app.activity('GreetCity', { handler: greetCity });

const helloCities: df.OrchestrationHandler = function* (context) {
  const greetings: string[] = [];
  for (const city of ['Lisbon', 'Nairobi', 'Osaka']) {
    greetings.push(yield context.df.callActivity('GreetCity', city));
  }
  return greetings;
};
df.app.orchestration('HelloCities', helloCities);

df.app.client.http('HelloCitiesHttpStart', {
  route: 'orchestrators/{orchestratorName}',
  extraInputs: [df.input.durableClient()],
  handler: async () => ({ status: 404 }),
});
