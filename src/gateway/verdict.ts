// What the core tells the ext_proc adapter to do with one phase of an exchange.
// Plain data: only src/extproc turns it into protobuf.

export type ResponseBodyMode = 'none' | 'buffered' | 'streamed';

export interface HeaderEdit {
  set?: readonly [string, string][];
  remove?: readonly string[];
}

export type Verdict =
  | {
      kind: 'continue';
      headers?: HeaderEdit;
      /** Replacement for the body (or chunk) just received; 'clear' empties it; undefined leaves it. */
      body?: Uint8Array | 'clear';
      /** Only in a response-headers verdict: how Envoy should send the response body. */
      responseBodyMode?: ResponseBodyMode;
    }
  | {
      /** Answer the client here (a refusal, or a document the gateway serves itself); nothing goes upstream. */
      kind: 'respond';
      status: number;
      headers: readonly [string, string][];
      body: string;
      /** Short reason for Envoy's access log (%RESPONSE_CODE_DETAILS%). */
      details: string;
    };

/** The content type of every JSON body the gateway writes itself. */
export const JSON_CONTENT_TYPE: [string, string] = ['content-type', 'application/json'];

export const CONTINUE: Extract<Verdict, { kind: 'continue' }> = Object.freeze({ kind: 'continue' });

/** Adds headers to a continue verdict; a header that is set is not also removed. */
export function withHeaders(v: Verdict, set: readonly [string, string][]): Verdict {
  if (v.kind !== 'continue' || set.length === 0) return v;
  const names = new Set(set.map(([k]) => k));
  const remove = v.headers?.remove?.filter((k) => !names.has(k));
  return { ...v, headers: { set: [...(v.headers?.set ?? []), ...set], ...(remove?.length && { remove }) } };
}

/** Applies a header edit to a continue verdict (a refusal is left as it is). */
export function withEdit(v: Verdict, edit: HeaderEdit): Verdict {
  const out = withHeaders(v, edit.set ?? []);
  if (out.kind !== 'continue' || !edit.remove?.length) return out;
  return { ...out, headers: { ...out.headers, remove: [...(out.headers?.remove ?? []), ...edit.remove] } };
}
