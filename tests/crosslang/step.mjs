// One step of the cross-language test, through the Node binding (Promise forms: Redis):
//   node step.mjs STORE_URL validate|rotate TOKEN   prints the outcome as JSON
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { SessionManager } = require('../../bindings-node');

const [store, op, token] = process.argv.slice(2);
const manager = new SessionManager({ store, sweepIntervalMs: null });
const result = op === 'rotate' ? await manager.rotate(token) : await manager.validate(token);
process.stdout.write(JSON.stringify({
  valid: result.valid,
  reason: result.reason ?? null,
  user: result.user ?? null,
  id: result.id ?? null,
  newToken: result.newToken ?? null,
}) + '\n');
