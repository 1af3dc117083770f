import { UsageError } from '../errors.js';

/**
 * The part of Go's text/template that docker's --format users write:
 * fields ({{.State.Pid}}, {{.}}, {{$}}), variables ({{$x := ...}},
 * {{range $k, $v := ...}}), string and number literals, pipes
 * ({{.Name | upper}}), parentheses with fields after them, comments,
 * {{if}}/{{else if}}/{{else}}, {{range}} and {{with}} (each with
 * {{else}}), the trim markers {{- and -}}, Go's functions (and, or, not,
 * eq, ne, lt, le, gt, ge, index, len, print, printf, println) and docker's
 * (json, upper, lower, title, join, split, truncate, pad). Values print as
 * Go prints them (a list as [a b], a map as map[k:v]). Anything else is
 * refused with one line, never echoed back as output.
 */

type Arg =
  | { t: 'field'; path: string[]; from: 'dot' | 'root' | { variable: string } }
  | { t: 'str'; v: string }
  | { t: 'num'; v: number }
  | { t: 'ident'; name: string }
  | { t: 'pipe'; p: Pipeline; path: string[] };
type Command = Arg[];
/** A pipeline, with the variables it declares ({{$x := ...}}) or assigns ({{$x = ...}}). */
interface Pipeline {
  commands: Command[];
  declare: string[];
  assign?: string;
}
type Node =
  | { t: 'text'; s: string }
  | { t: 'action'; p: Pipeline }
  | { t: 'if' | 'range' | 'with'; p: Pipeline; body: Node[]; otherwise: Node[] };

/** Variables in scope: each control structure's body gets a scope of its own (Go's rule). */
type Scope = Map<string, unknown>[];

const GO_MAPS = new WeakSet<object>();

/**
 * Marks an object as a Go map for templates: a key it lacks reads as
 * <no value> (and as "" through index), where a missing field of any other
 * object (a Go struct) is an error, as `docker inspect -f` has them.
 */
export function goMap<T extends object>(obj: T): T {
  GO_MAPS.add(obj);
  return obj;
}

const GO_NILS = new WeakSet<object>();

/**
 * A Go nil slice or map, where docker's JSON has null: a template prints
 * it as [] or map[] (fmt's %v of a nil []string, map[string]string), json
 * as null. A plain null is a nil pointer: <nil>.
 */
export function goNil(kind: 'list' | 'map'): unknown[] | Record<string, unknown> {
  const v = kind === 'list' ? [] : goMap({});
  GO_NILS.add(v);
  return v;
}

const GO_DEFAULTS = new WeakMap<object, Record<string, unknown>>();

/**
 * Fields a Go struct has that the object leaves out of its JSON (omitempty,
 * or not set): a template reads them as these zero values (a nil pointer
 * prints <nil>, so `{{if .State.Health}}` is false) instead of failing.
 */
export function goDefaults<T extends object>(obj: T, defaults: Record<string, unknown>): T {
  GO_DEFAULTS.set(obj, { ...GO_DEFAULTS.get(obj), ...defaults });
  return obj;
}

const GO_OMIT_EMPTY = new WeakSet<object>();

/** Marks a field's value as `json:",omitempty"` in Go: json leaves it out when nil or empty. */
export function goOmitEmpty<T extends object>(obj: T): T {
  GO_OMIT_EMPTY.add(obj);
  return obj;
}

/** JSON as Go's encoding/json writes it: a map's keys sorted (a struct's fields keep their order), nil slices and maps as null. */
export function goJson(v: unknown, indent?: number): string {
  return JSON.stringify(
    v,
    (key, x: unknown) => {
      if (typeof x !== 'object' || x === null) return x;
      // A field left out; the value itself (key "") is printed, null if nil.
      if (key !== '' && GO_OMIT_EMPTY.has(x) && (GO_NILS.has(x) || Object.keys(x).length === 0)) return undefined;
      if (GO_NILS.has(x)) return null;
      if (GO_MAPS.has(x)) return Object.fromEntries(Object.keys(x).sort().map((k) => [k, (x as Record<string, unknown>)[k]]));
      return x;
    },
    indent,
  );
}

export interface TemplateOptions {
  /** ps's and images': \t and \n in the text (not in strings) are a tab and a newline, as docker's formatter has them. */
  escapes?: boolean;
}

export class Template {
  private readonly nodes: Node[];

  constructor(
    private readonly source: string,
    opts: TemplateOptions = {},
  ) {
    const tokens = lex(source, opts.escapes === true, (what) => this.error(what));
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
          if (!ends.includes(keyword)) throw this.error(`unexpected {{${words}}}`);
          if (keyword === 'end' && words !== 'end') throw this.error(`unexpected {{${words}}}`);
          if (keyword === 'else' && words !== 'else') {
            if (!/^else\s+if\b/.test(words)) throw this.error(`unexpected {{${words}}}`);
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
      const p = this.pipeline(rest, keyword === 'range' ? 2 : 1);
      const [body, end] = parseList(['else', 'end']);
      let otherwise: Node[] = [];
      if (end === 'else') otherwise = parseList(['end'])[0];
      // {{else if X}} ... {{end}}: an if of its own in the else branch, sharing the one {{end}}.
      else if (end === 'else-if') otherwise = [block('if', tokens[i++]!.action!.trim().slice(2))];
      return { t: keyword, p, body, otherwise };
    };
    this.nodes = parseList([])[0];
  }

  /** The template applied to data. `header`: a table's header line, where docker's own functions leave the column's name as it is. */
  render(data: unknown, opts: { header?: boolean } = {}): string {
    let out = '';
    const walk = (nodes: Node[], dot: unknown, scope: Scope) => {
      for (const n of nodes) {
        if (n.t === 'text') {
          out += n.s;
        } else if (n.t === 'action') {
          const v = this.evaluate(n.p, dot, data, scope, opts.header === true);
          if (n.p.declare.length === 0 && n.p.assign === undefined) out += goString(v);
        } else if (n.t === 'range') {
          const inner: Scope = [...scope, new Map()];
          const v = this.evaluate({ ...n.p, declare: [] }, dot, data, inner, opts.header === true);
          const entries: [unknown, unknown][] = Array.isArray(v)
            ? v.map((item, k) => [k, item])
            : isMap(v)
              ? Object.keys(v).sort().map((k) => [k, v[k]])
              : v === null || v === undefined
                ? []
                : (() => {
                    throw this.error(`range can't iterate over ${goString(v)}`);
                  })();
          if (entries.length === 0) walk(n.otherwise, dot, [...scope, new Map()]);
          for (const [k, item] of entries) {
            const vars = new Map<string, unknown>();
            // {{range $v := x}} names the element; {{range $k, $v := x}} the key (or index) and the element.
            if (n.p.declare.length === 1) vars.set(n.p.declare[0]!, item);
            if (n.p.declare.length === 2) vars.set(n.p.declare[0]!, k).set(n.p.declare[1]!, item);
            walk(n.body, item, [...scope, vars]);
          }
        } else {
          const inner: Scope = [...scope, new Map()];
          const v = this.evaluate(n.p, dot, data, inner, opts.header === true);
          const yes = truthy(v);
          walk(yes ? n.body : n.otherwise, n.t === 'with' && yes ? v : dot, yes ? inner : [...scope, new Map()]);
        }
      }
    };
    walk(this.nodes, data, [new Map([['$', data]])]);
    return out;
  }

  private error(what: string): UsageError {
    return new UsageError(`invalid format ${JSON.stringify(this.source)}: ${what}`);
  }

  /** An action's pipeline; `maxVars` variables may be declared before it ({{range $k, $v := ...}}). */
  private pipeline(text: string, maxVars = 1): Pipeline {
    let rest = text;
    const declare: string[] = [];
    let assign: string | undefined;
    const decl = /^\s*(\$\w+)\s*(?:,\s*(\$\w+)\s*)?(:=|=)(?!=)/.exec(rest);
    if (decl) {
      const names = [decl[1]!, ...(decl[2] ? [decl[2]] : [])];
      if (names.length > maxVars) throw this.error(`too many variables in ${text.trim()}`);
      if (decl[3] === '=') {
        if (names.length > 1) throw this.error(`only one variable can be assigned: ${text.trim()}`);
        assign = names[0];
      } else {
        declare.push(...names);
      }
      rest = rest.slice(decl[0].length);
    }
    const words = splitWords(rest, (w) => this.error(w));
    if (words.length === 0) throw this.error('empty {{ }}');
    const commands: Command[] = [[]];
    for (const w of words) {
      if (w === '|') commands.push([]);
      else commands.at(-1)!.push(typeof w === 'string' ? this.arg(w) : { t: 'pipe', p: this.pipeline(w.inner, 0), path: w.path });
    }
    if (commands.some((c) => c.length === 0)) throw this.error('empty command in a pipeline');
    return { commands, declare, assign };
  }

  private arg(w: string): Arg {
    if (w === '.') return { t: 'field', path: [], from: 'dot' };
    if (/^(\.[A-Za-z_]\w*)+$/.test(w)) return { t: 'field', path: w.slice(1).split('.'), from: 'dot' };
    const variable = /^(\$\w*)((?:\.[A-Za-z_]\w*)*)$/.exec(w);
    if (variable) return { t: 'field', path: variable[2] ? variable[2].slice(1).split('.') : [], from: variable[1] === '$' ? 'root' : { variable: variable[1]! } };
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
    if (!Object.hasOwn(FUNCTIONS, w)) throw this.error(`function "${w}" not defined`);
    return { t: 'ident', name: w };
  }

  private evaluate(p: Pipeline, dot: unknown, root: unknown, scope: Scope, header: boolean): unknown {
    let prev: unknown[] = [];
    for (const cmd of p.commands) prev = [this.command(cmd, dot, root, scope, prev, header)];
    const v = prev[0];
    for (const name of p.declare) scope.at(-1)!.set(name, v);
    if (p.assign !== undefined) {
      const holder = [...scope].reverse().find((vars) => vars.has(p.assign!));
      if (!holder) throw this.error(`undefined variable ${p.assign}`);
      holder.set(p.assign, v);
    }
    return v;
  }

  private command(cmd: Command, dot: unknown, root: unknown, scope: Scope, piped: unknown[], header: boolean): unknown {
    const lookup = (from: unknown, path: string[], shown: string): unknown => {
      let v = from;
      for (const key of path) {
        if (isMap(v) && Object.hasOwn(v, key)) v = v[key];
        else if (isMap(v) && GO_MAPS.has(v)) v = undefined;
        else if (isMap(v) && GO_DEFAULTS.get(v) && Object.hasOwn(GO_DEFAULTS.get(v)!, key)) v = GO_DEFAULTS.get(v)![key];
        else throw this.error(`no field ${shown}`);
      }
      return v;
    };
    const value = (a: Arg): unknown => {
      if (a.t === 'str' || a.t === 'num') return a.v;
      if (a.t === 'pipe') return lookup(this.evaluate(a.p, dot, root, scope, header), a.path, `.${a.path.join('.')}`);
      if (a.t === 'ident') return a.name === 'true' ? true : a.name === 'false' ? false : null;
      if (a.from === 'dot') return lookup(dot, a.path, `.${a.path.join('.')}`);
      if (a.from === 'root') return lookup(root, a.path, `$.${a.path.join('.')}`);
      const { variable } = a.from;
      const vars = [...scope].reverse().find((m) => m.has(variable));
      if (!vars) throw this.error(`undefined variable ${variable}`);
      return lookup(vars.get(variable), a.path, `${variable}.${a.path.join('.')}`);
    };
    // A method (ps's {{.Label "key"}}) is called, with as many arguments as it takes, as Go calls one.
    const call = (a: Arg, fn: (...args: unknown[]) => unknown, args: unknown[]): unknown => {
      if (fn.length !== args.length) throw this.error(`wrong number of args for ${a.t === 'field' ? a.path.at(-1) : 'a method'}: want ${fn.length} got ${args.length}`);
      return fn(...args);
    };
    const argument = (a: Arg): unknown => {
      const v = value(a);
      return typeof v === 'function' ? call(a, v as (...args: unknown[]) => unknown, []) : v;
    };
    const [head, ...rest] = cmd;
    if (head!.t === 'ident' && Object.hasOwn(FUNCTIONS, head!.name)) {
      const fail = (what: string) => this.error(`${head!.name}: ${what}`);
      // and/or stop at the first argument that settles them (Go 1.18's), so {{and .X .X.Y}} guards .X.Y.
      if (head!.name === 'and' || head!.name === 'or') {
        const thunks = [...rest.map((a) => () => argument(a)), ...piped.map((v) => () => v)];
        let last: unknown;
        for (const thunk of thunks) {
          last = thunk();
          if (truthy(last) === (head!.name === 'or')) return last;
        }
        return last;
      }
      const args = [...rest.map(argument), ...piped];
      if (header && HEADER_SAFE.has(head!.name)) return args[0];
      return FUNCTIONS[head!.name]!(fail, ...args);
    }
    const v = value(head!);
    if (typeof v === 'function') return call(head!, v as (...args: unknown[]) => unknown, [...rest.map(argument), ...piped]);
    if (rest.length > 0 || piped.length > 0) throw this.error(`${cmd.length > 1 ? 'arguments given to a value' : "can't pipe into a value"}`);
    return v;
  }
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Go's truth: false, 0, nil, and empty strings, lists and maps are false. */
function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (isMap(v)) return Object.keys(v).length > 0;
  return v !== false && v !== 0 && v !== '' && v !== null && v !== undefined;
}

/** A value as fmt's %v prints it: a list as [a b], a map as map[k:v] (keys sorted), a nil pointer as <nil>, a missing map key as <no value>. */
function goString(v: unknown): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (Array.isArray(v)) return `[${v.map(goString).join(' ')}]`;
  if (isMap(v))
    return `map[${Object.keys(v)
      .filter((k) => typeof v[k] !== 'function')
      .sort()
      .map((k) => `${k}:${goString(v[k])}`)
      .join(' ')}]`;
  return String(v);
}

type Fn = (fail: (what: string) => UsageError, ...args: unknown[]) => unknown;

const str = (fail: (what: string) => UsageError, v: unknown): string => {
  if (typeof v !== 'string') throw fail(`wants a string, not ${goString(v)}`);
  return v;
};

/** Go's eq and friends take basic values of one kind: a number and a string do not compare. */
const comparable = (fail: (what: string) => UsageError, a: unknown, b: unknown): void => {
  const kind = (v: unknown) => (v === null || v === undefined ? 'nil' : typeof v);
  if (kind(a) !== kind(b) || !['string', 'number', 'boolean', 'nil'].includes(kind(a))) throw fail(`incompatible types for comparison: ${goString(a)} and ${goString(b)}`);
};
const order = (fail: (what: string) => UsageError, a: unknown, b: unknown): number => {
  comparable(fail, a, b);
  if (typeof a !== 'number' && typeof a !== 'string') throw fail(`cannot order ${goString(a)}`);
  return a < (b as typeof a) ? -1 : a > (b as typeof a) ? 1 : 0;
};

/** fmt's verbs that docker's templates meet: %s %v %d %q %x %X %t %f %%, with flags, width and precision. */
function sprintf(fail: (what: string) => UsageError, format: string, args: unknown[]): string {
  let i = 0;
  return format.replace(/%([-+ 0#]*)(\d*)(?:\.(\d+))?([a-zA-Z%])/g, (_m, flags: string, width: string, precision: string | undefined, verb: string) => {
    if (verb === '%') return '%';
    if (i >= args.length) return `%!${verb}(MISSING)`;
    const a = args[i++];
    let body: string;
    if (verb === 's' || verb === 'v') body = goString(a);
    else if (verb === 'q') body = JSON.stringify(goString(a));
    else if (verb === 't') body = String(a === true);
    else if (verb === 'd' && typeof a === 'number') body = String(Math.trunc(a));
    else if ((verb === 'x' || verb === 'X') && (typeof a === 'number' || typeof a === 'string')) {
      body = typeof a === 'number' ? Math.trunc(a).toString(16) : Buffer.from(a).toString('hex');
      if (verb === 'X') body = body.toUpperCase();
    } else if (verb === 'f' && typeof a === 'number') body = a.toFixed(precision === undefined ? 6 : Number(precision));
    else throw fail(`%${verb} of ${goString(a)} is not supported`);
    if (precision !== undefined && (verb === 's' || verb === 'v' || verb === 'q')) body = body.slice(0, Number(precision));
    const w = Number(width || 0);
    if (body.length >= w) return body;
    if (flags.includes('-')) return body.padEnd(w);
    return flags.includes('0') && verb !== 's' ? body.padStart(w, '0') : body.padStart(w);
  });
}

/** docker's HeaderFunctions: in a table's header line these give back the column's name unchanged. */
const HEADER_SAFE = new Set(['json', 'upper', 'lower', 'title', 'join', 'split', 'truncate', 'pad']);

const FUNCTIONS: Record<string, Fn> = {
  json: (_, v) => goJson(v ?? null),
  upper: (fail, v) => str(fail, v).toUpperCase(),
  lower: (fail, v) => str(fail, v).toLowerCase(),
  title: (fail, v) => str(fail, v).replace(/\b\w/g, (c) => c.toUpperCase()),
  join: (fail, list, sep) => {
    if (!Array.isArray(list)) throw fail(`wants a list, not ${goString(list)}`);
    return list.map(goString).join(str(fail, sep));
  },
  split: (fail, s, sep) => str(fail, s).split(str(fail, sep)),
  truncate: (fail, s, n) => str(fail, s).slice(0, Number(n)),
  pad: (fail, s, prefix, suffix) => `${' '.repeat(Number(prefix))}${str(fail, s)}${' '.repeat(Number(suffix))}`,
  // Go's index: a map's missing key is its element's zero value ("" for docker's string maps); a list's is an error.
  index: (fail, v, ...keys) => {
    let out = v;
    for (const k of keys) {
      if (Array.isArray(out) && typeof k === 'number') {
        if (!(Number.isInteger(k) && k >= 0 && k < out.length)) throw fail(`index out of range: ${k}`);
        out = out[k];
      } else if (isMap(out) && typeof k === 'string') {
        out = Object.hasOwn(out, k) ? out[k] : '';
      } else {
        throw fail(`cannot index ${goString(out)} with ${goString(k)}`);
      }
    }
    return out;
  },
  len: (fail, v) => {
    if (typeof v === 'string' || Array.isArray(v)) return v.length;
    if (isMap(v)) return Object.keys(v).length;
    throw fail(`len of ${goString(v)}`);
  },
  // fmt.Sprint: operands side by side, a space between two that are both not strings.
  print: (_, ...args) => args.map((a, k) => (k > 0 && typeof a !== 'string' && typeof args[k - 1] !== 'string' ? ' ' : '') + goString(a)).join(''),
  printf: (fail, format, ...args) => sprintf(fail, str(fail, format), args),
  println: (_, ...args) => `${args.map(goString).join(' ')}\n`,
  eq: (fail, a, ...bs) => bs.some((b) => (comparable(fail, a, b), a === b)),
  ne: (fail, a, b) => (comparable(fail, a, b), a !== b),
  lt: (fail, a, b) => order(fail, a, b) < 0,
  le: (fail, a, b) => order(fail, a, b) <= 0,
  gt: (fail, a, b) => order(fail, a, b) > 0,
  ge: (fail, a, b) => order(fail, a, b) >= 0,
  not: (_, v) => !truthy(v),
  // Evaluated lazily in command(); these are for a pipeline's last argument only.
  and: (_, ...vs) => vs.find((v) => !truthy(v)) ?? vs.at(-1),
  or: (_, ...vs) => vs.find((v) => truthy(v)) ?? vs.at(-1),
};

/**
 * Text and {{ }} actions: `}}` inside a string does not close one, a
 * {{/* comment *\/}} is dropped, and {{- and -}} trim the whitespace beside
 * them. With `escapes`, \t and \n in the text become a tab and a newline.
 */
function lex(source: string, escapes: boolean, fail: (what: string) => UsageError): { text?: string; action?: string }[] {
  const out: { text?: string; action?: string }[] = [];
  const text = (s: string) => (escapes ? s.replace(/\\t/g, '\t').replace(/\\n/g, '\n') : s);
  let pos = 0;
  let trimNext = false;
  while (pos < source.length) {
    const open = source.indexOf('{{', pos);
    let before = open < 0 ? source.slice(pos) : source.slice(pos, open);
    if (trimNext) before = before.replace(/^\s+/, '');
    if (open < 0) {
      if (before) out.push({ text: text(before) });
      break;
    }
    let inner = open + 2;
    const trimBefore = /^-\s/.test(source.slice(inner, inner + 2));
    if (trimBefore) {
      before = before.replace(/\s+$/, '');
      inner += 1;
    }
    // The closing }}, past any string literal.
    let j = inner;
    for (; j < source.length; j++) {
      const ch = source[j];
      if (ch === '"' || ch === '`') {
        let k = j + 1;
        while (k < source.length && source[k] !== ch) k += ch === '"' && source[k] === '\\' ? 2 : 1;
        j = k;
      } else if (source.startsWith('}}', j)) {
        break;
      }
    }
    if (j >= source.length) throw fail('unclosed action');
    let body = source.slice(inner, j);
    trimNext = /\s-$/.test(body);
    if (trimNext) body = body.slice(0, -1);
    if (before) out.push({ text: text(before) });
    const comment = /^\s*\/\*[\s\S]*\*\/\s*$/.test(body);
    if (!comment) out.push({ action: body });
    pos = j + 2;
  }
  return out;
}

/** An action's words: strings kept whole, `|` on its own, and (...) as one nested group with any .Field chain after it. */
function splitWords(text: string, fail: (what: string) => UsageError): (string | { inner: string; path: string[] })[] {
  const out: (string | { inner: string; path: string[] })[] = [];
  let i = 0;
  const endOfString = (from: number): number => {
    const q = text[from];
    let j = from + 1;
    while (j < text.length && text[j] !== q) j += q === '"' && text[j] === '\\' ? 2 : 1;
    if (j >= text.length) throw fail('unterminated string');
    return j;
  };
  while (i < text.length) {
    const ch = text[i]!;
    if (/\s/.test(ch)) {
      i++;
    } else if (ch === '|') {
      out.push('|');
      i++;
    } else if (ch === '"' || ch === '`') {
      const j = endOfString(i);
      out.push(text.slice(i, j + 1));
      i = j + 1;
    } else if (ch === '(') {
      let depth = 0;
      let j = i;
      for (; j < text.length; j++) {
        if (text[j] === '"' || text[j] === '`') j = endOfString(j);
        else if (text[j] === '(') depth++;
        else if (text[j] === ')' && --depth === 0) break;
      }
      if (j >= text.length) throw fail('unclosed (');
      const chain = /^(\.[A-Za-z_]\w*)*/.exec(text.slice(j + 1))![0];
      out.push({ inner: text.slice(i + 1, j), path: chain ? chain.slice(1).split('.') : [] });
      i = j + 1 + chain.length;
    } else {
      let j = i;
      while (j < text.length && !/[\s|()]/.test(text[j]!)) j++;
      out.push(text.slice(i, j));
      i = j;
    }
  }
  return out;
}
