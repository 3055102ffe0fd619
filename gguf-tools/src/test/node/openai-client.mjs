// The official openai package against a running `./tokenbutler serve`: node openai-client.mjs http://127.0.0.1:PORT
// Prints one JSON object with what each call returned; OpenAiNodeClientTest compares it with the Java API's text.
// Exits 1 with a message when a call fails in a way the test cannot compare (a thrown error where none belongs).
import OpenAI from 'openai';

const base = process.argv[2];
if (!base) {
  console.error('usage: node openai-client.mjs http://127.0.0.1:PORT');
  process.exit(2);
}
// No retries: a retried request would hide a 5xx from the test. The key is required by the client, unused by serve.
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 30_000 });
const prompt = 'Once upon a time';
const out = {};

const models = await client.models.list();
out.models = models.data.map((m) => m.id);
const model = out.models[0];

const chat = await client.chat.completions.create({
  model, messages: [{ role: 'user', content: prompt }], max_tokens: 12, temperature: 0,
});
out.chat = { text: chat.choices[0].message.content, finish: chat.choices[0].finish_reason, usage: chat.usage, object: chat.object };

// A conversation: the answer's message goes back into messages unchanged, as chat programs keep their history.
const history = [{ role: 'user', content: prompt }, chat.choices[0].message, { role: 'user', content: 'And then?' }];
const followUp = await client.chat.completions.create({ model, messages: history, max_tokens: 4, temperature: 0 });
out.followUp = { finish: followUp.choices[0].finish_reason, usage: followUp.usage };

// The newer max_completion_tokens, a stop string, and the harmless fields the package's users often send.
const stopped = await client.chat.completions.create({
  model, messages: [{ role: 'system', content: 'A story.' }, { role: 'user', content: prompt }],
  max_completion_tokens: 40, temperature: 0, stop: ['Lily'], user: 'test', frequency_penalty: 0, presence_penalty: 0,
  logprobs: false, response_format: { type: 'text' }, n: 1, seed: 7,
});
out.stopped = { text: stopped.choices[0].message.content, finish: stopped.choices[0].finish_reason };

const stream = await client.chat.completions.create({
  model, messages: [{ role: 'user', content: prompt }], max_tokens: 12, temperature: 0,
  stream: true, stream_options: { include_usage: true },
});
let text = '', finish = null, usage = null, chunks = 0;
for await (const chunk of stream) {
  chunks++;
  if (chunk.choices.length > 0) {
    text += chunk.choices[0].delta.content ?? '';
    finish = chunk.choices[0].finish_reason ?? finish;
  }
  if (chunk.usage) usage = chunk.usage;
}
out.stream = { text, finish, usage, chunks };

const completion = await client.completions.create({ model, prompt, max_tokens: 12, temperature: 0 });
out.completion = { text: completion.choices[0].text, finish: completion.choices[0].finish_reason, usage: completion.usage };

const completionStream = await client.completions.create({ model, prompt, max_tokens: 12, temperature: 0, stream: true });
let streamed = '';
for await (const chunk of completionStream) streamed += chunk.choices[0]?.text ?? '';
out.completionStream = { text: streamed };

// Refusals arrive as the package's APIError with OpenAI's fields.
async function refusal(params) {
  try {
    await client.chat.completions.create(params);
    return { status: 200 };
  } catch (e) {
    if (!(e instanceof OpenAI.APIError)) throw e;
    return { status: e.status, type: e.type, code: e.code, param: e.param, message: e.message };
  }
}
out.unknownField = await refusal({ model, messages: [{ role: 'user', content: prompt }], max_tokens: 4, colour: 'blue' });
out.twoChoices = await refusal({ model, messages: [{ role: 'user', content: prompt }], max_tokens: 4, n: 2 });
out.tooLong = await refusal({ model, messages: [{ role: 'user', content: `${prompt} `.repeat(200) }], max_tokens: 4 });

console.log(JSON.stringify(out));
