/**
 * The journal of a restore: which data files it has finished, so that `restore --resume`
 * after a crash skips them instead of writing their records again.
 *
 * A local JSON file (the backup may be in a bucket the restore can only read), by
 * default `$XDG_CACHE_HOME/aerobak/restore-<id>.json` (`~/.cache/aerobak/...`) where <id>
 * is a hash of the backup's location, the chain's newest manifest and the namespace map:
 * the same command finds the same journal. It is rewritten (write to a temporary file,
 * then rename) after every finished file and removed when the restore completes. A
 * journal that cannot be written does not stop the restore: it is reported once and the
 * restore goes on without it (a later --resume then restores everything again).
 *
 * Re-running a restore without --resume is safe too: with the default mode
 * (generation-greater) every record already written is skipped as "fresher", so the
 * database ends the same; --resume only saves the reading and writing.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export const RESTORE_JOURNAL_FORMAT = 'aerobak-restore-journal';

interface JournalFile {
  format: typeof RESTORE_JOURNAL_FORMAT;
  formatVersion: 1;
  /** What the journal is for: a hash of the backup and the target. */
  id: string;
  /** Finished steps: `<link location>|<chunk>|<file name>|<sha256>`. */
  done: string[];
}

export function journalId(parts: readonly string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 16);
}

export function defaultJournalPath(id: string, env: NodeJS.ProcessEnv = process.env): string {
  const cache = env.XDG_CACHE_HOME?.trim() || join(homedir(), '.cache');
  return join(cache, 'aerobak', `restore-${id}.json`);
}

export class RestoreJournal {
  readonly #done = new Set<string>();
  #chain: Promise<void> = Promise.resolve();
  /** Set once a write failed: the journal is given up on. */
  #broken = false;
  /** Told once, when the journal cannot be written. */
  onError: (error: Error) => void = () => undefined;

  private constructor(
    readonly path: string,
    readonly id: string,
    /** Steps finished by an earlier run (read at open). */
    readonly earlier: number,
    done: Iterable<string>,
  ) {
    for (const d of done) this.#done.add(d);
  }

  /** Opens the journal at `path`; with `resume`, the steps an earlier run of the same restore finished count as done. */
  static async open(path: string, id: string, resume: boolean): Promise<RestoreJournal> {
    if (!resume) return new RestoreJournal(path, id, 0, []);
    let saved: JournalFile | undefined;
    try {
      saved = JSON.parse(await readFile(path, 'utf8')) as JournalFile;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (!saved || saved.format !== RESTORE_JOURNAL_FORMAT || saved.id !== id || !Array.isArray(saved.done)) return new RestoreJournal(path, id, 0, []);
    return new RestoreJournal(path, id, saved.done.length, saved.done);
  }

  has(step: string): boolean {
    return this.#done.has(step);
  }

  /** Marks a step done and persists the journal (writes are queued, in order; never rejects). */
  finished(step: string): Promise<void> {
    this.#done.add(step);
    if (this.#broken) return Promise.resolve();
    const body: JournalFile = { format: RESTORE_JOURNAL_FORMAT, formatVersion: 1, id: this.id, done: [...this.#done] };
    this.#chain = this.#chain.then(async () => {
      if (this.#broken) return;
      try {
        const temp = `${this.path}.tmp`;
        await mkdir(dirname(this.path), { recursive: true });
        await writeFile(temp, `${JSON.stringify(body)}\n`);
        await rename(temp, this.path);
      } catch (error) {
        this.#broken = true;
        this.onError(error as Error);
      }
    });
    return this.#chain;
  }

  /** The restore completed: the journal is of no further use. */
  async remove(): Promise<void> {
    await this.#chain;
    await rm(this.path, { force: true }).catch(() => undefined);
  }
}
