/**
 * `deno task web`: bundles the page, then serves web/ on localhost (default port 8000;
 * `--port N`, 0 for any free one). Prints the address once it listens, so a test can read it.
 */
import { buildBundle, BUNDLE_DIR, WEB_DIR } from "./build.ts";

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  png: "image/png",
  svg: "image/svg+xml",
};

/** Only these files are served: the page, its stylesheet and the bundle (no source tree). */
function fileFor(pathname: string): string | null {
  if (pathname === "/" || pathname === "/index.html") return `${WEB_DIR}index.html`;
  if (pathname === "/style.css") return `${WEB_DIR}style.css`;
  const m = pathname.match(/^\/bundle\/([\w.-]+\.js)$/);
  return m ? `${BUNDLE_DIR}/${m[1]}` : null;
}

async function handle(req: Request): Promise<Response> {
  const path = fileFor(new URL(req.url).pathname);
  if (!path) return new Response("not found", { status: 404 });
  try {
    const body = await Deno.readFile(path);
    const ext = path.slice(path.lastIndexOf(".") + 1);
    return new Response(body, {
      headers: {
        "content-type": TYPES[ext] ?? "application/octet-stream",
        "cache-control": "no-store",
      },
    });
  } catch {
    return new Response("not found", { status: 404 });
  }
}

export async function serve(port: number): Promise<Deno.HttpServer<Deno.NetAddr>> {
  await buildBundle();
  return Deno.serve({
    hostname: "127.0.0.1",
    port,
    onListen: ({ port }) => console.log(`iclab web: http://127.0.0.1:${port}/`),
  }, handle);
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--port");
  await serve(i >= 0 ? Number(Deno.args[i + 1]) : 8000);
}
