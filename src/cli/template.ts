import { UsageError } from '../errors.js';

/**
 * The part of Go's text/template that docker's --format users write:
 * fields ({{.State.Pid}}, {{.}}, {{$}}), string and number literals, pipes
 * ({{.Name | upper}}), parentheses, {{if}}/{{else if}}/{{else}},
 * {{range}} and {{with}} (each with {{else}}), the trim markers {{- and -}},
 * and docker's functions: json, upper, lower, title, join, split, index,
 * len, truncate, printf, println, eq, ne, lt, le, gt, ge, not, and, or.
 * Values print as Go prints them (a list as [a b], a map as map[k:v]).
 * Anything else is refused with one line, never echoed back as output.
 */

type Arg =
  | { t: 'field'; path: string[]; root: boolean }
  | { t: 'str'; v: string }
  | { t: 'num'; v: number }
  | { t: 'ident'; name: string }
  | { t: 'pipe'; p: Pipeline };
type Command = Arg[];
type Pipeline = Command[];
type Node =
  | { t: 'text'; s: string }
  | { t: 'action'; p: Pipeline }
  | { t: 'if' | 'range' | 'with'; p: Pipeline; body: Node[]; otherwise: Node[] };

export class Template {
  private readonly nodes: Node[];

  constructor(private readonly source: string) {
    const tokens = lex(source);
    let i = 0;
    // Nodes up to one of `ends` ({{else}}, {{end}}), which is returned; {{else if X}} ends as 'else-if', left for the caller.
    const parseList = (ends: string[]): [Node[], string] => {
      const out: Node[] = [];
      while (i < tokens.length) {
        const tok = tokens[i++]!;
        if (tok.text !== undefined) {
          out.push({ t: 'text', s: tok.text });
          continue;
        }
        const words = tok.action!.trim();
        const keyword = /^(if|range|with|else|end)\b/.exec(words)?.[1];
        if (keyword === 'end' || keyword === 'else') {
          if (!ends.includes(keyword)) throw this.error(`unexpected {{${keyword}}}`);
          if (keyword === 'else' && /^else\s+if\b/.test(words)) {
            tokens[--i] = { action: words.replace(/^else\s+/, '') };
            return [out, 'else-if'];
          }
          return [out, keyword];
        }
        if (keyword === 'if' || keyword === 'range' || keyword === 'with') out.push(block(keyword, words.slice(keyword.length)));
        else out.push({ t: 'action', p: this.pipeline(words) });
      }
      if (ends.length > 0) throw this.error('missing {{end}}');
      return [out, ''];
    };
    const block = (keyword: 'if' | 'range' | 'with', rest: string): Node => {
      const p = this.pipeline(rest);
      const [body, end] = parseList(['else', 'end']);
      let otherwise: Node[] = [];
      if (end === 'else') otherwise = parseList(['end'])[0];
      // {{else if X}} ... {{end}}: an if of its own in the else branch, sharing the one {{end}}.
      else if (end === 'else-if') otherwise = [block('if', tokens[i++]!.action!.trim().slice(2))];
      return { t: keyword, p, body, otherwise };
    };
    this.nodes = parseList([])[0];
  }

  /** The template applied to data. */
  render(data: unknown): string {
    let out = '';
    const walk = (nodes: Node[], dot: unknown) => {
      for (const n of nodes) {
        if (n.t === 'text') out += n.s;
        else if (n.t === 'action') out += goString(this.evaluate(n.p, dot, data));
        else {
          const v = this.evaluate(n.p, dot, data);
          if (n.t === 'if') walk(truthy(v) ? n.body : n.otherwise, dot);
          else if (n.t === 'with') walk(truthy(v) ? n.body : n.otherwise, truthy(v) ? v : dot);
          else {
            const items = Array.isArray(v) ? v : isMap(v) ? Object.keys(v).sort().map((k) => v[k]) : v == null ? [] : undefined;
            if (items === undefined) throw this.error(`range can't iterate over ${goString(v)}`);
            if (items.length === 0) walk(n.otherwise, dot);
            for (const item of items) walk(n.body, item);
          }
        }
      }
    };
    walk(this.nodes, data);
    return out;
  }

  private error(what: string): UsageError {
    return new UsageError(`invalid format ${JSON.stringify(this.source)}: ${what}`);
  }

  private pipeline(text: string): Pipeline {
    const words = splitWords(text, (w) => this.error(w));
    if (words.length === 0) throw this.error('empty {{ }}');
    const commands: Pipeline = [[]];
    for (const w of words) {
      if (w === '|') commands.push([]);
      else commands.at(-1)!.push(typeof w === 'string' ? this.arg(w) : { t: 'pipe', p: this.pipeline(w.inner) });
    }
    if (commands.some((c) => c.length === 0)) throw this.error('empty command in a pipeline');
    return commands;
  }

  private arg(w: string): Arg {
    if (w === '.' || w === '$') return { t: 'field', path: [], root: w === '$' };
    if (/^\$?(\.[A-Za-z_]\w*)+$/.test(w)) return { t: 'field', path: w.replace(/^\$/, '').slice(1).split('.'), root: w.startsWith('$') };
    if (w.startsWith('"')) {
      try {
        return { t: 'str', v: JSON.parse(w) as string };
      } catch {
        throw this.error(`bad string ${w}`);
      }
    }
    if (w.startsWith('`')) return { t: 'str', v: w.slice(1, -1) };
    if (/^-?\d+(\.\d+)?$/.test(w)) return { t: 'num', v: Number(w) };
    if (w === 'true' || w === 'false' || w === 'nil') return { t: 'ident', name: w };
    if (!(w in FUNCTIONS)) throw this.error(`function "${w}" not defined`);
    return { t: 'ident', name: w };
  }

  private evaluate(p: Pipeline, dot: unknown, root: unknown): unknown {
    let prev: unknown[] = [];
    for (const cmd of p) prev = [this.command(cmd, dot, root, prev)];
    return prev[0];
  }

  private command(cmd: Command, dot: unknown, root: unknown, piped: unknown[]): unknown {
    const value = (a: Arg): unknown => {
      if (a.t === 'str' || a.t === 'num') return a.v;
      if (a.t === 'pipe') return this.evaluate(a.p, dot, root);
      if (a.t === 'ident') return a.name === 'true' ? true : a.name === 'false' ? false : null;
      let v = a.root ? root : dot;
      for (const key of a.path) {
        if (isMap(v) && key in v) v = v[key];
        else throw this.error(`no field .${a.path.join('.')}`);
      }
      return v;
    };
    const [head, ...rest] = cmd;
    if (head!.t === 'ident' && head!.name in FUNCTIONS) {
      return FUNCTIONS[head!.name]!((what) => this.error(`${head!.name}: ${what}`), ...rest.map(value), ...piped);
    }
    if (rest.length > 0 || piped.length > 0) throw this.error(`${cmd.length > 1 ? 'arguments given to a value' : "can't pipe into a value"}`);
    return value(head!);
  }
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Go's truth: false, 0, nil, and empty strings, lists and maps are false. */
function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (isMap(v)) return Object.keys(v).length > 0;
  return v !== false && v !== 0 && v !== '' && v !== null && v !== undefined;
}

/** A value as fmt's %v prints it: a list as [a b], a map as map[k:v] (keys sorted), nil as <no value>. */
export function goString(v: unknown): string {
  if (v === null || v === undefined) return '<no value>';
  if (Array.isArray(v)) return `[${v.map(goString).join(' ')}]`;
  if (isMap(v)) return `map[${Object.keys(v).sort().map((k) => `${k}:${goString(v[k])}`).join(' ')}]`;
  return String(v);
}

type Fn = (fail: (what: string) => UsageError, ...args: unknown[]) => unknown;

const str = (fail: (what: string) => UsageError, v: unknown): string => {
  if (typeof v !== 'string') throw fail(`wants a string, not ${goString(v)}`);
  return v;
};
const compare = (fail: (what: string) => UsageError, a: unknown, b: unknown): number => {
  if (typeof a !== typeof b || (typeof a !== 'number' && typeof a !== 'string')) throw fail(`cannot compare ${goString(a)} with ${goString(b)}`);
  return a < (b as typeof a) ? -1 : a > (b as typeof a) ? 1 : 0;
};

const FUNCTIONS: Record<string, Fn> = {
  json: (_, v) => JSON.stringify(v ?? null),
  upper: (fail, v) => str(fail, v).toUpperCase(),
  lower: (fail, v) => str(fail, v).toLowerCase(),
  title: (fail, v) => str(fail, v).replace(/\b\w/g, (c) => c.toUpperCase()),
  join: (fail, list, sep) => {
    if (!Array.isArray(list)) throw fail(`wants a list, not ${goString(list)}`);
    return list.map(goString).join(str(fail, sep));
  },
  split: (fail, s, sep) => str(fail, s).split(str(fail, sep)),
  index: (fail, v, ...keys) => {
    let out = v;
    for (const k of keys) {
      if (Array.isArray(out) && typeof k === 'number') out = out[k];
      else if (isMap(out) && typeof k === 'string') out = out[k];
      else if (out === null || out === undefined) return undefined;
      else throw fail(`cannot index ${goString(out)} with ${goString(k)}`);
    }
    return out;
  },
  len: (fail, v) => {
    if (typeof v === 'string' || Array.isArray(v)) return v.length;
    if (isMap(v)) return Object.keys(v).length;
    throw fail(`len of ${goString(v)}`);
  },
  truncate: (fail, s, n) => str(fail, s).slice(0, Number(n)),
  printf: (fail, format, ...args) => {
    let i = 0;
    return str(fail, format).replace(/%([svdq%])/g, (_, verb: string) => {
      if (verb === '%') return '%';
      const a = args[i++];
      return verb === 'q' ? JSON.stringify(goString(a)) : goString(a);
    });
  },
  println: (_, ...args) => `${args.map(goString).join(' ')}\n`,
  eq: (_, a, ...bs) => bs.some((b) => a === b),
  ne: (_, a, b) => a !== b,
  lt: (fail, a, b) => compare(fail, a, b) < 0,
  le: (fail, a, b) => compare(fail, a, b) <= 0,
  gt: (fail, a, b) => compare(fail, a, b) > 0,
  ge: (fail, a, b) => compare(fail, a, b) >= 0,
  not: (_, v) => !truthy(v),
  and: (_, ...vs) => vs.find((v) => !truthy(v)) ?? vs.at(-1),
  or: (_, ...vs) => vs.find((v) => truthy(v)) ?? vs.at(-1),
};

/** Text and {{ }} actions, with {{- and -}} trimming the whitespace beside them. */
function lex(source: string): { text?: string; action?: string }[] {
  const out: { text?: string; action?: string }[] = [];
  let rest = source;
  let trimNext = false;
  while (rest.length > 0) {
    const open = rest.indexOf('{{');
    let text = open < 0 ? rest : rest.slice(0, open);
    if (trimNext) text = text.replace(/^\s+/, '');
    if (open < 0) {
      if (text) out.push({ text });
      break;
    }
    const close = rest.indexOf('}}', open + 2);
    if (close < 0) throw new UsageError(`invalid format ${JSON.stringify(source)}: unclosed action`);
    let inner = rest.slice(open + 2, close);
    if (inner.startsWith('-') && /^-\s/.test(inner)) {
      text = text.replace(/\s+$/, '');
      inner = inner.slice(1);
    }
    trimNext = /\s-$/.test(inner);
    if (trimNext) inner = inner.slice(0, -1);
    if (text) out.push({ text });
    out.push({ action: inner });
    rest = rest.slice(close + 2);
  }
  return out;
}

/** An action's words: strings kept whole, `|` on its own, and (...) as one nested group. */
function splitWords(text: string, fail: (what: string) => UsageError): (string | { inner: string })[] {
  const out: (string | { inner: string })[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (/\s/.test(ch)) {
      i++;
    } else if (ch === '|') {
      out.push('|');
      i++;
    } else if (ch === '"' || ch === '`') {
      let j = i + 1;
      while (j < text.length && text[j] !== ch) j += ch === '"' && text[j] === '\\' ? 2 : 1;
      if (j >= text.length) throw fail('unterminated string');
      out.push(text.slice(i, j + 1));
      i = j + 1;
    } else if (ch === '(') {
      let depth = 0;
      let j = i;
      for (; j < text.length; j++) {
        if (text[j] === '(') depth++;
        else if (text[j] === ')' && --depth === 0) break;
      }
      if (j >= text.length) throw fail('unclosed (');
      out.push({ inner: text.slice(i + 1, j) });
      i = j + 1;
    } else {
      let j = i;
      while (j < text.length && !/[\s|()]/.test(text[j]!)) j++;
      out.push(text.slice(i, j));
      i = j;
    }
  }
  return out;
}
