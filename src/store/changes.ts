import { UsageError } from '../errors.js';
import type { OciContainerConfig } from '../image/oci-types.js';

/**
 * `commit -c`: the Dockerfile instructions docker commit accepts
 * (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, WORKDIR, VOLUME),
 * applied to an image's container config. Pure: unit tested.
 */
const ALLOWED = ['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'LABEL', 'STOPSIGNAL', 'USER', 'WORKDIR', 'VOLUME'] as const;
export type ChangeInstruction = (typeof ALLOWED)[number];

export interface ParsedChange {
  instruction: ChangeInstruction;
  rest: string;
}

export function parseChange(text: string): ParsedChange {
  const m = /^\s*([A-Za-z]+)(?:\s+([\s\S]*))?$/.exec(text);
  if (!m) throw new UsageError(`invalid change "${text}"`);
  const instruction = m[1]!.toUpperCase() as ChangeInstruction;
  if (!ALLOWED.includes(instruction)) {
    throw new UsageError(`${m[1]} is not a valid change command (allowed: ${ALLOWED.join(', ')})`);
  }
  const rest = (m[2] ?? '').trim();
  if (rest === '') throw new UsageError(`${instruction} requires an argument`);
  return { instruction, rest };
}

/** A JSON array of strings (exec form), or undefined when rest is not one. */
function jsonArray(rest: string): string[] | undefined {
  if (!rest.startsWith('[')) return undefined;
  try {
    const v: unknown = JSON.parse(rest);
    if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v as string[];
  } catch {
    return undefined;
  }
  return undefined;
}

/** Splits "K=V K2=V2" or "K V" (Dockerfile's legacy single pair); quotes around values are removed. */
export function parseKeyValues(rest: string, what: string): [string, string][] {
  const tokens: string[] = [];
  const re = /(?:[^\s"']+|"(?:[^"\\]|\\.)*"|'[^']*')+/g;
  for (const m of rest.matchAll(re)) tokens.push(m[0]);
  const unquote = (s: string) => s.replace(/"((?:[^"\\]|\\.)*)"|'([^']*)'/g, (_, dq: string | undefined, sq: string | undefined) => (dq !== undefined ? dq.replace(/\\(.)/g, '$1') : sq!));
  if (tokens.length > 0 && !tokens[0]!.includes('=')) {
    // legacy form: ENV KEY value with spaces
    const key = tokens[0]!;
    const value = rest.slice(rest.indexOf(key) + key.length).trim();
    if (value === '') throw new UsageError(`${what} needs KEY=VALUE`);
    return [[key, unquote(value)]];
  }
  return tokens.map((t) => {
    const eq = t.indexOf('=');
    if (eq <= 0) throw new UsageError(`${what}: "${t}" is not KEY=VALUE`);
    return [unquote(t.slice(0, eq)), unquote(t.slice(eq + 1))];
  });
}

/** Applies the changes in order to a copy of config. */
export function applyChanges(config: OciContainerConfig, changes: ParsedChange[]): OciContainerConfig {
  const out: OciContainerConfig = structuredClone(config);
  for (const { instruction, rest } of changes) {
    switch (instruction) {
      case 'CMD':
        out.Cmd = jsonArray(rest) ?? ['/bin/sh', '-c', rest];
        break;
      case 'ENTRYPOINT':
        out.Entrypoint = jsonArray(rest) ?? ['/bin/sh', '-c', rest];
        break;
      case 'ENV': {
        const env = [...(out.Env ?? [])];
        for (const [k, v] of parseKeyValues(rest, 'ENV')) {
          const i = env.findIndex((e) => e.split('=')[0] === k);
          if (i >= 0) env[i] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
        }
        out.Env = env;
        break;
      }
      case 'LABEL':
        out.Labels = { ...(out.Labels ?? {}), ...Object.fromEntries(parseKeyValues(rest, 'LABEL')) };
        break;
      case 'EXPOSE': {
        const ports = { ...(out.ExposedPorts ?? {}) };
        for (const port of rest.split(/\s+/)) {
          if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/i.test(port)) throw new UsageError(`invalid port "${port}" in EXPOSE`);
          ports[port.includes('/') ? port.toLowerCase() : `${port}/tcp`] = {};
        }
        out.ExposedPorts = ports;
        break;
      }
      case 'VOLUME': {
        const vols = { ...(out.Volumes ?? {}) };
        for (const v of jsonArray(rest) ?? rest.split(/\s+/)) vols[v] = {};
        out.Volumes = vols;
        break;
      }
      case 'STOPSIGNAL':
        out.StopSignal = rest;
        break;
      case 'USER':
        out.User = rest;
        break;
      case 'WORKDIR':
        out.WorkingDir = rest.startsWith('/') ? rest : `${out.WorkingDir ?? '/'}/${rest}`.replace(/\/+/g, '/');
        break;
    }
  }
  return out;
}
