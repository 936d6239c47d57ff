/** Progress for long runs: a redrawn bar on a TTY, plain periodic lines otherwise (CI logs). */

export class Progress {
  private readonly tty = Deno.stderr.isTerminal();
  private readonly start = performance.now();
  private lastLine = 0;
  private readonly enc = new TextEncoder();

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly lineEverySec = 15,
  ) {}

  update(step: number, info: Record<string, string | number>): void {
    const now = performance.now();
    const elapsed = (now - this.start) / 1000;
    const rate = step / Math.max(elapsed, 1e-9);
    const eta = rate > 0 ? (this.total - step) / rate : 0;
    const extras = Object.entries(info).map(([k, v]) =>
      `${k} ${typeof v === "number" ? fmtNum(v) : v}`
    ).join("  ");
    const text = `${this.label} ${step}/${this.total}  ${extras}  ${rate.toFixed(1)} steps/s  ETA ${
      fmtTime(eta)
    }`;
    if (this.tty) {
      const width = 24, filled = Math.round((width * step) / Math.max(this.total, 1));
      const bar = "█".repeat(filled) + "░".repeat(width - filled);
      Deno.stderr.writeSync(this.enc.encode(`\r\x1b[2K${bar} ${text}`));
    } else if (now - this.lastLine >= this.lineEverySec * 1000 || step === this.total) {
      console.error(text);
      this.lastLine = now;
    }
  }

  done(): void {
    if (this.tty) Deno.stderr.writeSync(this.enc.encode("\n"));
  }
}

function fmtNum(v: number): string {
  return Math.abs(v) >= 100 || Number.isInteger(v) ? String(v) : v.toPrecision(4);
}

export function fmtTime(sec: number): string {
  if (!Number.isFinite(sec)) return "?";
  const s = Math.round(sec);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
