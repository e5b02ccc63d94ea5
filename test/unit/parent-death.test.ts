import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dieWithParent } from '../../src/envoy/parent-death.js';

const linuxWithSetpriv = process.platform === 'linux' && spawnSync('setpriv', ['--help'], { encoding: 'utf8' }).stdout?.includes('--pdeathsig');

test('on Linux with util-linux, the child runs under setpriv --pdeathsig KILL and becomes the command itself', { skip: !linuxWithSetpriv }, () => {
  const cmd = dieWithParent('/bin/sh', ['-c', 'echo "$$ $0"', 'probe']);
  assert.equal(cmd.parentDeath, 'pdeathsig');
  assert.deepEqual(cmd.args.slice(0, 3), ['--pdeathsig', 'KILL', '--']);
  const r = spawnSync(cmd.command, cmd.args, { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const [pid, name] = r.stdout.trim().split(' ');
  assert.equal(Number(pid), r.pid, 'every step execs: the spawned pid is the command’s own');
  assert.equal(name, 'probe');
});

test('the guard refuses to start the command once the spawning process is no longer its parent', { skip: !linuxWithSetpriv }, () => {
  const cmd = dieWithParent('/bin/echo', ['started']);
  const pidArg = cmd.args.indexOf(String(process.pid));
  assert.ok(pidArg > 0);
  const args = [...cmd.args];
  args[pidArg] = '1'; // as if the parent had died before setpriv's prctl and we were reparented
  const r = spawnSync(cmd.command, args, { encoding: 'utf8' });
  assert.equal(r.status, 125);
  assert.equal(r.stdout, '');
});
