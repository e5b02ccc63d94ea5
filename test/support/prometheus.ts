// Scrapes a Prometheus endpoint and reads the text exposition format (0.0.4) into
// families of samples, for tests. (parse-prometheus-text-format was tried and drops
// the labels of labelled histograms, so the test reads the lines itself.)

export interface Sample {
  /** The series name as written (`x_bucket`, `x_sum`, `x_count` for a histogram `x`). */
  name: string;
  labels: Record<string, string>;
  value: number;
}
export interface Family {
  name: string;
  help: string;
  type: string;
  samples: Sample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gy;

export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, help: '', type: 'untyped', samples: [] }));
    return f;
  };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'HELP') family(meta[2]!).help = meta[3]!;
      else family(meta[2]!).type = meta[3]!;
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    LABEL.lastIndex = 0;
    let consumed = 0;
    for (let l = LABEL.exec(body); l; l = LABEL.exec(body)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      consumed = LABEL.lastIndex;
    }
    if (consumed !== body.length) throw new Error(`bad labels in: ${line}`);
    const name = m[1]!;
    const base = families.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    family(families.has(base) ? base : name).samples.push({ name, labels, value: Number(m[3]) });
  }
  return families;
}

export async function scrape(url: string): Promise<{ families: Map<string, Family>; contentType: string | null }> {
  const res = await fetch(`${url}/metrics`);
  if (res.status !== 200) throw new Error(`GET /metrics: ${res.status}`);
  return { families: parseExposition(await res.text()), contentType: res.headers.get('content-type') };
}

/** The samples of series `series` (in family `family`, default the series' own) whose labels include `labels`. */
export function samples(families: Map<string, Family>, series: string, labels: Record<string, string> = {}, family = series.replace(/_(bucket|sum|count)$/, '')): Sample[] {
  const f = families.get(family) ?? families.get(series);
  if (!f) throw new Error(`no metric family ${family}; have: ${[...families.keys()].join(', ')}`);
  return f.samples.filter((s) => s.name === series && Object.entries(labels).every(([k, v]) => (s.labels[k] ?? '') === v));
}

export const total = (ss: Sample[]): number => ss.reduce((n, s) => n + s.value, 0);
