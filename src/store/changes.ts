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

/**
 * A Dockerfile word as the builder reads it (buildkit's shell lexer, the
 * parts a change needs): quotes are removed, a backslash keeps the next
 * character as it is, and outside single quotes $VAR, ${VAR},
 * ${VAR:-word} and ${VAR:+word} are replaced from env (docker's commit and
 * import take ENV PATH=/opt/bin:$PATH this way). An unset variable is "".
 */
export function processWord(word: string, env: ReadonlyMap<string, string>): string {
  let out = '';
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < word.length; i++) {
    const c = word[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else out += c;
    } else if (c === '\\' && i + 1 < word.length) {
      // Inside double quotes only \\, \" and \$ are escapes, as in a shell.
      const next = word[i + 1]!;
      if (quote === '"' && !'\\"$'.includes(next)) out += c;
      out += next;
      i++;
    } else if (c === quote) {
      quote = undefined;
    } else if (quote === undefined && (c === '"' || c === "'")) {
      quote = c;
    } else if (c === '$') {
      const braced = /^\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}/.exec(word.slice(i + 1));
      const plain = braced ? undefined : /^[A-Za-z_][A-Za-z0-9_]*/.exec(word.slice(i + 1));
      if (braced) {
        const [whole, name, op, alt = ''] = braced;
        const value = env.get(name!);
        const set = op?.startsWith(':') ? value !== undefined && value !== '' : value !== undefined;
        out += op === undefined ? (value ?? '') : op.endsWith('-') ? (set ? value! : processWord(alt, env)) : set ? processWord(alt, env) : '';
        i += whole.length;
      } else if (plain) {
        out += env.get(plain[0]) ?? '';
        i += plain[0].length;
      } else {
        out += c;
      }
    } else {
      out += c;
    }
  }
  return out;
}

/** The environment a change's words see: the config's Env so far, as a map. */
function envOf(config: OciContainerConfig): Map<string, string> {
  return new Map((config.Env ?? []).map((e) => (e.includes('=') ? [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)] : [e, ''])));
}

/**
 * Splits "K=V K2=V2" or "K V" (Dockerfile's legacy single pair), each word
 * through processWord with env (quotes removed, variables replaced).
 */
export function parseKeyValues(rest: string, what: string, env: ReadonlyMap<string, string> = new Map()): [string, string][] {
  const tokens: string[] = [];
  const re = /(?:[^\s"'\\]+|\\.|"(?:[^"\\]|\\.)*"|'[^']*')+/g;
  for (const m of rest.matchAll(re)) tokens.push(m[0]);
  if (tokens.length > 0 && !tokens[0]!.includes('=')) {
    // legacy form: ENV KEY value with spaces
    const key = tokens[0]!;
    const value = rest.slice(rest.indexOf(key) + key.length).trim();
    if (value === '') throw new UsageError(`${what} needs KEY=VALUE`);
    return [[processWord(key, env), processWord(value, env)]];
  }
  return tokens.map((t) => {
    const eq = t.indexOf('=');
    if (eq <= 0) throw new UsageError(`${what}: "${t}" is not KEY=VALUE`);
    return [processWord(t.slice(0, eq), env), processWord(t.slice(eq + 1), env)];
  });
}

/** A change's words split at unquoted blanks, each through processWord. */
function words(rest: string, env: ReadonlyMap<string, string>): string[] {
  return [...rest.matchAll(/(?:[^\s"'\\]+|\\.|"(?:[^"\\]|\\.)*"|'[^']*')+/g)].map((m) => processWord(m[0], env));
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
        // Every pair of one ENV sees the environment from before it (docker's rule: ENV A=2 B=$A takes the old A).
        for (const [k, v] of parseKeyValues(rest, 'ENV', envOf(out))) {
          const i = env.findIndex((e) => e.split('=')[0] === k);
          if (i >= 0) env[i] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
        }
        out.Env = env;
        break;
      }
      case 'LABEL':
        out.Labels = { ...(out.Labels ?? {}), ...Object.fromEntries(parseKeyValues(rest, 'LABEL', envOf(out))) };
        break;
      case 'EXPOSE': {
        const ports = { ...(out.ExposedPorts ?? {}) };
        for (const port of words(rest, envOf(out))) {
          if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/i.test(port)) throw new UsageError(`invalid port "${port}" in EXPOSE`);
          ports[port.includes('/') ? port.toLowerCase() : `${port}/tcp`] = {};
        }
        out.ExposedPorts = ports;
        break;
      }
      case 'VOLUME': {
        const vols = { ...(out.Volumes ?? {}) };
        for (const v of jsonArray(rest) ?? words(rest, envOf(out))) vols[v] = {};
        out.Volumes = vols;
        break;
      }
      case 'STOPSIGNAL':
        out.StopSignal = processWord(rest, envOf(out));
        break;
      case 'USER':
        out.User = processWord(rest, envOf(out));
        break;
      case 'WORKDIR': {
        const dir = processWord(rest, envOf(out));
        out.WorkingDir = dir.startsWith('/') ? dir : `${out.WorkingDir ?? '/'}/${dir}`.replace(/\/+/g, '/');
        break;
      }
    }
  }
  return out;
}
