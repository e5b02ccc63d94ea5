// A small, strict reader for the gzipped tarballs `opa build` writes (Go's
// archive/tar: ustar headers, PAX records for long names). Only regular files are
// returned; directories, links and the like are skipped. Anything malformed — a bad
// header checksum, a truncated entry, the same path twice — is refused, so a bundle
// never means two different things to two readers.
import { gunzipSync } from 'node:zlib';

const BLOCK = 512;

export class TarError extends Error {
  override name = 'TarError';
}

/** Normalized path ("policy.wasm", "a/data.json": no leading "/" or "./") → contents. */
export type TarFiles = Map<string, Uint8Array>;

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Reads a .tar.gz (or a plain .tar). `maxBytes` caps the unpacked size. */
export function readTarball(bytes: Uint8Array, maxBytes = 256 * 1024 * 1024): TarFiles {
  let tar: Uint8Array;
  if (isGzip(bytes)) {
    try {
      tar = gunzipSync(bytes, { maxOutputLength: maxBytes });
    } catch (e) {
      throw new TarError(`not a valid gzip stream: ${(e as Error).message}`);
    }
  } else {
    tar = bytes;
  }
  return readTar(tar);
}

function readTar(tar: Uint8Array): TarFiles {
  const files: TarFiles = new Map();
  const latin1 = new TextDecoder('latin1');
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let pending: { path?: string } = {};
  let off = 0;
  while (true) {
    if (off + BLOCK > tar.length) {
      if (off === tar.length && files.size > 0) break; // tolerated: no end-of-archive blocks
      throw new TarError(`truncated archive: header at byte ${off} is incomplete`);
    }
    const h = tar.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) break; // end of archive
    const sum = h.reduce((acc, b, i) => acc + (i >= 148 && i < 156 ? 0x20 : b), 0);
    const stated = octal(h, 148, 8);
    if (stated !== sum) throw new TarError(`bad header checksum at byte ${off}`);
    const size = octal(h, 124, 12);
    if (size === undefined) throw new TarError(`unreadable size in the header at byte ${off}`);
    const type = String.fromCharCode(h[156]!);
    const dataStart = off + BLOCK;
    const dataEnd = dataStart + size;
    if (dataEnd > tar.length) throw new TarError(`truncated archive: entry at byte ${off} needs ${size} bytes`);
    const data = tar.subarray(dataStart, dataEnd);
    off = dataStart + Math.ceil(size / BLOCK) * BLOCK;

    switch (type) {
      case 'x': // PAX extended header for the next entry
        pending = { ...pending, ...paxPath(data, utf8) };
        continue;
      case 'g': // PAX global header: nothing we need
        continue;
      case 'L': // GNU long name for the next entry
        pending = { path: cString(utf8, data) };
        continue;
      case '0':
      case '\0':
      case '7': {
        const name = pending.path ?? headerName(h, latin1, utf8);
        pending = {};
        const path = normalize(name);
        if (path === undefined) throw new TarError(`unsafe path in archive: ${JSON.stringify(name)}`);
        if (files.has(path)) throw new TarError(`archive holds ${JSON.stringify(path)} twice`);
        files.set(path, data);
        continue;
      }
      default: // directories, links, devices: not part of a bundle's content
        pending = {};
        continue;
    }
  }
  return files;
}

function octal(h: Uint8Array, at: number, len: number): number | undefined {
  let s = '';
  for (let i = at; i < at + len; i++) {
    const c = h[i]!;
    if (c === 0 || c === 0x20) {
      if (s !== '') break;
      continue;
    }
    if (c < 0x30 || c > 0x37) return undefined; // base-256 sizes (> 8 GiB) included: refused
    s += String.fromCharCode(c);
  }
  return s === '' ? 0 : parseInt(s, 8);
}

function cString(dec: TextDecoder, b: Uint8Array): string {
  const nul = b.indexOf(0);
  return dec.decode(nul === -1 ? b : b.subarray(0, nul));
}

function headerName(h: Uint8Array, latin1: TextDecoder, utf8: TextDecoder): string {
  const name = cString(utf8, h.subarray(0, 100));
  const ustar = latin1.decode(h.subarray(257, 262)) === 'ustar';
  const prefix = ustar ? cString(utf8, h.subarray(345, 500)) : '';
  return prefix ? `${prefix}/${name}` : name;
}

/** PAX records: "<len> <key>=<value>\n"…, lengths in bytes; only `path` matters here. */
function paxPath(b: Uint8Array, utf8: TextDecoder): { path?: string } {
  const out: { path?: string } = {};
  let i = 0;
  while (i < b.length) {
    const sp = b.indexOf(0x20, i);
    const len = sp === -1 ? NaN : Number(String.fromCharCode(...b.subarray(i, sp)));
    if (!Number.isInteger(len) || len <= 0 || i + len > b.length || b[i + len - 1] !== 0x0a) throw new TarError('malformed PAX header');
    const record = utf8.decode(b.subarray(sp + 1, i + len - 1));
    const eq = record.indexOf('=');
    if (eq !== -1 && record.slice(0, eq) === 'path') out.path = record.slice(eq + 1);
    i += len;
  }
  return out;
}

/** Strips a leading "/" or "./"; refuses "..", empty and NUL-bearing segments. */
function normalize(name: string): string | undefined {
  const parts = name.split('/').filter((p, i) => !(p === '' && i === 0) && p !== '.');
  if (parts.length === 0 || parts.some((p) => p === '' || p === '..' || p.includes('\0'))) return undefined;
  return parts.join('/');
}
