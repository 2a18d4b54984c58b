// A local HTTP server for tests that download: on 127.0.0.1 only, on a free port. It never keeps the
// test process alive (unref), and close() ends the responses left open on purpose (a server that
// stalls registers them with keepOpen) and every connection, then the server.
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LocalServer {
  /** http://127.0.0.1:PORT */
  base: string;
  /** `end` runs at close(): for a response that is never finished */
  keepOpen(end: () => void): void;
  close(): Promise<void>;
}

export async function localServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<LocalServer> {
  const open = new Set<() => void>();
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  server.unref();
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    keepOpen: (end) => open.add(end),
    close: async () => {
      for (const end of open) end();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
