'use strict';
// pypipin-shields: renders shields.io-style badges over HTTP for the pypipin daemon.
// SVG comes from badge-maker; rasters go through resvg (PNG) and sharp (other formats).
const fs = require('node:fs');
const http = require('node:http');
const { createRequire } = require('node:module');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const MAX_BODY = 64 * 1024;
const MAX_TEXT = 1000; // characters per label/message; keeps raster sizes sane
const STYLES = ['flat', 'flat-square', 'plastic', 'for-the-badge', 'social'];
const TYPES = {
  svg: 'image/svg+xml;charset=utf-8', png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg',
  gif: 'image/gif', webp: 'image/webp', tiff: 'image/tiff',
};
const ENCODERS = {
  jpg: (img) => img.flatten({ background: '#ffffff' }).jpeg({ quality: 90 }),
  jpeg: (img) => img.flatten({ background: '#ffffff' }).jpeg({ quality: 90 }),
  gif: (img) => img.gif(),
  webp: (img) => img.webp({ lossless: true }),
  tiff: (img) => img.tiff({ compression: 'lzw' }),
};
const LOGO_RE = /^data:image\/(svg\+xml|png|jpeg|gif);base64,[A-Za-z0-9+/]*={0,2}$/;

// The npm packages, loaded once in main() from the renderer directory (--modules).
let makeBadge, ValidationError, renderAsync, sharp, RESVG_FONT;

class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}
const check = (ok, msg) => { if (!ok) throw new HttpError(400, msg); };

function optText(body, key, required = false) {
  const v = body[key];
  if (v == null) { check(!required, `"${key}" is required`); return undefined; }
  check(typeof v === 'string', `"${key}" must be a string`);
  check(v.length <= MAX_TEXT, `"${key}" is longer than ${MAX_TEXT} characters`);
  return v;
}

function parseSpec(body) {
  check(body !== null && typeof body === 'object' && !Array.isArray(body), 'body must be a JSON object');
  const badge = { message: optText(body, 'message', true), label: optText(body, 'label') ?? '' };
  for (const key of ['color', 'labelColor']) {
    const v = optText(body, key);
    if (v) badge[key] = v;
  }
  const style = body.style ?? 'flat', format = body.format ?? 'svg', scale = body.scale ?? 1, logo = body.logo ?? null;
  check(STYLES.includes(style), `"style" must be one of ${STYLES.join(', ')}`);
  check(typeof format === 'string' && Object.hasOwn(TYPES, format), `"format" must be one of ${Object.keys(TYPES).join(', ')}`);
  check(Number.isInteger(scale) && scale >= 1 && scale <= 4, '"scale" must be an integer from 1 to 4');
  check(logo === null || typeof logo === 'string', '"logo" must be a string or null');
  if (logo) {
    check(LOGO_RE.test(logo), '"logo" must be a data:image/svg+xml;base64,... URL');
    badge.logoBase64 = logo;
  }
  badge.style = style;
  return { badge, format, scale };
}

async function render({ badge, format, scale }) {
  const svg = makeBadge(badge); // badge-maker escapes label/message text
  if (format === 'svg') return Buffer.from(svg);
  // renderAsync runs on the libuv pool; resvg-js takes font *paths* and maps them per render.
  const image = await renderAsync(svg, { font: RESVG_FONT, fitTo: { mode: 'zoom', value: scale }, logLevel: 'off' });
  const png = image.asPng();
  return format === 'png' ? png : ENCODERS[format](sharp(png)).toBuffer();
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length']) > MAX_BODY) return reject(new HttpError(413, 'request body too large'));
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) reject(new HttpError(413, 'request body too large'));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res, status, type, body, headers = {}) {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body);
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': buf.length, ...headers });
  res.end(buf);
}
const sendError = (res, status, message, headers) =>
  send(res, status, 'application/json', JSON.stringify({ error: message }), headers);

let rendering = 0; // renders under way; the daemon keeps it under --renders, this is the backstop

async function handleRender(req, res, maxRenders) {
  if (rendering >= maxRenders) return sendError(res, 503, `already drawing ${rendering} badges`);
  rendering += 1;
  try {
    await renderRequest(req, res);
  } finally {
    rendering -= 1;
  }
}

async function renderRequest(req, res) {
  let spec;
  try {
    const text = await readBody(req);
    let body;
    try { body = JSON.parse(text); } catch (e) { throw new HttpError(400, `invalid JSON: ${e.message}`); }
    spec = parseSpec(body);
  } catch (e) {
    const status = e instanceof HttpError ? e.status : 400;
    // Don't keep reading an oversized body: answer and close the connection.
    return sendError(res, status, e.message, status === 413 ? { Connection: 'close' } : undefined);
  }
  try {
    send(res, 200, TYPES[spec.format], await render(spec));
  } catch (e) {
    if (e instanceof ValidationError) return sendError(res, 400, e.message);
    console.error(`pypipin-shields: render failed: ${e && e.stack ? e.stack.split('\n')[0] : e}`);
    sendError(res, 500, `render failed: ${e && e.message ? e.message : e}`);
  }
}

function handle(req, res, maxRenders) {
  const url = req.url.split('?', 1)[0];
  if (url === '/health') {
    if (req.method === 'GET' || req.method === 'HEAD') return send(res, 200, 'text/plain; charset=utf-8', 'ok');
    return sendError(res, 405, 'method not allowed', { Allow: 'GET, HEAD' });
  }
  if (url === '/render') {
    if (req.method !== 'POST') return sendError(res, 405, 'method not allowed', { Allow: 'POST' });
    return handleRender(req, res, maxRenders).catch((e) => {
      if (!res.headersSent) sendError(res, 500, String(e && e.message));
      else res.destroy();
    });
  }
  sendError(res, 404, 'not found');
}

function die(msg, code = 1) {
  process.stderr.write(`pypipin-shields: ${msg}\n`);
  process.exit(code);
}

// pypipin provisions the npm packages into a directory of their own (not beside this file):
// resolve them from there, CommonJS and ESM (badge-maker) alike.
async function load(dir) {
  const need = createRequire(path.join(dir, 'package.json'));
  try {
    ({ renderAsync } = need('@resvg/resvg-js'));
    sharp = need('sharp');
    ({ makeBadge, ValidationError } = await import(pathToFileURL(need.resolve('badge-maker')).href));
    // Fonts ship in an npm package so text renders on hosts without any system fonts.
    // badge-maker asks for "Verdana,Geneva,DejaVu Sans,sans-serif" (bold for some styles).
    const fontDir = path.join(path.dirname(need.resolve('dejavu-fonts-ttf/package.json')), 'ttf');
    const fontFiles = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf'].map((f) => path.join(fontDir, f));
    for (const f of fontFiles) if (!fs.existsSync(f)) throw new Error(`font file missing: ${f}`);
    RESVG_FONT = {
      loadSystemFonts: false, fontFiles,
      defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans',
    };
  } catch (e) {
    die(`cannot load the npm packages in ${dir}: ${String(e && e.message).split('\n')[0]}`
      + ' (fix: pypipin renderer install --dir DIR)');
  }
}

const USAGE = 'usage: node server.js --port N [--host 127.0.0.1] [--modules DIR (holding node_modules)] [--renders 8]';

function parseArgs(argv) {
  const opts = { host: '127.0.0.1', port: null, modules: __dirname, renders: 8 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--port' && /^\d{1,5}$/.test(value || '') && Number(value) <= 65535) opts.port = Number(value);
    else if (flag === '--host' && value) opts.host = value;
    else if (flag === '--modules' && value) opts.modules = path.resolve(value);
    else if (flag === '--renders' && /^[1-9]\d{0,3}$/.test(value || '')) opts.renders = Number(value);
    else die(`bad argument ${JSON.stringify(flag)}\n${USAGE}`, 2);
  }
  if (opts.port === null) die(USAGE, 2);
  return opts;
}

async function main() {
  const { host, port, modules, renders } = parseArgs(process.argv.slice(2));
  await load(modules);

  const server = http.createServer((req, res) => handle(req, res, renders));
  server.keepAliveTimeout = 60_000; // clients keep a persistent connection pool
  server.headersTimeout = 65_000;
  server.on('error', (e) => die(e.code === 'EADDRINUSE'
    ? `port ${port} on ${host} is already in use`
    : `cannot listen on ${host}:${port}: ${e.message}`));

  const stop = () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 500).unref(); // don't wait long for busy keep-alive sockets
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // the parent holds our stdin open: when it ends, pypipin is gone, so go too (no orphans)
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();

  server.listen(port, host, () => {
    const { address, port: actual } = server.address();
    console.log(`pypipin-shields listening on ${address.includes(':') ? `[${address}]` : address}:${actual}`);
  });
}

main().catch((e) => die(`startup failed: ${e && e.stack ? e.stack : e}`));
