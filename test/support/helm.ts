// Runs the pinned helm the bootstrap built (HELM_BIN). helm template and lint need no cluster.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { toolBin } from './kubeconform.js';

const run = promisify(execFile);

export async function helm(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(toolBin('HELM_BIN'), args, { maxBuffer: 16 << 20 });
}
