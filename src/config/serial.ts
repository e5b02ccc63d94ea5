// Config changes are applied one at a time, in the order they arrive: each builds on what
// the previous one left (the running config, Envoy's files), failed or not.

/** `fn` wrapped so that a call starts only after every earlier call has settled. */
export function oneAtATime<A, R>(fn: (arg: A) => Promise<R>): (arg: A) => Promise<R> {
  let tail: Promise<unknown> = Promise.resolve();
  return (arg) => {
    const run = tail.then(() => fn(arg));
    tail = run.catch(() => undefined);
    return run;
  };
}
