import { describe, expect, it } from 'vitest';
import { formatObject, formatRows, goTime, inspectJson, matchesFilters, parseFilters } from '../../src/cli/format.js';
import { goMap } from '../../src/cli/template.js';

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
  it('prints dotted fields, lists and maps as Go prints them, json on request', () => {
    expect(formatObject('{{.State.Status}} {{.State.Pid}} {{.State.Running}}', obj)).toBe('running 42 true');
    expect(formatObject('{{.Config}}|{{.Config.Env}}|{{json .Config.Env}}|{{json .Id}}|{{.Gone}}', obj)).toBe('map[Cmd:[] Entrypoint:[] Env:[A=1] ExposedPorts:map[] Labels:map[] Volumes:map[]]|[A=1]|["A=1"]|"abc"|<nil>');
  });
  it('null is what Go has there: a nil slice prints [], a nil map map[], a nil pointer <nil>; json gives null for each', () => {
    const nils = { Config: { Cmd: null, Labels: null }, HostConfig: { Sysctls: null, CapAdd: null, PidsLimit: null } };
    expect(formatObject('{{.Config.Cmd}}|{{.HostConfig.CapAdd}}|{{.HostConfig.Sysctls}}|{{.Config.Labels}}|{{.HostConfig.PidsLimit}}', nils)).toBe('[]|[]|map[]|map[]|<nil>');
    expect(formatObject('{{json .Config.Cmd}}|{{json .HostConfig.Sysctls}}|{{len .Config.Cmd}}|{{if .Config.Cmd}}set{{else}}unset{{end}}', nils)).toBe('null|null|0|unset');
    // An image's config leaves out what it does not set: still a nil slice, as docker's struct has it.
    expect(formatObject('{{.Config.Entrypoint}} {{.Config.Cmd}}', { Config: { Cmd: ['sh'] } })).toBe('[] [sh]');
    // ExposedPorts and Sysctls are omitempty in docker's types: left out of the JSON when empty.
    expect(JSON.parse(inspectJson([{ Config: { Cmd: null, ExposedPorts: {} }, HostConfig: { Sysctls: null } }]))).toEqual([{ Config: { Cmd: null, Entrypoint: null, Env: null, Labels: null, Volumes: null }, HostConfig: {} }]);
  });
  it('json writes a map\'s keys sorted, as Go\'s encoding/json; a struct\'s fields keep their order', () => {
    const labelled = { Name: 'x', Config: { Labels: { zeta: '1', alpha: '2' }, Env: [] } };
    expect(formatObject('{{json .Config.Labels}}', labelled)).toBe('{"alpha":"2","zeta":"1"}');
    const filled = { Labels: { alpha: '2', zeta: '1' }, Env: [], Volumes: null, Cmd: null, Entrypoint: null };
    expect(inspectJson([labelled])).toBe(JSON.stringify([{ Name: 'x', Config: filled }], null, 4));
  });
  it('refuses a missing field', () => {
    expect(() => formatObject('{{.State.Nope}}', obj)).toThrow(/no field \.State\.Nope/);
  });
});

describe('Go templates, as docker users write them', () => {
  const c = { Name: 'web', State: { Running: true, ExitCode: 0, Status: 'running' }, Config: { Env: ['A=1', 'PATH=/bin'], Labels: { tier: 'front', app: 'shop' } }, Mounts: [{ Destination: '/data' }, { Destination: '/logs' }] };
  it('if / else if / else, with comparisons and not', () => {
    expect(formatObject('{{if .State.Running}}up{{else}}down{{end}}', c)).toBe('up');
    expect(formatObject('{{if eq .State.Status "exited"}}x{{else if eq .State.Status "running"}}r{{else}}?{{end}}', c)).toBe('r');
    expect(formatObject('{{if not .State.ExitCode}}clean{{end}}', c)).toBe('clean');
    expect(formatObject('{{if and .State.Running (gt (len .Mounts) 1)}}busy{{end}}', c)).toBe('busy');
  });
  it('range over a list (the dot becomes each item) and over a map (sorted by key), with else', () => {
    expect(formatObject('{{range .Mounts}}{{.Destination}} {{end}}', c)).toBe('/data /logs ');
    expect(formatObject('{{range .Config.Labels}}{{.}},{{end}}', c)).toBe('shop,front,');
    expect(formatObject('{{range .Config.Nothing}}x{{else}}none{{end}}', { Config: { Nothing: [] } })).toBe('none');
    expect(formatObject('{{range .Mounts}}{{$.Name}}:{{.Destination}} {{end}}', c)).toBe('web:/data web:/logs ');
  });
  it('functions and pipes: index, len, join, upper, lower, printf, json; {{- -}} trims', () => {
    expect(formatObject('{{index .Config.Labels "tier"}} {{len .Config.Env}} {{join .Config.Env ","}}', c)).toBe('front 2 A=1,PATH=/bin');
    expect(formatObject('{{.Name | upper}} {{upper .Name | lower}} {{printf "%s=%d" .Name .State.ExitCode}}', c)).toBe('WEB web web=0');
    // Go's index of a map's missing key is its zero value: "" for docker's string maps.
    expect(formatObject('{{index .Config.Labels "missing"}}', c)).toBe('');
    expect(formatObject('{{range .Mounts -}}\n  {{.Destination}}\n{{- end}}', c)).toBe('/data/logs');
    expect(formatObject('{{with .Config.Labels}}{{.app}}{{end}}', c)).toBe('shop');
  });
  it('refuses what it does not know with one line, never echoing the template back as output', () => {
    expect(() => formatObject('{{nosuch .Name}}', c)).toThrow('function "nosuch" not defined');
    expect(() => formatObject('{{.Name', c)).toThrow('unclosed action');
    expect(() => formatObject('{{if .Name}}x', c)).toThrow('missing {{end}}');
    expect(() => formatObject('{{end}}', c)).toThrow('unexpected {{end}}');
    expect(() => formatObject('{{range .Name}}x{{end}}', c)).toThrow("range can't iterate over web");
  });
  it('variables, comments, fields after parentheses, and and/or that stop early', () => {
    expect(formatObject('{{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{end}}', c)).toBe('app=shop tier=front ');
    expect(formatObject('{{range $i, $m := .Mounts}}{{$i}}:{{$m.Destination}} {{end}}', c)).toBe('0:/data 1:/logs ');
    expect(formatObject('{{$n := .Name}}{{/* a comment */}}{{range .Mounts}}{{$n}}{{end}}', c)).toBe('webweb');
    expect(formatObject('{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}', c)).toBe('2');
    expect(formatObject('{{(index .Mounts 1).Destination}}', c)).toBe('/logs');
    expect(formatObject('{{and .Gone .Gone.Deep}}|{{or .Gone "fallback"}}', { Gone: null })).toBe('<nil>|fallback');
  });
  it('strings may hold }}, ( and escapes; \\t and \\n outside them are docker\'s escapes for ps, not for inspect', () => {
    expect(formatObject('{{"}}"}}{{printf "(%s" .Name}}', c)).toBe('}}(web');
    expect(formatObject('{{join .Config.Env "\\n"}}', c)).toBe('A=1\nPATH=/bin');
    expect(formatRows('{{.Names}}\\t{{printf "%s\\t" .ID}}', rows.slice(0, 1), headers)).toBe('web\tabc\t\n');
  });
  it('printf\'s flags, width and precision; an unknown verb is refused', () => {
    expect(formatObject('{{printf "%-6s|%5d|%.2s|%05d|%x" .Name 42 .Name 7 255}}', c)).toBe('web   |   42|we|00007|ff');
    expect(() => formatObject('{{printf "%y" .Name}}', c)).toThrow('%y of web is not supported');
  });
  it('a Go map\'s missing key is <no value>; a struct\'s missing field is an error; nothing comes off Object.prototype', () => {
    expect(formatObject('{{.Config.Labels.nope}}', { Config: { Labels: goMap({ a: '1' }) } })).toBe('<no value>');
    expect(() => formatObject('{{.Config.Nope}}', c)).toThrow('no field .Config.Nope');
    for (const bad of ['{{.constructor}}', '{{.__proto__}}', '{{toString}}']) expect(() => formatObject(bad, c)).toThrow();
    expect(() => formatObject('{{index .Mounts 5}}', c)).toThrow('index out of range: 5');
    expect(() => formatObject('{{eq 1 "1"}}', c)).toThrow('incompatible types for comparison');
    expect(() => formatObject('{{end junk}}', c)).toThrow('unexpected {{end junk}}');
  });
  it('a table\'s header line keeps the column names through docker\'s functions', () => {
    expect(formatRows('table {{.Names | upper}}\\t{{json .ID}}', rows.slice(0, 1), headers)).toBe('NAMES   CONTAINER ID\nWEB     "abc"\n');
  });
  it('calls a method with its arguments, as ps\'s {{.Label "key"}}; its header is the label\'s last part', () => {
    const labelled = [{ Names: 'web', Label: (k: string) => ({ 'com.example.tier': 'front' })[k] ?? '' }];
    const labelHeaders = { Names: 'NAMES', Label: (k: string) => k.split('.').at(-1)!.toUpperCase() };
    expect(formatRows('{{.Names}}={{.Label "com.example.tier"}}|{{.Label "nope"}}|{{"com.example.tier" | .Label}}', labelled, labelHeaders)).toBe('web=front||front\n');
    expect(formatRows('table {{.Names}}\t{{.Label "com.example.tier"}}', labelled, labelHeaders)).toBe('NAMES   TIER\nweb     front\n');
    // Go's rule: a method takes as many arguments as it declares, and as an argument it is called with none.
    expect(() => formatRows('{{.Label}}', labelled, labelHeaders)).toThrow('wrong number of args for Label: want 1 got 0');
    expect(() => formatRows('{{printf "%s" .Label}}', labelled, labelHeaders)).toThrow('wrong number of args for Label: want 1 got 0');
    expect(formatRows('{{.}}', labelled, labelHeaders)).toBe('map[Names:web]\n');
  });
  it('--format json: one JSON object a row, its keys sorted as docker\'s', () => {
    expect(formatRows('json', rows, headers)).toBe(rows.map((r) => `${JSON.stringify({ ID: r.ID, Names: r.Names, Status: r.Status })}\n`).join(''));
    expect(formatRows('json', [{ Status: 'Up', ID: 'abc' }], headers)).toBe('{"ID":"abc","Status":"Up"}\n');
  });
});

it('CreatedAt as docker prints it: Go\'s time.String() of the second, in local time', () => {
  const tz = process.env.TZ;
  process.env.TZ = 'UTC';
  try {
    expect(goTime('2026-11-27T05:18:09.123Z')).toBe('2026-11-27 05:18:09 +0000 UTC');
  } finally {
    if (tz === undefined) delete process.env.TZ;
    else process.env.TZ = tz;
  }
});

it('reads the fields docker\'s structs have but its JSON leaves out as their zero values: {{if .State.Health}} works', () => {
  expect(formatObject('{{.State.Health}}|{{if .State.Health}}y{{else}}n{{end}}|{{.SizeRw}}|{{.Config.User}}|{{range .Mounts}}[{{.Name}}]{{end}}', { State: {}, Config: {}, Mounts: [{ Type: 'bind' }] })).toBe('<nil>|n|<nil>||[]');
  expect(() => formatObject('{{.State.Nope}}', { State: {} })).toThrow(/no field/);
  expect(inspectJson([{ State: {}, Config: {} }])).not.toContain('Health');
});
