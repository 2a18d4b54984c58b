// A small static file server for the demo page (node:http only), on 127.0.0.1 so that the page is a secure
// context (WebGPU needs one) without certificates. `npm run serve` builds and starts it.
//   node --import tsx web/server.ts [--port 8080] [--host 127.0.0.1]
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

/** URL prefix -> folder of the checkout. The first matching prefix wins. */
const MOUNTS: [string, string][] = [
  ['/dist/', 'dist'], // the bundles (npm run build)
  ['/assets/', 'assets'], // the trained demo model and its sample images
  ['/fixtures/', 'test/fixtures'], // the random-weight PyTorch test models
  ['/', 'web'], // the page itself
];

/** Paths of the app's views (web/app.ts switches on location.pathname): each serves web/index.html. */
export const VIEWS = ['/playground'];

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.safetensors': 'application/octet-stream',
};

/** The file a URL path names, or undefined when it is outside every mount (e.g. `..` tricks). */
export function fileFor(urlPath: string): string | undefined {
  let path: string;
  try {
    path = decodeURIComponent(urlPath.split('?')[0]);
  } catch {
    return undefined;
  }
  if (VIEWS.includes(path)) return join(ROOT, 'web', 'index.html');
  for (const [prefix, dir] of MOUNTS) {
    if (!path.startsWith(prefix)) continue;
    const base = join(ROOT, dir);
    const file = resolve(base, '.' + sep + path.slice(prefix.length));
    if (file !== base && !file.startsWith(base + sep)) return undefined;
    return file;
  }
  return undefined;
}

export interface StaticServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Starts the server; port 0 picks a free one. */
export async function startServer(options: { port?: number; host?: string; log?: boolean } = {}): Promise<StaticServer> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer(async (req, res) => {
    const send = (code: number, text: string) => {
      res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' }).end(text + '\n');
      if (options.log) console.log(`${code} ${req.method} ${req.url}`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'only GET and HEAD');
    // /playground/ would resolve the page's relative URLs (style.css, dist/web/app.js) under /playground/
    const [pathPart, query] = (req.url ?? '/').split(/\?(.*)/s);
    if (pathPart.length > 1 && pathPart.endsWith('/') && VIEWS.includes(pathPart.slice(0, -1))) {
      res.writeHead(301, { location: pathPart.slice(0, -1) + (query ? `?${query}` : '') }).end();
      return;
    }
    let file = fileFor(req.url ?? '/');
    if (!file) return send(404, 'not found');
    try {
      let s = await stat(file);
      if (s.isDirectory()) {
        file = join(file, 'index.html');
        s = await stat(file);
      }
      res.writeHead(200, {
        'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
        'content-length': s.size,
        'cache-control': 'no-cache',
      });
      if (req.method === 'HEAD') return res.end();
      createReadStream(file).pipe(res);
      if (options.log) console.log(`200 GET ${req.url}`);
    } catch {
      send(404, `not found: ${req.url}${req.url?.startsWith('/dist/') ? ' (run `npm run build`)' : ''}`);
    }
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 8080, host, ok);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    url: `http://${host}:${port}`,
    server,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const port = Number(arg('port') ?? process.env.PORT ?? 8080);
  const host = arg('host') ?? '127.0.0.1';
  startServer({ port, host, log: process.argv.includes('--log') }).then(
    (s) => console.log(`webgpu-unet demo: ${s.url}/  (Ctrl-C to stop)`),
    (e: NodeJS.ErrnoException) => {
      console.error(e.code === 'EADDRINUSE' ? `port ${port} is in use: try --port ${port + 1}` : e.message);
      process.exit(1);
    },
  );
}
