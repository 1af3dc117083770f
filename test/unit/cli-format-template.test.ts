import { describe, expect, it } from 'vitest';
import { formatObject, formatRows, matchesFilters, parseFilters } from '../../src/cli/format.js';

const headers = { ID: 'CONTAINER ID', Names: 'NAMES', Status: 'STATUS' };
const rows = [
  { ID: 'abc', Names: 'web', Status: 'Up 2 seconds' },
  { ID: 'defdef', Names: 'db', Status: 'Exited (0) 1 minute ago' },
];

describe('--format', () => {
  it('fills Go-template fields, with \\t and \\n escapes', () => {
    expect(formatRows('{{.Names}}: {{.Status}}', rows, headers)).toBe('web: Up 2 seconds\ndb: Exited (0) 1 minute ago\n');
    expect(formatRows('{{ .ID }}\\t{{.Names}}', rows, headers)).toBe('abc\tweb\ndefdef\tdb\n');
  });
  it('json of a row or a field', () => {
    expect(formatRows('{{json .}}', rows.slice(0, 1), headers)).toBe(`${JSON.stringify(rows[0])}\n`);
    expect(formatRows('{{json .Names}}', rows.slice(0, 1), headers)).toBe('"web"\n');
  });
  it('"table" adds the headers and aligns on the tabs', () => {
    expect(formatRows('table {{.ID}}\\t{{.Names}}', rows, headers)).toBe('CONTAINER ID   NAMES\nabc            web\ndefdef         db\n');
  });
  it('refuses an unknown field, naming those there are', () => {
    expect(() => formatRows('{{.Nope}}', rows, headers)).toThrow(/no field \.Nope \(there are: \.ID \.Names \.Status\)/);
  });
});

describe('--filter', () => {
  it('ORs one key\'s values and ANDs the keys', () => {
    const f = parseFilters(['name=web', 'name=db', 'status=running'], ['name', 'status']);
    const test = (row: { name: string; status: string }) => matchesFilters(f, (k, v) => (k === 'name' ? row.name === v : row.status === v));
    expect(test({ name: 'db', status: 'running' })).toBe(true);
    expect(test({ name: 'db', status: 'exited' })).toBe(false);
    expect(test({ name: 'x', status: 'running' })).toBe(false);
    expect(() => parseFilters(['bogus=1'], ['name'])).toThrow(/invalid filter 'bogus=1': use name=.../);
  });
});

describe('inspect --format', () => {
  const obj = { Id: 'abc', State: { Status: 'running', Pid: 42, Running: true }, Config: { Env: ['A=1'] }, Gone: null };
  it('prints dotted fields, objects as JSON, json on request', () => {
    expect(formatObject('{{.State.Status}} {{.State.Pid}} {{.State.Running}}', obj)).toBe('running 42 true');
    expect(formatObject('{{.Config}}|{{json .Config.Env}}|{{json .Id}}|{{.Gone}}', obj)).toBe('{"Env":["A=1"]}|["A=1"]|"abc"|<no value>');
  });
  it('refuses a missing field', () => {
    expect(() => formatObject('{{.State.Nope}}', obj)).toThrow(/no field \.State\.Nope/);
  });
});
