// A one-line progress bar with rate and ETA, drawn on stderr only when stderr is a terminal (so logs and
// pipes get no control characters). Other messages go through `print`, which clears the bar first.

export class Progress {
  private readonly start = performance.now();
  private drawn = false;

  constructor(
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly enabled = Boolean(stream.isTTY),
  ) {}

  /** `done` items finished out of total (fractions allowed: a volume half way through counts 0.5). */
  update(done: number, label: string): void {
    if (!this.enabled) return;
    const width = 24;
    const frac = this.total ? Math.min(1, done / this.total) : 1;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    const secs = (performance.now() - this.start) / 1000;
    const rate = done > 0 ? done / secs : 0;
    const eta = rate > 0 ? ` ETA ${clock((this.total - done) / rate)}` : '';
    const cols = this.stream.columns || 100;
    const line = `[${bar}] ${Math.floor(done)}/${this.total} ${rate.toFixed(1)} img/s${eta}  ${label}`;
    this.stream.write(`\r\x1b[K${line.slice(0, cols - 1)}`);
    this.drawn = true;
  }

  /** Writes a whole line (an error) without mangling the bar. */
  print(line: string): void {
    this.clear();
    this.stream.write(`${line}\n`);
  }

  clear(): void {
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}

export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
