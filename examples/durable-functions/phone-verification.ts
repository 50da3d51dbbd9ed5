/**
 * Human interaction: text a code to a phone (the SMS gateway is SAMPLE_SERVICES_URL), then accept
 * up to three answers (event "SmsChallengeResponse") before the code expires. True when one of
 * them is the code.
 */
import * as df from 'pg-taskhub/durable-functions';

df.app.activity('TextVerificationCode', {
  handler: async (phone: string, context) => {
    const code = String(1000 + Math.floor(Math.random() * 9000));
    const res = await fetch(`${process.env.SAMPLE_SERVICES_URL}/sms`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: phone, body: `Your code is ${code}` }),
    });
    if (!res.ok) throw new Error(`the SMS gateway answered ${res.status}`);
    context.info(`code sent to ${phone}`);
    return code;
  },
});

df.app.orchestration('VerifyPhone', function* (context) {
  const { phone, expiresInSeconds } = context.df.getInput<{ phone: string; expiresInSeconds: number }>();
  const code: string = yield context.df.callActivity('TextVerificationCode', phone);
  const expiry = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + expiresInSeconds * 1000));
  for (let attempt = 1; attempt <= 3; attempt++) {
    const answer = context.df.waitForExternalEvent<string>('SmsChallengeResponse');
    const winner = yield context.df.Task.any([answer, expiry]);
    if (winner === expiry) return false;
    context.df.setCustomStatus(`${attempt} answer(s) received`);
    if (answer.result === code) {
      expiry.cancel();
      return true;
    }
  }
  expiry.cancel();
  return false;
});
