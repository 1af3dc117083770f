// Draws bench/results.json as a PNG bar chart (bench/results.png; both in
// $BENCH_OUT when set), with no dependencies: a 5x7 bitmap font, RGB pixels,
// and Node's zlib for the PNG IDAT stream. One panel per measurement, one
// bar per runtime (median, with its min-max range as a thin line), tsrun's
// bar in its own colour.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

const FONT = {
  ' ': '00000000000000000000000000000000000', a: '00000000000111000001011111000101111', b: '10000100001011011001100011000111110',
  c: '00000000000111010000100001000101110', d: '00001000010110110011100011000101111', e: '00000000000111010001111111000001110',
  f: '00110010010100011100010000100001000', g: '00000011111000101111000010000111110', h: '10000100001011011001100011000110001',
  i: '00100000000110000100001000010001110', j: '00010000000011000010000101001001100', k: '10000100001001010100110001010010010',
  l: '01100001000010000100001000010001110', m: '00000000001101010101101011000110001', n: '00000000001011011001100011000110001',
  o: '00000000000111010001100011000101110', p: '00000000001111010001111101000010000', q: '00000000000110110011011110000100001',
  r: '00000000001011011001100001000010000', s: '00000000000111010000011100000111110', t: '01000010001110001000010000100100110',
  u: '00000000001000110001100011001101101', v: '00000000001000110001100010101000100', w: '00000000001000110001101011010101010',
  x: '00000000001000101010001000101010001', y: '00000000001000110001011110000101110', z: '00000000001111100010001000100011111',
  0: '01110100011001110101110011000101110', 1: '00100011000010000100001000010001110', 2: '01110100010000100010001000100011111',
  3: '11111000100010000010000011000101110', 4: '00010001100101010010111110001000010', 5: '11111100001111000001000011000101110',
  6: '00110010001000011110100011000101110', 7: '11111000010001000100010000100001000', 8: '01110100011000101110100011000101110',
  9: '01110100011000101111000010001001100', '.': '00000000000000000000000000110001100', '-': '00000000000000011111000000000000000',
  '+': '00000001000010011111001000010000000', '(': '00010001000100001000010000010000010', ')': '01000001000001000010000100010001000',
  ':': '00000011000110000000011000110000000', '/': '00000000010001000100010001000000000', '%': '11000110010001000100010001001100011',
  ',': '00000000000000000000001100010001000', '=': '00000000001111100000111110000000000', "'": '01100001000100000000000000000000000',
  _: '00000000000000000000000000000011111',
};

const W = 900;
const ROW = 18;
const COLORS = { tsrun: [214, 90, 40], other: [70, 110, 170], range: [40, 40, 40], text: [30, 30, 30], bg: [255, 255, 255], rule: [200, 200, 200] };

function draw(results) {
  const panels = results.measurements.map((m) => ({ title: m.name, rows: Object.entries(m.results) }));
  const H = panels.reduce((h, p) => h + 16 + p.rows.length * ROW + 16, 24);
  const px = Buffer.alloc(W * H * 3, 255);
  const set = (x, y, [r, g, b]) => {
    if (x < 0 || y < 0 || x >= W || y >= H) return;
    const i = (y * W + x) * 3;
    px[i] = r;
    px[i + 1] = g;
    px[i + 2] = b;
  };
  const rect = (x, y, w, h, c) => {
    for (let j = 0; j < h; j++) for (let i = 0; i < w; i++) set(x + i, y + j, c);
  };
  const text = (s, x, y, c = COLORS.text) => {
    for (const ch of s.toLowerCase()) {
      const glyph = FONT[ch] ?? FONT[' '];
      for (let j = 0; j < 7; j++) for (let i = 0; i < 5; i++) if (glyph[j * 5 + i] === '1') set(x + i, y + j, c);
      x += 6;
    }
  };
  let y = 14;
  for (const p of panels) {
    text(p.title.slice(0, 140), 10, y);
    y += 16;
    const max = Math.max(...p.rows.map(([, r]) => r.max), 1e-9);
    const left = 230;
    const span = W - left - 90;
    for (const [name, r] of p.rows) {
      text(name.slice(0, 36), 10, y + 4);
      const w = Math.max(1, Math.round((r.median / max) * span));
      rect(left, y, w, ROW - 6, name.startsWith('tsrun') ? COLORS.tsrun : COLORS.other);
      const x0 = left + Math.round((r.min / max) * span);
      const x1 = left + Math.round((r.max / max) * span);
      rect(x0, y + (ROW - 6) / 2, Math.max(1, x1 - x0), 1, COLORS.range);
      text(r.median >= 100 ? r.median.toFixed(0) : r.median.toFixed(1), left + w + 6, y + 3);
      y += ROW;
    }
    y += 6;
    rect(10, y, W - 20, 1, COLORS.rule);
    y += 10;
  }
  return { px, H };
}

function png(px, w, h) {
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    raw[y * (w * 3 + 1)] = 0;
    px.copy(raw, y * (w * 3 + 1) + 1, y * w * 3, (y + 1) * w * 3);
  }
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

const dir = path.resolve(process.env.BENCH_OUT ?? import.meta.dirname);
const results = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8'));
const { px, H } = draw(results);
fs.writeFileSync(path.join(dir, 'results.png'), png(px, W, H));
process.stdout.write(`wrote ${path.relative(process.cwd(), path.join(dir, 'results.png'))}\n`);
